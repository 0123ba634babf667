/**
 * One inbound server-to-server stream (RFC 6120 with jabber:server; XEP-0220 dialback; XEP-0178 SASL
 * EXTERNAL). The remote server authenticates one or more of its domains to one or more of ours
 * (piggybacking, XEP-0220 §4): with SASL EXTERNAL the stream carries stanzas from that domain to any
 * domain we serve; with dialback each (remote, local) pair is verified on its own. Stanzas are accepted
 * only from an authenticated domain, get the jabber:client namespace the bus carries, and go to the
 * routing stream like a client's. The stream is one-way: answers leave through the federation service.
 *
 * We also act as the authoritative server here: a peer checking a key we gave it (db:verify) is
 * answered from the shared dialback secret, with no state.
 */
import { Element, escapeXML, Jid, NS, StanzaError, StreamError } from '@kxmpp/xmpp-core';
import { metrics } from '@kxmpp/telemetry';
import { decodeSaslData } from '@kxmpp/xmpp-stream';
import { certNamesDomain, dialbackKeyValid, NS_DIALBACK, NS_DIALBACK_FEATURE, verifyPeerChain } from '@kxmpp/s2s';
import type { X509Certificate } from 'node:crypto';
import type { EdgeConfig } from '@kxmpp/config';
import type { Logger } from '@kxmpp/telemetry';
import type { TlsMaterial } from './tls';
import type { StanzaFacts } from './edge-context';
import type { TcpTransport } from './transport';
import { EdgeStream, notAStanzaError, streamElementError } from './stream-io';
import { carbonsEligible, stanzaShape, typeFact } from './stanza-facts';

export interface S2SContext {
  readonly config: EdgeConfig;
  /** Domains other servers may address here: the served ones and the XEP-0114 component domains. */
  s2sServes(domain: string): boolean;
  /** Our certificates, with the trust anchors for remote certificates. */
  readonly s2sTls: Pick<TlsMaterial, 'contextFor' | 'pemsFor'>;
  /** Trust anchors for remote certificates, parsed. */
  readonly s2sAnchors: X509Certificate[];
  readonly log: Logger;
  readonly dialbackSecret: string;
  /** Ask the authoritative server of `originating` whether `key` is one it issued (XEP-0220 §2.3). */
  verifyDialback(receiving: string, originating: string, streamId: string, key: string): Promise<'valid' | 'invalid' | 'unreachable'>;
  /** Publish an accepted stanza (already in the bus namespace) to the routing stream, partitioned by its sender. */
  publishRemote(stream: S2SInStream, el: Element, facts: StanzaFacts): void;
  /** Answer a stanza with an error through the federation service (an inbound stream is one-way). */
  bounceRemote(el: Element, err: StanzaError): void;
  s2sClosed(stream: S2SInStream): void;
}

type State = 'opening' | 'negotiating' | 'tls' | 'closing' | 'closed';

/** Dialback verifications a peer may have outstanding on one stream (each opens a connection). */
const MAX_PENDING_VERIFICATIONS = 8;

export class S2SInStream extends EdgeStream<State> {
  /** Our domain the stream was opened to, and the remote domain it says it is from. */
  private local = '';
  private remote = '';
  /** SASL EXTERNAL: the authenticated remote domain (stanzas to any domain we serve). */
  private saslDomain = '';
  /** Dialback: authenticated "remote local" pairs. */
  private readonly pairs = new Set<string>();
  private pendingVerifications = 0;

  constructor(override readonly transport: TcpTransport, private readonly ctx: S2SContext) {
    super(transport, ctx, 's2s stream', 9, {
      bytesPerSecond: ctx.config.S2S_IN_MAX_BYTES_PER_SECOND,
      burstBytes: ctx.config.S2S_IN_BURST_BYTES,
    });
    metrics.connections.inc({ transport: 's2s' });
    metrics.connectionsOpened.inc({ transport: 's2s' });
  }

  get isAuthenticated(): boolean {
    return this.saslDomain !== '' || this.pairs.size > 0;
  }

  /** For logs and admin: the remote domains this stream carries. */
  get remoteDomains(): string[] {
    const out = new Set<string>();
    if (this.saslDomain) out.add(this.saslDomain);
    for (const p of this.pairs) out.add(p.slice(0, p.indexOf(' ')));
    return [...out];
  }

  // ---- stream header -------------------------------------------------------------------------

