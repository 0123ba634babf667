/**
 * Smaller per-account state: blocking (XEP-0191), vcard-temp (XEP-0054), private XML storage
 * (XEP-0049) and last activity (XEP-0012). XML is stored as serialized strings.
 */

export interface BlocklistRepository {
  /** Blocked JIDs (bare, full or domain JIDs as the user gave them, normalized), in the order added. */
  get(domain: string, username: string): Promise<string[]>;
  /** Add JIDs; ones already blocked are kept once. Concurrent adds of different JIDs all land. */
  add(domain: string, username: string, jids: string[]): Promise<void>;
  /** Remove JIDs; unknown ones are ignored. */
  remove(domain: string, username: string, jids: string[]): Promise<void>;
  /** Unblock all (and the account's cleanup). */
  clear(domain: string, username: string): Promise<void>;
}

export interface VCardRepository {
  /** The <vCard xmlns='vcard-temp'/> element as XML, or null when none was stored. */
  get(domain: string, username: string): Promise<string | null>;
  set(domain: string, username: string, vcardXml: string): Promise<void>;
  delete(domain: string, username: string): Promise<void>;
}

export interface PrivateXmlRepository {
  /** The stored child element (XML) for an element name + namespace, or null. */
  get(domain: string, username: string, name: string, xmlns: string): Promise<string | null>;
  set(domain: string, username: string, name: string, xmlns: string, xmlText: string): Promise<void>;
  deleteAll(domain: string, username: string): Promise<void>;
}

export interface LastActivity {
  /** ISO 8601, UTC: when the user's last session ended. */
  at: string;
  /** Status text of the last unavailable presence, '' when none. */
  status: string;
}

export interface LastActivityRepository {
  get(domain: string, username: string): Promise<LastActivity | null>;
  set(domain: string, username: string, last: LastActivity): Promise<void>;
  delete(domain: string, username: string): Promise<void>;
}
