/**
 * The edge: accepts client connections, owns their streams, publishes their stanzas to the routing
 * stream and writes deliveries addressed to them. Holds no state another edge could not rebuild: a
 * session that dies with its edge is re-established by the client on another one.
 */
import { createServer as createTcpServer, Server as TcpServer, Socket } from 'node:net';
import { createServer as createTlsServer, Server as TlsServer } from 'node:tls';
import { AddressInfo } from 'node:net';
import { JSONCodec, KV, NatsConnection, Subscription } from 'nats';
import {
  DomainChange,
  DomainSet,
  EdgeControl,
  EdgeSessionRegistry,
  deliveriesOf,
  Delivery,
  edgeControlSubject,
  edgeDeliverySubject,
  EDGES_CONTROL_SUBJECT,
  encodeEnvelope,
  ensureRouteStream,
  openSessionsBucket,
  partitionOf,
  routeSubject,
  RoutePublisher,
  queueForRemote,
  sharedDialbackSecret,
} from '@kxmpp/bus';
import { EdgeConfig, registrationOpen } from '@kxmpp/config';
import type { AccountsRepository } from '@kxmpp/store';
import { HealthServer, Logger, metrics } from '@kxmpp/telemetry';
import { bareOf, Element, errorReply, Jid, NS, parseXml, StanzaError, StreamError, xml } from '@kxmpp/xmpp-core';
import { OutboundStream, parseAnchors, S2SResolver, trustAnchors } from '@kxmpp/s2s';
import type { X509Certificate } from 'node:crypto';
import { withTrustAnchors } from '@kxmpp/xmpp-stream';
import { C2SStream } from './c2s-stream';
import { ComponentListener } from './component-listener';
import { S2SContext, S2SInStream } from './s2s-stream';
import { EdgeContext, StanzaFacts } from './edge-context';
import { HttpFront } from './http';
import { loadTls, TlsMaterial } from './tls';
import { TcpTransport } from './transport';
import type { Unacked } from './stream-management';
import { publishError, reparse } from './bounce';

/**
 * How long after a session's registry entry is removed its unacknowledged stanzas are routed again: the
 * routers' registry views (KV watches) must have seen it go, or the router would send them back to it.
 */
export const REROUTE_AFTER_MS = 250;

/** Stanzas routed again for one ended session at most, whatever comes (a router whose view is stuck). */
const MAX_REROUTED_PER_SESSION = 1000;

/** Ended sessions remembered at most (a login storm's churn within the registry TTL). */
const MAX_ENDED_REMEMBERED = 200_000;

/** A session that ended on this edge lately: deliveries may still be addressed to it. */
interface EndedSession {
  full: string;
  domain: string;
  sid: string;
  at: number;
  rerouted: number;
}

const textDecoder = new TextDecoder();


const controlCodec = JSONCodec<EdgeControl>();

export interface EdgePorts {
  c2s: number;
  c2sTls: number;
  http: number;
  /** Inbound server-to-server (0 when S2S_ENABLED=false). */
  s2s: number;
  /** Inbound server-to-server over direct TLS, XEP-0368 (0 when off). */
  s2sTls: number;
  /** XEP-0114 external components (0 when COMPONENTS is empty). */
  component: number;
}

