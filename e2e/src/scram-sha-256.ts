/**
 * SCRAM-SHA-256 client mechanism (RFC 5802, RFC 7677) in the saslmechanisms shape that @xmpp/sasl
 * drives: `name`, `clientFirst`, `response(cred)` and `challenge(chal)`. @xmpp/client 0.14 has only
 * SCRAM-SHA-1; register this one with `client.saslFactory.use(ScramSha256)`.
 *
 * Strings crossing the @xmpp/sasl boundary are "binary strings" (one char per byte, as btoa/atob use),
 * so UTF-8 is encoded/decoded here. No channel binding (gs2 header 'n,,').
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

function toBinary(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

function fromBinary(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

/** RFC 5802 §5.1 saslname: ',' -> '=2C', '=' -> '=3D'. */
export function saslname(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

export function parseScram(msg: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of msg.split(',')) {
    const i = part.indexOf('=');
    if (i === 1) out[part[0]] = part.slice(2);
  }
  return out;
}

const hmac = (key: Buffer, data: string | Buffer) => createHmac('sha256', key).update(data).digest();
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest();

export interface ScramCredentials {
  username?: string | null;
  password?: string | null;
  authzid?: string | null;
}

/** The client side of one SCRAM-SHA-256 exchange; also usable directly over a raw socket. */
export class ScramSha256Client {
  private stage: 'initial' | 'challenge' | 'final' = 'initial';
  private cnonce: string;
  private clientFirstBare = '';
  private serverFirst = '';
  private serverSignature: Buffer | null = null;

  constructor(nonce?: string) {
    this.cnonce = nonce ?? randomBytes(18).toString('base64').replace(/[=,]/g, '');
  }

  /** client-first-message (UTF-8 text). */
  first(cred: ScramCredentials): string {
    this.clientFirstBare = `n=${saslname(cred.username ?? '')},r=${this.cnonce}`;
    this.stage = 'challenge';
    return `n,,${this.clientFirstBare}`;
  }

  /** client-final-message for a server-first-message (UTF-8 text). */
  final(serverFirst: string, cred: ScramCredentials): string {
    this.serverFirst = serverFirst;
    const v = parseScram(serverFirst);
    if (v.e) throw new Error(`SCRAM server error: ${v.e}`);
    if (!v.r || !v.r.startsWith(this.cnonce) || v.r.length <= this.cnonce.length) throw new Error('SCRAM: server nonce does not extend the client nonce');
    const iterations = Number(v.i);
    if (!Number.isInteger(iterations) || iterations < 1) throw new Error('SCRAM: bad iteration count');
    const salt = Buffer.from(v.s ?? '', 'base64');
    const salted = pbkdf2Sync(Buffer.from(cred.password ?? '', 'utf8'), salt, iterations, 32, 'sha256');
    const clientKey = hmac(salted, 'Client Key');
    const serverKey = hmac(salted, 'Server Key');
    const storedKey = sha256(clientKey);
    const withoutProof = `c=${Buffer.from('n,,').toString('base64')},r=${v.r}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const clientSignature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i] ^ clientSignature[i];
    this.serverSignature = hmac(serverKey, authMessage);
    this.stage = 'final';
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Whether the server-final-message ('v=...') proves the server knows the credentials (RFC 5802 §9). */
  verifyServerFinal(serverFinal: string): boolean {
    const v = parseScram(serverFinal);
    if (!v.v || !this.serverSignature) return false;
    const got = Buffer.from(v.v, 'base64');
    return got.length === this.serverSignature.length && timingSafeEqual(got, this.serverSignature);
  }

  get done(): boolean {
    return this.stage === 'final';
  }
}

/** saslmechanisms-style constructor for @xmpp/client's saslFactory. */
export function ScramSha256(this: { _c: ScramSha256Client; _chal: string }) {
  this._c = new ScramSha256Client();
  this._chal = '';
}
ScramSha256.prototype.name = 'SCRAM-SHA-256';
ScramSha256.prototype.clientFirst = true;
ScramSha256.prototype.response = function (this: { _c: ScramSha256Client; _chal: string }, cred: ScramCredentials): string {
  if (!this._c.done && this._chal === '') return toBinary(this._c.first(cred));
  if (!this._c.done) return toBinary(this._c.final(this._chal, cred));
  return '';
};
ScramSha256.prototype.challenge = function (this: { _c: ScramSha256Client; _chal: string }, chal: string) {
  this._chal = fromBinary(chal);
  return this;
};
