/**
 * PLAIN, server side (RFC 4616): `[authzid] NUL authcid NUL passwd`, checked against the stored
 * SCRAM-SHA-256 credential (the password itself is never stored). Offered only on an encrypted stream
 * unless configured otherwise (RFC 6120 §6.4.1 / §13.8).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { Jid, prepLocal } from '@kxmpp/xmpp-core';
import { DEFAULT_SCRAM_ITERATIONS, verifyPasswordAsync, type ScramCredential } from '@kxmpp/store';
import { decodeUtf8, failure, MAX_SASL_MESSAGE_BYTES, type SaslContext, type SaslMechanism, type SaslResult } from './sasl.mechanism';

const PROCESS_SECRET = randomBytes(32);

export class PlainServerMechanism implements SaslMechanism {
  readonly name = 'PLAIN';
  private state: 'start' | 'awaiting' | 'done' = 'start';

  constructor(private readonly ctx: SaslContext) {}

  async step(data: Buffer | null): Promise<SaslResult> {
    if (this.state === 'done') return failure('malformed-request', 'the exchange is over');
    // RFC 6120 §6.4.2: <auth/> without initial response gets an empty challenge, once. An empty
    // response ('=') is a PLAIN message without authcid or password: malformed.
    if (data === null && this.state === 'start') {
      this.state = 'awaiting';
      return { kind: 'challenge', data: Buffer.alloc(0) };
    }
    this.state = 'done';
    if (data === null) return failure('malformed-request');
    try {
      return await this.verify(data);
    } catch {
      return failure('temporary-auth-failure');
    }
  }

  private async verify(data: Buffer): Promise<SaslResult> {
    if (data.length > MAX_SASL_MESSAGE_BYTES) return failure('malformed-request', 'message too long');
    const msg = decodeUtf8(data);
    const parts = msg?.split('\0');
    if (!parts || parts.length !== 3) return failure('malformed-request');
    const [authzid, authcid, password] = parts as [string, string, string];
    if (authcid === '' || password === '') return failure('malformed-request');

    let username: string;
    try {
      username = prepLocal(authcid);
    } catch {
      return failure('not-authorized');
    }
    if (authzid !== '' && authzid !== username && Jid.tryParse(authzid)?.toString() !== `${username}@${this.ctx.domain}`) {
      return failure('invalid-authzid');
    }
    const rec = await this.ctx.accounts.get(this.ctx.domain, username);
    const cred = rec?.scram['SCRAM-SHA-256'];
    // An unknown user costs the same PBKDF2 run as a known one, so timing does not tell them apart.
    const ok = await verifyPasswordAsync(cred ?? this.fakeCredential(username), 'SCRAM-SHA-256', password);
    return ok && cred ? { kind: 'success', username } : failure('not-authorized');
  }

  private fakeCredential(username: string): ScramCredential {
    const salt = createHmac('sha256', this.ctx.secret ?? PROCESS_SECRET).update(`plain\0${this.ctx.domain}\0${username}`).digest();
    return { iterations: DEFAULT_SCRAM_ITERATIONS, salt: salt.subarray(0, 16).toString('base64'), storedKey: '', serverKey: '' };
  }
}
