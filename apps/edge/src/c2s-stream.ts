/**
 * One client stream (RFC 6120): negotiation (STARTTLS §5, SASL §6, resource binding §7), the optional
 * RFC 3921 session, XEP-0077 registration, then the stanza path to the bus. Transport-agnostic: TCP and
 * WebSocket differ only in their Transport and Framer.
 */
import { randomBytes } from 'node:crypto';
import {
  Element,
  errorReply,
  Jid,
  NS,
  StanzaError,
  StreamError,
  xml,
} from '@kxmpp/xmpp-core';
import { ROSTER_PUSH_KIND } from '@kxmpp/bus';
import { metrics, kindLabel } from '@kxmpp/telemetry';
import { createSaslMechanism, decodeSaslData, offeredMechanisms, SaslMechanism } from '@kxmpp/xmpp-stream';
import type { EdgeContext } from './edge-context';
import { handleRegisterIq } from './registration';
import { MAX_UNREAD_BYTES, Transport } from './transport';
import { EdgeStream, Hold, notAStanzaError, streamElementError } from './stream-io';
import { carbonsEligible, stanzaShape, typeFact } from './stanza-facts';
import { NS_SM, StreamManagement } from './stream-management';

type State = 'opening' | 'negotiating' | 'tls' | 'authenticated' | 'bound' | 'closing' | 'closed';

const MAX_INBOX = 256;
const NS_ROSTER = 'jabber:iq:roster';
const MAX_REGISTRATIONS_PER_STREAM = 3;

export class C2SStream extends EdgeStream<State> {
  domain = '';
  username = '';
  jid: Jid | null = null;
  /** Full JID string and bare string, cached for the hot path. */
  full = '';
  bare = '';
  available = false;
  priority = 0;
  /** RFC 6121 §2.2: the session asked for its roster, so it gets roster pushes (an "interested resource"). */
  rosterInterested = false;
  /** XEP-0280: the session enabled message carbons (kept in its registry entry, where routers read it). */
  carbons = false;
  private sasl: SaslMechanism | null = null;
  private saslName = '';
  private authFailures = 0;
  private busy = false;
  private inbox: Element[] = [];
  private partition = 0;
  /** Set at bind and never cleared: closing states must not hide that the session existed. */
  private wasBound = false;
  private registrations = 0;
  /** XEP-0198, once the client enabled it. */
  private sm: StreamManagement | null = null;
  private ackRequestScheduled = false;

  constructor(transport: Transport, private readonly ctx: EdgeContext) {
    super(transport, ctx, 'stream', 9, {
      bytesPerSecond: ctx.config.C2S_MAX_BYTES_PER_SECOND,
      burstBytes: ctx.config.C2S_BURST_BYTES,
    });
    metrics.connections.inc({ transport: transport.kind });
    metrics.connectionsOpened.inc({ transport: transport.kind });
  }

  get isAuthenticated(): boolean {
    return this.state === 'authenticated' || this.state === 'bound';
  }

  get isBound(): boolean {
    return this.state === 'bound';
  }

  // ---- stream header -------------------------------------------------------------------------

  protected onStreamStart(name: string, attrs: Record<string, string>): void {
    // TCP only: the framed transport announces itself with <open/> as an ordinary element.
    this.openStream(attrs.to, attrs.version, () => {
      const bad = streamElementError(name, attrs);
      if (bad) return bad;
      if (attrs.xmlns !== NS.CLIENT) return new StreamError('invalid-namespace', 'default namespace must be jabber:client');
      return null;
    });
  }

  private openStream(to: string | undefined, version: string | undefined, check: () => StreamError | null): void {
    const domain = Jid.tryParse(to ?? '');
    const served = domain && domain.isDomain && this.ctx.domains.has(domain.domain) ? domain.domain : '';
    if (!this.domain) this.domain = served || this.ctx.config.XMPP_DOMAINS[0];
    // RFC 6120 §4.7.5: a header without version is a pre-1.0 peer's, answered without one.
    this.transport.write(this.framer.open(this.domain, this.sid, version !== undefined));
    this.headerSent = true;
    const bad = check();
    if (bad) return this.fail(bad);
    if (!to) return this.fail(new StreamError('host-unknown', 'no to address'));
    if (!served || served !== this.domain) return this.fail(new StreamError('host-unknown', `${to} is not served here`));
    // Pre-1.0 streams (no version: legacy iq:auth, no SASL) and other major versions are not served (§4.9.3.25).
    if (version === undefined || !/^1\.\d+$/.test(version)) {
      return this.fail(new StreamError('unsupported-version', "XMPP 1.0 streams only: send version='1.0'"));
    }
    if (this.state === 'opening') this.state = 'negotiating';
    this.transport.write(this.framer.features(this.features()));
  }