  protected onStreamStart(name: string, attrs: Record<string, string>): void {
    const to = (attrs.to ?? '').toLowerCase();
    const from = (attrs.from ?? '').toLowerCase();
    if (!this.local) this.local = this.ctx.s2sServes(to) ? to : this.ctx.config.XMPP_DOMAINS[0];
    this.sendHeader(from);
    const bad = streamElementError(name, attrs);
    if (bad) return this.fail(bad);
    if (attrs.xmlns !== NS.SERVER) return this.fail(new StreamError('invalid-namespace', 'default namespace must be jabber:server'));
    if (!to || !this.ctx.s2sServes(to)) return this.fail(new StreamError('host-unknown', `${to || 'no to'}: not served here`));
    if (to !== this.local) return this.fail(new StreamError('host-unknown', 'a restarted stream must keep its to address'));
    if (from) {
      const j = Jid.tryParse(from);
      if (!j || !j.isDomain) return this.fail(new StreamError('invalid-from', 'from must be a domain'));
      if (this.remote && this.remote !== from) return this.fail(new StreamError('invalid-from', 'a restarted stream must keep its from address'));
      this.remote = from;
    }
    if (attrs.version !== undefined && !/^1\.\d+$/.test(attrs.version)) return this.fail(new StreamError('unsupported-version', 'XMPP 1.0 streams only'));
    if (this.state === 'opening') this.state = 'negotiating';
    // Pre-1.0 peers (no version) get no features and go straight to dialback (XEP-0220 §2.1).
    if (attrs.version !== undefined) this.transport.write(`<stream:features>${this.features()}</stream:features>`);
  }

  private sendHeader(to: string): void {
    if (this.headerSent) return;
    this.headerSent = true;
    this.transport.write(
      `<?xml version='1.0'?><stream:stream xmlns='${NS.SERVER}' xmlns:stream='${NS.STREAM}' xmlns:db='${NS_DIALBACK}' ` +
        `id='${this.sid}' from='${escapeXML(this.local)}'${to ? ` to='${escapeXML(to)}'` : ''} version='1.0' xml:lang='en'>`,
    );
  }

  private features(): string {
    const cfg = this.ctx.config;
    if (!this.transport.secure) {
      return `<starttls xmlns='${NS.TLS}'>${cfg.S2S_REQUIRE_TLS ? '<required/>' : ''}</starttls>` + (cfg.S2S_REQUIRE_TLS ? '' : this.dialbackFeature());
    }
    let out = '';
    if (!this.saslDomain && this.remote) {
      const v = this.certVerdict(this.remote);
      if (v.ok) out += `<mechanisms xmlns='${NS.SASL}'><mechanism>EXTERNAL</mechanism></mechanisms>`;
      else this.ctx.log.info({ sid: this.sid, remote: this.remote, reason: v.reason }, 'peer certificate does not authenticate its domain: SASL EXTERNAL not offered');
    }
    if (!this.saslDomain) out += this.dialbackFeature();
    return out;
  }

  private dialbackFeature(): string {
    return this.ctx.config.S2S_DIALBACK ? `<dialback xmlns='${NS_DIALBACK_FEATURE}'><errors/></dialback>` : '';
  }

  private certVerdict(domain: string): { ok: boolean; reason?: string } {
    const sock = this.transport.tlsSocket;
    if (!sock) return { ok: false, reason: 'no TLS' };
    const cert = sock.getPeerCertificate();
    if (!cert || Object.keys(cert).length === 0) return { ok: false, reason: 'no client certificate' };
    const chain = verifyPeerChain(sock, this.ctx.s2sAnchors);
    if (!chain.ok) return chain;
    return certNamesDomain(cert, domain);
  }

  // ---- elements ------------------------------------------------------------------------------

  protected onElement(el: Element): void {
    if (this.gone) return;
    const ns = el.attrs.xmlns;
    if (el.name === 'starttls' && ns === NS.TLS) return this.onStartTls();
    if (el.name === 'auth' && ns === NS.SASL) return this.onSaslExternal(el);
    if (el.name === 'db:result' || (el.name === 'result' && ns === NS_DIALBACK)) return this.onDialbackResult(el);
    if (el.name === 'db:verify' || (el.name === 'verify' && ns === NS_DIALBACK)) return this.onDialbackVerify(el);
    if ((el.name === 'message' || el.name === 'presence' || el.name === 'iq') && (ns === undefined || ns === NS.SERVER)) return this.onStanza(el);
    if (el.name === 'stream:error') {
      this.ctx.log.info({ sid: this.sid, remote: this.remote, error: el.getChildElements()[0]?.name }, 'stream error from a remote server');
      return this.closeNow();
    }
    this.fail(notAStanzaError(el.name, 'supported on a server stream'));
  }

