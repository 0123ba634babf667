/**
 * The presence subscription state machine of RFC 6121 Appendix A, as tables.
 *
 * A roster item's subscription state is one of nine (A.1): None, None + Pending Out, None + Pending In,
 * None + Pending Out + In, To, To + Pending In, From, From + Pending Out, Both; plus the pre-approval flag
 * (§3.4). "Outbound" is a stanza the item's owner sends to the contact (A.2); "inbound" is one the owner's
 * server receives from the contact (A.3). Each table row says the state after the stanza; a missing row
 * means "no state change". What the server does besides (route, deliver, auto-reply, push) follows from
 * whether the state changed, in transition() below, with the section of the RFC that says so.
 */
import type { RosterItem, Subscription } from '@kxmpp/store';

export type SubscriptionType = 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed';
export type Direction = 'outbound' | 'inbound';

/** The nine states of A.1, named as the RFC names them. */
export type StateName =
  | 'None'
  | 'None + Pending Out'
  | 'None + Pending In'
  | 'None + Pending Out + In'
  | 'To'
  | 'To + Pending In'
  | 'From'
  | 'From + Pending Out'
  | 'Both';

export interface SubState {
  subscription: Subscription;
  ask: boolean;
  pendingIn: boolean;
}

export function stateName(s: SubState): StateName {
  const { subscription: sub, ask, pendingIn } = s;
  if (sub === 'both') return 'Both';
  if (sub === 'to') return pendingIn ? 'To + Pending In' : 'To';
  if (sub === 'from') return ask ? 'From + Pending Out' : 'From';
  if (ask && pendingIn) return 'None + Pending Out + In';
  if (ask) return 'None + Pending Out';
  if (pendingIn) return 'None + Pending In';
  return 'None';
}

export function stateOf(name: StateName): SubState {
  switch (name) {
    case 'None': return { subscription: 'none', ask: false, pendingIn: false };
    case 'None + Pending Out': return { subscription: 'none', ask: true, pendingIn: false };
    case 'None + Pending In': return { subscription: 'none', ask: false, pendingIn: true };
    case 'None + Pending Out + In': return { subscription: 'none', ask: true, pendingIn: true };
    case 'To': return { subscription: 'to', ask: false, pendingIn: false };
    case 'To + Pending In': return { subscription: 'to', ask: false, pendingIn: true };
    case 'From': return { subscription: 'from', ask: false, pendingIn: false };
    case 'From + Pending Out': return { subscription: 'from', ask: true, pendingIn: false };
    case 'Both': return { subscription: 'both', ask: false, pendingIn: false };
  }
}

type Table = Partial<Record<StateName, StateName>>;

/** RFC 6121 Appendix A.2 (outbound) and A.3 (inbound): state -> new state; absent = no change. */
export const TABLES: Record<Direction, Record<SubscriptionType, Table>> = {
  outbound: {
    // A.2.1
    subscribe: {
      'None': 'None + Pending Out',
      'None + Pending In': 'None + Pending Out + In',
      'From': 'From + Pending Out',
    },
    // A.2.2
    unsubscribe: {
      'None + Pending Out': 'None',
      'None + Pending Out + In': 'None + Pending In',
      'To': 'None',
      'To + Pending In': 'None + Pending In',
      'From + Pending Out': 'From',
      'Both': 'From',
    },
    // A.2.3
    subscribed: {
      'None + Pending In': 'From',
      'None + Pending Out + In': 'From + Pending Out',
      'To + Pending In': 'Both',
    },
    // A.2.4
    unsubscribed: {
      'None + Pending In': 'None',
      'None + Pending Out + In': 'None + Pending Out',
      'To + Pending In': 'To',
      'From': 'None',
      'From + Pending Out': 'None + Pending Out',
      'Both': 'To',
    },
  },
  inbound: {
    // A.3.1
    subscribe: {
      'None': 'None + Pending In',
      'None + Pending Out': 'None + Pending Out + In',
      'To': 'To + Pending In',
    },
    // A.3.2
    unsubscribe: {
      'None + Pending In': 'None',
      'None + Pending Out + In': 'None + Pending Out',
      'To + Pending In': 'To',
      'From': 'None',
      'From + Pending Out': 'None + Pending Out',
      'Both': 'To',
    },
    // A.3.3
    subscribed: {
      'None + Pending Out': 'To',
      'None + Pending Out + In': 'To + Pending In',
      'From + Pending Out': 'Both',
    },
    // A.3.4
    unsubscribed: {
      'None + Pending Out': 'None',
      'None + Pending Out + In': 'None + Pending In',
      'To': 'None',
      'To + Pending In': 'None + Pending In',
      'From + Pending Out': 'From',
      'Both': 'From',
    },
  },
};

