/**
 * What every stream kind of the edge shares (client, server-to-server, component): a parser with the
 * configured limits fed from the transport, activity stamps for the idle sweeps, a handler failure turned
 * into <internal-server-error/> instead of a crashed process, and the way a stream ends: a stream error
 * (header first if none was sent, RFC 6120 §4.9.1.2), the close handshake (§4.4), and the transport
 * closing under it.
 */
import { randomBytes } from 'node:crypto';
import type { EdgeConfig } from '@kxmpp/config';
import { metrics, type Logger } from '@kxmpp/telemetry';
import { Element, NS, StreamError, XmlStreamParser } from '@kxmpp/xmpp-core';
import { Framer, tcpFramer, wsFramer } from './framing';
import { ReadShaper } from './shaper';
import type { Transport } from './transport';

type Base = 'opening' | 'closing' | 'closed';

/** Reasons for a stream to stop reading its transport (bits); it reads again once none is left. */
export const Hold = {
  /** A negotiation step awaits and its inbox is full. */
  BUSY: 1,
  /** Over its byte rate (ReadShaper). */
  RATE: 2,
  /** Too many stanzas not yet accepted by the routing stream. */
  INFLIGHT: 4,
} as const;

/**
 * Stanzas of one stream published and not yet accepted by the routing stream before the stream stops
 * reading (it reads again at half): when JetStream falls behind, each client or peer server waits for
 * its own stanzas instead of one fast sender filling the edge's shared allowance (RoutePublisher's
 * maxPending) and getting everyone's stanzas bounced.
 */
export const MAX_STREAM_INFLIGHT = 128;

/** A byte rate for what the peer sends (ReadShaper); absent or 0 bytes per second: none. */
export interface ReadRate {
  bytesPerSecond: number;
  burstBytes: number;
}

export abstract class EdgeStream<State extends string> {
  /** Stream id, unpredictable; also the session's id on the bus. */
  readonly sid: string;
  protected readonly parser: XmlStreamParser;
  protected readonly framer: Framer;
  protected state: State | Base = 'opening';
  protected headerSent = false;
  lastActivity = Date.now();
  readonly openedAt = Date.now();
  /** Hold bits now in force. */
  private holds = 0;
  private readonly shaper: ReadShaper | null;
  private rateTimer: NodeJS.Timeout | undefined;
  /** Stanzas published and not yet settled by the routing stream. */
  private inflight = 0;

  protected constructor(
    readonly transport: Transport,
    io: { config: Pick<EdgeConfig, 'MAX_STANZA_BYTES' | 'MAX_XML_DEPTH' | 'MAX_XML_ATTRIBUTES'>; log: Logger },
    /** For log lines, e.g. 's2s stream'. */
    private readonly what: string,
    sidBytes: number,
    rate?: ReadRate,
  ) {
    this.sid = randomBytes(sidBytes).toString('base64url');
    this.framer = transport.framed ? wsFramer : tcpFramer;
    const { config, log } = io;
    this.parser = new XmlStreamParser(
      {
        onStreamStart: (name, attrs) => this.onStreamStart(name, attrs),
        onElement: (el) => this.onElement(el),
        onStreamEnd: () => this.closeNow(),
        onError: (err) => this.fail(err),
        onWhitespace: () => this.touch(),
      },
      {
        framed: transport.framed,
        limits: { maxStanzaBytes: config.MAX_STANZA_BYTES, maxDepth: config.MAX_XML_DEPTH, maxAttributes: config.MAX_XML_ATTRIBUTES },
      },
    );
    this.shaper = rate && rate.bytesPerSecond > 0 ? new ReadShaper(rate.bytesPerSecond, rate.burstBytes, this.lastActivity) : null;
    transport.onData((chunk) => {
      const now = Date.now();
      this.lastActivity = now;
      try {
        this.parser.write(chunk);
      } catch (e) {
        log.error({ err: e, sid: this.sid }, `${what} handler failed`);
        this.fail(new StreamError('internal-server-error'));
      }
      if (this.shaper !== null) {
        const waitMs = this.shaper.take(chunk.length, now);
        if (waitMs > 0 && !this.gone) this.throttle(waitMs);
      }
    });
    transport.onClose(() => this.onTransportClosed());
    transport.onBadFrame?.((why, condition) => {
      log.info({ sid: this.sid, remote: transport.remoteAddress, why }, `${what}: frame refused`);
      this.fail(new StreamError(condition, why));
    });
  }

  /** Closing or closed: nothing more is read or written. Not narrowed by the compiler: the state may change while a step awaits. */
  get gone(): boolean {
    return this.state === 'closing' || this.state === 'closed';
  }

