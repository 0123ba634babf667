/**
 * A stanza on the bus: its serialized XML as the payload, and routing facts in NATS headers so a router
 * decides without parsing and a delivering edge writes the payload bytes to the socket as they are.
 */
import { JsMsg, Msg, MsgHdrs } from 'nats';
import { batchCount, decodeBatch, DecodedItem } from './batch';
import { headerValue, WireHeaders, wireHeaderFields } from './wire-headers';

export const H = {
  /** Full JID of the sender, stamped by the edge (never taken from the client). */
  FROM: 'x-from',
  /** Normalized recipient JID; the server's domain when the stanza had no 'to'. */
  TO: 'x-to',
  /** message | presence | iq */
  KIND: 'x-kind',
  /** The stanza's type attribute, empty when absent. */
  TYPE: 'x-type',
  /** For an iq of type get/set: namespace of its payload, so the router can pick a handler. */
  NS: 'x-ns',
  /** Edge and session that received the stanza (for replies and bounces). */
  EDGE: 'x-edge',
  SID: 'x-sid',
  /** Edge ingress time, ms since epoch, for the routing-latency histogram. */
  TS: 'x-ts',
  /** Delivery: session ids on the receiving edge, comma-separated. */
  TARGET: 'x-target',
  /** Service work items: what to do (see ServiceOp); absent means "handle this stanza". */
  OP: 'x-op',
  /** '1' on a message eligible for XEP-0280 carbon copies (the edge looked at its payload). */
  CC: 'x-cc',
} as const;

/**
 * Work for a service besides a stanza to handle:
 *  - flush: (offline) deliver the stored messages of x-to to the session x-edge/x-sid (full JID x-from);
 *  - session-end: (presence) the session x-from ended without unavailable presence (edge gone);
 *  - blocklist: (presence) the blocklist of x-from (a bare JID) changed; the payload is the change
 *    (JSON, see @kxmpp/blocking decodeBlocklistChange) whose presence side effects (XEP-0191 §3.3-3.4)
 *    the presence service carries out, once, in the user's partition.
 */
export type ServiceOp = 'stanza' | 'flush' | 'session-end' | 'blocklist';

export interface Envelope {
  from: string;
  to: string;
  kind: string;
  type: string;
  ns: string;
  edge: string;
  sid: string;
  ts: number;
  /** XEP-0280: the message is eligible for carbon copies. */
  cc?: boolean;
}

/**
 * The envelope as NATS headers, written straight into their wire form (WireHeaders): nats.js's own
 * MsgHdrs costs a key canonicalization, two key scans and a regex per set, a tenth of the edge's CPU.
 */
export function encodeEnvelope(e: Envelope, op?: ServiceOp): MsgHdrs {
  // One template, not a call per header: this runs for every stanza an edge takes in.
  const text =
    `NATS/1.0${op && op !== 'stanza' ? `\r\n${H.OP}: ${op}` : ''}` +
    `\r\n${H.FROM}: ${envelopeValue(H.FROM, e.from)}\r\n${H.TO}: ${envelopeValue(H.TO, e.to)}\r\n${H.KIND}: ${headerValue(H.KIND, e.kind)}` +
    (e.type ? `\r\n${H.TYPE}: ${envelopeValue(H.TYPE, e.type)}` : '') +
    (e.ns ? `\r\n${H.NS}: ${envelopeValue(H.NS, e.ns)}` : '') +
    `\r\n${H.EDGE}: ${headerValue(H.EDGE, e.edge)}\r\n${H.SID}: ${headerValue(H.SID, e.sid)}\r\n${H.TS}: ${e.ts}` +
    (e.cc ? `\r\n${H.CC}: 1` : '');
  return new WireHeaders(text);
}

/**
 * A header value from a stanza (a JID, a type, a namespace), kept exact. Header values lose surrounding
 * blanks on the wire (nats.js trims them when it reads, and so does parseHeaderBlock), but a resourcepart
 * may begin or end with a space (RFC 7622 §3.4, OpaqueString). Such a value, and any value that begins
 * with '"', goes in double quotes, which envelopeFrom() takes off. A JID never begins with '"' (a
 * localpart may not contain one, nor may a domain), so every other JID goes as it is.
 */
function envelopeValue(k: string, v: string): string {
  return v.charCodeAt(0) === 0x22 || v !== v.trim() ? headerValue(k, `"${v}"`) : headerValue(k, v);
}

