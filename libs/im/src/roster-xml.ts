/**
 * The roster on the wire (RFC 6121 §2, XEP-0237 roster versioning): a stored RosterItem as <item/>, a
 * client's roster-set <item/> parsed and validated (§2.3.3, §2.5.3), and roster pushes (§2.1.6) to
 * the owner's interested resources. Used by the roster service and by the presence service, which
 * pushes the items its subscription state machine changes.
 *
 * Limits this server configures (§2.3.3 leaves them to the server; RFC 7622 bounds a JID part the same):
 *  - name: at most ROSTER_NAME_MAX_BYTES octets of UTF-8, else not-acceptable;
 *  - group: at most ROSTER_GROUP_MAX_BYTES octets, not empty, else not-acceptable; duplicates bad-request;
 *  - at most ROSTER_MAX_GROUPS groups per item, else not-acceptable (bounds what one set can store).
 */
import { randomBytes } from 'node:crypto';
import { type Deliverer, ROSTER_PUSH_KIND } from '@kxmpp/bus';
import type { RosterItem } from '@kxmpp/store';
import { Element, Jid, NS, StanzaError, xml } from '@kxmpp/xmpp-core';

export const ROSTER_NS = 'jabber:iq:roster';
/** Stream feature announcing roster versioning (RFC 6121 §2.6.1): the edge offers it. */
export const ROSTER_VER_FEATURE_NS = 'urn:xmpp:features:rosterver';

export const ROSTER_NAME_MAX_BYTES = 1023;
export const ROSTER_GROUP_MAX_BYTES = 1023;
export const ROSTER_MAX_GROUPS = 100;

/** The 'ver' of a roster version counter: a decimal string (opaque to clients, §2.1.1). */
export function rosterVer(version: number): string {
  return String(version);
}

/**
 * <item/> of a roster result or push. Only what §2.1.2 lets a client see: jid, name, subscription,
 * ask='subscribe' while pending-out, approved='true' while pre-approved (§2.1.2.1: the server SHOULD
 * include it), and the groups. Pending-in and the stored subscribe stanza stay server-side.
 */
export function rosterItemElement(item: RosterItem): Element {
  const el = xml('item', {
    jid: item.jid,
    name: item.name || undefined,
    subscription: item.subscription,
    ask: item.ask ? 'subscribe' : undefined,
    approved: item.approved ? 'true' : undefined,
  });
  for (const g of item.groups) el.cnode(xml('group', null, g));
  return el;
}

/** <item subscription='remove'/> of a push announcing a deleted item (§2.5.2). */
export function rosterRemovalElement(jid: string): Element {
  return xml('item', { jid, subscription: 'remove' });
}

/**
 * Whether an item is part of the roster the user sees. A contact's pending subscription request is
 * stored on an item too (RFC 6121 Appendix A "None + Pending In"), but a stranger asking to subscribe
 * must not put an entry in the user's roster (§3.1.3): such an item is hidden from roster results and
 * pushes until it carries anything else (a name or group the user gave it, a subscription, a pending-out
 * request, a pre-approval).
 */
export function isRosterVisible(item: RosterItem | null | undefined): boolean {
  if (!item) return false;
  return !(item.subscription === 'none' && !item.ask && !item.approved && item.pendingIn && !item.name && item.groups.length === 0);
}

/**
 * What to push after an item changed from `previous` to `next` (null = absent): the item when it is
 * visible now, its removal when it was visible and is gone or hidden now, else nothing.
 */
export function rosterPushFor(previous: RosterItem | null, next: RosterItem | null): RosterItem | string | null {
  if (next && isRosterVisible(next)) return next;
  if (previous && isRosterVisible(previous)) return previous.jid;
  return null;
}

/** <query xmlns='jabber:iq:roster' ver='…'> with the visible items (a roster result). */
export function rosterQueryElement(items: readonly RosterItem[], version?: number): Element {
  const q = xml('query', { xmlns: ROSTER_NS, ver: version === undefined ? undefined : rosterVer(version) });
  for (const item of items) if (isRosterVisible(item)) q.cnode(rosterItemElement(item));
  return q;
}

/** A client's roster-set <item/>, validated and normalized. */
export interface RosterSetItem {
  /** The contact's bare JID, normalized (RFC 7622). */
  jid: string;
  /** subscription='remove' (§2.5); every other value of 'subscription' is ignored (§2.1.2.5). */
  remove: boolean;
  name?: string;
  groups: string[];
}

const byteLength = (s: string) => Buffer.byteLength(s, 'utf8');