  private features(): string {
    const cfg = this.ctx.config;
    if (this.state === 'authenticated') {
      return (
        `<bind xmlns='${NS.BIND}'/>` +
        (cfg.LEGACY_SESSION ? `<session xmlns='${NS.SESSION}'><optional/></session>` : '') +
        // XEP-0237 roster versioning and RFC 6121 §3.4 subscription pre-approval (the roster and presence services).
        `<ver xmlns='urn:xmpp:features:rosterver'/><sub xmlns='urn:xmpp:features:pre-approval'/>` +
        (cfg.STREAM_MANAGEMENT ? `<sm xmlns='${NS_SM}'/>` : '')
      );
    }
    const mustTls = this.transport.canStartTls && cfg.REQUIRE_TLS && !this.transport.secure;
    let out = '';
    if (this.transport.canStartTls && !this.transport.secure) {
      out += `<starttls xmlns='${NS.TLS}'>${mustTls ? '<required/>' : ''}</starttls>`;
    }
    if (!mustTls) {
      const mechs = offeredMechanisms({ secure: this.transport.secure, allowPlainInsecure: cfg.ALLOW_PLAIN_INSECURE });
      out += `<mechanisms xmlns='${NS.SASL}'>${mechs.map((m) => `<mechanism>${m}</mechanism>`).join('')}</mechanisms>`;
      if (this.ctx.registrationOpen(this.domain)) out += `<register xmlns='${NS.REGISTER_FEATURE}'/>`;
    }
    return out;
  }

  // ---- elements ------------------------------------------------------------------------------

