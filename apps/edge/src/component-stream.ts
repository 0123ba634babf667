/**
 * One external component stream, XEP-0114 §3 ("jabber:component:accept"): the component opens a stream
 * to its own domain, we answer with a stream id, it proves the shared secret with
 * <handshake>hex(SHA-1(id + secret))</handshake>, and from then on it sends and receives stanzas for any
 * JID of its domain. Its stanzas enter the routing stream like a client's (namespace jabber:client on the
 * bus); deliveries to it get the component namespace back on their top element.
 *
 * Errors: a bad header -> invalid-namespace / host-unknown; a wrong secret -> not-authorized; a domain
 * already connected (here or on another edge) -> conflict for the newcomer; a 'from' outside the
 * component's domain -> invalid-from; a stanza without a usable 'to' -> a stanza error back to it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import {
  Element,
  errorReply,
  escapeXML,
  Jid,
  NS,
  StanzaError,
  StreamError,
} from '@kxmpp/xmpp-core';
import type { EdgeConfig } from '@kxmpp/config';
import type { Logger } from '@kxmpp/telemetry';
import { MAX_UNREAD_BYTES, Transport } from './transport';
import { EdgeStream, Hold, notAStanzaError, streamElementError } from './stream-io';
import { carbonsEligible, stanzaShape, typeFact } from './stanza-facts';

export const NS_COMPONENT = 'jabber:component:accept';

/** What a component stream needs from the edge (ComponentListener implements it). */
export interface ComponentHost {
  readonly config: EdgeConfig;
  readonly log: Logger;
  /** The shared secret of a configured component domain, undefined for any other domain. */
  secretOf(domain: string): string | undefined;
  /** Take the domain for this stream (locally and in the registry); false when another stream holds it. */
  claim(stream: ComponentStream): Promise<boolean>;
  /** Publish a stamped stanza (xmlns jabber:client) to the routing stream, in call order. */
  publish(stream: ComponentStream, data: string, facts: ComponentStanzaFacts): void;
  closed(stream: ComponentStream): void;
  count(what: 'in' | 'out', kind: string): void;
}

export interface ComponentStanzaFacts {
  from: string;
  to: string;
  kind: string;
  type: string;
  ns: string;
  /** XEP-0280: a message eligible for carbon copies to the recipient's other resources. */
  cc?: boolean;
}

type State = 'opening' | 'handshake' | 'ready' | 'closing' | 'closed';

const MAX_INBOX = 256;

/** XEP-0114 §3: lowercase hex SHA-1 of the stream id followed by the secret, both UTF-8. */
export function handshakeDigest(streamId: string, secret: string): string {
  return createHash('sha1').update(streamId + secret, 'utf8').digest('hex');
}

/**
 * Whether a <handshake/> value proves the secret. Case-insensitive hex, compared in constant time. The
 * XEP's step 1 says characters with predefined XML entities are escaped before hashing; most components
 * hash the raw secret, so either form is accepted (they differ only for secrets with & < > " ').
 */
export function verifyHandshake(value: string, streamId: string, secret: string): boolean {
  const given = Buffer.from(value.trim().toLowerCase(), 'utf8');
  let ok = false;
  for (const s of new Set([secret, escapeXML(secret)])) {
    const want = Buffer.from(handshakeDigest(streamId, s), 'utf8');
    if (given.length === want.length && timingSafeEqual(given, want)) ok = true;
  }
  return ok;
}

const QUOTE1 = 0x27;
const QUOTE2 = 0x22;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/**
 * Rewrite the namespace of a serialized stanza's top element from `from` to `to`, at the byte level: a
 * scan of the start tag's attributes (quote-aware, so a value that merely contains "xmlns=" is not
 * mistaken for the attribute), then one splice. Only an attribute named exactly `xmlns` on the top
 * element counts; children keep theirs (a forwarded <message xmlns='jabber:client'/> inside a carbon
 * stays jabber:client). Anything unexpected leaves the bytes unchanged: a top element without xmlns
 * inherits the component stream's default namespace, which is what the component expects anyway.
 *
 * Why not parse and re-serialize: deliveries are the hot path and the bytes from the bus are already
 * serialized (ARCHITECTURE.md: the delivering edge writes them without re-serializing). UTF-8 multibyte
 * sequences never contain the ASCII bytes the scan looks for, so scanning bytes is safe.
 */
