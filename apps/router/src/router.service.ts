/**
 * Takes stanzas from every routing partition (docs/adr/0001-routing-and-ordering.md) and carries out
 * decide()'s verdict. Per partition, one stanza at a time: decide, publish the deliveries or the
 * bounce, and only then ack, which is what lets the next stanza of that sender (possibly on another
 * router) go out after this one.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConsumerMessages, JsMsg, NatsConnection } from 'nats';
import {
  Deliverer,
  DeliveryBatch,
  envelopeFromFields,
  itemsOf,
  ensureWorkQueue,
  SERVICE_NAMES,
  serviceQueueSpec,
  ensureRouteStream,
  PULL_EXPIRES_MS,
  Envelope,
  ROUTE_STREAM,
  routeConsumer,
  SessionEntry,
  SessionRegistryView,
  queueForRemote,
  s2sQueueSpec,
} from '@kxmpp/bus';
import type { RouterConfig } from '@kxmpp/config';
import type { Kernel } from '@kxmpp/kernel';
import type { AccountsRepository } from '@kxmpp/store';
import { kindLabel, Logger, metrics } from '@kxmpp/telemetry';
import { Element, errorReply, Jid, parseXml, StanzaError } from '@kxmpp/xmpp-core';
import { carbonCopies, carbonCopyBytes } from './routing.carbons';
import { Action, decide, needsAccountLookup, SessionRef } from './routing.decide';

/** A stanza that failed this many times on transient errors is dropped rather than blocking its partition. */
const MAX_ATTEMPTS = 5;
/** Wait before routing a stanza again after a transient failure. */
const RETRY_DELAY_MS = 500;
const decoder = new TextDecoder();

export type RouterServiceConfig = Pick<RouterConfig, 'ROUTER_ID' | 'XMPP_DOMAINS' | 'ROUTE_PARTITIONS' | 'ROUTE_STORAGE' | 'NATS_REPLICAS' | 'SERVICE_PARTITIONS'> &
  Partial<Pick<RouterConfig, 'FEDERATION_ENABLED'>>;

/** Stanzas a federation partition may have in flight; the federation service declares the same (S2S_QUEUE_PER_PARTITION). */
const S2S_QUEUE_DEFAULT = 256;

/** XEP-0191 as the router needs it (BlockingPolicy of @kxmpp/blocking). */
export interface RouterBlocking {
  blocks(ownerDomain: string, ownerUser: string, other: Jid): Promise<boolean>;
  /** What blocks() would answer, when it needs no read; else undefined. */
  cached?(ownerDomain: string, ownerUser: string, other: Jid): boolean | undefined;
  /** not-acceptable with <blocked xmlns='urn:xmpp:blocking:errors'/> (XEP-0191 §3.5). */
  blockedError(): StanzaError;
}

export interface RouterExtras {
  /** Served domains, config plus run-time additions; the config list when omitted. */
  domains?: { has(domain: string): boolean };
  blocking?: RouterBlocking;
  /** XEP-0114 components (docs/components.md); none when omitted. */
  components?: RouterComponents;
}

/** The configured component domains and where the connected ones are (ComponentDirectory of @kxmpp/bus). */
export interface RouterComponents {
  has(domain: string): boolean;
  lookup(domain: string): Promise<SessionRef | null>;
}

export class RouterService {
  private readonly domains: { has(domain: string): boolean };
  private readonly deliverer: Deliverer;
  private readonly blocking?: RouterBlocking;
  private readonly components?: RouterComponents;
  private readonly subs: ConsumerMessages[] = [];
  private readonly loops: Promise<void>[] = [];
  private running = false;
  /** Stanzas this replica has routed (acked); read by tests and the all-in-one to see the spread. */
  processed = 0;

  constructor(
    private readonly config: RouterServiceConfig,
    private readonly nc: NatsConnection,
    private readonly accounts: AccountsRepository,
    private readonly view: SessionRegistryView,
    private readonly kernel: Kernel,
    private readonly log: Logger,
    extras: RouterExtras = {},
  ) {
    this.domains = extras.domains ?? new Set(config.XMPP_DOMAINS);
    this.blocking = extras.blocking;
    this.components = extras.components;
    this.deliverer = new Deliverer(nc, config.SERVICE_PARTITIONS);
  }

