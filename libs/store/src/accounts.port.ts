/**
 * The accounts storage port: one record per (domain, username), holding SCRAM credentials only
 * (RFC 5802 §5.1: the server stores StoredKey/ServerKey, never the password).
 *
 * `domain` is a normalized domainpart and `username` a normalized localpart (callers go through Jid /
 * prepLocal); adapters still never put them raw into keys or subjects.
 */
import type { ScramCredential, ScramMech } from './scram';

export interface AccountRecord {
  domain: string;
  username: string;
  scram: Record<ScramMech, ScramCredential>;
  /** ISO 8601 */
  createdAt: string;
}

export interface AccountsRepository {
  /** null when there is no such account (a deleted one included). */
  get(domain: string, username: string): Promise<AccountRecord | null>;
  /** Atomic: false if the account already exists; of concurrent creates exactly one returns true. */
  create(rec: AccountRecord): Promise<boolean>;
  /** Replace the credentials (password change); false if there is no such account. */
  setCredentials(domain: string, username: string, scram: Record<ScramMech, ScramCredential>): Promise<boolean>;
  /** false if there was no such account. */
  delete(domain: string, username: string): Promise<boolean>;
  /** Usernames of one domain in ascending code point order, at most `limit` of them. */
  list(domain: string, limit?: number): Promise<string[]>;
  count(domain: string): Promise<number>;
}

/** Code point order (equals UTF-8 byte order, what a database's binary collation gives). */
export function compareCodePoints(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Notification of changed accounts (created, new credentials, deleted), for caches kept by other
 * processes. Delivery is best-effort and fast (milliseconds), not a substitute for the store itself.
 */
export interface AccountChangeFeed {
  /** Calls onChange for every later change; resolves to a function that stops the feed. */
  watchChanges(onChange: (domain: string, username: string) => void): Promise<() => void>;
}