  // ---- STARTTLS (RFC 6120 §5.4) --------------------------------------------------------------

  private onStartTls(): void {
    if (this.transport.secure || this.isAuthenticated) {
      this.transport.write(`<failure xmlns='${NS.TLS}'/>`);
      return this.closeNow();
    }
    this.transport.write(`<proceed xmlns='${NS.TLS}'/>`);
    this.state = 'tls';
    this.parser.reset();
    this.transport
      .startTls((name) => this.ctx.s2sTls.contextFor(name), { requestCert: true })
      .then(() => {
        this.headerSent = false;
        this.state = 'negotiating';
      })
      .catch((e: Error) => {
        this.ctx.log.info({ sid: this.sid, remote: this.remote, reason: e.message }, 's2s TLS handshake failed');
        this.transport.destroy();
      });
  }

  // ---- SASL EXTERNAL (RFC 6120 §6, §13.7.1.2; XEP-0178) ---------------------------------------

  private onSaslExternal(el: Element): void {
    const failure = (condition: string, why: string) => {
      this.ctx.log.info({ sid: this.sid, remote: this.remote, why }, 's2s SASL EXTERNAL refused');
      metrics.s2sAuth.inc({ direction: 'in', method: 'sasl-external', result: 'failure' });
      this.transport.write(`<failure xmlns='${NS.SASL}'><${condition}/></failure>`);
    };
    if (el.attrs.mechanism !== 'EXTERNAL') return failure('invalid-mechanism', `mechanism ${el.attrs.mechanism ?? 'missing'}`);
    if (this.saslDomain) return failure('not-authorized', 'already authenticated');
    const data = decodeSaslData(el.text().trim());
    if (!data) return failure('incorrect-encoding', 'authorization identity not in padded base64');
    const authzid = data.toString('utf8').toLowerCase();
    const domain = authzid || this.remote;
    if (!domain) return failure('not-authorized', 'no from on the stream and no authorization identity');
    if (this.remote && authzid && authzid !== this.remote) return failure('invalid-authzid', 'authorization identity differs from the stream from');
    const v = this.certVerdict(domain);
    if (!v.ok) return failure('not-authorized', `certificate does not authenticate ${domain}: ${v.reason}`);
    this.transport.write(`<success xmlns='${NS.SASL}'/>`);
    this.saslDomain = domain;
    this.remote = domain;
    this.headerSent = false;
    this.parser.reset();
    metrics.s2sAuth.inc({ direction: 'in', method: 'sasl-external', result: 'success' });
    metrics.s2sStreams.inc({ direction: 'in' });
    this.ctx.log.info({ sid: this.sid, remote: domain, local: this.local }, 's2s stream authenticated (SASL EXTERNAL)');
  }

  // ---- dialback (XEP-0220) ---------------------------------------------------------------------

  private onDialbackResult(el: Element): void {
    const from = (el.attrs.from ?? '').toLowerCase();
    const to = (el.attrs.to ?? '').toLowerCase();
    const key = el.text().trim();
    const answer = (type: 'valid' | 'invalid' | 'error', errorXml = '') =>
      this.transport.write(`<db:result from='${escapeXML(to)}' to='${escapeXML(from)}' type='${type}'>${errorXml}</db:result>`);
    const error = (type: string, condition: string) => `<error type='${type}'><${condition} xmlns='${NS.STANZAS_ERR}'/></error>`;
    if (el.attrs.type) return; // an answer to a db:result of ours: never on an inbound stream
    const fromJid = Jid.tryParse(from);
    if (!fromJid || !fromJid.isDomain || !key) return answer('error', error('modify', 'bad-request'));
    if (!this.ctx.s2sServes(to)) return answer('error', error('cancel', 'item-not-found'));
    if (!this.ctx.config.S2S_DIALBACK) return answer('error', error('cancel', 'not-allowed'));
    if (this.ctx.config.S2S_REQUIRE_TLS && !this.transport.secure) return answer('error', error('cancel', 'policy-violation'));
    if (this.pendingVerifications >= MAX_PENDING_VERIFICATIONS) return answer('error', error('wait', 'resource-constraint'));
    this.pendingVerifications++;
    this.ctx
      .verifyDialback(to, from, this.sid, key)
      .then((verdict) => {
        if (this.gone) return;
        metrics.s2sAuth.inc({ direction: 'in', method: 'dialback', result: verdict === 'valid' ? 'success' : 'failure' });
        if (verdict === 'valid') {
          if (!this.isAuthenticated) metrics.s2sStreams.inc({ direction: 'in' });
          this.pairs.add(`${from} ${to}`);
          if (!this.remote) this.remote = from;
          this.ctx.log.info({ sid: this.sid, remote: from, local: to }, 's2s stream authenticated (dialback)');
          answer('valid');
        } else if (verdict === 'invalid') {
          this.ctx.log.warn({ sid: this.sid, remote: from, local: to }, 'dialback key refused by the authoritative server: spoofed domain?');
          answer('invalid');
        } else {
          answer('error', error('cancel', 'remote-connection-failed'));
        }
      })
      .catch((e: unknown) => {
        this.ctx.log.warn({ err: e, sid: this.sid, remote: from }, 'dialback verification failed');
        if (!this.gone) answer('error', error('cancel', 'internal-server-error'));
      })
      .finally(() => this.pendingVerifications--);
  }

