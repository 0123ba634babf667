/**
 * The offline service: messages for a user with no available resource are stored and delivered when the
 * user next sends available presence (XEP-0160, RFC 6121 §8.5.2.2), each with a XEP-0203 delay stamp.
 *
 * Work comes in the partition of the recipient's bare JID, so one user's stores and flushes never
 * overlap, across all replicas:
 *  - a message (op 'stanza', from the router: chat, normal or no type, to an existing local account with
 *    no available non-negative-priority resource). The registry is read again first: a session that
 *    became available since the router decided (its flush possibly already done) gets the message now,
 *    after anything still stored, per RFC 6121 §8.5.2.1.1. Otherwise it is stored, or bounced to the
 *    sender: resource-constraint when the user's store is full, service-unavailable when storage is
 *    disabled (OFFLINE_MAX_MESSAGES=0). A message only worth something live (a bare chat state, XEP-0085;
 *    the XEP-0334 no-store hint) is dropped instead.
 *  - a flush (op 'flush', from the presence service on initial presence with priority >= 0): the stored
 *    messages go, oldest first, to that session, in batches; each batch is removed from storage only
 *    after its deliveries have reached nats-server (nc.flush()), so a crash repeats messages, never loses them.
 */
import type { JsMsg, NatsConnection } from 'nats';
import {
  decodeEnvelope,
  encodeEnvelope,
  Envelope,
  partitionOf,
  QueueService,
  routeSubject,
  serviceOp,
  SessionEntry,
  SessionRegistryView,
  SessionTarget,
} from '@kxmpp/bus';
import type { OfflineMessage, OfflineRepository } from '@kxmpp/store';
import type { Logger } from '@kxmpp/telemetry';
import { Element, errorReply, Jid, NS, parseXml, StanzaCondition, StanzaError, xml } from '@kxmpp/xmpp-core';
import { offlineMetrics } from './offline.metrics';

const decoder = new TextDecoder();
const CHATSTATES_NS = 'http://jabber.org/protocol/chatstates';
const HINTS_NS = 'urn:xmpp:hints';
/** Stored messages delivered per batch of a flush: bounds memory whatever the user's backlog. */
export const DEFAULT_FLUSH_BATCH = 100;

export interface OfflineServiceConfig {
  SERVICE_ID: string;
  SERVICE_PARTITIONS: number;
  /** Messages kept per user; 0 disables offline storage. */
  OFFLINE_MAX_MESSAGES: number;
  /** The routing stream a bounce goes through when its recipient has no session to answer on directly. */
  ROUTE_PARTITIONS: number;
  ROUTE_STORAGE: 'memory' | 'file';
  NATS_REPLICAS: number;
}

export interface OfflineServiceDeps {
  nc: NatsConnection;
  offline: OfflineRepository;
  view: SessionRegistryView;
  log: Logger;
  /** Messages per flush batch (default DEFAULT_FLUSH_BATCH). */
  flushBatch?: number;
}

export class OfflineService extends QueueService {
  private readonly log: Logger;
  private readonly batch: number;

  constructor(private readonly config: OfflineServiceConfig, private readonly deps: OfflineServiceDeps) {
    // Bounces whose sender has no session to answer on go through the routing stream.
    super('offline', {
      nc: deps.nc,
      log: deps.log,
      partitions: config.SERVICE_PARTITIONS,
      replicas: config.NATS_REPLICAS,
      route: { partitions: config.ROUTE_PARTITIONS, storage: config.ROUTE_STORAGE },
    });
    this.log = deps.log;
    this.batch = Math.max(1, deps.flushBatch ?? DEFAULT_FLUSH_BATCH);
  }

  /** Messages stored for a bare JID (the admin API's view). */
  async count(bare: string): Promise<number> {
    const j = Jid.parse(bare);
    return j.local ? this.deps.offline.count(j.domain, j.local) : 0;
  }

  override async start(): Promise<void> {
    await super.start();
    this.log.info(
      { partitions: this.config.SERVICE_PARTITIONS, maxMessages: this.config.OFFLINE_MAX_MESSAGES },
      'offline service consuming',
    );
  }

  // ---- dispatch --------------------------------------------------------------------------------