export class EdgeService implements EdgeContext, S2SContext {
  /** Served domains, config plus run-time ones (admin API); has() is a Set lookup. */
  readonly domains: DomainSet;
  private readonly ownsDomains: boolean;
  private stopDomainWatch: () => void = () => undefined;
  readonly tls: TlsMaterial;
  readonly resourcePrefix: string;
  private publisher!: RoutePublisher;
  private registry!: EdgeSessionRegistry;
  private readonly streams = new Set<C2SStream>();
  private readonly bound = new Map<string, C2SStream>();
  private tcp?: TcpServer;
  private tlsServer?: TlsServer;
  private http?: HttpFront;
  private subs: Subscription[] = [];
  private sweepTimer?: NodeJS.Timeout;
  private draining = false;
  /** Stanzas being routed again (XEP-0198 unacknowledged, late deliveries); drain waits for them. */
  private readonly reroutes = new Set<Promise<void>>();
  /**
   * Sessions ended here within the registry's TTL, by sid, oldest first. A router whose registry view
   * had not seen one go may still deliver to it; those stanzas are routed again instead of dropped.
   */
  private readonly ended = new Map<string, EndedSession>();
  ports: EdgePorts = { c2s: 0, c2sTls: 0, http: 0, s2s: 0, s2sTls: 0, component: 0 };
  // ---- XEP-0114 external components (component-listener.ts, docs/components.md) ----
  private components?: ComponentListener;
  // ---- inbound S2S (docs/federation.md) ----
  s2sTls!: S2SContext['s2sTls'];
  dialbackSecret = '';
  private s2sServer?: TcpServer;
  private s2sTlsServer?: TlsServer;
  private readonly s2sStreams = new Set<S2SInStream>();
  private s2sResolver?: S2SResolver;
  private s2sCa: string[] = [];
  private s2sComponentDomains = new Set<string>();
  s2sAnchors: X509Certificate[] = [];

  constructor(
    readonly config: EdgeConfig,
    private readonly nc: NatsConnection,
    readonly accounts: AccountsRepository,
    readonly log: Logger,
    private readonly health?: HealthServer,
    /** Shared with other components of the process (all-in-one); by default the edge keeps its own. */
    domains?: DomainSet,
  ) {
    this.ownsDomains = !domains;
    this.domains = domains ?? new DomainSet(nc, config.XMPP_DOMAINS, { replicas: config.NATS_REPLICAS });
    this.tls = loadTls(config.XMPP_DOMAINS, config.TLS_CERT_DIR);
    if (this.tls.generated) log.warn('TLS_CERT_DIR not set: using a generated self-signed certificate (development only)');
    this.resourcePrefix = `${config.EDGE_ID.slice(0, 16)}-`;
  }

  async start(): Promise<EdgePorts> {
    const cfg = this.config;
    await ensureRouteStream(await this.nc.jetstreamManager(), {
      partitions: cfg.ROUTE_PARTITIONS,
      storage: cfg.ROUTE_STORAGE,
      replicas: cfg.NATS_REPLICAS,
    });
    await this.domains.start();
    this.stopDomainWatch = this.domains.onChange((c) => void this.domainChanged(c));
    // Run-time domains served before this edge started: their certificates before the first client.
    await Promise.all(this.domains.entries().filter((e) => !e.configured).map((e) => this.domainChanged({ op: 'add', domain: e.domain })));
    const kv: KV = await openSessionsBucket(this.nc, cfg.SESSION_TTL_SECONDS, cfg.NATS_REPLICAS);
    this.registry = new EdgeSessionRegistry(kv, cfg.SESSION_TTL_SECONDS, this.nc);
    this.publisher = new RoutePublisher(this.nc);
    this.registry.start();

    this.subs.push(
      this.nc.subscribe(edgeDeliverySubject(cfg.EDGE_ID), {
        callback: (err, m) => {
          if (err) return;
          let deliveries: Delivery[];
          try {
            deliveries = deliveriesOf(m);
          } catch (e) {
            this.log.warn({ err: e }, 'malformed delivery message dropped');
            return;
          }
          for (const { targets, kind, data } of deliveries) {
            for (const sid of targets) {
              const s = this.bound.get(sid) ?? this.components?.stream(sid);
              if (s) s.deliver(data, kind);
              else this.lateDelivery(sid, data, kind);
            }
          }
        },
      }),
      ...[edgeControlSubject(cfg.EDGE_ID), EDGES_CONTROL_SUBJECT].map((subject) =>
        this.nc.subscribe(subject, {
          callback: (err, m) => {
            if (err) return;
            try {
              this.onControl(controlCodec.decode(m.data));
            } catch (e) {
              this.log.warn({ err: e }, 'bad control message');
            }
          },
        }),
      ),
    );
    await this.nc.flush();

    this.tcp = createTcpServer((socket) => this.accept(socket, false));
    this.tlsServer = createTlsServer(
      {
        SNICallback: (name, cb) => cb(null, this.tls.contextFor(name)),
        // Clients that send no SNI (an IP address, "localhost") get the first domain's certificate.
        cert: this.tls.defaultPems.cert,
        key: this.tls.defaultPems.key,
        minVersion: 'TLSv1.2',
        ALPNProtocols: ['xmpp-client'],
      },
      (socket) => this.accept(socket, true),
    );
    this.tlsServer.on('tlsClientError', (e) => this.log.debug({ reason: e.message }, 'direct TLS handshake failed'));
    this.ports.c2s = await listen(this.tcp, cfg.C2S_PORT, cfg.BIND_HOST);
    this.ports.c2sTls = await listen(this.tlsServer, cfg.C2S_TLS_PORT, cfg.BIND_HOST);
    if (cfg.HTTP_ENABLED) {
      this.http = new HttpFront(this);
      this.ports.http = await this.http.listen(cfg.HTTP_PORT, cfg.BIND_HOST);
    }
    if (cfg.S2S_ENABLED) await this.startS2S();
    // XEP-0114: the component listener opens only when COMPONENTS lists some.
    this.components = new ComponentListener(cfg, this.nc, this.log);
    this.ports.component = await this.components.start();
    this.sweepTimer = setInterval(() => this.sweep(), 1000);
    this.sweepTimer.unref();
    this.health?.addReadiness('nats', () => !this.nc.isClosed());
    this.log.info({ edge: cfg.EDGE_ID, ports: this.ports, domains: cfg.XMPP_DOMAINS }, 'edge listening');
    return this.ports;
  }