  get ready(): boolean {
    return this.running && !this.nc.isClosed();
  }

  private get federation(): boolean {
    return this.config.FEDERATION_ENABLED !== false;
  }

  async start(): Promise<void> {
    const jsm = await this.nc.jetstreamManager();
    await ensureRouteStream(jsm, { partitions: this.config.ROUTE_PARTITIONS, storage: this.config.ROUTE_STORAGE, replicas: this.config.NATS_REPLICAS });
    // The services' queues too: work handed to a service that has not started yet waits there.
    for (const svc of SERVICE_NAMES) await ensureWorkQueue(jsm, serviceQueueSpec(svc, this.config.SERVICE_PARTITIONS, 'file', this.config.NATS_REPLICAS));
    if (this.federation) await ensureWorkQueue(jsm, s2sQueueSpec(this.config.SERVICE_PARTITIONS, S2S_QUEUE_DEFAULT, 'file', this.config.NATS_REPLICAS));
    const js = this.nc.jetstream();
    this.running = true;
    for (let p = 0; p < this.config.ROUTE_PARTITIONS; p++) {
      const consumer = await js.consumers.get(ROUTE_STREAM, routeConsumer(p));
      // max_ack_pending=1 on the consumer: the server hands out one message of the partition at a time,
      // to whichever replica's pull is waiting, so max_messages only sets how often a pull is renewed
      // (at half of it): 100 rather than 10 took a sixth of nats-server's CPU at 2,000 msg/s
      // (bench/README.md). A short expiry keeps nats-server's heap small (PULL_EXPIRES_MS).
      const msgs = await consumer.consume({ max_messages: 100, expires: PULL_EXPIRES_MS });
      this.subs.push(msgs);
      this.loops.push(this.loop(p, msgs));
    }
    this.log.info({ partitions: this.config.ROUTE_PARTITIONS, router: this.config.ROUTER_ID }, 'router consuming');
  }

  /** Stop pulling, let the in-flight stanza of each partition finish (its ack included). */
  async stop(): Promise<void> {
    this.running = false;
    for (const s of this.subs) s.stop();
    await Promise.allSettled(this.loops);
  }

  private async loop(partition: number, msgs: ConsumerMessages): Promise<void> {
    try {
      for await (const m of msgs) {
        if (!this.running) {
          // Not ours any more: let another replica take it now rather than after ack_wait.
          m.nak();
          continue;
        }
        await this.process(m);
      }
    } catch (e) {
      if (this.running) this.log.error({ err: e, partition }, 'partition consumer stopped');
    }
  }

  /**
   * One message of the partition: a stanza, or a batch of stanzas one edge published together (in the
   * order it received them). Their deliveries go out together, one message per edge, just before the ack.
   */
  private async process(m: JsMsg): Promise<void> {
    let items: { env: Envelope | null; data: Uint8Array }[];
    try {
      items = itemsOf(m).map((it) => ({ env: envelopeFromFields(it.fields), data: it.data }));
    } catch (e) {
      this.log.warn({ err: e, seq: m.seq }, 'malformed batch dropped');
      metrics.routed.inc({ kind: 'other', outcome: 'malformed' });
      m.ack();
      return;
    }
    const out = this.deliverer.batch();
    for (let i = 0; i < items.length; i++) {
      if (!(await this.routeItem(items[i].env, items[i].data, m, i, out))) return;
    }
    // Deliveries are plain publishes, done without an await, so the ack joins them in one socket write
    // (one wakeup of nats-server instead of two).
    out.flush();
    m.ack();
  }

