/**
 * StanzaService: a message or presence as any JID, published into the routing stream the way an edge
 * publishes a client's stanza (RFC 6120 §8.1.2.1 'from' already stamped), so it meets every routing
 * rule: RFC 6121 delivery by priority, offline storage, presence handling, blocking.
 */
import { randomUUID } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { NS, xml } from '@kxmpp/xmpp-core';
import type { AdminContext } from './admin.context';
import { publishToRoute, unary } from './admin.context';
import { invalid } from './admin.errors';
import { parseJid } from './admin.validate';

export const MESSAGE_TYPES = ['normal', 'chat', 'groupchat', 'headline'];
export const PRESENCE_TYPES = ['unavailable', 'subscribe', 'subscribed', 'unsubscribe', 'unsubscribed', 'probe'];
export const PRESENCE_SHOWS = ['away', 'chat', 'dnd', 'xa'];
/** The edge's default MAX_STANZA_BYTES: nothing bigger than a client may send. */
const MAX_STANZA_BYTES = 262_144;
const MAX_ID = 256;

interface SendMessageReq {
  from: string;
  to: string;
  type: string;
  body: string;
  subject: string;
  thread: string;
  id: string;
}

interface SendPresenceReq {
  from: string;
  to: string;
  type: string;
  show: string;
  status: string;
  priority?: number;
  /** proto3 `optional`: names the field when it was set (proto-loader `oneofs`). */
  _priority?: 'priority';
  id: string;
}

function stanzaId(id: string): string {
  if (!id) return `admin-${randomUUID()}`;
  if (id.length > MAX_ID) throw invalid(`id is longer than ${MAX_ID} characters`);
  return id;
}

function checkSize(s: string): void {
  if (Buffer.byteLength(s) > MAX_STANZA_BYTES) throw invalid(`stanza is larger than ${MAX_STANZA_BYTES} bytes`);
}

export function stanzaHandlers(ctx: AdminContext): grpc.UntypedServiceImplementation {
  return {
    SendMessage: unary('SendMessage', ctx.log, async (req: SendMessageReq) => {
      const from = parseJid(req.from, 'from');
      const to = parseJid(req.to, 'to');
      const type = req.type ?? '';
      if (type && !MESSAGE_TYPES.includes(type)) throw invalid(`type must be one of ${MESSAGE_TYPES.join(', ')}`);
      if (!req.body && !req.subject) throw invalid('a message needs a body or a subject');
      const id = stanzaId(req.id);
      const el = xml(
        'message',
        { xmlns: NS.CLIENT, from: from.toString(), to: to.toString(), type: type || undefined, id },
        req.subject ? xml('subject', null, req.subject) : null,
        req.body ? xml('body', null, req.body) : null,
        req.thread ? xml('thread', null, req.thread) : null,
      );
      checkSize(el.toString());
      const sequence = await publishToRoute(ctx, from, el, { to: to.toString(), kind: 'message', type, ns: '' });
      return { id, sequence };
    }),

    SendPresence: unary('SendPresence', ctx.log, async (req: SendPresenceReq) => {
      const from = parseJid(req.from, 'from');
      const to = req.to ? parseJid(req.to, 'to') : null;
      const type = req.type ?? '';
      if (type && !PRESENCE_TYPES.includes(type)) throw invalid(`type must be empty (available) or one of ${PRESENCE_TYPES.join(', ')}`);
      if (req.show && !PRESENCE_SHOWS.includes(req.show)) throw invalid(`show must be one of ${PRESENCE_SHOWS.join(', ')}`);
      if (req.show && type) throw invalid('show is only for available presence (no type)');
      const hasPriority = req._priority === 'priority' && typeof req.priority === 'number';
      if (hasPriority && (req.priority! < -128 || req.priority! > 127)) throw invalid('priority must be an integer in -128..127');
      const id = stanzaId(req.id);
      const el = xml(
        'presence',
        { xmlns: NS.CLIENT, from: from.toString(), to: to?.toString(), type: type || undefined, id },
        req.show ? xml('show', null, req.show) : null,
        req.status ? xml('status', null, req.status) : null,
        hasPriority ? xml('priority', null, String(req.priority)) : null,
      );
      checkSize(el.toString());
      // No 'to': a broadcast, addressed (in the headers) to the sender's own account as the edge does.
      const sequence = await publishToRoute(ctx, from, el, { to: to ? to.toString() : from.toBareString(), kind: 'presence', type, ns: '' });
      return { id, sequence };
    }),
  };
}
