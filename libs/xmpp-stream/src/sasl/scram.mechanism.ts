/**
 * SCRAM-SHA-1 and SCRAM-SHA-256, server side (RFC 5802 §3, §5, §7; RFC 7677). No channel binding:
 * the -PLUS variants are not offered, so a client that insists on binding ('p=') is refused.
 *
 * An unknown user gets the same exchange as a real one (a salt derived from the username with a
 * secret, the default iteration count) and fails only at the proof, so the server-first message does
 * not tell who has an account (RFC 5802 §9).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { Jid, prepLocal } from '@kxmpp/xmpp-core';
import { DEFAULT_SCRAM_ITERATIONS, safeEqual, scramDigest, scramHash, scramHmac, type ScramCredential, type ScramMech } from '@kxmpp/store';
import { decodeUtf8, failure, MAX_SASL_MESSAGE_BYTES, type SaslContext, type SaslMechanism, type SaslResult } from './sasl.mechanism';

const PROCESS_SECRET = randomBytes(32);

// RFC 5802 §7: printable = %x21-2B / %x2D-7E (no ','); base64 strictly padded.
const NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

class Malformed extends Error {}

/** RFC 5802 §5.1 saslname: ',' and '=' travel as '=2C' and '=3D'; any other '=' is invalid. */
function decodeSaslName(s: string): string {
  if (s.length === 0 || /=(?!2C|3D)/.test(s)) throw new Malformed('bad saslname');
  return s.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

function decodeBase64(s: string): Buffer {
  if (!BASE64.test(s)) throw new Malformed('bad base64');
  return Buffer.from(s, 'base64');
}

/** Split "k=v,k=v" into ordered attributes; each must be a single letter followed by '='. */
function attributes(s: string): { key: string; value: string }[] {
  return s.split(',').map((part) => {
    if (!/^[A-Za-z]=/.test(part)) throw new Malformed(`bad attribute ${JSON.stringify(part.slice(0, 16))}`);
    return { key: part[0] as string, value: part.slice(2) };
  });
}

interface FirstMessage {
  gs2Header: string;
  authzid: string | null;
  username: string;
  clientNonce: string;
  bare: string;
}

type Parsed = FirstMessage | SaslResult;

function parseClientFirst(msg: string): Parsed {
  // gs2-header = gs2-cbind-flag "," [ authzid ] ","
  const c1 = msg.indexOf(',');
  const c2 = c1 === -1 ? -1 : msg.indexOf(',', c1 + 1);
  if (c2 === -1) throw new Malformed('no gs2 header');
  const flag = msg.slice(0, c1);
  const authzPart = msg.slice(c1 + 1, c2);
  if (flag.startsWith('p=')) return failure('not-authorized', 'channel binding is not supported');
  if (flag !== 'n' && flag !== 'y') throw new Malformed('bad gs2-cbind-flag');
  let authzid: string | null = null;
  if (authzPart !== '') {
    if (!authzPart.startsWith('a=')) throw new Malformed('bad authzid');
    authzid = decodeSaslName(authzPart.slice(2));
  }
  const bare = msg.slice(c2 + 1);
  const attrs = attributes(bare);
  if (attrs[0]?.key === 'm') return failure('malformed-request', 'mandatory extensions are not supported');
  const [n, r] = attrs;
  if (n?.key !== 'n' || r?.key !== 'r') throw new Malformed('expected n= and r=');
  if (!NONCE.test(r.value)) throw new Malformed('bad nonce');
  return { gs2Header: msg.slice(0, c2 + 1), authzid, username: decodeSaslName(n.value), clientNonce: r.value, bare };
}

interface Pending {
  gs2Header: string;
  username: string;
  nonce: string;
  clientFirstBare: string;
  serverFirst: string;
  cred: ScramCredential;
  known: boolean;
}

type State = { at: 'start'; emptyChallengeSent: boolean } | { at: 'first-sent'; pending: Pending } | { at: 'done' };

export class ScramServerMechanism implements SaslMechanism {
  private state: State = { at: 'start', emptyChallengeSent: false };

  constructor(readonly name: ScramMech, private readonly ctx: SaslContext) {}

  async step(data: Buffer | null): Promise<SaslResult> {
    const state = this.state;
    try {
      if (state.at === 'done') return failure('malformed-request', 'the exchange is over');
      if (data === null) {
        // RFC 6120 §6.4.2 / RFC 4422 §5: <auth/> without initial response gets an empty challenge, once.
        if (state.at === 'start' && !state.emptyChallengeSent) {
          state.emptyChallengeSent = true;
          return { kind: 'challenge', data: Buffer.alloc(0) };
        }
        return this.end(failure('malformed-request', 'no SCRAM message'));
      }
      if (data.length > MAX_SASL_MESSAGE_BYTES) return this.end(failure('malformed-request', 'message too long'));
      const msg = decodeUtf8(data);
      if (msg === null) return this.end(failure('malformed-request', 'not UTF-8'));
      if (state.at === 'start') return this.end(await this.first(msg));
      return this.end(this.final(state.pending, msg));
    } catch (err) {
      if (err instanceof Malformed) return this.end(failure('malformed-request'));
      return this.end(failure('temporary-auth-failure'));
    }
  }

  /** Any result but a challenge closes the exchange. */
  private end(r: SaslResult): SaslResult {
    if (r.kind !== 'challenge') this.state = { at: 'done' };
    return r;
  }

  private async first(msg: string): Promise<SaslResult> {
    const parsed = parseClientFirst(msg);
    if ('kind' in parsed) return parsed;
    let username: string;
    try {
      username = prepLocal(parsed.username);
    } catch {
      return failure('not-authorized');
    }
    if (parsed.authzid !== null && Jid.tryParse(parsed.authzid)?.toString() !== `${username}@${this.ctx.domain}`) {
      return failure('invalid-authzid');
    }
    const rec = await this.ctx.accounts.get(this.ctx.domain, username);
    const real = rec?.scram[this.name];
    const cred = real ?? this.fakeCredential(username);
    const nonce = parsed.clientNonce + (this.ctx.nonce?.() ?? randomBytes(18).toString('base64'));
    const serverFirst = `r=${nonce},s=${cred.salt},i=${cred.iterations}`;
    this.state = {
      at: 'first-sent',
      pending: { gs2Header: parsed.gs2Header, username, nonce, clientFirstBare: parsed.bare, serverFirst, cred, known: real !== undefined },
    };
    return { kind: 'challenge', data: Buffer.from(serverFirst, 'utf8') };
  }

  private final(p: Pending, msg: string): SaslResult {
    // client-final-message = channel-binding "," nonce ["," extensions] "," proof
    const proofAt = msg.lastIndexOf(',p=');
    if (proofAt === -1) throw new Malformed('no proof');
    const withoutProof = msg.slice(0, proofAt);
    const attrs = attributes(withoutProof);
    const [c, r] = attrs;
    if (c?.key !== 'c' || r?.key !== 'r') throw new Malformed('expected c= and r=');
    const cbind = decodeBase64(c.value);
    const proof = decodeBase64(msg.slice(proofAt + 3));
    if (proof.length !== scramDigest(this.name).length) throw new Malformed('bad proof length');
    if (!safeEqual(cbind, Buffer.from(p.gs2Header, 'utf8'))) return failure('not-authorized', 'channel binding mismatch');
    if (r.value !== p.nonce) return failure('not-authorized', 'nonce mismatch');

    const authMessage = `${p.clientFirstBare},${p.serverFirst},${withoutProof}`;
    const storedKey = Buffer.from(p.cred.storedKey, 'base64');
    const clientSignature = scramHmac(this.name, storedKey, authMessage);
    const clientKey = Buffer.from(proof.map((b, i) => b ^ (clientSignature[i] ?? 0)));
    const ok = safeEqual(scramHash(this.name, clientKey), storedKey);
    if (!ok || !p.known) return failure('not-authorized');
    const serverSignature = scramHmac(this.name, Buffer.from(p.cred.serverKey, 'base64'), authMessage);
    return { kind: 'success', username: p.username, data: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8') };
  }

  /** Deterministic per (secret, mechanism, domain, username); keys that no proof can match. */
  private fakeCredential(username: string): ScramCredential {
    const mac = (label: string) =>
      createHmac('sha256', this.ctx.secret ?? PROCESS_SECRET).update(`${label}\0${this.name}\0${this.ctx.domain}\0${username}`).digest();
    return {
      iterations: DEFAULT_SCRAM_ITERATIONS,
      salt: mac('salt').subarray(0, 16).toString('base64'),
      storedKey: randomBytes(scramDigest(this.name).length).toString('base64'),
      serverKey: randomBytes(scramDigest(this.name).length).toString('base64'),
    };
  }
}