export function rewriteTopNamespace(data: Uint8Array, from: Uint8Array, to: Uint8Array): Uint8Array {
  const n = data.length;
  let i = data.indexOf(0x3c); // '<'
  if (i < 0) return data;
  i++;
  // element name
  while (i < n && !isSpace(data[i]) && data[i] !== 0x3e && data[i] !== 0x2f) i++;
  for (;;) {
    while (i < n && isSpace(data[i])) i++;
    if (i >= n || data[i] === 0x3e || data[i] === 0x2f) return data; // end of the start tag: no xmlns
    const nameStart = i;
    while (i < n && data[i] !== 0x3d && !isSpace(data[i]) && data[i] !== 0x3e) i++;
    const nameEnd = i;
    while (i < n && isSpace(data[i])) i++;
    if (data[i] !== 0x3d) return data; // '=' expected: not something we understand
    i++;
    while (i < n && isSpace(data[i])) i++;
    const q = data[i];
    if (q !== QUOTE1 && q !== QUOTE2) return data;
    const valueStart = i + 1;
    const valueEnd = data.indexOf(q, valueStart);
    if (valueEnd < 0) return data;
    i = valueEnd + 1;
    if (nameEnd - nameStart !== 5 || !isXmlns(data, nameStart)) continue;
    if (!sameBytes(data, valueStart, valueEnd, from)) return data;
    const out = new Uint8Array(n - (valueEnd - valueStart) + to.length);
    out.set(data.subarray(0, valueStart), 0);
    out.set(to, valueStart);
    out.set(data.subarray(valueEnd), valueStart + to.length);
    return out;
  }
}

function isXmlns(d: Uint8Array, at: number): boolean {
  return d[at] === 0x78 && d[at + 1] === 0x6d && d[at + 2] === 0x6c && d[at + 3] === 0x6e && d[at + 4] === 0x73; // xmlns
}

function sameBytes(d: Uint8Array, a: number, b: number, want: Uint8Array): boolean {
  if (b - a !== want.length) return false;
  for (let k = 0; k < want.length; k++) if (d[a + k] !== want[k]) return false;
  return true;
}

const encoder = new TextEncoder();
const CLIENT_BYTES = encoder.encode(NS.CLIENT);
const COMPONENT_BYTES = encoder.encode(NS_COMPONENT);

/** A stanza from the bus (xmlns jabber:client) as the component stream writes it. */
export function toComponentNamespace(data: Uint8Array | string): Uint8Array {
  return rewriteTopNamespace(typeof data === 'string' ? encoder.encode(data) : data, CLIENT_BYTES, COMPONENT_BYTES);
}

/** Its stream id is the handshake's salt too: unpredictable (12 bytes), so a handshake cannot be replayed. */
export class ComponentStream extends EdgeStream<State> {
  /** The component's domain, set from the stream header's 'to' once it is a configured one. */
  domain = '';
  private busy = false;
  private inbox: Element[] = [];

  constructor(transport: Transport, private readonly host: ComponentHost) {
    super(transport, host, 'component stream', 12);
  }

  /** Handshake done and the domain is this stream's: stanzas flow. */
  get isReady(): boolean {
    return this.state === 'ready';
  }

  // ---- stream header (XEP-0114 §3, RFC 6120 §4.9.1.2 for errors in it) ------------------------------

  private writeHeader(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    const from = this.domain ? ` from='${escapeXML(this.domain)}'` : '';
    this.transport.write(
      `<?xml version='1.0'?><stream:stream xmlns='${NS_COMPONENT}' xmlns:stream='${NS.STREAM}' id='${this.sid}'${from}>`,
    );
  }

  protected onStreamStart(name: string, attrs: Record<string, string>): void {
    const to = Jid.tryParse(attrs.to);
    const secret = to?.isDomain ? this.host.secretOf(to.domain) : undefined;
    if (secret !== undefined && to) this.domain = to.domain;
    this.writeHeader();
    const bad = streamElementError(name, attrs);
    if (bad) return this.fail(bad);
    if (attrs.xmlns !== NS_COMPONENT) return this.fail(new StreamError('invalid-namespace', `default namespace must be ${NS_COMPONENT}`));
    if (!attrs.to) return this.fail(new StreamError('host-unknown', 'no to address: it names the component'));
    if (secret === undefined) return this.fail(new StreamError('host-unknown', `${attrs.to} is not a component configured here`));
    this.state = 'handshake';
  }

  // ---- elements -------------------------------------------------------------------------------------

  protected onElement(el: Element): void {
    if (this.gone) return;
    if (this.busy) {
      // The registry claim is in flight: keep the order, and stop reading if the component floods us.
      if (this.inbox.length >= MAX_INBOX) this.hold(Hold.BUSY);
      this.inbox.push(el);
      return;
    }
    this.dispatch(el);
  }

  private dispatch(el: Element): void {
    if (this.state === 'opening') return this.fail(new StreamError('not-well-formed', 'no stream header'));
    if (this.state === 'ready') return this.onStanza(el);
    if (el.name !== 'handshake' || !this.isOurNs(el)) return this.fail(new StreamError('not-authorized', 'send <handshake/> first'));
    this.onHandshake(el);
  }