  /** We are the authoritative server: is `key` one we issued for (receiving=from, originating=to, id)? */
  private onDialbackVerify(el: Element): void {
    const from = (el.attrs.from ?? '').toLowerCase();
    const to = (el.attrs.to ?? '').toLowerCase();
    const id = el.attrs.id ?? '';
    if (el.attrs.type) return;
    const valid = this.ctx.s2sServes(to) && !!id && dialbackKeyValid(this.ctx.dialbackSecret, from, to, id, el.text());
    this.ctx.log.info({ sid: this.sid, receiving: from, originating: to, valid }, 'dialback key checked for a peer');
    this.transport.write(`<db:verify from='${escapeXML(to)}' to='${escapeXML(from)}' id='${escapeXML(id)}' type='${valid ? 'valid' : 'invalid'}'/>`);
  }

  // ---- stanzas --------------------------------------------------------------------------------

  private onStanza(el: Element): void {
    const name = el.name;
    if (!this.isAuthenticated) return this.fail(new StreamError('not-authorized', 'stanza before authentication'));
    const attrs = el.attrs;
    if (!attrs.from || !attrs.to) return this.fail(new StreamError('improper-addressing', 'a server stanza needs from and to'));
    const from = Jid.tryParse(attrs.from);
    const to = Jid.tryParse(attrs.to);
    if (!from) return this.fail(new StreamError('invalid-from', 'malformed from address'));
    // A domain not hosted here at all is host-unknown whatever the stream authenticated.
    if (to && !this.ctx.s2sServes(to.domain)) return this.fail(new StreamError('host-unknown', `${to.domain} is not served here`));
    if (!this.mayCarry(from.domain, to?.domain ?? '')) {
      this.ctx.log.warn({ sid: this.sid, from: from.domain, authenticated: this.remoteDomains }, 's2s stanza from a domain this stream did not authenticate');
      return this.fail(new StreamError('invalid-from', `${from.domain} is not authenticated on this stream`));
    }
    if (!to) return this.ctx.bounceRemote(el, new StanzaError('jid-malformed', 'invalid to address'));
    metrics.stanzasIn.add(name);
    const type = attrs.type ?? '';
    const ns = stanzaShape(name, type, el);
    if (ns instanceof StanzaError) return this.ctx.bounceRemote(el, ns);
    attrs.from = from.toString();
    attrs.to = to.toString();
    attrs.xmlns = NS.CLIENT;
    this.ctx.publishRemote(this, el, { to: attrs.to, kind: name, type: typeFact(name, type), ns, cc: name === 'message' && carbonsEligible(el, type) });
  }

  private mayCarry(fromDomain: string, toDomain: string): boolean {
    if (this.saslDomain === fromDomain) return true;
    return this.pairs.has(`${fromDomain} ${toDomain}`);
  }

  // ---- closing --------------------------------------------------------------------------------

  protected get log(): Logger {
    return this.ctx.log;
  }

  protected logFields(): Record<string, unknown> {
    return { remote: this.remote, addr: this.transport.remoteAddress };
  }

  protected writeHeaderForError(): void {
    this.sendHeader(this.remote);
  }

  protected onClosed(): void {
    metrics.connections.dec({ transport: 's2s' });
    if (this.isAuthenticated) metrics.s2sStreams.dec({ direction: 'in' });
    this.ctx.s2sClosed(this);
  }
}