  private accept(socket: Socket, direct: boolean): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.adopt(new C2SStream(new TcpTransport(socket, direct), this));
  }

  /** Track a new stream (TCP or WebSocket). */
  adopt(stream: C2SStream): void {
    this.streams.add(stream);
  }

  registrationOpen(domain: string): boolean {
    return registrationOpen(this.config.XMPP_REGISTRATION, domain);
  }

  partitionOf(bare: string): number {
    return partitionOf(bare, this.config.ROUTE_PARTITIONS);
  }

  async bindSession(stream: C2SStream): Promise<void> {
    // RFC 6120 §7.7.2.2: a resource already in use: the newer session wins, the older gets <conflict/>.
    const local = this.bound.get(this.sidOf(stream.full));
    if (local && local !== stream) local.fail(new StreamError('conflict', 'replaced by a new session'));
    this.byFull.set(stream.full, stream.sid);
    this.bound.set(stream.sid, stream);
    const displaced = await this.registry.claim(this.entryOf(stream));
    if (!displaced) return;
    if (displaced.edge === this.config.EDGE_ID) {
      const old = this.bound.get(displaced.sid);
      if (old && old !== stream) old.fail(new StreamError('conflict', 'replaced by a new session'));
    } else {
      this.nc.publish(
        edgeControlSubject(displaced.edge),
        controlCodec.encode({ op: 'kick', sid: displaced.sid, condition: 'conflict', text: 'replaced by a new session' }),
      );
    }
  }

  private readonly byFull = new Map<string, string>();

  private sidOf(full: string): string {
    return this.byFull.get(full) ?? '';
  }

  private entryOf(s: C2SStream) {
    return { jid: s.full, edge: this.config.EDGE_ID, sid: s.sid, priority: s.priority, available: s.available, ...(s.carbons ? { carbons: true } : {}) };
  }

  presenceChanged(stream: C2SStream): void {
    this.registry
      .update(this.entryOf(stream))
      .then((ours) => {
        if (!ours) stream.fail(new StreamError('conflict', 'replaced by a new session'));
      })
      .catch((e) => this.log.warn({ err: e }, 'registry update failed'));
  }

  async sessionChanged(stream: C2SStream): Promise<void> {
    if (!(await this.registry.update(this.entryOf(stream)))) stream.fail(new StreamError('conflict', 'replaced by a new session'));
  }

  publish(stream: C2SStream, data: string, facts: StanzaFacts): void {
    const headers = encodeEnvelope({
      from: stream.full,
      to: facts.to,
      kind: facts.kind,
      type: facts.type,
      ns: facts.ns,
      edge: this.config.EDGE_ID,
      sid: stream.sid,
      ts: Date.now(),
      cc: facts.cc,
    });
    // Written at once, so the stanzas of one stream enter the routing stream in the order sent; a stanza
    // JetStream refuses or does not confirm is bounced to its sender (no silent loss). The bounce parses
    // the serialized stanza again: keeping every parsed stanza until its publish ack made each scavenge
    // of the edge copy thousands of element trees under load.
    this.publisher.publish(routeSubject(stream.routePartition), data, headers, (why, detail) => {
      this.log.error({ why, detail, sid: stream.sid }, 'publish to the routing stream failed');
      const el = reparse(data);
      if (el) stream.reject(el, publishError(why));
    }, stream);
  }

  streamClosed(stream: C2SStream, wasBound: boolean, unacked: Unacked[]): void {
    this.streams.delete(stream);
    if (!wasBound) return;
    this.bound.delete(stream.sid);
    if (this.byFull.get(stream.full) === stream.sid) this.byFull.delete(stream.full);
    const removed = this.registry.remove(stream.full, stream.sid).catch(() => undefined);
    const ended: EndedSession = { full: stream.full, domain: stream.domain, sid: stream.sid, at: Date.now(), rerouted: 0 };
    this.ended.set(stream.sid, ended);
    if (this.ended.size > MAX_ENDED_REMEMBERED) this.ended.delete(this.ended.keys().next().value as string);
    if (unacked.length > 0) this.rerouteLater(ended, unacked, removed);
    if (stream.available && !this.nc.isClosed()) {
      // RFC 6121 §4.6: a session that ends without unavailable presence gets one broadcast for it.
      const p = xml('presence', { xmlns: 'jabber:client', type: 'unavailable', from: stream.full });
      this.publish(stream, p.toString(), { to: stream.bare, kind: 'presence', type: 'unavailable', ns: '' });
    }
  }

  /**
   * XEP-0198: the stanzas a client never acknowledged go back into the routing stream, addressed as they
   * were, now that the session is gone. The router's rules for a full JID without a session then apply
   * (docs/routing.md): a message goes to another resource or to offline storage, an IQ request is
   * answered service-unavailable; presence and IQ answers are dropped here, as the router would.
   */
  private rerouteLater(session: EndedSession, stanzas: Unacked[], after: Promise<unknown> = Promise.resolve()): void {
    const p = after
      .then(() => new Promise((r) => setTimeout(r, REROUTE_AFTER_MS)))
      .then(() => this.reroute(session, stanzas))
      .finally(() => this.reroutes.delete(p));
    this.reroutes.add(p);
  }

  /**
   * A delivery to a session this edge does not hold. If the session ended here lately, the router's
   * registry view had not seen it go: its messages and IQ requests are routed again, as the unacknowledged
   * ones are. Otherwise (a session this edge never had) it is dropped.
   */
  private lateDelivery(sid: string, data: Uint8Array, kind: string): void {
    const session = this.ended.get(sid);
    if (!session || (kind !== 'message' && kind !== 'iq')) return;
    if (session.rerouted >= MAX_REROUTED_PER_SESSION) {
      this.log.warn({ sid, jid: session.full }, 'delivery to an ended session dropped: too many routed again already');
      return;
    }
    session.rerouted++;
    metrics.lateDeliveries.inc();
    this.rerouteLater(session, [{ data: data.slice(), kind }]);
  }

  private reroute(stream: EndedSession, unacked: Unacked[]): void {
    let n = 0;
    for (const u of unacked) {
      if (u.kind !== 'message' && u.kind !== 'iq') continue;
      let el: Element;
      try {
        el = parseXml(typeof u.data === 'string' ? u.data : textDecoder.decode(u.data));
      } catch {
        continue;
      }
      const type = el.attrs.type ?? '';
      if (u.kind === 'iq' && type !== 'get' && type !== 'set') continue;
      const from = el.attrs.from || stream.domain;
      // Not worth a second trip: a carbon copy (its original went elsewhere, XEP-0280), or what the
      // account or the server sent the session itself (a roster push, a ping).
      if (u.kind === 'message' ? el.getChildElements().some((c) => c.attrs.xmlns === NS.CARBONS) : from === stream.domain || from === bareOf(stream.full)) continue;
      el.attrs.to = stream.full;
      el.attrs.xmlns = NS.CLIENT;
      const ns = u.kind === 'iq' ? (el.getChildElements()[0]?.attrs.xmlns ?? '') : '';
      const headers = encodeEnvelope({ from, to: stream.full, kind: u.kind, type, ns, edge: this.config.EDGE_ID, sid: '', ts: Date.now() });
      try {
        this.publisher.publish(routeSubject(this.partitionOf(bareOf(from))), el.toString(), headers, (why, detail) =>
          this.log.error({ why, detail, jid: stream.full }, 'an unacknowledged stanza could not be routed again'),
        );
        n++;
      } catch (e) {
        this.log.error({ err: e, jid: stream.full }, 'an unacknowledged stanza could not be routed again');
      }
    }
    metrics.rerouted.inc(n);
    this.log.info({ sid: stream.sid, jid: stream.full, stanzas: unacked.length, rerouted: n }, 'stanzas for an ended session routed again');
  }

  /** XEP-0077 §3.2: every session of a cancelled account ends, on every edge (this one included). */
  /** Set by the module: what else goes with a removed account (its stored data). */
  onAccountRemoved?: (domain: string, username: string) => Promise<void> | void;
  /** Set by the module: resources to release after stop(). */
  onStop?: () => Promise<void>;

  accountRemoved(domain: string, username: string): void {
    void this.onAccountRemoved?.(domain, username);
    this.nc.publish(EDGES_CONTROL_SUBJECT, controlCodec.encode({ op: 'account-removed', domain, username }));
  }

  private onControl(c: EdgeControl): void {
    if (c.op === 'kick') {
      const s = this.bound.get(c.sid);
      if (s) s.fail(new StreamError(c.condition, c.text));
    } else if (c.op === 'account-removed') {
      for (const s of this.streams) {
        if (s.isAuthenticated && s.domain === c.domain && s.username === c.username) s.fail(new StreamError('not-authorized', 'account removed'));
      }
    }
  }

  /**
   * A domain added or removed at run time (admin API). Removed: every stream of it ends with
   * <host-gone/> (RFC 6120 §4.9.3.5: "no longer serviced by the receiving entity"), the precise
   * condition; clients that reconnect then get <host-unknown/>. Its accounts and data stay.
   */
  private async domainChanged(c: DomainChange): Promise<void> {
    if (c.op === 'add') {
      try {
        await this.tls.addDomain(c.domain);
        if (this.tls.missingCertificates().includes(c.domain)) {
          this.log.error({ domain: c.domain, dir: this.config.TLS_CERT_DIR }, 'domain added without its certificate in TLS_CERT_DIR: serving the default one until it appears');
        } else {
          this.log.info({ domain: c.domain }, 'domain added');
        }
      } catch (e) {
        this.log.error({ err: e, domain: c.domain }, 'no TLS certificate for an added domain');
      }
      return;
    }
    this.tls.removeDomain(c.domain);
    let ended = 0;
    for (const s of this.streams) {
      if (s.domain === c.domain) {
        s.fail(new StreamError('host-gone', `${c.domain} is no longer served here`));
        ended++;
      }
    }
    this.log.info({ domain: c.domain, ended }, 'domain removed');
  }

  /** Close streams that stay unauthenticated or silent too long (connection-timeout, RFC 6120 §4.9.3.4). */
  private sweep(): void {
    const now = Date.now();
    // Past the registry's TTL no router can still hold an ended session's entry.
    const endedBefore = now - this.config.SESSION_TTL_SECONDS * 1000;
    for (const [sid, e] of this.ended) {
      if (e.at > endedBefore) break;
      this.ended.delete(sid);
    }
    const authMs = this.config.AUTH_TIMEOUT_SECONDS * 1000;
    const idleMs = this.config.IDLE_TIMEOUT_SECONDS * 1000;
    const ackMs = this.config.SM_ACK_TIMEOUT_SECONDS * 1000;
    for (const s of this.streams) {
      if (!s.isAuthenticated && now - s.openedAt > authMs) s.fail(new StreamError('connection-timeout', 'authentication took too long'));
      else if (now - s.lastActivity > idleMs) s.fail(new StreamError('connection-timeout', 'idle for too long'));
      else if (s.ackOverdue(now, ackMs)) s.fail(new StreamError('connection-timeout', 'no acknowledgement of the stanzas sent (XEP-0198)'));
    }
    const s2sIdleMs = this.config.S2S_IDLE_SECONDS * 1000;
    for (const s of this.s2sStreams) {
      if (!s.isAuthenticated && now - s.openedAt > authMs) s.fail(new StreamError('connection-timeout', 'authentication took too long'));
      else if (now - s.lastActivity > s2sIdleMs) s.closeNow();
    }
  }

  // ---- inbound S2S ---------------------------------------------------------------------------

  private async startS2S(): Promise<void> {
    const cfg = this.config;
    this.s2sCa = trustAnchors(cfg.S2S_TRUST_SYSTEM_CA, cfg.S2S_CA_FILES);
    this.s2sTls = withTrustAnchors(this.tls, this.s2sCa);
    this.s2sAnchors = parseAnchors(this.s2sCa);
    this.s2sComponentDomains = new Set(cfg.COMPONENTS.map((c) => c.domain));
    this.dialbackSecret = await sharedDialbackSecret(this.nc, cfg.S2S_DIALBACK_SECRET, cfg.NATS_REPLICAS);
    this.s2sResolver = new S2SResolver({ overrides: cfg.S2S_HOSTS, dnsServers: cfg.S2S_DNS_SERVERS });
    this.s2sServer = createTcpServer((socket) => {
      if (this.draining) return socket.destroy();
      this.s2sStreams.add(new S2SInStream(new TcpTransport(socket, false), this));
    });
    this.ports.s2s = await listen(this.s2sServer, cfg.S2S_PORT, cfg.BIND_HOST);
    if (cfg.S2S_DIRECT_TLS) {
      // XEP-0368: TLS first. The peer's certificate is asked for (SASL EXTERNAL) and checked by the stream.
      this.s2sTlsServer = createTlsServer(
        {
          SNICallback: (name, cb) => cb(null, this.s2sTls.contextFor(name)),
          cert: this.tls.defaultPems.cert,
          key: this.tls.defaultPems.key,
          minVersion: 'TLSv1.2',
          ALPNProtocols: ['xmpp-server'],
          requestCert: true,
          rejectUnauthorized: false,
        },
        (socket) => {
          if (this.draining) return socket.destroy();
          this.s2sStreams.add(new S2SInStream(new TcpTransport(socket, true), this));
        },
      );
      this.s2sTlsServer.on('tlsClientError', (e) => this.log.debug({ reason: e.message }, 'direct TLS handshake failed (s2s)'));
      this.ports.s2sTls = await listen(this.s2sTlsServer, cfg.S2S_TLS_PORT, cfg.BIND_HOST);
    }
  }

  s2sServes(domain: string): boolean {
    return this.domains.has(domain) || this.s2sComponentDomains.has(domain);
  }

  async verifyDialback(receiving: string, originating: string, streamId: string, key: string): Promise<'valid' | 'invalid' | 'unreachable'> {
    const cfg = this.config;
    const out = new OutboundStream(
      {
        local: receiving,
        remote: originating,
        targets: await this.s2sResolver!.resolve(originating),
        pems: this.tls.pemsFor(receiving),
        ca: this.s2sCa,
        requireTls: cfg.S2S_REQUIRE_TLS,
        allowDialback: true,
        dialbackKey: () => '',
        timeoutMs: cfg.S2S_CONNECT_TIMEOUT_SECONDS * 1000,
        maxStanzaBytes: cfg.MAX_STANZA_BYTES,
        log: this.log,
      },
      'verify',
    );
    try {
      await out.open();
      return (await out.verify(receiving, originating, streamId, key)) ? 'valid' : 'invalid';
    } catch (e) {
      this.log.info({ remote: originating, reason: (e as Error).message }, 'dialback: authoritative server unreachable');
      return 'unreachable';
    } finally {
      out.close('verified');
    }
  }

  publishRemote(stream: S2SInStream, el: Element, facts: StanzaFacts): void {
    const from = el.attrs.from;
    const headers = encodeEnvelope({ from, to: facts.to, kind: facts.kind, type: facts.type, ns: facts.ns, edge: this.config.EDGE_ID, sid: stream.sid, ts: Date.now(), cc: facts.cc });
    const data = el.toString();
    this.publisher.publish(routeSubject(this.partitionOf(bareOf(from))), data, headers, (why, detail) => {
      this.log.error({ why, detail, sid: stream.sid }, 'publish to the routing stream failed (s2s)');
      const again = reparse(data);
      if (again) this.bounceRemote(again, publishError(why));
    }, stream);
  }

  bounceRemote(el: Element, err: StanzaError): void {
    const to = Jid.tryParse(el.attrs.from ?? '');
    if (!to) return;
    const reply = errorReply(el, err, el.attrs.to || this.config.XMPP_DOMAINS[0]);
    if (!reply) return;
    reply.attrs.xmlns = NS.CLIENT;
    const env = { from: reply.attrs.from, to: reply.attrs.to, kind: reply.name, type: 'error', ns: '', edge: this.config.EDGE_ID, sid: '', ts: Date.now() };
    queueForRemote(this.nc, this.config.SERVICE_PARTITIONS, to.domain, env, reply.toString()).catch((e) =>
      this.log.warn({ err: e, remote: to.domain }, 'could not queue an error for a remote server'),
    );
  }

  s2sClosed(stream: S2SInStream): void {
    this.s2sStreams.delete(stream);
  }

  get sessionCount(): number {
    return this.bound.size;
  }

  /** Stop accepting, ask every client to reconnect elsewhere, and wait for the streams to close. */
  async drain(graceMs = this.config.DRAIN_SECONDS * 1000): Promise<void> {
    this.draining = true;
    this.health?.setDraining();
    this.tcp?.close();
    this.tlsServer?.close();
    const componentsClosed = this.components?.drain(graceMs);
    this.s2sServer?.close();
    this.s2sTlsServer?.close();
    for (const s of this.s2sStreams) s.fail(new StreamError('system-shutdown', 'this server is restarting'));
    // The HTTP server only finishes closing once its WebSocket connections are gone.
    const httpClosed = this.http?.close();
    for (const s of this.streams) s.fail(new StreamError('system-shutdown', 'this server is restarting, reconnect'));
    const deadline = Date.now() + graceMs;
    while (this.streams.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const s of this.streams) s.transport.destroy();
    // What the closed streams left unacknowledged goes out before the bus connection does.
    const settle = Date.now() + 500;
    while (this.streams.size > 0 && Date.now() < settle) await new Promise((r) => setTimeout(r, 10));
    await Promise.race([Promise.all([...this.reroutes]), new Promise((r) => setTimeout(r, REROUTE_AFTER_MS * 4))]);
    for (const s of this.s2sStreams) s.transport.destroy();
    await Promise.race([httpClosed, new Promise((r) => setTimeout(r, 1000))]);
    await componentsClosed;
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.stopDomainWatch();
    if (this.ownsDomains) this.domains.stop();
    await this.drain(1000);
    for (const sub of this.subs) sub.unsubscribe();
    this.publisher?.close();
    await this.components?.stop();
    await this.registry?.stop();
    await this.onStop?.().catch(() => undefined);
  }
}

function listen(server: TcpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

