/**
 * The routing decision, a pure function of the envelope and what the caller looked up:
 * RFC 6120 §10.3-10.5 (local domain, bare and full JIDs) and RFC 6121 §8.5 (delivery rules for
 * message, presence and IQ). Every rule is a row of docs/routing.md; routing.spec.ts runs those rows.
 */
import { bareOf, type StanzaCondition } from '@kxmpp/xmpp-core';
import type { ServiceName, SessionEntry } from '@kxmpp/bus';
import type { CarbonCopy } from './routing.carbons';

/** RFC 6121 §2: roster IQs go to the roster service. */
const NS_ROSTER = 'jabber:iq:roster';

export interface SessionRef {
  edge: string;
  sid: string;
}

export interface RouteInput {
  kind: string;
  /** The stanza's type attribute, '' when absent. */
  type: string;
  /** For an iq get/set: its payload's namespace ('' otherwise). */
  ns?: string;
  /** Whether the sender's domain is one we serve (false only for stanzas that came in over federation). */
  senderLocal?: boolean;
  /** Sender full JID (stamped by the edge). */
  from: string;
  /** Recipient, split. local and resource are '' when absent. */
  to: { local: string; domain: string; resource: string };
  /** Whether the recipient's domain is one we serve. */
  domainServed: boolean;
  /** Whether stanzas for other domains go to the federation service (false: remote-server-not-found). */
  federation?: boolean;
  /** Whether the recipient's account exists; looked up by the caller only when no session is live. */
  accountExists: boolean;
  /** Live sessions of the recipient's bare JID (possibly including ones without available presence). */
  sessions: readonly SessionEntry[];
  /** Session the stanza came in on. */
  sender: SessionRef;
  /**
   * XEP-0114 (docs/components.md): set when the recipient's domain is a configured component's: the
   * session of its stream when connected, 'offline' when not.
   */
  component?: SessionRef | 'offline';
  /** XEP-0114: the sender is a JID of a configured component domain. */
  fromComponent?: boolean;
}

export type Action =
  | { action: 'deliver'; sessions: SessionRef[] }
  | { action: 'bounce'; condition: StanzaCondition }
  | { action: 'iq'; target: 'server' | 'account' }
  /** Hand to a service's work queue, partitioned by the bare JID `key` (the user whose state it changes). */
  | { action: 'service'; service: ServiceName; key: string }
  | { action: 'drop'; reason: string }
  /** XEP-0191 §3.5: the sender blocks the recipient (decided before decide(), in the router). */
  | { action: 'blocked' }
  /** To another server: into the federation queue, partitioned by the remote domain. */
  | { action: 'remote'; domain: string }
  /** XEP-0280 copies to other sessions (routing.carbons.ts; added by the router, never by decide()). */
  | { action: 'carbons'; copies: CarbonCopy[] };

const drop = (reason: string): Action[] => [{ action: 'drop', reason }];
const bounce = (condition: StanzaCondition): Action[] => [{ action: 'bounce', condition }];
const service = (name: ServiceName, key: string): Action[] => [{ action: 'service', service: name, key }];
const deliver = (sessions: readonly SessionRef[]): Action[] => [{ action: 'deliver', sessions: sessions.map(({ edge, sid }) => ({ edge, sid })) }];


/** RFC 6121 §8.5.2.1.1 / §8.5.3.1 for a component's presence: the exact session, or every available one. */
function presenceToSessions(i: RouteInput): Action[] {
  if (i.to.resource !== '') {
    const exact = i.sessions.find((s) => s.jid.slice(s.jid.indexOf('/') + 1) === i.to.resource);
    return exact ? deliver([exact]) : drop('presence to a gone resource');
  }
  const available = i.sessions.filter((s) => s.available);
  return available.length ? deliver(available) : drop('presence for an account without available sessions');
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
  const senderLocal = i.senderLocal ?? true;
  const toBare = `${i.to.local}@${i.to.domain}`;

  // RFC 6121 §3-4: every presence but errors is the presence service's: outbound processing for a local
  // sender (subscription state, broadcast, directed presence), inbound for a local recipient.
  if (kind === 'presence' && !isError) {
    if (senderLocal) return service('presence', bareOf(i.from));
    // XEP-0114: a component's available/unavailable presence goes straight to the account's sessions (the
    // presence service does not take remote senders' presence yet); its other presence goes the remote way.
    if (i.fromComponent && i.domainServed && i.to.local !== '' && (type === '' || type === 'unavailable')) return presenceToSessions(i);
    if (i.domainServed && i.to.local !== '') return service('presence', toBare);
    // A remote server's presence for a connected component, and a component's presence for another server.
    if (i.component && i.component !== 'offline') return deliver([i.component]);
    if (i.fromComponent && !i.component && i.federation) return [{ action: 'remote', domain: i.to.domain }];
    return drop('presence between two remote entities');
  }

  // RFC 6121 §2: roster get/set, answered by the roster service (forbidden there unless to the sender's own account).
  if (kind === 'iq' && (type === 'get' || type === 'set') && i.ns === NS_ROSTER && i.domainServed && i.to.local !== '') {
    return service('roster', bareOf(i.from));
  }

  // XEP-0114 (docs/components.md): a component's domain. Connected, everything goes to its stream, whatever
  // the local part; not connected, requests bounce as for an absent account, the rest is dropped.
  if (i.component && !i.domainServed) {
    if (i.component !== 'offline') return deliver([i.component]);
    if (kind === 'presence' || isError || (kind === 'iq' && type !== 'get' && type !== 'set')) return drop('component not connected');
    return bounce('service-unavailable');
  }

  // RFC 6120 §10.4: not ours. A local sender's stanza goes to the remote server over federation, errors and
  // results included; with federation off, or from a remote sender (no relaying), it is unreachable.
  if (!i.domainServed) {
    // Components (XEP-0114) federate too: their domains are ours to vouch for (docs/federation.md).
    if ((senderLocal || i.fromComponent) && i.federation) return [{ action: 'remote', domain: i.to.domain }];
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
    } else {
      return drop('presence error to a gone resource');
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
        // XEP-0160, RFC 6121 §8.5.2.2.1: no resource to take it now: the offline store keeps it.
        if (eligible.length === 0) return service('offline', toBare);
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

  // Only presence errors get here (the presence service takes the rest, above).
  if (kind === 'presence') return drop('presence error to a bare JID');

  // iq to an account's bare JID: the server answers on its behalf (RFC 6121 §8.5.2.1.3).
  return type === 'get' || type === 'set' ? [{ action: 'iq', target: 'account' }] : drop('iq response to a bare JID');
}