  protected onElement(el: Element): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    if (this.busy) {
      if (this.inbox.length >= MAX_INBOX) this.hold(Hold.BUSY);
      this.inbox.push(el);
      return;
    }
    this.dispatch(el);
  }

  private dispatch(el: Element): void {
    if (this.transport.framed) {
      if (el.name === 'open' && el.attrs.xmlns === NS.FRAMING) {
        if (this.headerSent && this.state !== 'tls' && this.state !== 'opening' && this.state !== 'authenticated') {
          return this.fail(new StreamError('invalid-xml', 'unexpected <open/>'));
        }
        return this.openStream(el.attrs.to, el.attrs.version, () => null);
      }
      if (el.name === 'close' && el.attrs.xmlns === NS.FRAMING) return this.closeNow();
      if (!this.headerSent) return this.fail(new StreamError('invalid-namespace', 'expected <open/> in the framing namespace'));
    }
    if (this.state === 'opening') return this.fail(new StreamError('not-well-formed', 'no stream header'));
    if (el.name === 'stream:error') return this.onPeerStreamError(el);
    if (el.attrs.xmlns === NS_SM && this.isAuthenticated && this.ctx.config.STREAM_MANAGEMENT && this.onSm(el)) return;
    if (this.state === 'bound') return this.onStanza(el);
    const ns = el.attrs.xmlns;
    if (el.name === 'starttls' && ns === NS.TLS) return this.onStartTls();
    if (!this.isAuthenticated) {
      if (this.transport.canStartTls && this.ctx.config.REQUIRE_TLS && !this.transport.secure) {
        return this.fail(new StreamError('policy-violation', 'STARTTLS is required'));
      }
      if (ns === NS.SASL && (el.name === 'auth' || el.name === 'response' || el.name === 'abort')) return this.runAsync(() => this.onSasl(el));
      if (el.name === 'iq' && this.isClientNs(el) && el.getChild('query', NS.REGISTER)) return this.runAsync(() => this.onPreAuthRegister(el));
      return this.fail(new StreamError('not-authorized', 'authenticate first'));
    }
    // Authenticated, not yet bound: only resource binding (RFC 6120 §7.1).
    if (el.name === 'iq' && this.isClientNs(el) && el.attrs.type === 'set' && el.getChild('bind', NS.BIND)) {
      return this.runAsync(() => this.onBind(el));
    }
    return this.fail(new StreamError('not-authorized', 'bind a resource first'));
  }

  private isClientNs(el: Element): boolean {
    return el.attrs.xmlns === undefined || el.attrs.xmlns === NS.CLIENT;
  }

  /** Run an async negotiation step; elements arriving meanwhile wait in order. */
  private runAsync(step: () => Promise<void>): void {
    this.busy = true;
    step()
      .catch((e: unknown) => {
        this.ctx.log.error({ err: e, sid: this.sid }, 'negotiation step failed');
        this.fail(new StreamError('internal-server-error'));
      })
      .finally(() => {
        this.busy = false;
        const q = this.inbox;
        this.inbox = [];
        this.release(Hold.BUSY);
        for (let i = 0; i < q.length; i++) {
          if (this.busy) {
            this.inbox.push(...q.slice(i));
            return;
          }
          if (this.state === 'closed' || this.state === 'closing') return;
          this.dispatch(q[i]);
        }
      });
  }

  // ---- STARTTLS (RFC 6120 §5.4) ----------------------------------------------------------------

  private onStartTls(): void {
    if (!this.transport.canStartTls || this.transport.secure || this.isAuthenticated) {
      this.transport.write(`<failure xmlns='${NS.TLS}'/>`);
      return this.closeNow();
    }
    this.transport.write(`<proceed xmlns='${NS.TLS}'/>`);
    this.busy = true;
    this.state = 'tls';
    // Anything the client pipelined after <starttls/> is discarded (§5.4.3.3): the stream restarts.
    this.parser.reset();
    this.inbox = [];
    this.transport
      .startTls((name) => this.ctx.tls.contextFor(name))
      .then(() => {
        this.busy = false;
        this.headerSent = false;
      })
      .catch((e: Error) => {
        this.ctx.log.info({ sid: this.sid, reason: e.message }, 'TLS handshake failed');
        this.transport.destroy();
      });
  }

  // ---- SASL (RFC 6120 §6) ----------------------------------------------------------------------

  private saslFailure(condition: string, text?: string): string {
    return `<failure xmlns='${NS.SASL}'><${condition}/>${text ? `<text xml:lang='en'>${text}</text>` : ''}</failure>`;
  }

  /**
   * End an exchange that failed for a reason other than the credentials (abort, bad encoding, a mechanism
   * not offered, a stray response). These count toward AUTH_MAX_FAILURES like wrong credentials do (the
   * retries of RFC 6120 §6.4.5): otherwise a client could start and abort exchanges, each costing an
   * account lookup, until the auth timeout.
   */
  private refuseSasl(condition: string): void {
    this.sasl = null;
    this.authFailures++;
    this.transport.write(this.saslFailure(condition));
    if (this.authFailures >= this.ctx.config.AUTH_MAX_FAILURES) {
      this.ctx.log.info({ sid: this.sid, domain: this.domain, condition, failures: this.authFailures, remote: this.transport.remoteAddress }, 'too many failed SASL exchanges');
      this.fail(new StreamError('policy-violation', 'too many failed authentication attempts'));
    }
  }

  private async onSasl(el: Element): Promise<void> {
    if (el.name === 'abort') return this.refuseSasl('aborted');
    const text = el.getText().trim();
    const data = decodeSaslData(text);
    if (!data) return this.refuseSasl('incorrect-encoding');
    if (el.name === 'auth') {
      // A new <auth/> abandons the exchange that was running: a failed one, too.
      if (this.sasl) {
        this.sasl = null;
        if (++this.authFailures >= this.ctx.config.AUTH_MAX_FAILURES) return this.refuseSasl('aborted');
      }
      const name = el.attrs.mechanism ?? '';
      const offered = offeredMechanisms({ secure: this.transport.secure, allowPlainInsecure: this.ctx.config.ALLOW_PLAIN_INSECURE });
      if (!offered.includes(name)) {
        const known = offeredMechanisms({ secure: true, allowPlainInsecure: true }).includes(name);
        metrics.authAttempts.inc({ mechanism: known ? name : 'other', result: 'failure' });
        return this.refuseSasl(known ? 'encryption-required' : 'invalid-mechanism');
      }
      this.sasl = createSaslMechanism(name, { domain: this.domain, accounts: this.ctx.accounts });
      this.saslName = name;
      if (!this.sasl) return this.refuseSasl('invalid-mechanism');
    } else if (!this.sasl) {
      // A <response/> with no exchange running.
      return this.refuseSasl('malformed-request');
    }
    // An <auth/> with no character data has no initial response; '=' is an empty one (RFC 6120 §6.4.2).
    const res = await this.sasl.step(el.name === 'auth' && text === '' ? null : data);
    if (this.gone) return;
    if (res.kind === 'challenge') {
      this.transport.write(`<challenge xmlns='${NS.SASL}'>${res.data.toString('base64') || '='}</challenge>`);
      return;
    }
    this.sasl = null;
    if (res.kind === 'success') {
      metrics.authAttempts.inc({ mechanism: this.saslName, result: 'success' });
      this.username = res.username;
      this.transport.write(`<success xmlns='${NS.SASL}'>${res.data ? res.data.toString('base64') : ''}</success>`);
      this.state = 'authenticated';
      // The stream restarts (RFC 6120 §6.4.6): nothing pipelined before <success/> belongs to the new one.
      this.parser.reset();
      this.inbox = [];
      this.headerSent = false;
      this.ctx.log.info({ sid: this.sid, domain: this.domain, mechanism: this.saslName }, 'authenticated');
      return;
    }
    metrics.authAttempts.inc({ mechanism: this.saslName, result: 'failure' });
    this.authFailures++;
    this.ctx.log.info({ sid: this.sid, domain: this.domain, mechanism: this.saslName, condition: res.condition, failures: this.authFailures, remote: this.transport.remoteAddress }, 'authentication failed');
    const cfg = this.ctx.config;
    // Slow down guessing: failures beyond the free ones are answered after a growing delay (§6.4.5).
    const over = this.authFailures - cfg.AUTH_FAILURE_FREE;
    if (over > 0) await new Promise((r) => setTimeout(r, Math.min(over * cfg.AUTH_FAILURE_DELAY_MS, 10_000)));
    if (this.gone) return;
    this.transport.write(this.saslFailure(res.condition, res.text));
    if (this.authFailures >= cfg.AUTH_MAX_FAILURES) {
      this.fail(new StreamError('policy-violation', 'too many failed authentication attempts'));
    }
  }

  // ---- XEP-0077 before authentication ----------------------------------------------------------

  private async onPreAuthRegister(el: Element): Promise<void> {
    const type = el.attrs.type;
    // RFC 6120 §8.2.3: a response (result, error) is never answered; a request needs an id and one payload.
    if (type === 'result' || type === 'error') return;
    if (!el.attrs.id || (type !== 'get' && type !== 'set') || el.getChildElements().length !== 1) {
      this.writeIqError(el, new StanzaError('bad-request', 'iq get/set needs an id and exactly one payload'));
      return;
    }
    // Before login the stream talks to its own domain only: a registration addressed elsewhere (another
    // virtual host, an account) would otherwise create the account on this stream's domain.
    const to = el.attrs.to;
    if (to !== undefined && Jid.tryParse(to)?.toString() !== this.domain) {
      this.writeIqError(el, new StanzaError('service-unavailable', `before authentication only ${this.domain} can be addressed`));
      return;
    }
    // Each registration costs two PBKDF2 derivations: a connection gets a few tries, not a loop.
    if (el.attrs.type === 'set' && ++this.registrations > MAX_REGISTRATIONS_PER_STREAM) {
      this.writeIqError(el, new StanzaError('resource-constraint', 'too many registration attempts on this connection'));
      return;
    }
    const reply = await handleRegisterIq(el, {
      domain: this.domain,
      username: null,
      open: this.ctx.registrationOpen(this.domain),
      accounts: this.ctx.accounts,
      log: this.ctx.log,
    });
    this.transport.write(reply.toString());
  }

  // ---- resource binding (RFC 6120 §7) ----------------------------------------------------------

  private async onBind(el: Element): Promise<void> {
    const bind = el.getChild('bind', NS.BIND)!;
    const requested = bind.getChildText('resource');
    let resource: string;
    try {
      resource = requested ? Jid.create(this.username, this.domain, requested).resource : '';
    } catch {
      this.writeIqError(el, new StanzaError('bad-request', 'invalid resource'));
      return;
    }
    if (!resource) resource = `${this.ctx.resourcePrefix}${randomBytes(6).toString('hex')}`;
    const jid = Jid.create(this.username, this.domain, resource);
    this.jid = jid;
    this.full = jid.toString();
    this.bare = jid.toBareString();
    this.partition = this.ctx.partitionOf(this.bare);
    await this.ctx.bindSession(this);
    if (this.gone) return;
    this.state = 'bound';
    this.wasBound = true;
    metrics.sessions.inc();
    this.transport.write(
      xml('iq', { xmlns: NS.CLIENT, type: 'result', id: el.attrs.id }, xml('bind', { xmlns: NS.BIND }, xml('jid', null, this.full))).toString(),
    );
    this.ctx.log.info({ sid: this.sid, domain: this.domain }, 'resource bound');
  }

  private writeIqError(iq: Element, err: StanzaError): void {
    const reply = errorReply(iq, err, this.bare || this.domain);
    if (reply) {
      if (!this.jid) delete reply.attrs.to;
      reply.attrs.xmlns = NS.CLIENT; // a WebSocket message declares its namespace itself (RFC 7395)
      this.transport.write(reply.toString());
    }
  }

  // ---- the stanza path (hot) -------------------------------------------------------------------

  private onStanza(el: Element): void {
    const name = el.name;
    if ((name !== 'message' && name !== 'presence' && name !== 'iq') || !this.isClientNs(el)) {
      return this.fail(notAStanzaError(name, 'a stanza this server supports'));
    }
    metrics.stanzasIn.add(name);
    this.sm?.onReceived();
    const attrs = el.attrs;
    // RFC 6120 §8.1.2.1: the server stamps 'from'; a client claiming another JID is refused.
    if (attrs.from !== undefined && attrs.from !== this.full && attrs.from !== this.bare) {
      const claimed = Jid.tryParse(attrs.from);
      if (!claimed || (claimed.toString() !== this.full && claimed.toString() !== this.bare)) {
        return this.fail(new StreamError('invalid-from', 'from does not match the authenticated JID'));
      }
    }
    attrs.from = this.full;
    attrs.xmlns = NS.CLIENT;
    const type = attrs.type ?? '';
    let to: string;
    if (attrs.to === undefined || attrs.to === '') {
      // §10.3: no 'to' means the account itself (message, iq) or a presence broadcast.
      to = this.bare;
    } else {
      const j = Jid.tryParse(attrs.to);
      if (!j) return this.reject(el, new StanzaError('jid-malformed', 'invalid to address'));
      to = j.toString();
      attrs.to = to;
    }
    const ns = stanzaShape(name, type, el);
    if (ns instanceof StanzaError) return this.reject(el, ns);
    if (name === 'iq') {
      if (type === 'get' || type === 'set') {
        if (ns === NS.REGISTER && (to === this.bare || to === this.domain)) {
          return this.runAsync(() => this.onRegisterIq(el));
        }
        if (ns === NS.SESSION && to === this.bare) return this.deliver(`<iq xmlns='${NS.CLIENT}' type='result' id='${escapeAttr(attrs.id)}'/>`, 'iq');
        if (ns === NS.BIND) return this.reject(el, new StanzaError('not-allowed', 'resource already bound'));
        if (ns === NS.CARBONS && (to === this.bare || to === this.domain)) return this.runAsync(() => this.onCarbons(el));
        // Before the get is published: a push of any change made after it reaches this session.
        if (ns === NS_ROSTER && type === 'get' && to === this.bare) this.rosterInterested = true;
      }
    } else if (name === 'presence') {
      if (to === this.bare && (type === '' || type === 'unavailable')) {
        const prio = el.getChildText('priority');
        let p = 0;
        if (prio !== null) {
          p = Number(prio.trim());
          if (!Number.isInteger(p) || p < -128 || p > 127) return this.reject(el, new StanzaError('bad-request', 'priority must be an integer in -128..127'));
        }
        this.available = type === '';
        this.priority = p;
        this.ctx.presenceChanged(this);
      }
    }
    this.ctx.publish(this, el.toString(), { to, kind: name, type: typeFact(name, type), ns, cc: name === 'message' && carbonsEligible(el, type) });
  }

  /** XEP-0280 §4-5: <enable/> or <disable/> carbons for this session, answered once routers can see it. */
  private async onCarbons(el: Element): Promise<void> {
    const what = el.getChildElements()[0];
    if (el.attrs.type !== 'set' || (what?.name !== 'enable' && what?.name !== 'disable')) {
      return this.reject(el, new StanzaError('bad-request', 'carbons: <enable/> or <disable/> in an iq of type set'));
    }
    this.carbons = what.name === 'enable';
    await this.ctx.sessionChanged(this);
    if (this.state === 'bound') this.deliver(`<iq xmlns='${NS.CLIENT}' type='result' id='${escapeAttr(el.attrs.id)}' to='${escapeAttr(this.full)}'/>`, 'iq');
  }

  private async onRegisterIq(el: Element): Promise<void> {
    const reply = await handleRegisterIq(el, {
      domain: this.domain,
      username: this.username,
      open: true,
      accounts: this.ctx.accounts,
      log: this.ctx.log,
    });
    reply.attrs.to = this.full;
    this.transport.write(reply.toString());
    if (reply.attrs.type === 'result' && el.getChild('query', NS.REGISTER)?.getChild('remove')) {
      // XEP-0077 §3.2: the account is gone; end every session of it.
      this.ctx.accountRemoved(this.domain, this.username);
    }
  }

  /** Answer a stanza directly with an error, without the bus (errors found at the edge). */
  reject(el: Element, err: StanzaError): void {
    const reply = errorReply(el, err, el.attrs.to && el.attrs.to.length ? el.attrs.to : this.bare);
    if (reply) {
      reply.attrs.to = this.full;
      this.deliver(reply.toString(), reply.name);
    }
  }

  /** Write a stanza addressed to this session (already serialized). */
  deliver(data: string | Uint8Array, kind: string): void {
    if (this.state !== 'bound') {
      // XEP-0198: what reaches a closing stream stays unacknowledged, and is routed again after it.
      if (this.sm !== null && this.state === 'closing' && kind !== ROSTER_PUSH_KIND) this.sm.onUndelivered(data, kind);
      return;
    }
    if (kind === ROSTER_PUSH_KIND) {
      // RFC 6121 §2.1.6: roster pushes go to interested resources only.
      if (!this.rosterInterested) return;
      kind = 'iq';
    }
    if (this.transport.unreadBytes > MAX_UNREAD_BYTES) {
      // The client stopped reading: end the stream rather than buffer without bound (RFC 6120 §4.9.3.17).
      if (this.sm !== null) this.sm.onUndelivered(data, kind);
      return this.fail(new StreamError('resource-constraint', 'the client is not reading its stream'));
    }
    metrics.stanzasOut.add(kindLabel(kind));
    this.transport.write(data);
    if (this.sm !== null) {
      if (!this.sm.onSent(data, kind)) return this.fail(new StreamError('resource-constraint', 'too many stanzas not acknowledged (XEP-0198)'));
      this.requestAckSoon();
    }
  }

  // ---- XEP-0198 stream management ------------------------------------------------------------

  /** A stream management element from an authenticated client; false leaves it to the usual handling. */
  private onSm(el: Element): boolean {
    const failed = (condition: string) => `<failed xmlns='${NS_SM}'><${condition} xmlns='${NS.STANZAS_ERR}'/></failed>`;
    if (el.name !== 'a' && this.transport.unreadBytes > MAX_UNREAD_BYTES) {
      // Every <r/> or <enable/> is answered: a client that asks without reading must not grow our buffer.
      this.fail(new StreamError('resource-constraint', 'the client is not reading its stream'));
      return true;
    }
    switch (el.name) {
      case 'enable':
        // §3: after resource binding, once per stream.
        if (this.state !== 'bound' || this.sm !== null) {
          this.transport.write(failed('unexpected-request'));
          return true;
        }
        this.sm = new StreamManagement(this.inflightCount);
        // No 'id' and no 'resume': this server does not resume sessions (§5), it routes again what was
        // not acknowledged when the stream ends.
        this.transport.write(`<enabled xmlns='${NS_SM}'/>`);
        return true;
      case 'resume':
        // §5: a server without resumption answers feature-not-implemented and lets the client bind.
        this.transport.write(failed('feature-not-implemented'));
        return true;
      case 'r': {
        if (this.sm === null) return false;
        const answer = this.sm.onRequest();
        if (answer === 'now') this.writeSmAnswers(1);
        else if (answer === 'too-many') this.fail(new StreamError('resource-constraint', 'too many <r/> waiting for their answer (XEP-0198)'));
        return true;
      }
      case 'a': {
        if (this.sm === null) return false;
        const err = this.sm.onAck(el.attrs.h);
        if (err) this.fail(err);
        return true;
      }
      default:
        return false;
    }
  }

  /** Ask for an acknowledgement once this turn's stanzas are written, unless one is already asked for. */
  private requestAckSoon(): void {
    if (this.ackRequestScheduled || this.sm === null || this.sm.requested) return;
    this.ackRequestScheduled = true;
    setImmediate(() => {
      this.ackRequestScheduled = false;
      const sm = this.sm;
      if (sm === null || sm.requested || sm.unacked === 0 || this.state !== 'bound') return;
      sm.requestedAt = Date.now();
      this.transport.write(`<r xmlns='${NS_SM}'/>`);
    });
  }

  /**
   * Our <r/> has gone unanswered for `timeoutMs`: the connection is most likely dead (a phone that lost
   * its network leaves no FIN behind). The stream ends, so what it holds is routed again now rather than
   * when TCP gives up, many minutes later. The edge's sweep asks every second.
   */
  ackOverdue(now: number, timeoutMs: number): boolean {
    const sm = this.sm;
    return sm !== null && sm.requested && now - sm.requestedAt > timeoutMs && this.state === 'bound';
  }

  override published(): void {
    super.published();
    this.sm?.onPublished();
  }

  override settled(): void {
    super.settled();
    if (this.sm === null) return;
    const due = this.sm.onSettled();
    if (due > 0 && this.state === 'bound') this.writeSmAnswers(due);
  }

  /** Answers `n` of the client's <r/>s with the current 'h'. */
  private writeSmAnswers(n: number): void {
    const a = `<a xmlns='${NS_SM}' h='${this.sm!.handled}'/>`;
    // One element per WebSocket message (RFC 7395 §3.3.3).
    if (n === 1 || this.transport.framed) for (let i = 0; i < n; i++) this.transport.write(a);
    else this.transport.write(a.repeat(n));
  }

  get routePartition(): number {
    return this.partition;
  }

  // ---- closing -------------------------------------------------------------------------------

  protected get log() {
    return this.ctx.log;
  }

  protected logFields(): Record<string, unknown> {
    return { jid: this.full || undefined };
  }

  protected writeHeaderForError(): void {
    this.transport.write(this.framer.open(this.domain || this.ctx.config.XMPP_DOMAINS[0], this.sid, true));
  }

  /** The client ends the stream with an error of its own (RFC 6120 §4.9.1.1): log it and close our side. */
  private onPeerStreamError(el: Element): void {
    const condition = el.getChildElements().find((c) => c.attrs.xmlns === NS.STREAMS_ERR)?.name ?? 'none';
    this.ctx.log.info({ sid: this.sid, condition, remote: this.transport.remoteAddress }, 'stream error from the client');
    this.closeNow();
  }

  protected onClosed(): void {
    metrics.connections.dec({ transport: this.transport.kind });
    if (this.wasBound) metrics.sessions.dec();
    this.ctx.streamClosed(this, this.wasBound, this.sm?.takeUnacked() ?? []);
  }
}

function escapeAttr(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
