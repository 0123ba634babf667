/**
 * The federation service: outbound server-to-server streams (docs/federation.md).
 *
 * Stanzas for other domains wait in the XMPP_S2S work queue, partitioned by remote domain. Each
 * partition has one holder among the replicas (PartitionLeases), so every stanza for a remote domain
 * leaves through one replica and one stream per (our domain, remote domain) pair, in queue order.
 * A stanza is acked once written to an authenticated stream, or once bounced to its sender
 * (remote-server-not-found / remote-server-timeout) when the stream cannot be set up; while a stream
 * comes up its stanzas stay unacked in memory, so a replica that dies loses none (JetStream hands them
 * to the partition's next holder after ack_wait).
 */
import type { ConsumerMessages, JsMsg, NatsConnection } from 'nats';
import {
  decodeEnvelope,
  encodeEnvelope,
  ensureRouteStream,
  ensureWorkQueue,
  Envelope,
  H,
  H_REMOTE,
  PartitionLeases,
  PULL_EXPIRES_MS,
  partitionOf,
  routeSubject,
  S2S_ACK_WAIT_MS,
  FEDERATION_LEASE_TTL_MS,
  S2S_OUT_STREAM,
  s2sOutConsumer,
  s2sQueueSpec,
  sharedDialbackSecret,
} from '@kxmpp/bus';
import type { FederationConfig } from '@kxmpp/config';
import { dialbackKey, OutboundStream, S2SConnectError, S2SResolver, trustAnchors, withStanzaNamespace } from '@kxmpp/s2s';
import { kindLabel, Logger, metrics } from '@kxmpp/telemetry';
import { errorReply, Jid, NS, parseXml, StanzaError } from '@kxmpp/xmpp-core';
import { loadTls, TlsMaterial } from '@kxmpp/xmpp-stream';

const decoder = new TextDecoder();
/** After a failed setup, stanzas for that pair bounce at once for this long instead of each waiting for a timeout. */
const NEGATIVE_CACHE_MS = 5_000;

export interface FederationDeps {
  nc: NatsConnection;
  log: Logger;
  /** Served domains (config and run-time). */
  domains: { has(domain: string): boolean };
  /** Our certificates (shared with the edge in the all-in-one); loaded from TLS_CERT_DIR when absent. */
  tls?: TlsMaterial;
}

interface Link {
  key: string;
  local: string;
  remote: string;
  partition: number;
  queue: JsMsg[];
  stream: OutboundStream | null;
  connecting: boolean;
}

export class FederationService {
  private leases!: PartitionLeases;
  private readonly consumers = new Map<number, ConsumerMessages>();
  private readonly links = new Map<string, Link>();
  private readonly failed = new Map<string, { until: number; condition: S2SConnectError['condition']; reason: string }>();
  private tls!: TlsMaterial;
  private ca: string[] = [];
  private resolver!: S2SResolver;
  private secret = '';
  private idleTimer?: NodeJS.Timeout;
  private workingTimer?: NodeJS.Timeout;
  private running = false;
  /** Stanzas written to remote servers by this replica (tests read it). */
  written = 0;

  private readonly componentDomains: Set<string>;

  constructor(private readonly config: FederationConfig, private readonly deps: FederationDeps) {
    this.componentDomains = new Set(config.COMPONENTS.map((c) => c.domain));
  }

  get ready(): boolean {
    return this.running && !this.deps.nc.isClosed();
  }

  /** Partitions this replica holds (tests and /readyz detail). */
  get heldPartitions(): number {
    return this.leases?.count ?? 0;
  }