  private isOurNs(el: Element): boolean {
    return el.attrs.xmlns === undefined || el.attrs.xmlns === NS_COMPONENT;
  }

  private onHandshake(el: Element): void {
    const secret = this.host.secretOf(this.domain);
    if (secret === undefined || !verifyHandshake(el.getText(), this.sid, secret)) {
      this.host.log.warn({ sid: this.sid, domain: this.domain, remote: this.transport.remoteAddress }, 'component handshake failed: wrong secret');
      return this.fail(new StreamError('not-authorized', 'handshake does not match the shared secret'));
    }
    this.busy = true;
    this.host
      .claim(this)
      .then((ok) => {
        if (this.gone) return;
        if (!ok) {
          this.host.log.warn({ sid: this.sid, domain: this.domain, remote: this.transport.remoteAddress }, 'component already connected: refusing the new stream');
          return this.fail(new StreamError('conflict', `${this.domain} is already connected`));
        }
        this.state = 'ready';
        this.transport.write('<handshake/>');
        this.host.log.info({ sid: this.sid, domain: this.domain, remote: this.transport.remoteAddress }, 'component connected');
      })
      .catch((e: unknown) => {
        this.host.log.error({ err: e, sid: this.sid, domain: this.domain }, 'component registry claim failed');
        this.fail(new StreamError('internal-server-error', 'try again'));
      })
      .finally(() => {
        this.busy = false;
        const q = this.inbox;
        this.inbox = [];
        this.release(Hold.BUSY);
        for (const queued of q) {
          if (this.gone) return;
          this.dispatch(queued);
        }
      });
  }

  // ---- stanzas (hot) --------------------------------------------------------------------------------

  private onStanza(el: Element): void {
    const name = el.name;
    if ((name !== 'message' && name !== 'presence' && name !== 'iq') || !this.isOurNs(el)) {
      return this.fail(notAStanzaError(name, 'a stanza this server supports'));
    }
    this.host.count('in', name);
    const attrs = el.attrs;
    // XEP-0114 §3: the domain of 'from' must be the component's; any local part or resource is its own.
    // A missing 'from' means the component itself (as most servers read it).
    let from: string;
    if (attrs.from === undefined || attrs.from === '') {
      from = this.domain;
    } else {
      const j = Jid.tryParse(attrs.from);
      if (!j || j.domain !== this.domain) return this.fail(new StreamError('invalid-from', `from must be ${this.domain} or a JID of it`));
      from = j.toString();
    }
    attrs.from = from;
    if (attrs.to === undefined || attrs.to === '') return this.reject(el, new StanzaError('bad-request', "a component's stanzas need a 'to' address"));
    const to = Jid.tryParse(attrs.to);
    if (!to) return this.reject(el, new StanzaError('jid-malformed', 'invalid to address'));
    attrs.to = to.toString();
    const type = attrs.type ?? '';
    const ns = stanzaShape(name, type, el);
    if (ns instanceof StanzaError) return this.reject(el, ns);
    // The bus carries every stanza as jabber:client (deliveries to clients are written as they are).
    attrs.xmlns = NS.CLIENT;
    this.host.publish(this, el.toString(), { from, to: attrs.to, kind: name, type: typeFact(name, type), ns, cc: name === 'message' && carbonsEligible(el, type) });
  }

  /** Answer one of the component's stanzas with an error, without the bus. */
  reject(el: Element, err: StanzaError): void {
    const to = Jid.tryParse(el.attrs.to);
    const reply = errorReply(el, err, to ? to.toString() : this.host.config.XMPP_DOMAINS[0]);
    if (!reply) {
      this.host.log.debug({ sid: this.sid, condition: err.condition }, 'error stanza from a component not answered');
      return;
    }
    reply.attrs.xmlns = NS_COMPONENT;
    this.write(reply.toString(), reply.name);
  }

  /** Write a stanza from the bus to the component. */
  deliver(data: Uint8Array | string, kind: string): void {
    if (this.state !== 'ready') return;
    this.write(toComponentNamespace(data), kind);
  }

  private write(data: Uint8Array | string, kind: string): void {
    if (this.state !== 'ready') return;
    if (this.transport.unreadBytes > MAX_UNREAD_BYTES) {
      // The component stopped reading: end the stream rather than buffer without bound (RFC 6120 §4.9.3.17).
      return this.fail(new StreamError('resource-constraint', 'the component is not reading its stream'));
    }
    this.host.count('out', kind);
    this.transport.write(data);
  }

  // ---- closing --------------------------------------------------------------------------------------

  protected get log(): Logger {
    return this.host.log;
  }

  protected logFields(): Record<string, unknown> {
    return { domain: this.domain || undefined };
  }

  protected writeHeaderForError(): void {
    this.writeHeader();
  }

  protected onClosed(): void {
    this.host.closed(this);
  }
}
