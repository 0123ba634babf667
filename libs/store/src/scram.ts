/**
 * SCRAM credentials (RFC 5802 §3, RFC 7677): what an account stores instead of its password.
 *
 *   SaltedPassword = PBKDF2(Normalize(password), salt, i)      with HMAC-SHA-1 or HMAC-SHA-256
 *   StoredKey      = H(HMAC(SaltedPassword, "Client Key"))
 *   ServerKey      = HMAC(SaltedPassword, "Server Key")
 *
 * Normalize approximates SASLprep (RFC 4013 §2): non-ASCII spaces map to SPACE, "commonly mapped to
 * nothing" characters are dropped, then NFKC. The prohibited-output and bidi checks are left out: they
 * only reject passwords, and a client that applied them sends the same string anyway.
 *
 * PBKDF2 with thousands of iterations takes milliseconds of CPU: servers use the *Async variants so the
 * event loop of an edge stays free; the sync ones are for tests and tooling.
 */
import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

export type ScramMech = 'SCRAM-SHA-1' | 'SCRAM-SHA-256';

export const SCRAM_MECHS: readonly ScramMech[] = ['SCRAM-SHA-256', 'SCRAM-SHA-1'];

export interface ScramCredential {
  iterations: number;
  /** base64 */
  salt: string;
  /** base64 */
  storedKey: string;
  /** base64 */
  serverKey: string;
}

export interface DeriveOptions {
  salt?: Buffer;
  iterations?: number;
}

export const DEFAULT_SCRAM_ITERATIONS = 4096;
const SALT_BYTES = 16;
const pbkdf2Async = promisify(pbkdf2);

export function isScramMech(s: string): s is ScramMech {
  return s === 'SCRAM-SHA-1' || s === 'SCRAM-SHA-256';
}

/** The node:crypto digest name and output length behind a mechanism. */
export function scramDigest(mech: ScramMech): { algorithm: 'sha1' | 'sha256'; length: number } {
  return mech === 'SCRAM-SHA-1' ? { algorithm: 'sha1', length: 20 } : { algorithm: 'sha256', length: 32 };
}

export function scramHmac(mech: ScramMech, key: Buffer, data: Buffer | string): Buffer {
  return createHmac(scramDigest(mech).algorithm, key).update(data).digest();
}

export function scramHash(mech: ScramMech, data: Buffer): Buffer {
  return createHash(scramDigest(mech).algorithm).update(data).digest();
}

// RFC 3454 C.1.2 (non-ASCII space characters) and B.1 (commonly mapped to nothing).
const NON_ASCII_SPACE = /[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/gu;
const MAPPED_TO_NOTHING = /[\u00ad\u034f\u1806\u180b-\u180d\u200b-\u200d\u2060\ufe00-\ufe0f\ufeff]/gu;

/** SASLprep approximation (RFC 4013 §2.1-2.2 mapping and normalization). */
export function normalizePassword(password: string): string {
  return password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC');
}

function checkIterations(iterations: number): void {
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError(`invalid SCRAM iteration count: ${iterations}`);
}

function credentialFrom(mech: ScramMech, salted: Buffer, salt: Buffer, iterations: number): ScramCredential {
  const clientKey = scramHmac(mech, salted, 'Client Key');
  return {
    iterations,
    salt: salt.toString('base64'),
    storedKey: scramHash(mech, clientKey).toString('base64'),
    serverKey: scramHmac(mech, salted, 'Server Key').toString('base64'),
  };
}

export function saltedPassword(mech: ScramMech, password: string, salt: Buffer, iterations: number): Buffer {
  checkIterations(iterations);
  const { algorithm, length } = scramDigest(mech);
  return pbkdf2Sync(normalizePassword(password), salt, iterations, length, algorithm);
}

export async function saltedPasswordAsync(mech: ScramMech, password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  checkIterations(iterations);
  const { algorithm, length } = scramDigest(mech);
  return pbkdf2Async(normalizePassword(password), salt, iterations, length, algorithm);
}

/** Blocks the event loop for the whole PBKDF2 run: tests and tooling only. */
export function deriveScramCredential(mech: ScramMech, password: string, opts: DeriveOptions = {}): ScramCredential {
  const salt = opts.salt ?? randomBytes(SALT_BYTES);
  const iterations = opts.iterations ?? DEFAULT_SCRAM_ITERATIONS;
  return credentialFrom(mech, saltedPassword(mech, password, salt, iterations), salt, iterations);
}

export async function deriveScramCredentialAsync(mech: ScramMech, password: string, opts: DeriveOptions = {}): Promise<ScramCredential> {
  const salt = opts.salt ?? randomBytes(SALT_BYTES);
  const iterations = opts.iterations ?? DEFAULT_SCRAM_ITERATIONS;
  return credentialFrom(mech, await saltedPasswordAsync(mech, password, salt, iterations), salt, iterations);
}

/** One credential per mechanism, each with its own salt (a shared salt would tie the two together). */
export function deriveAllCredentials(password: string, iterations?: number): Record<ScramMech, ScramCredential> {
  return {
    'SCRAM-SHA-1': deriveScramCredential('SCRAM-SHA-1', password, { iterations }),
    'SCRAM-SHA-256': deriveScramCredential('SCRAM-SHA-256', password, { iterations }),
  };
}

export async function deriveAllCredentialsAsync(password: string, iterations?: number): Promise<Record<ScramMech, ScramCredential>> {
  const [sha1, sha256] = await Promise.all([
    deriveScramCredentialAsync('SCRAM-SHA-1', password, { iterations }),
    deriveScramCredentialAsync('SCRAM-SHA-256', password, { iterations }),
  ]);
  return { 'SCRAM-SHA-1': sha1, 'SCRAM-SHA-256': sha256 };
}

/** Constant-time comparison that tolerates different lengths (a length mismatch is simply false). */
export function safeEqual(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

function storedKeyMatches(mech: ScramMech, cred: ScramCredential, salted: Buffer): boolean {
  const stored = scramHash(mech, scramHmac(mech, salted, 'Client Key'));
  return safeEqual(stored, Buffer.from(cred.storedKey, 'base64'));
}

/** Blocks the event loop: tests and tooling only; servers use verifyPasswordAsync. */
export function verifyPassword(cred: ScramCredential, mech: ScramMech, password: string): boolean {
  return storedKeyMatches(mech, cred, saltedPassword(mech, password, Buffer.from(cred.salt, 'base64'), cred.iterations));
}

export async function verifyPasswordAsync(cred: ScramCredential, mech: ScramMech, password: string): Promise<boolean> {
  const salted = await saltedPasswordAsync(mech, password, Buffer.from(cred.salt, 'base64'), cred.iterations);
  return storedKeyMatches(mech, cred, salted);
}