  /**
   * Route one stanza of the message m (index i in it). A transient failure (store or bus unavailable) of
   * the first has JetStream redeliver the whole message; of a later one, is retried here, so the stanzas
   * before it are not routed twice. false: m was handed back to JetStream.
   */
  private async routeItem(env: Envelope | null, data: Uint8Array, m: JsMsg, i: number, out: DeliveryBatch): Promise<boolean> {
    const from = env && Jid.tryParse(env.from);
    const to = env && Jid.tryParse(env.to);
    if (!env || !from || !to) {
      this.log.warn({ seq: m.seq, item: i }, 'malformed envelope dropped');
      metrics.routed.inc({ kind: 'other', outcome: 'malformed' });
      this.processed++;
      return true;
    }
    const kind = kindLabel(env.kind);
    let actions: Action[];
    for (let attempt = 1; ; attempt++) {
      try {
        const blocked = this.blocked(env, from, to);
        actions = (blocked instanceof Promise ? await blocked : blocked) ?? (await this.decideFor(env, from, to));
        for (const a of actions) {
          if (a.action === 'deliver') out.add(a.sessions, env.kind, data);
          else if (a.action === 'carbons') for (const c of a.copies) out.add([c.session], 'message', carbonCopyBytes(c, env.type, data));
          else {
            // What was decided before goes out before this step's own effects.
            out.flush();
            await this.execute(a, env, from, to, data, out);
          }
        }
        break;
      } catch (e) {
        const tries = i === 0 ? m.info.redeliveryCount : attempt;
        if (tries >= MAX_ATTEMPTS) {
          this.log.error({ err: e, seq: m.seq, item: i }, 'routing failed repeatedly, stanza dropped');
          actions = [{ action: 'drop', reason: 'failed' }];
          break;
        }
        this.log.warn({ err: e, seq: m.seq, item: i, attempt: tries }, 'routing failed, will retry');
        if (i === 0) {
          m.nak(RETRY_DELAY_MS);
          return false;
        }
        m.working();
        await sleep(RETRY_DELAY_MS);
      }
    }
    this.processed++;
    for (const a of actions) metrics.routed.add(kind, a.action);
    if (env.ts > 0) metrics.routingLatency.add(kind, Math.max(0, Date.now() - env.ts) / 1000);
    metrics.registrySessions.set(this.view.size);
    return true;
  }

  /**
   * XEP-0191 §3.3-3.5 (docs/routing.md, before the table): a stanza between a local user and a JID that
   * user blocks. Presence is the presence service's to filter. null when nothing is blocked.
   */
  private blocked(env: Envelope, from: Jid, to: Jid): Action[] | null | Promise<Action[] | null> {
    const b = this.blocking;
    // Presence is the presence service's to filter, except a component's, which the router delivers itself.
    if (!b || (env.kind === 'presence' && !this.components?.has(from.domain))) return null;
    const request = env.kind === 'message' ? env.type !== 'error' : env.type === 'get' || env.type === 'set';
    const byRecipient = !!to.local && this.domains.has(to.domain);
    const bySender = !!from.local && this.domains.has(from.domain);
    // Both lists cached (the usual case): no await, so no turn of the microtask queue per stanza.
    const r = !byRecipient ? false : b.cached?.(to.domain, to.local, from);
    const s = !bySender ? false : b.cached?.(from.domain, from.local, to);
    if (r !== undefined && s !== undefined) return blockedActions(request, r, s);
    return (async () => {
      if (byRecipient && (await b.blocks(to.domain, to.local, from))) return blockedActions(request, true, false);
      return blockedActions(request, false, bySender && (await b.blocks(from.domain, from.local, to)));
    })();
  }

  private async decideFor(env: Envelope, from: Jid, to: Jid): Promise<Action[]> {
    const domainServed = this.domains.has(to.domain);
    // XEP-0114: a component's domain (never a served one), and whether the sender is a component.
    const component = !domainServed && this.components?.has(to.domain) ? ((await this.components.lookup(to.domain)) ?? 'offline') : undefined;
    const fromComponent = this.components?.has(from.domain) ?? false;
    const senderLocal = this.domains.has(from.domain);
    const sender = { edge: env.edge, sid: env.sid };
    let sessions: SessionEntry[] = [];
    let accountExists = false;
    const bare = domainServed && to.local ? to.toBareString() : '';
    if (bare) {
      sessions = this.view.resources(bare);
      // The watch may lag a bind on another edge: read the bucket before concluding there is no session.
      if (sessions.length === 0 || (to.resource && !sessions.some((s) => s.jid === env.to))) sessions = await this.view.fetch(bare);
      accountExists = sessions.length > 0;
      if (!accountExists && needsAccountLookup(env.kind, env.type)) accountExists = (await this.accounts.get(to.domain, to.local)) !== null;
    }
    const actions = decide({
      kind: env.kind,
      type: env.type,
      ns: env.ns,
      senderLocal,
      component,
      fromComponent,
      from: from.toString(),
      to: { local: to.local, domain: to.domain, resource: to.resource },
      domainServed,
      federation: this.federation,
      accountExists,
      sessions,
      sender,
    });
    if (env.cc) {
      const fromBare = senderLocal && from.local ? from.toBareString() : '';
      const copies = carbonCopies(
        {
          eligible: true,
          from: env.from,
          senderLocal,
          sender,
          recipientBare: bare,
          recipientSessions: sessions,
          // Sent copies need another session of the sender: most senders have one.
          senderSessions: fromBare && this.view.countOf(fromBare) > 1 ? this.view.resources(fromBare) : [],
        },
        actions,
      );
      if (copies.length > 0) actions.push({ action: 'carbons', copies });
    }
    return actions;
  }

