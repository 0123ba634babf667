/**
 * XEP-0280 message carbons, decided beside the routing table (docs/routing.md, "Message carbons"): given
 * how a message is routed, which other sessions of its recipient and of its sender get a copy. A pure
 * function, like decide(); the router wraps and delivers the copies.
 */
import type { SessionEntry } from '@kxmpp/bus';
import { bareOf, escapeXML } from '@kxmpp/xmpp-core';
import type { Action, SessionRef } from './routing.decide';

export interface CarbonInput {
  /** The edge found the message eligible (XEP-0280 §6: chat, or normal with IM content; not private). */
  eligible: boolean;
  /** Sender full JID, and whether its domain is one we serve. */
  from: string;
  senderLocal: boolean;
  /** The session the message came in on. */
  sender: SessionRef;
  /** The recipient's bare JID when it is a local account ('' otherwise), and its live sessions. */
  recipientBare: string;
  recipientSessions: readonly SessionEntry[];
  /** The sender's live sessions (looked up only for an eligible message from a local user). */
  senderSessions: readonly SessionEntry[];
}

export interface CarbonCopy {
  session: SessionRef & { jid: string };
  /** received: a copy of a message to the owner; sent: of one the owner sent from another resource. */
  direction: 'received' | 'sent';
  /** The bare JID the copy comes from (the owner's own, which clients check, §11). */
  owner: string;
}


const enabled = (s: SessionEntry) => s.carbons === true;

export function carbonCopies(i: CarbonInput, actions: readonly Action[]): CarbonCopy[] {
  // Most messages: nobody involved has carbons on; nothing to work out.
  if (!i.eligible || !(i.recipientSessions.some(enabled) || i.senderSessions.some(enabled))) return [];
  const delivered = new Set<string>();
  let routed = false;
  for (const a of actions) {
    if (a.action === 'deliver') {
      routed = true;
      for (const s of a.sessions) delivered.add(s.sid);
    } else if (a.action === 'service' || a.action === 'remote') {
      routed = true;
    }
  }
  // Bounced, blocked or dropped: nobody else should see it as sent or received.
  if (!routed) return [];
  const copies: CarbonCopy[] = [];
  const given = new Set<string>();
  const isSender = (s: SessionEntry) => i.senderLocal && s.sid === i.sender.sid && s.edge === i.sender.edge;
  const copy = (s: SessionEntry, direction: CarbonCopy['direction'], owner: string) => {
    // Never back to the resource that sent it, nor twice to one session.
    if (!s.carbons || delivered.has(s.sid) || given.has(s.sid) || isSender(s)) return;
    given.add(s.sid);
    copies.push({ session: { edge: s.edge, sid: s.sid, jid: s.jid }, direction, owner });
  };
  // §5: the recipient's other interested resources, when the message reached one of its sessions.
  if (i.recipientBare && delivered.size > 0) {
    for (const s of i.recipientSessions) copy(s, 'received', i.recipientBare);
  }
  // §6: the sender's other interested resources, whatever the message went on to (a session, storage,
  // another server), but not the resource that sent it.
  if (i.senderLocal && i.from.includes('/')) {
    const owner = bareOf(i.from);
    for (const s of i.senderSessions) copy(s, 'sent', owner);
  }
  return copies;
}

const encoder = new TextEncoder();

/**
 * The copy as delivered (XEP-0280 §5-6): the original bytes untouched inside <forwarded/> (XEP-0297),
 * in a message from the owner's bare JID to the session it goes to.
 */
export function carbonCopyBytes(c: CarbonCopy, type: string, original: Uint8Array): Uint8Array {
  const head = encoder.encode(
    `<message xmlns='jabber:client' from='${escapeXML(c.owner)}' to='${escapeXML(c.session.jid)}' type='${escapeXML(type || 'normal')}'>` +
      `<${c.direction} xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>`,
  );
  const tail = encoder.encode(`</forwarded></${c.direction}></message>`);
  const out = new Uint8Array(head.length + original.length + tail.length);
  out.set(head, 0);
  out.set(original, head.length);
  out.set(tail, head.length + original.length);
  return out;
}
