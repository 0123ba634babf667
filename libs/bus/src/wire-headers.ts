/**
 * NATS headers on the hot path, without nats.js's MsgHdrs on either side.
 *
 * Writing: nats.js's MsgHdrs.set() canonicalizes the key, scans the keys twice and runs a regex over the
 * value, and publish() then serializes the map; with nine headers per stanza that was a tenth of the
 * edge's and the router's CPU. WireHeaders appends each header to its wire text as it is added and
 * publish() encodes that text once. Anything else asked of it (a get(), a set() by JetStream's publish
 * options) turns it into a real MsgHdrs first, so it stays a correct MsgHdrs for every caller.
 *
 * Reading: a received message's `headers` getter builds a MsgHdrs from the raw bytes (a split, then
 * per header a canonicalization, a key scan and a regex). wireHeaderFields() reads the raw header bytes
 * of nats.js's message (its `_rdata` and `_msg.hdr`, internal to nats.js) in one pass. When a nats.js
 * upgrade moves those, it answers `undefined` and callers fall back to `headers`;
 * wire-headers.int.spec.ts fails then, so the fast path is not lost unnoticed.
 */
import { headers as natsHeaders, JsMsg, Match, Msg, MsgHdrs } from 'nats';

const STATUS_LINE = 'NATS/1.0';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class WireHeaders implements MsgHdrs {
  /** The header block as it goes on the wire, without its final blank line. */
  private text: string;
  /** The real MsgHdrs, made on the first use other than add() and encode(). */
  private full?: MsgHdrs;

  /** Headers whose block is already written (`NATS/1.0\r\nk: v...`, values checked with headerValue()). */
  constructor(text: string = STATUS_LINE) {
    this.text = text;
  }

  /**
   * Append a header. Keys are the platform's own (valid header names); values may carry client data, so
   * a CR or LF is refused as nats.js refuses it, and surrounding blanks are trimmed as nats.js does.
   */
  add(k: string, v: string): void {
    if (this.full) {
      this.full.append(k, v);
      return;
    }
    this.text += `\r\n${k}: ${headerValue(k, v)}`;
  }

  /** What nats.js's publish() calls for the header bytes. */
  encode(): Uint8Array {
    if (this.full) return (this.full as unknown as { encode(): Uint8Array }).encode();
    return encoder.encode(`${this.text}\r\n\r\n`);
  }

  /** The encoded block as text, when it is still this object's own (not handed to a MsgHdrs). */
  wireText(): string | undefined {
    return this.full ? undefined : `${this.text}\r\n\r\n`;
  }

  private get h(): MsgHdrs {
    if (!this.full) {
      const f = natsHeaders();
      for (const [k, v] of headerLines(this.text)) f.append(k, v);
      this.full = f;
    }
    return this.full;
  }

  get hasError(): boolean {
    return this.h.hasError;
  }
  get status(): string {
    return this.h.status;
  }
  get code(): number {
    return this.h.code;
  }
  get description(): string {
    return this.h.description;
  }
  get(k: string, match?: Match): string {
    return this.h.get(k, match);
  }
  set(k: string, v: string, match?: Match): void {
    this.h.set(k, v, match);
  }
  append(k: string, v: string, match?: Match): void {
    this.h.append(k, v, match);
  }
  has(k: string, match?: Match): boolean {
    return this.h.has(k, match);
  }
  keys(): string[] {
    return this.h.keys();
  }
  values(k: string, match?: Match): string[] {
    return this.h.values(k, match);
  }
  delete(k: string, match?: Match): void {
    this.h.delete(k, match);
  }
  last(k: string, match?: Match): string {
    return this.h.last(k, match);
  }
  [Symbol.iterator](): Iterator<[string, string[]]> {
    return this.h[Symbol.iterator]();
  }
}

/** A header value as nats.js accepts it: no CR or LF (no header injection), surrounding blanks trimmed. */
export function headerValue(k: string, v: string): string {
  if (v.includes('\r') || v.includes('\n')) throw new Error(`invalid header value for ${k}: CR and LF are not allowed`);
  return v.trim();
}

/** Every (key, value) line of a header block, in order, after the status line. */
function headerLines(text: string): [string, string][] {
  const out: [string, string][] = [];
  for (const line of text.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) out.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return out;
}

interface NatsMsgInternals {
  _rdata?: unknown;
  _msg?: { hdr?: unknown };
}

/**
 * The headers of a received message as key -> first value, read from the raw bytes (keys exactly as
 * sent, values trimmed: what MsgHdrs.get() with the default exact match answers). null when the message
 * has no headers; undefined when nats.js's message does not look as expected (use `m.headers`).
 */
export function wireHeaderFields(m: Msg | JsMsg): Map<string, string> | null | undefined {
  // A JsMsg wraps the core message as `msg` (not in its public type).
  const msg = ((m as unknown as { msg?: Msg }).msg ?? m) as unknown as NatsMsgInternals;
  const data = msg._rdata;
  const hdr = msg._msg?.hdr;
  if (!(data instanceof Uint8Array) || typeof hdr !== 'number') return undefined;
  if (hdr <= 0) return null;
  return parseHeaderBlock(decoder.decode(data.subarray(0, hdr)));
}

/** "NATS/1.0[ code text]\r\nk: v\r\n...\r\n\r\n" -> key -> first value (the status line is skipped). */
export function parseHeaderBlock(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  let at = text.indexOf('\r\n');
  while (at !== -1) {
    const start = at + 2;
    const end = text.indexOf('\r\n', start);
    const stop = end === -1 ? text.length : end;
    const colon = text.indexOf(':', start);
    if (colon !== -1 && colon < stop) {
      const k = text.slice(start, colon);
      if (!fields.has(k)) fields.set(k, text.slice(colon + 1, stop).trim());
    }
    at = end;
  }
  return fields;
}