export interface Transition {
  /** The item after the stanza; null when it does not change (and none is created). */
  item: RosterItem | null;
  /** Outbound: send the stanza on to the contact. Inbound: deliver it to the owner's available resources. */
  forward: boolean;
  /** Inbound subscribe from a contact already subscribed or pre-approved: answer `subscribed` for the owner. */
  autoReplySubscribed: boolean;
}

const EMPTY = (jid: string): RosterItem => ({ jid, groups: [], subscription: 'none', ask: false, pendingIn: false, approved: false });

function withState(base: RosterItem, s: SubState): RosterItem {
  const next: RosterItem = { ...base, subscription: s.subscription, ask: s.ask, pendingIn: s.pendingIn };
  if (!s.pendingIn) delete next.pendingInStanza;
  return next;
}

function same(a: RosterItem, b: RosterItem): boolean {
  return a.subscription === b.subscription && a.ask === b.ask && a.pendingIn === b.pendingIn && a.approved === b.approved && a.pendingInStanza === b.pendingInStanza;
}

/**
 * What a subscription stanza does to the owner's item for `contact`. `current` is the item or null.
 * `stanzaXml` is kept on an inbound subscribe (to show it again at the next login while pending).
 */
export function transition(dir: Direction, type: SubscriptionType, contact: string, current: RosterItem | null, stanzaXml?: string): Transition {
  const base = current ?? EMPTY(contact);
  const from = stateName(base);
  const toName = TABLES[dir][type][from];
  let next = toName ? withState(base, stateOf(toName)) : { ...base };

  if (dir === 'outbound') {
    switch (type) {
      case 'subscribe': {
        // §3.1.2: always routed; an item is created (None + Pending Out) when there was none.
        return { item: current && !toName ? null : next, forward: true, autoReplySubscribed: false };
      }
      case 'subscribed': {
        if (toName) {
          // §3.1.5: approving a pending request; a pre-approval is used up.
          next.approved = false;
          return { item: next, forward: true, autoReplySubscribed: false };
        }
        // §3.4.1: no request pending: a pre-approval, if the contact is not already subscribed to the owner.
        if (base.subscription === 'from' || base.subscription === 'both' || base.approved) return { item: null, forward: false, autoReplySubscribed: false };
        next.approved = true;
        return { item: next, forward: false, autoReplySubscribed: false };
      }
      case 'unsubscribed': {
        // §3.2.1: routed, so the contact's side is cancelled even when ours has no item left (the roster
        // service deletes an item before it sends this); §3.4.2: cancelling only a pre-approval is not routed.
        if (base.approved) next.approved = false;
        const changed = !!toName || base.approved;
        const onlyPreApproval = !toName && base.approved;
        return { item: changed && current ? next : null, forward: !onlyPreApproval, autoReplySubscribed: false };
      }
      case 'unsubscribe':
        // §3.3.1: routed; the state changes only from the rows of A.2.2.
        return { item: toName && current ? next : null, forward: true, autoReplySubscribed: false };
    }
  }

  // inbound
  switch (type) {
    case 'subscribe': {
      // §3.1.3: already subscribed (From/Both/From + Pending Out): answer for the owner, deliver nothing.
      if (base.subscription === 'from' || base.subscription === 'both') return { item: null, forward: false, autoReplySubscribed: true };
      // §3.4: pre-approved: the subscription is approved at once.
      if (base.approved && (from === 'None' || from === 'None + Pending Out' || from === 'To')) {
        const approved = withState(base, stateOf(from === 'To' ? 'Both' : from === 'None + Pending Out' ? 'From + Pending Out' : 'From'));
        approved.approved = false;
        return { item: approved, forward: false, autoReplySubscribed: true };
      }
      if (!toName) {
        // Already pending in: keep the newest request's text, deliver it again.
        return { item: null, forward: true, autoReplySubscribed: false };
      }
      if (stanzaXml !== undefined) next.pendingInStanza = stanzaXml;
      return { item: next, forward: true, autoReplySubscribed: false };
    }
    case 'subscribed':
    case 'unsubscribe':
    case 'unsubscribed':
      // §3.1.6, §3.3.3, §3.2.3: delivered and pushed only when the state changed; otherwise ignored.
      if (!toName || !current) return { item: null, forward: false, autoReplySubscribed: false };
      return { item: same(current, next) ? null : next, forward: true, autoReplySubscribed: false };
  }
}

/** Whether the owner receives the contact's presence (subscription to or both). */
export function receivesPresenceOf(item: RosterItem | null): boolean {
  return item !== null && (item.subscription === 'to' || item.subscription === 'both');
}

/** Whether the contact receives the owner's presence (subscription from or both). */
export function sendsPresenceTo(item: RosterItem | null): boolean {
  return item !== null && (item.subscription === 'from' || item.subscription === 'both');
}
