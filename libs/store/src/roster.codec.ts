/**
 * The stored form of a roster item, shared by the adapters: known fields only, groups distinct in the
 * client's order, so every adapter returns the same object for the same input.
 */
import type { RosterItem, Subscription } from './roster.port';

const SUBSCRIPTIONS: ReadonlySet<string> = new Set<Subscription>(['none', 'to', 'from', 'both']);

export function canonicalRosterItem(item: RosterItem, jid: string): RosterItem {
  if (!item || typeof item !== 'object') throw new TypeError('roster item must be an object');
  if (item.jid !== jid) throw new RangeError(`roster item jid ${JSON.stringify(item.jid)} is not the key ${JSON.stringify(jid)}`);
  if (!SUBSCRIPTIONS.has(item.subscription)) throw new RangeError(`bad subscription ${JSON.stringify(item.subscription)}`);
  const out: RosterItem = {
    jid,
    groups: [...new Set(item.groups ?? [])],
    subscription: item.subscription,
    ask: item.ask === true,
    pendingIn: item.pendingIn === true,
    approved: item.approved === true,
  };
  if (item.name !== undefined) out.name = item.name;
  if (item.pendingInStanza !== undefined) out.pendingInStanza = item.pendingInStanza;
  return out;
}