  async start(): Promise<void> {
    const cfg = this.config;
    const jsm = await this.deps.nc.jetstreamManager();
    await ensureRouteStream(jsm, { partitions: cfg.ROUTE_PARTITIONS, storage: cfg.ROUTE_STORAGE, replicas: cfg.NATS_REPLICAS });
    await ensureWorkQueue(jsm, s2sQueueSpec(cfg.SERVICE_PARTITIONS, cfg.S2S_QUEUE_PER_PARTITION, 'file', cfg.NATS_REPLICAS));
    this.secret = await sharedDialbackSecret(this.deps.nc, cfg.S2S_DIALBACK_SECRET, cfg.NATS_REPLICAS);
    this.tls = this.deps.tls ?? loadTls(cfg.XMPP_DOMAINS, cfg.TLS_CERT_DIR);
    this.ca = trustAnchors(cfg.S2S_TRUST_SYSTEM_CA, cfg.S2S_CA_FILES);
    this.resolver = new S2SResolver({ overrides: cfg.S2S_HOSTS, dnsServers: cfg.S2S_DNS_SERVERS });
    this.running = true;
    this.leases = new PartitionLeases(this.deps.nc, cfg.SERVICE_ID, cfg.SERVICE_PARTITIONS, {
      acquired: (p) => void this.consume(p),
      lost: (p) => this.release(p),
    }, FEDERATION_LEASE_TTL_MS, cfg.NATS_REPLICAS);
    await this.leases.start();
    this.idleTimer = setInterval(() => this.closeIdle(), 5_000);
    this.idleTimer.unref();
    // Stanzas waiting for their stream stay ours: in-progress acks well within ack_wait.
    this.workingTimer = setInterval(() => {
      for (const l of this.links.values()) for (const m of l.queue) m.working();
    }, Math.floor(S2S_ACK_WAIT_MS / 3));
    this.workingTimer.unref();
    this.deps.log.info({ partitions: cfg.SERVICE_PARTITIONS, held: this.leases.count }, 'federation service consuming');
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.idleTimer) clearInterval(this.idleTimer);
    if (this.workingTimer) clearInterval(this.workingTimer);
    for (const p of [...this.consumers.keys()]) this.release(p);
    await this.leases?.stop();
    for (const l of this.links.values()) l.stream?.close('shutdown');
    this.links.clear();
  }

  // ---- partitions --------------------------------------------------------------------------------

  private async consume(p: number): Promise<void> {
    try {
      const consumer = await this.deps.nc.jetstream().consumers.get(S2S_OUT_STREAM, s2sOutConsumer(p));
      const msgs = await consumer.consume({ max_messages: this.config.S2S_QUEUE_PER_PARTITION, expires: PULL_EXPIRES_MS });
      if (!this.leases.holds(p) || !this.running) {
        msgs.stop();
        return;
      }
      this.consumers.set(p, msgs);
      for await (const m of msgs) {
        if (!this.leases.holds(p)) {
          m.nak();
          continue;
        }
        this.enqueue(p, m);
      }
    } catch (e) {
      if (this.running) this.deps.log.error({ err: e, partition: p }, 'federation partition consumer stopped');
    }
  }

  /** The lease is gone (or we stop): stop pulling, hand back what waits, close the streams of that partition. */
  private release(p: number): void {
    this.consumers.get(p)?.stop();
    this.consumers.delete(p);
    for (const [key, link] of this.links) {
      if (link.partition !== p) continue;
      for (const m of link.queue) m.nak();
      link.queue = [];
      link.stream?.close('partition handed over');
      this.links.delete(key);
    }
  }

  // ---- per (local, remote) link --------------------------------------------------------------------

  private enqueue(p: number, m: JsMsg): void {
    const env = decodeEnvelope(m.headers);
    const remote = m.headers?.get(H_REMOTE) ?? '';
    const from = env && Jid.tryParse(env.from);
    if (!env || !remote || !from) {
      this.deps.log.warn({ seq: m.seq }, 'federation queue item without envelope dropped');
      m.ack();
      return;
    }
    if (!this.deps.domains.has(from.domain) && !this.componentDomains.has(from.domain)) {
      // Only our own domains (and our components') originate S2S traffic: no relaying between two remote servers.
      this.deps.log.warn({ from: from.domain, remote }, 'stanza for a remote domain from a domain we do not serve dropped');
      m.ack();
      return;
    }
    const key = `${from.domain} ${remote}`;
    let link = this.links.get(key);
    if (!link) {
      link = { key, local: from.domain, remote, partition: p, queue: [], stream: null, connecting: false };
      this.links.set(key, link);
    }
    link.queue.push(m);
    this.pump(link);
  }

  private pump(link: Link): void {
    if (link.stream?.isReady) {
      while (link.queue.length > 0) {
        const m = link.queue[0];
        const data = withStanzaNamespace(decoder.decode(m.data), NS.SERVER);
        if (!link.stream.write(data)) break; // closed under us: the close handler reconnects
        link.queue.shift();
        m.ack();
        this.written++;
        metrics.s2sStanzasOut.inc({ kind: kindLabel(m.headers?.get(H.KIND) ?? 'other') });
      }
      return;
    }
    if (link.connecting || link.queue.length === 0) return;
    const neg = this.failed.get(link.key);
    if (neg && neg.until > Date.now()) {
      void this.bounceAll(link, neg.condition, neg.reason);
      return;
    }
    void this.connect(link);
  }

  private async connect(link: Link): Promise<void> {
    const cfg = this.config;
    link.connecting = true;
    let stream: OutboundStream | null = null;
    try {
      const targets = await this.resolver.resolve(link.remote);
      stream = new OutboundStream({
        local: link.local,
        remote: link.remote,
        targets,
        pems: this.tls.pemsFor(link.local),
        ca: this.ca,
        requireTls: cfg.S2S_REQUIRE_TLS,
        allowDialback: cfg.S2S_DIALBACK,
        dialbackKey: (streamId) => dialbackKey(this.secret, link.remote, link.local, streamId),
        timeoutMs: cfg.S2S_CONNECT_TIMEOUT_SECONDS * 1000,
        maxStanzaBytes: cfg.MAX_STANZA_BYTES,
        log: this.deps.log,
      });
      const s = stream;
      s.onClose(() => {
        if (link.stream !== s) return;
        link.stream = null;
        metrics.s2sStreams.dec({ direction: 'out' });
        if (this.links.get(link.key) === link && link.queue.length > 0) this.pump(link);
      });
      await s.open();
      metrics.s2sAuth.inc({ direction: 'out', method: s.method || 'dialback', result: 'success' });
      metrics.s2sStreams.inc({ direction: 'out' });
      link.stream = s;
      this.failed.delete(link.key);
    } catch (e) {
      const err = e instanceof S2SConnectError ? e : new S2SConnectError('remote-server-not-found', (e as Error).message);
      metrics.s2sAuth.inc({ direction: 'out', method: 'none', result: 'failure' });
      this.deps.log.warn({ local: link.local, remote: link.remote, condition: err.condition, reason: err.message }, 'no stream to the remote server; bouncing its stanzas');
      this.failed.set(link.key, { until: Date.now() + NEGATIVE_CACHE_MS, condition: err.condition, reason: err.message });
      link.connecting = false;
      await this.bounceAll(link, err.condition, err.message);
      return;
    }
    link.connecting = false;
    if (this.links.get(link.key) !== link) {
      stream.close('partition handed over');
      return;
    }
    this.pump(link);
  }

  private async bounceAll(link: Link, condition: S2SConnectError['condition'], reason: string): Promise<void> {
    const items = link.queue;
    link.queue = [];
    for (const m of items) {
      try {
        await this.bounce(m, condition, reason);
        m.ack();
      } catch (e) {
        this.deps.log.warn({ err: e, remote: link.remote }, 'could not bounce a stanza; it will be retried');
        m.nak(1000);
      }
    }
  }

  /**
   * RFC 6120 §8.3.1 / §10.4.3: the error goes back to the sender through the routing stream (as a
   * stanza from the remote address); presence, results and errors are not bounced.
   */
  private async bounce(m: JsMsg, condition: S2SConnectError['condition'], reason: string): Promise<void> {
    const env = decodeEnvelope(m.headers);
    if (!env) return;
    const request = env.kind === 'message' ? env.type !== 'error' : env.kind === 'iq' && (env.type === 'get' || env.type === 'set');
    if (!request) return;
    let el;
    try {
      el = parseXml(decoder.decode(m.data));
    } catch {
      return;
    }
    el.attrs.from = env.from;
    const reply = errorReply(el, new StanzaError(condition, reason.slice(0, 200)), env.to);
    if (!reply) return;
    reply.attrs.xmlns = NS.CLIENT;
    const remoteSender = Jid.tryParse(env.to);
    const back: Envelope = { from: reply.attrs.from, to: env.from, kind: reply.name, type: 'error', ns: '', edge: '', sid: '', ts: Date.now() };
    const partition = partitionOf(remoteSender ? remoteSender.toBareString() : env.to, this.config.ROUTE_PARTITIONS);
    await this.deps.nc.jetstream().publish(routeSubject(partition), reply.toString(), { headers: encodeEnvelope(back) });
    metrics.s2sBounced.inc({ condition });
  }

  private closeIdle(): void {
    const idleMs = this.config.S2S_IDLE_SECONDS * 1000;
    const now = Date.now();
    for (const [key, link] of this.links) {
      if (link.queue.length > 0 || link.connecting) continue;
      if (!link.stream || now - link.stream.lastUsed > idleMs) {
        link.stream?.close('idle');
        this.links.delete(key);
      }
    }
    for (const [key, f] of this.failed) if (f.until < now) this.failed.delete(key);
  }
}
