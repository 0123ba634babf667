/** Offline message storage port (XEP-0160, RFC 6121 §8.5.2.2). Messages of one user come back in stored order. */
export interface OfflineMessage {
  /**
   * Adapter-assigned: a decimal integer, increasing (as a number) in stored order for one user and never
   * reused for that user. Unique per user only, so it always travels with its domain and username.
   */
  id: string;
  /** Full JID of the sender. */
  from: string;
  /** The message stanza as received (XML). */
  stanza: string;
  /** ISO 8601, UTC: when the server stored it (for the XEP-0203 delay stamp). */
  storedAt: string;
}

export interface OfflineRepository {
  /**
   * Store a message unless the user already has `limit` stored; false when full. Callers serialize
   * the pushes of one user (the offline service's partition), so the check and the append need not be atomic.
   */
  push(domain: string, username: string, msg: Omit<OfflineMessage, 'id'>, limit: number): Promise<boolean>;
  /** Oldest first, at most `max` (all when omitted). */
  list(domain: string, username: string, max?: number): Promise<OfflineMessage[]>;
  /** Remove the given ids (after delivery); unknown ids are ignored. */
  remove(domain: string, username: string, ids: string[]): Promise<void>;
  count(domain: string, username: string): Promise<number>;
  deleteAll(domain: string, username: string): Promise<void>;
}