  protected abstract onStreamStart(name: string, attrs: Record<string, string>): void;
  protected abstract onElement(el: Element): void;
  /** The stream header, when an error comes before ours was sent. */
  protected abstract writeHeaderForError(): void;
  /** The stream's own fields for the stream-error log line (`remote` is the peer's address unless given). */
  protected abstract logFields(): Record<string, unknown>;
  protected abstract get log(): Logger;
  /** The transport is closed: give back what the stream held (metrics, registrations). */
  protected abstract onClosed(): void;

  private touch(): void {
    this.lastActivity = Date.now();
  }

  /** Stop reading for `reason` (idempotent); the transport pauses with the first reason. */
  protected hold(reason: number): void {
    if ((this.holds & reason) !== 0) return;
    if (this.holds === 0) this.transport.pause();
    this.holds |= reason;
    if (reason !== Hold.BUSY) metrics.readsPaused.inc({ reason: reason === Hold.RATE ? 'rate' : 'inflight' });
  }

  /** Let go of `reason`; the transport resumes when no reason is left. */
  protected release(reason: number): void {
    if ((this.holds & reason) === 0) return;
    this.holds &= ~reason;
    if (this.holds === 0 && !this.gone) this.transport.resume();
  }

  /** Stanzas of this stream waiting for the routing stream's acknowledgement. */
  protected get inflightCount(): number {
    return this.inflight;
  }

  /** A stanza of this stream went to the routing stream (RoutePublisher's PublishOwner). */
  published(): void {
    if (++this.inflight >= MAX_STREAM_INFLIGHT) this.hold(Hold.INFLIGHT);
  }

  /** The routing stream accepted, refused or never confirmed one of them. */
  settled(): void {
    if (--this.inflight <= MAX_STREAM_INFLIGHT / 2) this.release(Hold.INFLIGHT);
  }

  private throttle(waitMs: number): void {
    this.hold(Hold.RATE);
    clearTimeout(this.rateTimer);
    this.rateTimer = setTimeout(() => this.release(Hold.RATE), waitMs);
  }

  /** Send a stream error and close (RFC 6120 §4.9.1.1). */
  fail(err: StreamError): void {
    if (this.gone) return;
    metrics.streamErrors.inc({ condition: err.condition });
    this.log.info({ sid: this.sid, remote: this.transport.remoteAddress, ...this.logFields(), condition: err.condition, text: err.text }, `${this.what} error`);
    if (!this.headerSent) this.writeHeaderForError();
    this.transport.write(this.framer.error(err));
    this.closeNow();
  }

  /** Our side closes, or answers the peer's close (§4.4): send the close tag and end the transport. */
  closeNow(): void {
    if (this.gone) return;
    this.state = 'closing';
    this.transport.write(this.framer.close());
    this.transport.end();
  }

  private onTransportClosed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.rateTimer);
    this.onClosed();
  }
}

/**
 * What a stream header's element name and its namespace declarations earn (RFC 6120 §4.8, §11.2.1), the
 * same for every stream kind: a prefix nobody declared is bad-namespace-prefix (§4.9.3.2); an element
 * other than <stream> in the streams namespace is invalid-namespace (§4.9.3.10). Null when it is right.
 */
export function streamElementError(name: string, attrs: Record<string, string>): StreamError | null {
  const colon = name.indexOf(':');
  const prefix = colon < 0 ? '' : name.slice(0, colon);
  const ns = prefix ? attrs[`xmlns:${prefix}`] : attrs.xmlns;
  if (prefix && ns === undefined) return new StreamError('bad-namespace-prefix', `the prefix ${prefix} is not declared`);
  if (name.slice(colon + 1) !== 'stream' || ns !== NS.STREAM) return new StreamError('invalid-namespace', 'stream element not in the streams namespace');
  return null;
}

/**
 * The error for a top-level element that is not a stanza this stream takes. A stanza written with a
 * namespace prefix (`<c:message xmlns:c='jabber:client'>`) is bad-namespace-prefix: the content namespace
 * is the stream's default one and carries no prefix (RFC 6120 §4.8); the parser does not resolve prefixes.
 * Anything else is unsupported-stanza-type (§4.9.3.24).
 */
export function notAStanzaError(name: string, where: string): StreamError {
  const local = name.slice(name.indexOf(':') + 1);
  if (local !== name && (local === 'message' || local === 'presence' || local === 'iq')) {
    return new StreamError('bad-namespace-prefix', `<${name}/>: stanzas are written without a namespace prefix`);
  }
  return new StreamError('unsupported-stanza-type', `<${name}/> is not ${where}`);
}