  protected async handle(m: JsMsg): Promise<void> {
    const env = decodeEnvelope(m.headers);
    const to = env && Jid.tryParse(env.to);
    if (!env || !to || !to.local) {
      this.log.warn({ seq: m.seq }, 'offline work item without a usable envelope dropped');
      return;
    }
    switch (serviceOp(m.headers)) {
      case 'flush':
        return this.flush(m, env, to);
      case 'stanza':
        return this.message(m, env, to);
      default:
        this.log.warn({ seq: m.seq, op: serviceOp(m.headers) }, 'offline work item with an operation for another service dropped');
    }
  }

  // ---- a message for a user without an available resource ------------------------------------

  private async message(m: JsMsg, env: Envelope, to: Jid): Promise<void> {
    const text = decoder.decode(m.data);
    let el: Element;
    try {
      el = parseXml(text);
    } catch (e) {
      this.log.warn({ seq: m.seq, err: e }, 'unparseable offline message dropped');
      offlineMetrics.messages.inc({ outcome: 'dropped' });
      return;
    }
    el.attrs.from = env.from;
    if (el.name !== 'message' || !['', 'normal', 'chat'].includes(env.type)) {
      this.log.warn({ kind: el.name, type: env.type }, 'offline service got a stanza it does not store; dropped');
      offlineMetrics.messages.inc({ outcome: 'dropped' });
      return;
    }
    const bare = to.toBareString();

    // The router decided from a registry that may be a moment old: a session may have become available
    // since, and its flush may have run already. Then the message goes to it now, behind what is stored.
    const targets = await this.liveTargets(bare, to);
    if (targets.length > 0) {
      if ((await this.deps.offline.count(to.domain, to.local)) > 0) await this.deliverStored(m, to, targets);
      this.deliverer.deliver(targets, 'message', m.data);
      offlineMetrics.messages.inc({ outcome: 'direct' });
      this.log.debug({ user: bare }, 'offline message delivered directly: a session became available');
      return;
    }

    const skip = notWorthStoring(el);
    if (skip) {
      offlineMetrics.messages.inc({ outcome: 'dropped' });
      this.log.debug({ reason: skip }, 'message for an offline user not stored');
      return;
    }
    const limit = this.config.OFFLINE_MAX_MESSAGES;
    if (limit <= 0) return this.bounce(env, el, 'service-unavailable', 'offline storage is disabled');
    const stored = await this.deps.offline.push(to.domain, to.local, { from: env.from, stanza: text, storedAt: new Date().toISOString() }, limit);
    if (!stored) return this.bounce(env, el, 'resource-constraint', 'the recipient’s offline storage is full');
    offlineMetrics.messages.inc({ outcome: 'stored' });
  }

  /**
   * Where a message to `to` goes now, from the registry itself (not the watch, which can lag): the
   * session of a full JID when it exists, else the available non-negative-priority sessions of the
   * highest priority (RFC 6121 §8.5.2.1.1); none when the user is still away.
   */
  private async liveTargets(bare: string, to: Jid): Promise<SessionEntry[]> {
    const sessions = await this.deps.view.fetch(bare);
    if (to.resource) {
      const exact = sessions.find((s) => s.jid === to.toString());
      if (exact) return [exact];
    }
    const available = sessions.filter((s) => s.available && s.priority >= 0);
    if (available.length === 0) return [];
    const top = Math.max(...available.map((s) => s.priority));
    return available.filter((s) => s.priority === top);
  }

  // ---- flush -----------------------------------------------------------------------------------

  private async flush(m: JsMsg, env: Envelope, to: Jid): Promise<void> {
    if (!env.edge || !env.sid) {
      this.log.warn({ seq: m.seq }, 'offline flush without a session dropped');
      return;
    }
    const bare = to.toBareString();
    // Core NATS deliveries to an ended session are lost: check that it is still bound before sending
    // anything that is then deleted. A session that ended keeps its messages for the next login.
    const bound = (s: SessionEntry | null) => !!s && s.edge === env.edge && s.sid === env.sid;
    if (!bound(this.deps.view.get(env.from)) && !(await this.deps.view.fetch(bare)).some(bound)) {
      offlineMetrics.flushes.inc({ outcome: 'session_gone' });
      this.log.info({ user: bare }, 'offline flush for a session that has ended: messages kept');
      return;
    }
    const n = await this.deliverStored(m, to, [{ edge: env.edge, sid: env.sid }]);
    offlineMetrics.flushes.inc({ outcome: n > 0 ? 'delivered' : 'empty' });
    if (n > 0) this.log.info({ user: bare, messages: n }, 'offline messages delivered');
  }

