/**
 * Publishing stanzas into the routing stream with JetStream acknowledgements, without a request object
 * per stanza. nats.js's js.publish() is a request: a deferred, a timer and, on completion, an Error with a
 * stack trace for every stanza (a tenth of the edge's CPU at load, plus garbage). Here every publish
 * carries a reply subject under one inbox subscription; the PubAck (or its error) settles the entry in a
 * map, and a sweep fails entries that were not acknowledged in time. Callers learn only of failures,
 * which is all they act on (the stanza is bounced to its sender).
 */
import { createInbox, MsgHdrs, NatsConnection, Subscription } from 'nats';
import { BATCH_MAX_BYTES, BATCH_MAX_ITEMS, OutItem, publishItems } from './batch';

export type PublishFailure = 'rejected' | 'timeout' | 'overloaded';

/** Who published a stanza and counts those not settled yet (accepted, refused or timed out). */
export interface PublishOwner {
  /** One more stanza is waiting for JetStream. */
  published(): void;
  /** One of them is settled. */
  settled(): void;
}

interface Item extends OutItem {
  onFail: (why: PublishFailure, detail?: string) => void;
  owner: PublishOwner | undefined;
}

/** One message sent to JetStream (a stanza or a batch of them) and not acknowledged yet. */
interface Sent {
  items: Item[];
  subject: string;
  at: number;
}

/** A subject with a message waiting for its PubAck, and what was published to it meanwhile. */
interface Lane {
  inFlight: number;
  queue: Item[];
  bytes: number;
  /** When the lane last sent a message. */
  sentAt: number;
}

/**
 * Longest a lane's stanzas wait for the PubAck of its message in flight before they go anyway. A PubAck
 * takes well under a millisecond; one that is lost (a reconnect) would otherwise hold the partition's
 * stanzas until the message times out.
 */
export const LANE_MAX_WAIT_MS = 1000;

export interface RoutePublisherOptions {
  /** A stanza not acknowledged within this time is reported failed (default 10 s). */
  ackTimeoutMs?: number;
  /** Most unacknowledged stanzas before new ones are refused at once (default 100,000). */
  maxPending?: number;
}

const decoder = new TextDecoder();

/**
 * Batching (batch.ts): a stanza for a subject with no message awaiting its PubAck goes at once, alone, so
 * a quiet platform adds no delay. Stanzas published to a subject while one is awaiting its PubAck wait
 * for it and then go together as one batch message, or sooner once they fill a batch. Under load batches
 * grow by themselves, and every cost nats-server and the router pay per message is paid per batch. The
 * order of one subject's stanzas is kept: they leave in publish order, over one connection. Stanzas wait
 * for a PubAck at most LANE_MAX_WAIT_MS (checked by the sweep): then they go without it.
 */
export class RoutePublisher {
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly sent = new Map<number, Sent>();
  private readonly lanes = new Map<string, Lane>();
  private seq = 0;
  /** Stanzas published and not settled: sent and unacknowledged, or waiting in a lane. */
  private items = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly ackTimeoutMs: number;
  private readonly maxPending: number;

  constructor(private readonly nc: NatsConnection, opts: RoutePublisherOptions = {}) {
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
    this.maxPending = opts.maxPending ?? 100_000;
    this.prefix = `${createInbox()}.`;
    this.sub = nc.subscribe(`${this.prefix}*`, {
      callback: (err, m) => {
        if (err) return;
        const id = Number(m.subject.slice(this.prefix.length));
        // A PubAck is {"stream":...,"seq":...}; a refusal carries "error" (JetStream API error).
        let refused: string | undefined;
        if (m.data.length && m.data.length < 4096) {
          const text = decoder.decode(m.data);
          if (text.includes('"error"')) refused = text;
        } else if (m.headers?.hasError || m.headers?.code === 503) {
          refused = `${m.headers.code} ${m.headers.description}`;
        }
        this.settle(id, refused === undefined ? undefined : 'rejected', refused);
      },
    });
    this.timer = setInterval(() => this.sweep(), Math.min(1000, this.ackTimeoutMs));
    this.timer.unref();
  }

  /**
   * Publish in call order (data as bytes, or as a string sent as UTF-8); onFail runs later if JetStream refuses or never confirms. The owner hears of
   * each stanza that waits for JetStream, then of it being settled, whatever the outcome; a stanza
   * refused at once as overloaded never waited.
   */
  publish(
    subject: string,
    data: Uint8Array | string,
    headers: MsgHdrs,
    onFail: (why: PublishFailure, detail?: string) => void,
    owner?: PublishOwner,
  ): void {
    if (this.items >= this.maxPending) {
      onFail('overloaded');
      return;
    }
    this.items++;
    owner?.published();
    const item: Item = { data, headers, onFail, owner };
    let lane = this.lanes.get(subject);
    if (!lane) this.lanes.set(subject, (lane = { inFlight: 0, queue: [], bytes: 0, sentAt: 0 }));
    if (lane.inFlight === 0) {
      this.send(subject, lane, [item]);
      return;
    }
    lane.queue.push(item);
    // A string's length in UTF-16 units stands in for its size in bytes (the cap is a rough one).
    lane.bytes += data.length;
    if (lane.bytes >= BATCH_MAX_BYTES || lane.queue.length >= BATCH_MAX_ITEMS) this.sendQueued(subject, lane);
  }

  /** Stanzas published and not settled yet (sent and unacknowledged, or waiting to be sent). */
  get unacknowledged(): number {
    return this.items;
  }

  private sendQueued(subject: string, lane: Lane): void {
    const items = lane.queue;
    lane.queue = [];
    lane.bytes = 0;
    this.send(subject, lane, items);
  }

  private send(subject: string, lane: Lane, items: Item[]): void {
    const id = ++this.seq;
    const now = Date.now();
    this.sent.set(id, { items, subject, at: now });
    lane.inFlight++;
    lane.sentAt = now;
    publishItems(this.nc, subject, items, `${this.prefix}${id}`);
  }

  /** A sent message is acknowledged (no failure), refused or timed out: so are all its stanzas. */
  private settle(id: number, failure?: PublishFailure, detail?: string): void {
    const s = this.sent.get(id);
    if (!s) return;
    this.sent.delete(id);
    this.items -= s.items.length;
    const lane = this.lanes.get(s.subject);
    if (lane) {
      lane.inFlight--;
      if (lane.inFlight === 0) {
        if (lane.queue.length > 0) this.sendQueued(s.subject, lane);
        else this.lanes.delete(s.subject);
      }
    }
    for (const it of s.items) {
      it.owner?.settled();
      if (failure) it.onFail(failure, detail);
    }
  }

  private sweep(): void {
    const stale = Date.now() - LANE_MAX_WAIT_MS;
    for (const [subject, lane] of this.lanes) if (lane.queue.length > 0 && lane.sentAt <= stale) this.sendQueued(subject, lane);
    const limit = Date.now() - this.ackTimeoutMs;
    // Map iteration follows insertion order, which is send order: stop at the first recent one.
    for (const [id, s] of this.sent) {
      if (s.at > limit) break;
      this.settle(id, 'timeout');
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.sub.unsubscribe();
  }
}
