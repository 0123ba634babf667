/**
 * The edge's XEP-0114 side: a plain TCP listener on COMPONENT_PORT for the components in COMPONENTS, the
 * component streams it accepted, their entries in the component registry (KV xmpp_components), and
 * their stanzas' way into the routing stream. The EdgeService owns one and hands it the deliveries whose
 * session id is one of its streams.
 *
 * Plain TCP, as XEP-0114 defines it: the handshake proves the secret without sending it, but nothing
 * else is protected, so the port belongs on a private network (docs/components.md).
 */
import { AddressInfo, createServer, Server, Socket } from 'node:net';
import { Gauge, Counter } from 'prom-client';
import type { NatsConnection } from 'nats';
import {
  EdgeComponentRegistry,
  encodeEnvelope,
  openComponentsBucket,
  partitionOf,
  RoutePublisher,
  routeSubject,
} from '@kxmpp/bus';
import type { EdgeConfig } from '@kxmpp/config';
import { kindLabel, Logger, registry as metricsRegistry } from '@kxmpp/telemetry';
import { bareOf, StreamError } from '@kxmpp/xmpp-core';
import { publishError, reparse } from './bounce';
import { ComponentHost, ComponentStanzaFacts, ComponentStream } from './component-stream';
import { TcpTransport } from './transport';


/**
 * How long a handshake waits for another holder of its domain to go before answering <conflict/>. A
 * component that hung up on one edge and reconnects to another at once would otherwise meet its old
 * entry, whose delete is still on its way.
 */
const CLAIM_GRACE_MS = 1500;

function gauge(name: string, help: string): Gauge<string> {
  return (metricsRegistry.getSingleMetric(name) as Gauge<string> | undefined) ?? new Gauge({ name, help, registers: [metricsRegistry] });
}
function counter(name: string, help: string, labelNames: string[]): Counter<string> {
  return (metricsRegistry.getSingleMetric(name) as Counter<string> | undefined) ?? new Counter({ name, help, labelNames, registers: [metricsRegistry] });
}

/** Names xmpp_edge_component_*; labels from fixed sets (never a domain). */
const componentMetrics = {
  connected: gauge('xmpp_edge_components', 'External components (XEP-0114) connected to this edge'),
  handshakes: counter('xmpp_edge_component_handshakes_total', 'Component handshakes by result', ['result']),
  stanzas: counter('xmpp_edge_component_stanzas_total', 'Stanzas from (in) and to (out) components by kind', ['direction', 'kind']),
};


export class ComponentListener implements ComponentHost {
  private readonly secrets: ReadonlyMap<string, string>;
  private server?: Server;
  private registry?: EdgeComponentRegistry;
  private publisher?: RoutePublisher;
  private sweepTimer?: NodeJS.Timeout;
  private readonly streams = new Set<ComponentStream>();
  /** Ready streams by session id: where deliveries go. */
  private readonly bySid = new Map<string, ComponentStream>();
  /** The stream that holds (or is claiming) each domain on this edge. */
  private readonly byDomain = new Map<string, ComponentStream>();
  /** Registry deletes in flight, by domain: a component that reconnects at once must not meet its old entry. */
  private readonly releasing = new Map<string, Promise<void>>();
  private draining = false;
  port = 0;

  constructor(readonly config: EdgeConfig, private readonly nc: NatsConnection, readonly log: Logger) {
    this.secrets = new Map(config.COMPONENTS.map((c) => [c.domain, c.secret]));
  }

  /** Whether any component is configured; without one no port is opened. */
  get enabled(): boolean {
    return this.secrets.size > 0;
  }

