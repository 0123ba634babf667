/**
 * The roster service: `jabber:iq:roster` (RFC 6121 §2) with roster versioning (RFC 6121 §2.6, XEP-0237).
 *
 * Work comes from the router in the partition of the requesting user (the roster owner), one item at a
 * time per partition across all replicas; the item is acked once the answer, the pushes and any
 * presence it causes are out (PartitionedWorker). Items change by compare-and-set (RosterRepository
 * .update), so the presence service writing the same roster at the same time loses nothing.
 *
 *  - get (§2.2, §2.6.3): an empty result when the client's 'ver' is current, else the whole roster with 'ver'.
 *  - set (§2.3, §2.4): name and groups only; the subscription state is the presence service's. A new item
 *    starts at subscription 'none'. Result to the requester, then a push addressed to every bound
 *    session, which each session's edge writes only if the session requested the roster (§2.1.6
 *    "interested resources", ROSTER_PUSH_KIND).
 *  - remove (§2.5): the item is deleted, then <presence type='unsubscribed'/> (the contact was subscribed to
 *    the user or asked to be) and <presence type='unsubscribe'/> (the user was subscribed or asked to be)
 *    go from the user's bare JID to the contact through the routing stream, as an edge would publish them,
 *    so the presence service carries out RFC 6121 §3.2-3.3 for the contact.
 *  - errors: §2.3.3 / §2.5.3 (see parseRosterSetItem), forbidden for another account's roster (§2.1.5),
 *    item-not-found for removing an absent item, not-allowed for adding oneself.
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
  SessionRegistryView,
} from '@kxmpp/bus';
import { parseRosterSetItem, PushTarget, pushRosterChange, ROSTER_NS, rosterPushFor, rosterQueryElement, rosterVer } from '@kxmpp/im';
import type { RosterItem, RosterRepository } from '@kxmpp/store';
import type { Logger } from '@kxmpp/telemetry';
import { Element, errorReply, Jid, NS, parseXml, StanzaError, xml } from '@kxmpp/xmpp-core';
import { RosterOutcome, RosterRequestType, rosterMetrics } from './roster.metrics';

const decoder = new TextDecoder();
/** Attempts at publishing one emitted presence before giving up on it (the item is already deleted). */
const EMIT_ATTEMPTS = 3;

export interface RosterServiceConfig {
  SERVICE_ID: string;
  SERVICE_PARTITIONS: number;
  /** The routing stream the service publishes the presence of a removal into. */
  ROUTE_PARTITIONS: number;
  ROUTE_STORAGE: 'memory' | 'file';
  NATS_REPLICAS: number;
}

export interface RosterServiceDeps {
  nc: NatsConnection;
  roster: RosterRepository;
  /** Where the owner's bound sessions are found for pushes. */
  view: SessionRegistryView;
  log: Logger;
}

/** The request being answered: what every reply needs. */
interface Request {
  env: Envelope;
  el: Element;
  owner: Jid;
}

export class RosterService extends QueueService {
  private readonly log: Logger;

  constructor(private readonly config: RosterServiceConfig, private readonly deps: RosterServiceDeps) {
    // Removals publish presence into the routing stream.
    super('roster', {
      nc: deps.nc,
      log: deps.log,
      partitions: config.SERVICE_PARTITIONS,
      replicas: config.NATS_REPLICAS,
      route: { partitions: config.ROUTE_PARTITIONS, storage: config.ROUTE_STORAGE },
    });
    this.log = deps.log;
  }

  override async start(): Promise<void> {
    await super.start();
    this.log.info({ partitions: this.config.SERVICE_PARTITIONS }, 'roster service consuming');
  }

  // ---- dispatch --------------------------------------------------------------------------------

  protected async handle(m: JsMsg): Promise<void> {
    const req = this.decode(m);
    if (!req) return;
    const { el } = req;
    const type = el.attrs.type;
    const query = el.getChild('query', ROSTER_NS);
    const kind: RosterRequestType = type === 'get' ? 'get' : query?.getChild('item')?.attrs.subscription === 'remove' ? 'remove' : 'set';
    try {
      if (!query) throw new StanzaError('bad-request', 'no jabber:iq:roster query');
      this.authorize(req);
      const outcome = type === 'get' ? await this.get(req, query) : await this.set(req, query);
      rosterMetrics.requests.inc({ type: kind, outcome });
    } catch (e) {
      if (!(e instanceof StanzaError)) throw e; // transient: the worker retries the item
      rosterMetrics.requests.inc({ type: kind, outcome: 'error' });
      rosterMetrics.errors.inc({ condition: e.condition });
      this.log.info({ user: req.owner.toBareString(), request: kind, condition: e.condition, reason: e.text }, 'roster request refused');
      this.replyError(req, e);
    }
  }