  /** Deliver every stored message of `to`'s account, oldest first, batch by batch; returns how many. */
  private async deliverStored(m: JsMsg, to: Jid, targets: readonly SessionTarget[]): Promise<number> {
    let total = 0;
    for (;;) {
      const batch = await this.deps.offline.list(to.domain, to.local, this.batch);
      if (batch.length === 0) break;
      for (const msg of batch) {
        const out = withDelay(msg, to.domain);
        if (out) this.deliverer.deliver(targets, 'message', out);
        else this.log.warn({ id: msg.id }, 'corrupt stored offline message discarded');
      }
      // The deliveries must have reached nats-server before the messages stop existing anywhere else.
      await this.deps.nc.flush();
      await this.deps.offline.remove(to.domain, to.local, batch.map((b) => b.id));
      total += batch.length;
      offlineMetrics.flushed.inc(batch.length);
      // A long backlog must not look like a dead replica to JetStream (ack_wait).
      m.working();
      if (batch.length < this.batch) break;
    }
    return total;
  }

  // ---- bounces ---------------------------------------------------------------------------------

  /** RFC 6120 §8.3.1: the error from the recipient's address to the sender, on the sender's session if known. */
  private async bounce(env: Envelope, el: Element, condition: StanzaCondition, text: string): Promise<void> {
    offlineMetrics.messages.inc({ outcome: 'bounced' });
    offlineMetrics.bounces.inc({ condition });
    this.log.info({ condition, reason: text }, 'offline message bounced to its sender');
    const reply = errorReply(el, new StanzaError(condition, text), env.to);
    if (!reply) return;
    if (env.edge && env.sid) {
      this.deliverer.deliver([{ edge: env.edge, sid: env.sid }], 'message', reply.toString());
      return;
    }
    // No session to answer on (a remote sender, the admin API, a service): route it like any stanza.
    const sender = Jid.tryParse(env.to)?.toBareString() ?? env.to;
    const back: Envelope = { from: env.to, to: env.from, kind: 'message', type: 'error', ns: '', edge: '', sid: '', ts: Date.now() };
    await this.deps.nc.jetstream().publish(routeSubject(partitionOf(sender, this.config.ROUTE_PARTITIONS)), reply.toString(), { headers: encodeEnvelope(back) });
  }

  /** An item that kept failing (storage down): a message is bounced rather than lost silently. */
  protected override async giveUp(m: JsMsg, err: unknown): Promise<void> {
    const env = decodeEnvelope(m.headers);
    if (!env) return;
    if (serviceOp(m.headers) === 'flush') {
      this.log.error({ err }, 'offline flush failed repeatedly; the messages stay stored for the next login');
      return;
    }
    this.log.error({ err }, 'storing an offline message failed repeatedly; bounced');
    try {
      const el = parseXml(decoder.decode(m.data));
      el.attrs.from = env.from;
      await this.bounce(env, el, 'internal-server-error', 'offline storage failed');
    } catch (e) {
      this.log.error({ err: e }, 'could not bounce an offline message');
    }
  }
}

/**
 * Why a message is not kept for later, or null to keep it: a chat state without a body (XEP-0085: only
 * meaningful live), a XEP-0334 <no-store/> hint, nothing in it at all. <store/> overrides the first.
 */
export function notWorthStoring(el: Element): string | null {
  if (el.getChild('no-store', HINTS_NS)) return 'no-store hint';
  if (el.getChild('store', HINTS_NS)) return null;
  const children = el.getChildElements();
  if (children.length === 0) return 'empty message';
  if (!el.getChild('body') && children.some((c) => c.attrs.xmlns === CHATSTATES_NS)) return 'chat state only';
  return null;
}

/** The stored stanza with its XEP-0203 delay stamp (from the server's domain, when it was stored). */
export function withDelay(msg: OfflineMessage, domain: string): string | null {
  let el: Element;
  try {
    el = parseXml(msg.stanza);
  } catch {
    return null;
  }
  if (!el.attrs.xmlns) el.attrs.xmlns = NS.CLIENT;
  el.cnode(xml('delay', { xmlns: NS.DELAY, from: domain, stamp: msg.storedAt }, 'Offline Storage'));
  return el.toString();
}
