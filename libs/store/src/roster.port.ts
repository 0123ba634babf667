/**
 * Roster storage port (RFC 6121 §2, XEP-0237). One item per (owner, contact); a per-owner version
 * counter that every change raises, so clients can ask "anything newer than ver N?".
 *
 * Items carry the whole RFC 6121 Appendix A state: subscription, pending-out (`ask`), pending-in
 * (with the subscribe stanza to show again at the next login) and pre-approval.
 */
export type Subscription = 'none' | 'to' | 'from' | 'both';

export interface RosterItem {
  /** Bare JID of the contact, normalized. */
  jid: string;
  name?: string;
  /** Distinct group names, in the order the client gave them. */
  groups: string[];
  subscription: Subscription;
  /** Pending-out: the owner asked to subscribe to the contact and has no answer yet. */
  ask: boolean;
  /** Pending-in: the contact asked to subscribe to the owner; kept until the owner answers. */
  pendingIn: boolean;
  /** The inbound subscribe stanza (XML) to present again at login while pending-in. */
  pendingInStanza?: string;
  /** Pre-approved (RFC 6121 §3.4): a later subscribe from the contact is approved at once. */
  approved: boolean;
}

export interface RosterSnapshot {
  /** 0 for a user who never had a roster item. */
  version: number;
  items: RosterItem[];
}

/** What update() returns: the roster version after the change and the item before and after. */
export interface RosterChange {
  version: number;
  previous: RosterItem | null;
  item: RosterItem | null;
}

export interface RosterRepository {
  get(domain: string, username: string): Promise<RosterSnapshot>;
  getItem(domain: string, username: string, jid: string): Promise<RosterItem | null>;
  /**
   * Read-modify-write of one item, atomic against concurrent writers (compare-and-set, retried): two
   * writers of different items both land; two of the same item are applied one after the other.
   * `fn` gets the current item (null when absent) and returns the new item, null to delete it, or
   * undefined to leave it alone (then update resolves to null and the version does not move; so does
   * returning null for an absent item). `fn` runs again on every retry: keep it free of side effects.
   * The returned item must have `jid` equal to the key (else RangeError); it is stored with distinct groups.
   * Every change raises the owner's version by at least one; the returned version is the one after it.
   */
  update(
    domain: string,
    username: string,
    jid: string,
    fn: (current: RosterItem | null) => RosterItem | null | undefined,
  ): Promise<RosterChange | null>;
  /**
   * Every item of one user (account deleted). The version is not reset: a roster the same username
   * builds later continues above it, so a client's cached version of the old roster never matches.
   */
  deleteAll(domain: string, username: string): Promise<void>;
}