  /** The work item as a request, or null (logged) when it is not one this service answers. */
  private decode(m: JsMsg): Request | null {
    const env = decodeEnvelope(m.headers);
    if (!env) {
      this.log.warn({ seq: m.seq }, 'roster work item without an envelope dropped');
      return null;
    }
    const op = serviceOp(m.headers);
    if (op !== 'stanza') {
      this.log.warn({ seq: m.seq, op }, 'roster work item with an unknown operation dropped');
      return null;
    }
    let el: Element;
    try {
      el = parseXml(decoder.decode(m.data));
    } catch (e) {
      this.log.warn({ seq: m.seq, err: e }, 'unparseable roster work item dropped');
      return null;
    }
    // The edge stamped it already; the envelope is the authority either way.
    el.attrs.from = env.from;
    const type = el.attrs.type;
    if (el.name !== 'iq' || (type !== 'get' && type !== 'set')) {
      // Results and errors (answers to pushes) never need an answer.
      this.log.debug({ seq: m.seq, kind: el.name, type }, 'roster work item that is not an iq get/set dropped');
      rosterMetrics.requests.inc({ type: 'other', outcome: 'unchanged' });
      return null;
    }
    const owner = Jid.tryParse(env.from);
    if (!owner) {
      this.log.warn({ seq: m.seq }, 'roster request with a malformed sender dropped');
      return null;
    }
    return { env, el, owner };
  }

  /** §2.1.5 (and §2.3.3): only the account itself reads or changes its roster. */
  private authorize({ env, owner }: Request): void {
    const to = Jid.tryParse(env.to);
    if (!owner.local) throw new StanzaError('forbidden', 'only an account has a roster');
    if (!to || to.toBareString() !== owner.toBareString()) throw new StanzaError('forbidden', "another account's roster");
  }

  // ---- get (§2.2, §2.6) -----------------------------------------------------------------------

  private async get(req: Request, query: Element): Promise<RosterOutcome> {
    const { owner } = req;
    const snap = await this.deps.roster.get(owner.domain, owner.local);
    const clientVer = query.attrs.ver;
    if (clientVer !== undefined && clientVer === rosterVer(snap.version)) {
      // §2.6.3: the client's cache is current; changes from now on come as pushes.
      this.reply(req);
      return 'not_modified';
    }
    this.reply(req, rosterQueryElement(snap.items, snap.version));
    return 'result';
  }

  // ---- set and remove (§2.3-2.5) --------------------------------------------------------------

  private async set(req: Request, query: Element): Promise<RosterOutcome> {
    const { owner } = req;
    const item = parseRosterSetItem(query);
    const bare = owner.toBareString();
    if (item.remove) return this.remove(req, item.jid);
    if (item.jid === bare) throw new StanzaError('not-allowed', 'the roster cannot hold its own account');

    const change = await this.deps.roster.update(owner.domain, owner.local, item.jid, (cur) => {
      if (!cur) {
        const created: RosterItem = { jid: item.jid, groups: item.groups, subscription: 'none', ask: false, pendingIn: false, approved: false };
        if (item.name !== undefined) created.name = item.name;
        return created;
      }
      if ((cur.name ?? undefined) === item.name && sameGroups(cur.groups, item.groups)) return undefined;
      // §2.4: name and groups are replaced; the subscription state stays as the presence service left it.
      const next: RosterItem = { ...cur, groups: item.groups };
      if (item.name !== undefined) next.name = item.name;
      else delete next.name;
      return next;
    });
    this.reply(req);
    if (!change) return 'unchanged';
    const push = rosterPushFor(change.previous, change.item);
    if (push !== null) await this.push(req, push, change.version);
    return 'result';
  }

