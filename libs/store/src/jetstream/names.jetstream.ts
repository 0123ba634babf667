/**
 * Every JetStream name, key and subject the storage adapters create, built here and nowhere else
 * (STYLE.md rule 4). Domains, usernames and JIDs only ever enter as base64url tokens or hashes, so
 * nothing a user chose can add a '.', '*' or '>' and one user's keys are exactly the filter `<d>.<u>.*`.
 */
import { createHash } from 'node:crypto';
import { encodeToken } from '@kxmpp/xmpp-core';

export const JS_NAMES = {
  accountsBucket: 'xmpp_accounts',
  rosterBucket: 'xmpp_roster',
  blocklistBucket: 'xmpp_blocklist',
  vcardBucket: 'xmpp_vcard',
  privateXmlBucket: 'xmpp_private',
  lastActivityBucket: 'xmpp_last',
  offlineStream: 'XMPP_OFFLINE',
  /** Kept apart from the bus subjects (`xmpp.route`, `xmpp.svc`, ...) so the stream never captures a request. */
  offlineSubjectPrefix: 'xmpp.store.offline',
} as const;

/** base64url of a non-empty string; RangeError for an empty one (a malformed key is never written). */
export function token(part: string, what: string): string {
  if (typeof part !== 'string' || part.length === 0) throw new RangeError(`empty ${what}`);
  return encodeToken(part);
}

/**
 * A fixed-length token for a JID or other long user-chosen string: a subject must fit the 4 KB
 * protocol control line even when domain, username and contact are all at their 1023-byte limits.
 * The value stored under the key carries the original string.
 */
export function hashToken(value: string, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new RangeError(`empty ${what}`);
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

/** `<domain>.<username>`: the key of a per-account value, and the prefix of per-account keys. */
export function accountKey(domain: string, username: string): string {
  return `${token(domain, 'domain')}.${token(username, 'username')}`;
}

/** Every key under one account: `<domain>.<username>.*`. */
export function accountKeysFilter(domain: string, username: string): string {
  return `${accountKey(domain, username)}.*`;
}

export function rosterItemKey(domain: string, username: string, contactJid: string): string {
  return `${accountKey(domain, username)}.${hashToken(contactJid, 'contact jid')}`;
}

export function blockedJidKey(domain: string, username: string, jid: string): string {
  return `${accountKey(domain, username)}.${hashToken(jid, 'blocked jid')}`;
}

export function privateXmlKey(domain: string, username: string, name: string, xmlns: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new RangeError('empty element name');
  if (typeof xmlns !== 'string') throw new TypeError('namespace must be a string');
  // NUL cannot occur in XML names or namespaces, so (name, xmlns) pairs cannot collide.
  return `${accountKey(domain, username)}.${hashToken(`${name}\u0000${xmlns}`, 'element')}`;
}

/** The stream behind a KV bucket (the KV convention, ADR-8). */
export function kvStream(bucket: string): string {
  return `KV_${bucket}`;
}

/** The KV stream subject of a key (for writes the KV view has no call for, such as a DEL that returns its sequence). */
export function kvSubject(bucket: string, key: string): string {
  return `$KV.${bucket}.${key}`;
}

export const OFFLINE_SUBJECTS = `${JS_NAMES.offlineSubjectPrefix}.>`;

export function offlineSubject(domain: string, username: string): string {
  return `${JS_NAMES.offlineSubjectPrefix}.${accountKey(domain, username)}`;
}
