/**
 * Several stanzas in one NATS message (docs/adr/0001-routing-and-ordering.md, "Batches").
 *
 * Under load most of the platform's cost per stanza is per NATS message, not per byte: nats-server
 * stores, delivers and tracks the ack of every routing-stream message, and the edge and the router each
 * parse, acknowledge and publish one. A batch carries several stanzas, each with its own header block,
 * in the order they were added, so the costs per message are paid once for all of them.
 *
 * On the wire: the message has the header `x-batch: <count>`, and its payload is, for each item, a
 * 4-byte big-endian length, the item's NATS header block (`NATS/1.0\r\nk: v\r\n...\r\n\r\n`, what
 * MsgHdrs.encode() writes), another 4-byte length and the item's payload. A single stanza still
 * travels as a plain message, so a reader must accept both.
 */
import { MsgHdrs, NatsConnection } from 'nats';
import { parseHeaderBlock, WireHeaders } from './wire-headers';

/** Header of a batch message; its value is the number of items. */
export const BATCH_HEADER = 'x-batch';

/**
 * What a batch may hold before it is sent: the bytes of its items (one item larger than this still
 * travels, alone) and their number. Far under nats-server's default max_payload of 1 MiB.
 */
export const BATCH_MAX_BYTES = 128 * 1024;
export const BATCH_MAX_ITEMS = 256;

/** Item overhead besides its header and payload: two lengths. */
const FRAME = 8;
const decoder = new TextDecoder();

export interface BatchItem {
  /** The item's header block as MsgHdrs.encode() writes it (or that text, to be written as UTF-8). */
  header: Uint8Array | string;
  data: Uint8Array | string;
}

/**
 * The header block of MsgHdrs: the text of a WireHeaders, which the batch writes as UTF-8 straight into
 * its buffer (no array per stanza), or the bytes of any other MsgHdrs.
 */
export function headerBlock(h: MsgHdrs): Uint8Array | string {
  if (h instanceof WireHeaders) {
    const text = h.wireText();
    if (text !== undefined) return text;
  }
  return (h as unknown as { encode(): Uint8Array }).encode();
}

const sizeOf = (x: Uint8Array | string): number => (typeof x === 'string' ? Buffer.byteLength(x) : x.length);

/** The payload of a batch of these items, in order: one allocation, strings written in place. */
export function encodeBatch(items: readonly BatchItem[]): Uint8Array {
  const sizes = new Array<number>(items.length * 2);
  let size = 0;
  for (let i = 0; i < items.length; i++) {
    sizes[2 * i] = sizeOf(items[i].header);
    sizes[2 * i + 1] = sizeOf(items[i].data);
    size += FRAME + sizes[2 * i] + sizes[2 * i + 1];
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  const put = (x: Uint8Array | string, len: number) => {
    out.writeUInt32BE(len, at);
    if (typeof x === 'string') out.write(x, at + 4, len, 'utf8');
    else out.set(x, at + 4);
    at += 4 + len;
  };
  for (let i = 0; i < items.length; i++) {
    put(items[i].header, sizes[2 * i]);
    put(items[i].data, sizes[2 * i + 1]);
  }
  return out;
}

/** A stanza to publish: its headers and payload. */
export interface OutItem {
  headers: MsgHdrs;
  data: Uint8Array | string;
}

/**
 * Publish these items to subject, in order, as one message: a plain one when there is one item, a batch
 * otherwise. reply: the subject of the answer (a JetStream PubAck).
 */
export function publishItems(nc: NatsConnection, subject: string, items: readonly OutItem[], reply?: string): void {
  if (items.length === 1) {
    nc.publish(subject, items[0].data, { headers: items[0].headers, reply });
    return;
  }
  const payload = encodeBatch(items.map((it) => ({ header: headerBlock(it.headers), data: it.data })));
  nc.publish(subject, payload, { headers: batchHeaders(items.length), reply });
}

/** The headers of a batch message. */
export function batchHeaders(count: number): MsgHdrs {
  const h = new WireHeaders();
  h.add(BATCH_HEADER, String(count));
  return h;
}

/** The item count a message's header fields announce: 0 for a plain (single-stanza) message, -1 for nonsense. */
export function batchCount(fields: Map<string, string> | null): number {
  const v = fields?.get(BATCH_HEADER);
  if (!v) return 0;
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : -1;
}

export interface DecodedItem {
  /** The item's headers, key -> first value. */
  fields: Map<string, string>;
  /** A view into the batch payload (copy it to keep it past the message). */
  data: Uint8Array;
}

/**
 * The items of a batch payload, in order. Throws when the payload is not `count` well-formed items
 * (a message no component of ours wrote): the caller drops it as malformed.
 */
export function decodeBatch(payload: Uint8Array, count: number): DecodedItem[] {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const items: DecodedItem[] = [];
  let at = 0;
  const take = (): Uint8Array => {
    if (at + 4 > payload.length) throw new Error('truncated batch');
    const len = view.getUint32(at);
    if (at + 4 + len > payload.length) throw new Error('truncated batch');
    const part = payload.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    return part;
  };
  while (at < payload.length) {
    const header = take();
    const data = take();
    items.push({ fields: parseHeaderBlock(decoder.decode(header)), data });
  }
  if (items.length !== count) throw new Error(`batch announced ${count} items, holds ${items.length}`);
  return items;
}