  private async remove(req: Request, jid: string): Promise<RosterOutcome> {
    const { owner } = req;
    const change = await this.deps.roster.update(owner.domain, owner.local, jid, (cur) => (cur ? null : undefined));
    if (!change || !change.previous) throw new StanzaError('item-not-found', 'no such roster item');
    // Deleted first, so the presence service finds no item of the user's and changes only the contact's
    // side; a delete that happened without its presence (a crash in between) is the smaller loss.
    await this.emitUnsubscriptions(owner.toBareString(), change.previous);
    this.reply(req);
    const push = rosterPushFor(change.previous, null);
    if (push !== null) await this.push(req, push, change.version);
    return 'result';
  }

  /** §2.5.2: cancel both directions of the subscription, from the user's bare JID, through routing. */
  private async emitUnsubscriptions(ownerBare: string, prev: RosterItem): Promise<void> {
    const types: Array<'unsubscribed' | 'unsubscribe'> = [];
    if (prev.subscription === 'from' || prev.subscription === 'both' || prev.pendingIn) types.push('unsubscribed');
    if (prev.subscription === 'to' || prev.subscription === 'both' || prev.ask) types.push('unsubscribe');
    for (const type of types) {
      const stanza = xml('presence', { xmlns: NS.CLIENT, type, from: ownerBare, to: prev.jid }).toString();
      const env: Envelope = { from: ownerBare, to: prev.jid, kind: 'presence', type, ns: '', edge: '', sid: '', ts: Date.now() };
      await this.publishRouted(ownerBare, env, stanza);
      rosterMetrics.unsubscriptions.inc({ type });
    }
  }

  /** Publish into the routing stream exactly as an edge does, the stream's ack awaited. */
  private async publishRouted(senderBare: string, env: Envelope, stanza: string): Promise<void> {
    const subject = routeSubject(partitionOf(senderBare, this.config.ROUTE_PARTITIONS));
    for (let attempt = 1; ; attempt++) {
      try {
        await this.deps.nc.jetstream().publish(subject, stanza, { headers: encodeEnvelope(env) });
        return;
      } catch (e) {
        if (attempt >= EMIT_ATTEMPTS) {
          // The item is gone already: retrying the whole request would only answer item-not-found.
          this.log.error({ err: e, user: senderBare, type: env.type }, 'could not publish the presence of a roster removal; the contact keeps its subscription state');
          return;
        }
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }

  // ---- replies and pushes ---------------------------------------------------------------------

  /** Every bound session of the owner, the requester's included even if the registry lags its bind. */
  private async sessionsOf(req: Request): Promise<PushTarget[]> {
    const bare = req.owner.toBareString();
    let sessions: PushTarget[] = this.deps.view.resources(bare);
    if (sessions.length === 0) sessions = await this.deps.view.fetch(bare);
    const { edge, sid } = req.env;
    if (edge && sid && req.owner.resource && !sessions.some((s) => s.edge === edge && s.sid === sid)) {
      sessions = [...sessions, { jid: req.owner.toString(), edge, sid }];
    }
    return sessions;
  }

  private async push(req: Request, change: RosterItem | string, version: number): Promise<void> {
    const n = pushRosterChange(this.deliverer, await this.sessionsOf(req), req.owner.toBareString(), change, version);
    rosterMetrics.pushes.inc(n);
  }

  /** An iq result (with an optional payload) to the requesting session, when there is one. */
  private reply({ env, el }: Request, payload?: Element): void {
    if (!env.edge || !env.sid) return;
    const result = xml('iq', { xmlns: NS.CLIENT, type: 'result', id: el.attrs.id, from: el.attrs.to, to: env.from }, payload);
    this.deliverer.deliver([{ edge: env.edge, sid: env.sid }], 'iq', result.toString());
  }

  private replyError({ env, el }: Request, err: StanzaError): void {
    if (!env.edge || !env.sid) return;
    const reply = errorReply(el, err);
    if (reply) this.deliverer.deliver([{ edge: env.edge, sid: env.sid }], 'iq', reply.toString());
  }

  /** An item that kept failing (storage down): answer internal-server-error rather than silence. */
  protected override giveUp(m: JsMsg, err: unknown): void {
    const req = this.decode(m);
    if (!req) return;
    rosterMetrics.requests.inc({ type: req.el.attrs.type === 'get' ? 'get' : 'set', outcome: 'error' });
    rosterMetrics.errors.inc({ condition: 'internal-server-error' });
    this.log.error({ err, user: req.owner.toBareString() }, 'roster request failed repeatedly: internal-server-error');
    this.replyError(req, new StanzaError('internal-server-error'));
  }
}

function sameGroups(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((g, i) => g === b[i]);
}