  /** Open the registry and the listener; resolves with the port (0 when no component is configured). */
  async start(): Promise<number> {
    if (!this.enabled) return 0;
    const cfg = this.config;
    const kv = await openComponentsBucket(this.nc, cfg.SESSION_TTL_SECONDS, cfg.NATS_REPLICAS);
    this.registry = new EdgeComponentRegistry(kv, cfg.SESSION_TTL_SECONDS, (domain, sid) => {
      const s = this.bySid.get(sid);
      if (s) s.fail(new StreamError('conflict', `${domain} was taken over by another connection`));
    });
    this.registry.start();
    this.publisher = new RoutePublisher(this.nc);
    this.server = createServer((socket) => this.accept(socket));
    this.port = await new Promise<number>((resolve, reject) => {
      const server = this.server!;
      server.once('error', reject);
      server.listen(cfg.COMPONENT_PORT, cfg.COMPONENT_BIND_HOST ?? cfg.BIND_HOST, () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
    this.sweepTimer = setInterval(() => this.sweep(), 1000);
    this.sweepTimer.unref();
    this.log.info({ port: this.port, components: [...this.secrets.keys()] }, 'component listener (XEP-0114) listening');
    return this.port;
  }

  private accept(socket: Socket): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.streams.add(new ComponentStream(new TcpTransport(socket, false), this));
  }

  /** The ready component stream with this session id, if it is one of ours. */
  stream(sid: string): ComponentStream | undefined {
    return this.bySid.get(sid);
  }

  // ---- ComponentHost ----------------------------------------------------------------------------------

  secretOf(domain: string): string | undefined {
    return this.secrets.get(domain);
  }

  async claim(stream: ComponentStream): Promise<boolean> {
    const domain = stream.domain;
    const local = this.byDomain.get(domain);
    if ((local && local !== stream) || !this.registry) {
      componentMetrics.handshakes.inc({ result: 'conflict' });
      return false;
    }
    // Reserved before the await: a second handshake for the domain on this edge sees it at once.
    this.byDomain.set(domain, stream);
    let holder;
    try {
      await this.releasing.get(domain);
      const deadline = Date.now() + CLAIM_GRACE_MS;
      for (;;) {
        holder = await this.registry.claim(domain, { edge: this.config.EDGE_ID, sid: stream.sid });
        if (!holder || stream.gone || Date.now() >= deadline) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (e) {
      if (this.byDomain.get(domain) === stream) this.byDomain.delete(domain);
      throw e;
    }
    if (holder) {
      if (this.byDomain.get(domain) === stream) this.byDomain.delete(domain);
      componentMetrics.handshakes.inc({ result: 'conflict' });
      return false;
    }
    if (stream.gone) {
      // It hung up while we claimed: give the domain back at once.
      if (this.byDomain.get(domain) === stream) this.byDomain.delete(domain);
      await this.registry.remove(domain, stream.sid);
      return false;
    }
    this.bySid.set(stream.sid, stream);
    componentMetrics.handshakes.inc({ result: 'success' });
    componentMetrics.connected.inc();
    return true;
  }

  publish(stream: ComponentStream, data: string, facts: ComponentStanzaFacts): void {
    const publisher = this.publisher;
    if (!publisher) return;
    const headers = encodeEnvelope({ ...facts, edge: this.config.EDGE_ID, sid: stream.sid, ts: Date.now() });
    // Partitioned by the sender's bare JID, as for clients: one sender's stanzas stay in order.
    const subject = routeSubject(partitionOf(bareOf(facts.from), this.config.ROUTE_PARTITIONS));
    publisher.publish(subject, data, headers, (why, detail) => {
      this.log.error({ why, detail, sid: stream.sid }, 'publish of a component stanza to the routing stream failed');
      const el = reparse(data);
      if (el) stream.reject(el, publishError(why));
    }, stream);
  }

  closed(stream: ComponentStream): void {
    this.streams.delete(stream);
    if (this.bySid.get(stream.sid) === stream) {
      this.bySid.delete(stream.sid);
      componentMetrics.connected.dec();
      this.log.info({ sid: stream.sid, domain: stream.domain }, 'component disconnected');
    }
    if (this.byDomain.get(stream.domain) === stream && this.registry) {
      const domain = stream.domain;
      this.byDomain.delete(domain);
      const done: Promise<void> = this.registry
        .remove(domain, stream.sid)
        .catch(() => undefined)
        .finally(() => {
          if (this.releasing.get(domain) === done) this.releasing.delete(domain);
        });
      this.releasing.set(domain, done);
    }
  }

  count(direction: 'in' | 'out', kind: string): void {
    componentMetrics.stanzas.inc({ direction, kind: kindLabel(kind) });
  }

  // ---- timeouts and shutdown --------------------------------------------------------------------------

  /** A connection that has not completed its handshake within AUTH_TIMEOUT_SECONDS is closed. */
  private sweep(): void {
    const limit = Date.now() - this.config.AUTH_TIMEOUT_SECONDS * 1000;
    for (const s of this.streams) {
      if (!s.isReady && !s.gone && s.openedAt < limit) s.fail(new StreamError('connection-timeout', 'handshake took too long'));
    }
  }

  /** Stop accepting, end every component stream with <system-shutdown/>, wait up to graceMs for them to close. */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    this.server?.close();
    for (const s of this.streams) s.fail(new StreamError('system-shutdown', 'this server is restarting, reconnect'));
    const deadline = Date.now() + graceMs;
    while (this.streams.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const s of this.streams) s.transport.destroy();
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.drain(1000);
    this.publisher?.close();
    await this.registry?.stop();
  }

  /** Connected (handshake done) components on this edge. */
  get size(): number {
    return this.bySid.size;
  }
}
