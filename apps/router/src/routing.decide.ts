/**
 * The routing decision, a pure function of the envelope and what the caller looked up:
 * RFC 6120 §10.3-10.5 (local domain, bare and full JIDs) and RFC 6121 §8.5 (delivery rules for
 * message, presence and IQ). Every rule is a row of docs/routing.md; routing.spec.ts runs those rows.
 */
import type { StanzaCondition } from '@kxmpp/xmpp-core';
import type { SessionEntry } from '@kxmpp/bus';

export interface SessionRef {
  edge: string;
  sid: string;
}

export interface RouteInput {
  kind: string;
  /** The stanza's type attribute, '' when absent. */
  type: string;
  /** Sender full JID (stamped by the edge). */
  from: string;
  /** Recipient, split. local and resource are '' when absent. */
  to: { local: string; domain: string; resource: string };
  /** Whether the recipient's domain is one we serve. */
  domainServed: boolean;
  /** Whether the recipient's account exists; looked up by the caller only when no session is live. */
  accountExists: boolean;
  /** Live sessions of the recipient's bare JID (possibly including ones without available presence). */
  sessions: readonly SessionEntry[];
  /** Session the stanza came in on. */
  sender: SessionRef;
}

export type Action =
  | { action: 'deliver'; sessions: SessionRef[] }
  | { action: 'bounce'; condition: StanzaCondition }
  | { action: 'iq'; target: 'server' | 'account' }
  | { action: 'drop'; reason: string };

const SUBSCRIPTION = new Set(['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed']);

const drop = (reason: string): Action[] => [{ action: 'drop', reason }];
const bounce = (condition: StanzaCondition): Action[] => [{ action: 'bounce', condition }];
const deliver = (sessions: readonly SessionRef[]): Action[] => [{ action: 'deliver', sessions: sessions.map(({ edge, sid }) => ({ edge, sid })) }];

function bareOf(jid: string): string {
  const i = jid.indexOf('/');
  return i < 0 ? jid : jid.slice(0, i);
}

/** Whether decide() can need `accountExists` for this stanza when no session is live (saves a lookup). */
export function needsAccountLookup(kind: string, type: string): boolean {
  if (type === 'error') return false;
  if (kind === 'message') return true;
  if (kind === 'iq') return type === 'get' || type === 'set';
  return false;
}

export function decide(i: RouteInput): Action[] {
  const { kind, type } = i;
  if (kind !== 'message' && kind !== 'presence' && kind !== 'iq') return drop('unknown kind');
  const isError = type === 'error';

  // RFC 6120 §10.4: not ours. Until federation exists every remote domain is unreachable.
  if (!i.domainServed) {
    if (kind === 'presence' || isError || (kind === 'iq' && type === 'result')) return drop('remote domain');
    return bounce('remote-server-not-found');
  }

  // RFC 6120 §10.5.1 (to the domain itself): the server handles IQs; nothing else is for it yet.
  if (i.to.local === '') {
    if (kind === 'iq') return type === 'get' || type === 'set' ? [{ action: 'iq', target: 'server' }] : drop('iq response to the server');
    if (kind === 'message') return isError ? drop('error to the server') : bounce('service-unavailable');
    return drop('presence to the server');
  }

  // RFC 6121 §8.5.3: full JID.
  if (i.to.resource !== '') {
    const exact = i.sessions.find((s) => s.jid.slice(s.jid.indexOf('/') + 1) === i.to.resource);
    if (exact) return deliver([exact]);
    if (kind === 'message') {
      if (type === 'groupchat') return bounce('service-unavailable');
      if (isError) return drop('error to a gone resource');
      // normal, chat, headline: as if to the bare JID (§8.5.3.2.1).
    } else if (kind === 'iq') {
      return type === 'get' || type === 'set' ? bounce('service-unavailable') : drop('iq response to a gone resource');
    } else if (!SUBSCRIPTION.has(type)) {
      return drop('presence to a gone resource');
    }
  }

  // RFC 6121 §8.5.2: bare JID (or treated as such).
  if (!i.accountExists) {
    if (kind === 'presence' || isError || (kind === 'iq' && type !== 'get' && type !== 'set')) return drop('no such account');
    return bounce('service-unavailable');
  }

  const available = i.sessions.filter((s) => s.available);
  if (kind === 'message') {
    const eligible = available.filter((s) => s.priority >= 0);
    switch (type) {
      case '':
      case 'normal':
      case 'chat': {
        if (eligible.length === 0) return bounce('service-unavailable'); // the offline store replaces this row
        const top = Math.max(...eligible.map((s) => s.priority));
        return deliver(eligible.filter((s) => s.priority === top));
      }
      case 'headline':
        return eligible.length ? deliver(eligible) : drop('no available resource for a headline');
      case 'groupchat':
        return bounce('service-unavailable');
      default:
        return drop('message error to a bare JID');
    }
  }

  if (kind === 'presence') {
    const selfBroadcast = bareOf(i.from) === `${i.to.local}@${i.to.domain}` && (type === '' || type === 'unavailable');
    if (selfBroadcast) {
      // RFC 6121 §4.2.2, §4.4.2: the user's own resources, the sender included (the registry may not have
      // seen its availability yet).
      const targets: SessionRef[] = [...available];
      if (i.sender.sid && !targets.some((s) => s.sid === i.sender.sid && s.edge === i.sender.edge)) targets.push(i.sender);
      return deliver(targets);
    }
    if (type === '' || type === 'unavailable' || SUBSCRIPTION.has(type)) {
      // The presence service takes over subscription handling and broadcasts later.
      return available.length ? deliver(available) : drop('no available resource for presence');
    }
    return drop('presence probe or error to a bare JID');
  }

  // iq to an account's bare JID: the server answers on its behalf (RFC 6121 §8.5.2.1.3).
  return type === 'get' || type === 'set' ? [{ action: 'iq', target: 'account' }] : drop('iq response to a bare JID');
}