/**
 * Parse the <query/> of a roster set (§2.3.3, §2.5.3). Throws StanzaError:
 *  - bad-request: not exactly one <item/>, no 'jid', a full JID (roster items are bare JIDs), duplicate groups;
 *  - jid-malformed: a 'jid' that is not a valid JID;
 *  - not-acceptable: name or group over the limits above, an empty group, too many groups.
 * 'ask' and 'approved' from a client are ignored (§2.1.2.1, §2.1.2.2: only the server sets them).
 */
export function parseRosterSetItem(query: Element): RosterSetItem {
  const items = query.getChildElements().filter((c) => c.name === 'item');
  if (items.length !== 1) throw new StanzaError('bad-request', 'a roster set carries exactly one item');
  const item = items[0];
  const raw = item.attrs.jid;
  if (raw === undefined || raw === '') throw new StanzaError('bad-request', 'the item has no jid');
  const jid = Jid.tryParse(String(raw));
  if (!jid) throw new StanzaError('jid-malformed', 'the item jid is not a valid JID');
  if (!jid.isBare) throw new StanzaError('bad-request', 'roster items are bare JIDs');
  const bare = jid.toBareString();
  if (item.attrs.subscription === 'remove') return { jid: bare, remove: true, groups: [] };

  const name = item.attrs.name === undefined || item.attrs.name === '' ? undefined : String(item.attrs.name);
  if (name !== undefined && byteLength(name) > ROSTER_NAME_MAX_BYTES) {
    throw new StanzaError('not-acceptable', `the name is longer than ${ROSTER_NAME_MAX_BYTES} bytes`);
  }
  const groupEls = item.getChildren('group');
  if (groupEls.length > ROSTER_MAX_GROUPS) throw new StanzaError('not-acceptable', `more than ${ROSTER_MAX_GROUPS} groups`);
  const groups: string[] = [];
  const seen = new Set<string>();
  for (const g of groupEls) {
    const text = g.getText();
    if (text === '') throw new StanzaError('not-acceptable', 'empty group name');
    if (byteLength(text) > ROSTER_GROUP_MAX_BYTES) throw new StanzaError('not-acceptable', `a group name is longer than ${ROSTER_GROUP_MAX_BYTES} bytes`);
    if (seen.has(text)) throw new StanzaError('bad-request', 'duplicate group');
    seen.add(text);
    groups.push(text);
  }
  const out: RosterSetItem = { jid: bare, remove: false, groups };
  if (name !== undefined) out.name = name;
  return out;
}

/** A fresh id for a server-generated iq (pushes): unique enough that replies cannot be confused. */
export function pushId(): string {
  return `push-${randomBytes(6).toString('hex')}`;
}

export interface RosterPushOptions {
  /** Full JID of the session. */
  to: string;
  /** The owner's bare JID: a client accepts a push only from it or without 'from' (§2.1.6). */
  from: string;
  id?: string;
  /** The roster version after the change. */
  version: number;
  /** The changed item, or the bare JID of a removed one. */
  change: RosterItem | string;
}

/** <iq type='set'> roster push with one item and the new 'ver' (§2.1.6, XEP-0237). */
export function rosterPush(o: RosterPushOptions): Element {
  const item = typeof o.change === 'string' ? rosterRemovalElement(o.change) : rosterItemElement(o.change);
  return xml('iq', { xmlns: NS.CLIENT, type: 'set', id: o.id ?? pushId(), from: o.from, to: o.to }, xml('query', { xmlns: ROSTER_NS, ver: rosterVer(o.version) }, item));
}

/** A session to push to: SessionEntry (registry) fits. */
export interface PushTarget {
  /** Full JID. */
  jid: string;
  edge: string;
  sid: string;
}

/**
 * Push one roster change to each given session (one delivery per session: each push names its session
 * in 'to'). `change` is the item, or the bare JID of the removed item (pushed as subscription='remove').
 * Returns the number of pushes sent. Callers pick the sessions: every bound session of the owner
 * (SessionRegistryView.resources, or fetch() when that is empty); the deliveries are of kind
 * ROSTER_PUSH_KIND, which each session's edge writes only to a session that requested the roster
 * (RFC 6121 §2.1.6 "interested resources").
 */
export function pushRosterChange(
  deliverer: Deliverer,
  sessions: readonly PushTarget[],
  ownerBare: string,
  change: RosterItem | string,
  version: number,
): number {
  let n = 0;
  for (const s of sessions) {
    const push = rosterPush({ to: s.jid, from: ownerBare, version, change });
    deliverer.deliver([{ edge: s.edge, sid: s.sid }], ROSTER_PUSH_KIND, push.toString());
    n++;
  }
  return n;
}