  /** Every action but deliveries and carbon copies, which routeItem adds to the message's batch. */
  private async execute(a: Action, env: Envelope, from: Jid, to: Jid, data: Uint8Array, out: DeliveryBatch): Promise<void> {
    switch (a.action) {
      case 'deliver':
      case 'carbons':
        return;
      case 'bounce': {
        const stanza = this.parse(data, env);
        const reply = stanza && errorReply(stanza, new StanzaError(a.condition), env.to);
        if (reply) await this.reply(env, reply, out);
        return;
      }
      case 'iq': {
        const stanza = this.parse(data, env);
        if (!stanza) return;
        const reply = await this.kernel.handleIq({ stanza, from, to, target: a.target });
        if (reply) await this.reply(env, reply, out);
        return;
      }
      case 'service':
        // Durable hand-off before the ack: a service replica that dies later still gets it.
        await this.deliverer.toService(a.service, a.key, env, data);
        return;
      case 'blocked': {
        const stanza = this.parse(data, env);
        const reply = stanza && this.blocking && errorReply(stanza, this.blocking.blockedError(), env.to);
        if (reply) await this.reply(env, reply, out);
        return;
      }
      case 'remote':
        // Durable hand-off to the federation service before the ack (docs/federation.md).
        await queueForRemote(this.nc, this.config.SERVICE_PARTITIONS, a.domain, env, data);
        return;
      case 'drop':
        this.log.debug({ kind: env.kind, type: env.type, reason: a.reason }, 'stanza dropped');
        return;
    }
  }

  /**
   * An answer to the sender: on its session when it is a local client, through federation when it is on
   * another server (an inbound S2S stream is one-way).
   */
  private async reply(env: Envelope, reply: Element, out: DeliveryBatch): Promise<void> {
    const sender = Jid.tryParse(env.from);
    // A component's answers go to its stream like a client's (XEP-0114).
    if (sender && !this.domains.has(sender.domain) && !this.components?.has(sender.domain)) {
      if (!this.federation) return;
      reply.attrs.xmlns = 'jabber:client';
      const back: Envelope = { from: reply.attrs.from ?? env.to, to: env.from, kind: reply.name, type: reply.attrs.type ?? '', ns: '', edge: '', sid: '', ts: Date.now() };
      await queueForRemote(this.nc, this.config.SERVICE_PARTITIONS, sender.domain, back, reply.toString());
      return;
    }
    if (!env.edge || !env.sid) return;
    out.add([{ edge: env.edge, sid: env.sid }], reply.name, reply.toString());
  }

  /** Slow path only (bounces, IQs for the kernel). The edge stamped 'from'; make sure the copy says so. */
  private parse(data: Uint8Array, env: Envelope): Element | null {
    try {
      const el = parseXml(decoder.decode(data));
      el.attrs.from = env.from;
      if (!el.attrs.to) el.attrs.to = env.to;
      return el;
    } catch (e) {
      this.log.warn({ err: e, kind: env.kind }, 'unparseable stanza dropped');
      return null;
    }
  }
}

/** XEP-0191 §3.5: what a stanza gets when its recipient blocks its sender, or its sender the recipient. */
function blockedActions(request: boolean, byRecipient: boolean, bySender: boolean): Action[] | null {
  if (byRecipient) return request ? [{ action: 'bounce', condition: 'service-unavailable' }] : [{ action: 'drop', reason: 'sender blocked by the recipient' }];
  if (bySender) return request ? [{ action: 'blocked' }] : [{ action: 'drop', reason: 'recipient blocked by the sender' }];
  return null;
}