/** The value envelopeValue() wrote. */
function unquoted(v: string): string {
  return v.length >= 2 && v.charCodeAt(0) === 0x22 && v.charCodeAt(v.length - 1) === 0x22 ? v.slice(1, -1) : v;
}

export function decodeEnvelope(h: MsgHdrs | undefined): Envelope | null {
  if (!h) return null;
  return envelopeFrom((k) => h.get(k));
}

/**
 * The envelope of a received message, read from its raw header bytes in one pass (decodeEnvelope on
 * m.headers would have nats.js build its MsgHdrs first, at several times the cost).
 */
export function envelopeOf(m: Msg | JsMsg): Envelope | null {
  const fields = headerFieldsOf(m);
  return fields && envelopeFromFields(fields);
}

/**
 * A received message's headers as key -> first value: from the raw bytes (wireHeaderFields), or through
 * nats.js's MsgHdrs when its internals are not as expected. null when it has none.
 */
export function headerFieldsOf(m: Msg | JsMsg): Map<string, string> | null {
  const fields = wireHeaderFields(m);
  if (fields !== undefined) return fields;
  if (!m.headers) return null;
  const out = new Map<string, string>();
  for (const [k, values] of m.headers) if (values.length) out.set(k, values[0]);
  return out;
}

/** The envelope in header fields (a message's own, or a batch item's). */
export function envelopeFromFields(fields: Map<string, string>): Envelope | null {
  return envelopeFrom((k) => fields.get(k) ?? '');
}

function envelopeFrom(get: (k: string) => string): Envelope | null {
  const from = unquoted(get(H.FROM));
  const to = unquoted(get(H.TO));
  const kind = get(H.KIND);
  if (!from || !to || !kind) return null;
  const e: Envelope = {
    from,
    to,
    kind,
    type: unquoted(get(H.TYPE)),
    ns: unquoted(get(H.NS)),
    edge: get(H.EDGE),
    sid: get(H.SID),
    ts: Number(get(H.TS)) || 0,
  };
  if (kind === 'message' && get(H.CC) === '1') e.cc = true;
  return e;
}

export function serviceOp(h: MsgHdrs | undefined): ServiceOp {
  const op = h?.get(H.OP);
  return op === 'flush' || op === 'session-end' || op === 'blocklist' ? op : 'stanza';
}

/**
 * Delivery kind of a roster push (RFC 6121 §2.1.6). Pushers address every bound session of the owner;
 * the edge that holds a session writes the push only if that session has requested the roster (an
 * "interested resource", §2.2), and counts it as an iq. The session's edge is the one place that sees
 * every roster get of the session, so it decides, and no registry write is needed per login.
 */
export const ROSTER_PUSH_KIND = 'roster-push';

/** Headers of a delivery to an edge: which of its sessions get the payload. */
export function deliveryHeaders(targets: string[], kind: string): MsgHdrs {
  const h = new WireHeaders();
  h.add(H.TARGET, targets.join(','));
  h.add(H.KIND, kind);
  return h;
}

export function deliveryTargets(h: MsgHdrs | undefined): string[] {
  const t = h?.get(H.TARGET);
  return t ? t.split(',') : [];
}

export interface Delivery {
  /** Session ids on the receiving edge. */
  targets: string[];
  kind: string;
  data: Uint8Array;
}

/**
 * What a delivery message carries, as the edge reads it (from the raw header bytes): one stanza, or the
 * stanzas of a batch (batch.ts) in order. Throws on a batch that is not well formed.
 */
export function deliveriesOf(m: Msg): Delivery[] {
  return itemsOf(m).map(({ fields, data }) => {
    const t = fields.get(H.TARGET);
    return { targets: t ? t.split(',') : [], kind: fields.get(H.KIND) || 'other', data };
  });
}

/**
 * The stanzas a received message carries, each with its header fields: the message itself, or the items
 * of a batch (batch.ts) in order. Throws on a batch that is not well formed.
 */
export function itemsOf(m: Msg | JsMsg): DecodedItem[] {
  const fields = headerFieldsOf(m);
  const n = batchCount(fields);
  if (n === 0) return [{ fields: fields ?? new Map<string, string>(), data: m.data }];
  if (n < 0) throw new Error('bad batch count');
  return decodeBatch(m.data, n);
}

/** Control messages to an edge (JSON; rare, off the hot path). */
export type EdgeControl =
  | { op: 'kick'; sid: string; condition: 'conflict' | 'policy-violation' | 'not-authorized' | 'system-shutdown'; text?: string }
  | { op: 'account-removed'; domain: string; username: string }
  | { op: 'ping' };
