/**
 * Publishing stanzas into the routing stream with JetStream acknowledgements, without a request object
 * per stanza. nats.js's js.publish() is a request: a deferred, a timer and, on completion, an Error with a
 * stack trace for every stanza (a tenth of the edge's CPU at load, plus garbage). Here every publish
 * carries a reply subject under one inbox subscription; the PubAck (or its error) settles the entry in a
 * map, and a sweep fails entries that were not acknowledged in time. Callers learn only of failures,
 * which is all they act on (the stanza is bounced to its sender).
 */
import { createInbox, MsgHdrs, NatsConnection, Subscription } from 'nats';

export type PublishFailure = 'rejected' | 'timeout' | 'overloaded';

/** Who published a stanza and counts those not settled yet (accepted, refused or timed out). */
export interface PublishOwner {
  /** One more stanza is waiting for JetStream. */
  published(): void;
  /** One of them is settled. */
  settled(): void;
}

interface Pending {
  onFail: (why: PublishFailure, detail?: string) => void;
  at: number;
  owner: PublishOwner | undefined;
}

export interface RoutePublisherOptions {
  /** A stanza not acknowledged within this time is reported failed (default 10 s). */
  ackTimeoutMs?: number;
  /** Most unacknowledged stanzas before new ones are refused at once (default 100,000). */
  maxPending?: number;
}

const decoder = new TextDecoder();

export class RoutePublisher {
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
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
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id);
        p.owner?.settled();
        // A PubAck is {"stream":...,"seq":...}; a refusal carries "error" (JetStream API error).
        if (m.data.length && m.data.length < 4096) {
          const text = decoder.decode(m.data);
          if (text.includes('"error"')) p.onFail('rejected', text);
        } else if (m.headers?.hasError || m.headers?.code === 503) {
          p.onFail('rejected', `${m.headers.code} ${m.headers.description}`);
        }
      },
    });
    this.timer = setInterval(() => this.sweep(), Math.min(1000, this.ackTimeoutMs));
    this.timer.unref();
  }

  /**
   * Publish now (in call order); onFail runs later if JetStream refuses or never confirms. The owner
   * hears of each stanza that waits for JetStream, then of it being settled, whatever the outcome; a
   * stanza refused at once as overloaded never waited.
   */
  publish(
    subject: string,
    data: Uint8Array,
    headers: MsgHdrs,
    onFail: (why: PublishFailure, detail?: string) => void,
    owner?: PublishOwner,
  ): void {
    if (this.pending.size >= this.maxPending) {
      onFail('overloaded');
      return;
    }
    const id = ++this.seq;
    this.pending.set(id, { onFail, at: Date.now(), owner });
    owner?.published();
    this.nc.publish(subject, data, { headers, reply: `${this.prefix}${id}` });
  }

  get unacknowledged(): number {
    return this.pending.size;
  }

  private sweep(): void {
    const limit = Date.now() - this.ackTimeoutMs;
    // Map iteration follows insertion order, which is publish order: stop at the first recent one.
    for (const [id, p] of this.pending) {
      if (p.at > limit) break;
      this.pending.delete(id);
      p.owner?.settled();
      p.onFail('timeout');
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.sub.unsubscribe();
  }
}
