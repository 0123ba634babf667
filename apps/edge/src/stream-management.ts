/**
 * XEP-0198 Stream Management on a client stream, acknowledgements without resumption: the counters both
 * ways, the <r/>/<a/> exchange, and the stanzas written to the client that it has not acknowledged yet.
 * When the stream ends, those are handed back to the edge, which routes the messages and IQ requests
 * among them again (another resource, offline storage, or an error to the sender): a client whose
 * connection died loses none of what was on its way to it.
 *
 * What counts as handled on the way in (the 'h' of our <a/>): a stanza is handled once the routing stream
 * has acknowledged it (ADR 0001) or the edge answered it itself. Counting follows the order of arrival:
 * a stanza answered at once does not advance 'h' past an earlier one still waiting for its publish ack.
 *
 * When a client's <r/> arrives while stanzas it sent before it still wait for their publish ack, the <a/>
 * is held until they are settled, so that its 'h' counts every stanza sent before the <r/> (§4: 'h' is
 * what was handled when the request is answered). Clients rely on it: aioxmpp, for one, waits for the ack
 * of each stanza it sends and asks only once, so an early <a/> that left the stanza out stalled it.
 */
import { StreamError, xml } from '@kxmpp/xmpp-core';

export const NS_SM = 'urn:xmpp:sm:3';

/** Unacknowledged stanzas kept for a client before its stream ends with resource-constraint. */
export const SM_MAX_UNACKED = 1000;

/** Client <r/>s held for unsettled stanzas before its stream ends with resource-constraint. */
export const SM_MAX_HELD_REQUESTS = 1000;

/** A stanza written to the client (or due to it while the stream was closing), not yet acknowledged. */
export interface Unacked {
  data: string | Uint8Array;
  kind: string;
}

const MAX_H = 0xffffffff;

export class StreamManagement {
  /** Stanzas received since <enable/>. */
  private received = 0;
  /** The `received` number of each stanza still waiting for its publish ack, in order. */
  private readonly waiting: number[] = [];
  /** Publishes from before <enable/> still in flight: their settlement is not counted. */
  private uncounted: number;
  /** Counted settlements so far (not wrapped: it only orders the held requests). */
  private settledTotal = 0;
  /** Held <r/>s, oldest first: `count` of them are answered once `settledTotal` reaches `at`. */
  private readonly held: Array<{ at: number; count: number }> = [];
  private heldCount = 0;
  /** Stanzas sent since <enabled/>, and the client's last 'h'. */
  private sent = 0;
  private acked = 0;
  private queue: Unacked[] = [];
  /** When our <r/> that is not answered yet went out (ms since epoch); 0: none is out. */
  requestedAt = 0;

  get requested(): boolean {
    return this.requestedAt !== 0;
  }

  constructor(inflightBefore: number) {
    this.uncounted = inflightBefore;
  }

  /** A stanza arrived from the client. */
  onReceived(): void {
    this.received = (this.received + 1) % (MAX_H + 1);
  }

  /** The stanza just received was published; it is handled once settled. */
  onPublished(): void {
    this.waiting.push(this.received);
  }

  /**
   * A publish was settled (acknowledged, refused or timed out; in publish order). Returns how many held
   * <r/>s are now due an <a/> with the new 'h'.
   */
  onSettled(): number {
    if (this.uncounted > 0) {
      this.uncounted--;
      return 0;
    }
    this.waiting.shift();
    this.settledTotal++;
    let due = 0;
    while (this.held.length > 0 && this.held[0].at <= this.settledTotal) due += this.held.shift()!.count;
    this.heldCount -= due;
    return due;
  }

  /**
   * The client's <r/>. 'now': answer it at once. 'held': it is answered when `onSettled` says so, after
   * the stanzas received before it. 'too-many': more requests are held than a client needs.
   */
  onRequest(): 'now' | 'held' | 'too-many' {
    if (this.waiting.length === 0) return 'now';
    if (this.heldCount >= SM_MAX_HELD_REQUESTS) return 'too-many';
    const at = this.settledTotal + this.waiting.length;
    const last = this.held[this.held.length - 1];
    if (last !== undefined && last.at === at) last.count++;
    else this.held.push({ at, count: 1 });
    this.heldCount++;
    return 'held';
  }

  /** The 'h' for our <a/>: every stanza up to it is handled. */
  get handled(): number {
    return this.waiting.length > 0 ? (this.waiting[0] - 1 + MAX_H + 1) % (MAX_H + 1) : this.received;
  }

  get unacked(): number {
    return this.queue.length;
  }

  /** A stanza was written to the client. False when the queue is full: the stream must end. */
  onSent(data: string | Uint8Array, kind: string): boolean {
    // A delivery's bytes may be a view into a larger read buffer: keep a copy of its own.
    this.queue.push({ data: typeof data === 'string' ? data : data.slice(), kind });
    this.sent = (this.sent + 1) % (MAX_H + 1);
    return this.queue.length <= SM_MAX_UNACKED;
  }

  /** A stanza for the client that will not be written (the stream is closing): it stays unacknowledged. */
  onUndelivered(data: string | Uint8Array, kind: string): void {
    if (this.queue.length <= SM_MAX_UNACKED) this.queue.push({ data: typeof data === 'string' ? data : data.slice(), kind });
  }

  /**
   * The client's <a h='...'/>: drop what it acknowledged. A stream error when 'h' is not a number
   * (invalid-xml: the schema's xs:unsignedInt) or acknowledges more than was sent (XEP-0198 §4:
   * undefined-condition with <handled-count-too-high/>).
   */
  onAck(h: string | undefined): StreamError | null {
    if (h === undefined || !/^\d{1,10}$/.test(h) || Number(h) > MAX_H) {
      return new StreamError('invalid-xml', "<a/> needs an 'h' that is an unsigned 32-bit integer");
    }
    const n = Number(h);
    const newly = (n - this.acked + MAX_H + 1) % (MAX_H + 1);
    if (newly > this.queue.length) {
      return new StreamError(
        'undefined-condition',
        `h=${n} acknowledges more stanzas than were sent (${this.sent})`,
        undefined,
        xml('handled-count-too-high', { xmlns: NS_SM, h: String(n), 'send-count': String(this.sent) }),
      );
    }
    if (newly > 0) this.queue.splice(0, newly);
    this.acked = n;
    this.requestedAt = 0;
    return null;
  }

  /** What the client never acknowledged, oldest first; the queue is empty afterwards. */
  takeUnacked(): Unacked[] {
    const q = this.queue;
    this.queue = [];
    return q;
  }
}
