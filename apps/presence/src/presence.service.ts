/**
 * The presence service (RFC 6121 §3-4): subscriptions (with the roster, per Appendix A), presence
 * broadcast and probes, directed presence, and unavailable presence for every session that ends, its
 * edge's death included. Work comes from the router in the partition of the user whose state changes
 * (the sender for outbound presence), one item at a time per partition across all replicas.
 *
 * For a contact on a served domain the inbound half (RFC 6121 Appendix A.3) is done in the same work
 * item: the contact's roster is updated by compare-and-set and the stanza delivered to the contact's
 * sessions. For a contact on another server the stanza goes out through federation (the XMPP_S2S queue)
 * and that server does its half; presence and subscriptions arriving from other servers get the inbound
 * half here, in the local recipient's partition (RFC 6121 rules for remote contacts: probes go out at
 * login, probes coming in are answered, subscription requests are answered).
 *
 * A blocklist change (XEP-0191) arrives as a 'blocklist' work item in the user's partition, queued by
 * the blocking module after the list was written, so one replica does its presence side effects, in
 * order with the user's own presence: unavailable to the sessions of everyone newly blocked who could
 * see the user (§3.3), the current presence to everyone unblocked who may see it again (§3.4).
 */
import type { JsMsg, NatsConnection } from 'nats';
import {
  decodeEnvelope,
  Envelope,
  QueueService,
  serviceOp,
  SessionEntry,
  SessionRegistryView,
  queueForRemote,
} from '@kxmpp/bus';
import { BlocklistMatcher, compileBlocklist, decodeBlocklistChange } from '@kxmpp/blocking';
import { pushRosterChange, receivesPresenceOf, rosterPushFor, sendsPresenceTo, SubscriptionType, transition } from '@kxmpp/im';
import type { RosterChange, RosterItem, Storage } from '@kxmpp/store';
import type { Logger } from '@kxmpp/telemetry';
import { Element, Jid, parseXml, xml } from '@kxmpp/xmpp-core';
import { PresenceEntry, PresenceStore } from './presence-store';
import { presenceMetrics } from './metrics';

const SUBSCRIPTION = new Set(['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed']);
const decoder = new TextDecoder();

/** Whether either side blocks the other (XEP-0191): owner is a local account, other any JID. */
export interface BlockCheck {
  blocks(ownerDomain: string, ownerUser: string, other: Jid): Promise<boolean>;
  /** Forget a cached list (BlockingPolicy): the next check reads the store. */
  evict?(ownerDomain: string, ownerUser: string): void;
}

export interface PresenceServiceConfig {
  SERVICE_ID: string;
  SERVICE_PARTITIONS: number;
  SESSION_TTL_SECONDS: number;
  NATS_REPLICAS?: number;
}

export interface PresenceDeps {
  nc: NatsConnection;
  storage: Storage;
  view: SessionRegistryView;
  store: PresenceStore;
  /** Served domains (config plus those added at run time). */
  domains: { has(domain: string): boolean };
  blocking: BlockCheck;
  log: Logger;
  /** Connected XEP-0114 components (ComponentDirectory): presence to their domains is delivered to them. */
  components?: { lookup(domain: string): Promise<{ edge: string; sid: string } | null> };
}

export class PresenceService extends QueueService {
  private sweepTimer?: NodeJS.Timeout;
  private sweeping = false;

  constructor(private readonly config: PresenceServiceConfig, private readonly deps: PresenceDeps) {
    super('presence', { nc: deps.nc, log: deps.log, partitions: config.SERVICE_PARTITIONS, replicas: config.NATS_REPLICAS ?? 1 });
  }

  override async start(): Promise<void> {
    await super.start();
    // Sessions whose edge died send no unavailable: find them once their registry entry has expired.
    const every = Math.max(1000, Math.floor((this.config.SESSION_TTL_SECONDS * 1000) / 2));
    this.sweepTimer = setInterval(() => void this.sweep(), every);
    this.sweepTimer.unref();
    this.deps.log.info({ service: this.config.SERVICE_ID, partitions: this.config.SERVICE_PARTITIONS }, 'presence service consuming');
  }

  override async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await super.stop();
  }

  // ---- dispatch --------------------------------------------------------------------------------

  protected async handle(m: JsMsg): Promise<void> {
    const env = decodeEnvelope(m.headers);
    const from = env && Jid.tryParse(env.from);
    const to = env && Jid.tryParse(env.to);
    if (!env || !from || !to) {
      this.deps.log.warn({ seq: m.seq }, 'malformed presence work item dropped');
      return;
    }
    const op = serviceOp(m.headers);
    if (op === 'session-end') {
      presenceMetrics.handled.inc({ op: 'session-end' });
      return this.sessionEnded(from, env.sid);
    }
    if (op === 'blocklist') {
      presenceMetrics.handled.inc({ op: 'blocklist' });
      return this.blocklistChanged(from, m.data);
    }
    let el: Element;
    try {
      el = parseXml(decoder.decode(m.data));
    } catch (e) {
      this.deps.log.warn({ err: e }, 'unparseable presence dropped');
      return;
    }
    el.attrs.from = env.from;
    const type = env.type;
    presenceMetrics.handled.inc({ op: type || 'available' });
    if (!this.deps.domains.has(from.domain)) return this.fromRemote(from, to, el, type);
    if (SUBSCRIPTION.has(type)) return this.outboundSubscription(from, to.bare(), type as SubscriptionType, el);
    if (type === 'probe') return this.probe(from, to, env);
    if (type !== '' && type !== 'unavailable') return;
    if (to.local === from.local && to.domain === from.domain && !to.resource) {
      return type === '' ? this.available(from, el, env) : this.unavailable(from, el, env.sid);
    }
    return this.directed(from, to, el, type);
  }

  // ---- broadcasts (RFC 6121 §4.2, §4.4, §4.5) -----------------------------------------------------

  private async available(from: Jid, el: Element, env: Envelope): Promise<void> {
    const full = from.toString();
    const bare = from.toBareString();
    const priority = clampPriority(el.getChildText('priority'));
    delete el.attrs.to;
    const stanza = el.toString();
    const prev = await this.deps.store.get(full);
    const initial = !prev || prev.entry.sid !== env.sid;
    const entry: PresenceEntry = {
      jid: full,
      edge: env.edge,
      sid: env.sid,
      priority,
      stanza,
      directed: initial ? [] : prev.entry.directed,
      since: initial ? Date.now() : prev.entry.since,
    };
    await this.deps.store.put(entry);
    const roster = await this.deps.storage.roster.get(from.domain, from.local);
    // To every contact subscribed to the user, and to the user's own available resources (the sender too).
    for (const item of roster.items) {
      if (!sendsPresenceTo(item) || (await this.blockedEitherWay(from, item.jid))) continue;
      await this.deliverToAvailable(item.jid, stanza);
    }
    const own = this.available_(await this.sessionsOf(bare));
    if (!own.some((s) => s.sid === env.sid)) own.push({ jid: full, edge: env.edge, sid: env.sid, priority, available: true });
    this.deliverer.deliver(own, 'presence', stanza);
    if (!initial) return;

    const me = [{ edge: env.edge, sid: env.sid }];
    // §4.2.3: the current presence of everyone the user is subscribed to: answered here for local contacts,
    // asked of their servers (a probe from the user's bare JID) for remote ones.
    for (const item of roster.items) {
      if (!receivesPresenceOf(item) || (await this.blockedEitherWay(from, item.jid))) continue;
      if (!this.isLocal(item.jid)) {
        await this.toRemote(item.jid, xml('presence', { xmlns: 'jabber:client', type: 'probe', from: bare }).toString());
        continue;
      }
      for (const p of await this.deps.store.ofBare(item.jid)) this.deliverer.deliver(me, 'presence', p.stanza);
    }
    // §4.2.2: the user's other available resources' presence to the new one.
    for (const p of await this.deps.store.ofBare(bare)) if (p.jid !== full) this.deliverer.deliver(me, 'presence', p.stanza);
    // §3.1.3: subscription requests that arrived while the user was away.
    for (const item of roster.items) {
      if (!item.pendingIn) continue;
      const req = item.pendingInStanza ?? xml('presence', { xmlns: 'jabber:client', type: 'subscribe', from: item.jid, to: bare }).toString();
      this.deliverer.deliver(me, 'presence', req);
    }
    // XEP-0160: stored messages, once the session can take them.
    if (priority >= 0) {
      await this.deliverer.toService('offline', bare, { ...env, from: full, to: bare, kind: 'presence', type: '', ns: '' }, '', 'flush');
    }
  }

  private async unavailable(from: Jid, el: Element, sid: string): Promise<void> {
    const full = from.toString();
    const prev = await this.deps.store.get(full);
    delete el.attrs.to;
    const stanza = el.toString();
    if (!prev || (sid && prev.entry.sid !== sid)) {
      // Never available (or an older session of the same resource): only the user's own resources hear of it.
      this.deliverer.deliver(this.available_(await this.sessionsOf(from.toBareString())), 'presence', stanza);
      return;
    }
    if (!(await this.deps.store.remove(full, prev.revision))) return; // another worker ended it first
    await this.broadcastUnavailable(from, prev.entry, stanza, el.getChildText('status') ?? '');
  }

  private async broadcastUnavailable(from: Jid, entry: PresenceEntry, stanza: string, status: string): Promise<void> {
    const bare = from.toBareString();
    const roster = await this.deps.storage.roster.get(from.domain, from.local);
    const sentTo = new Set<string>();
    for (const item of roster.items) {
      if (!sendsPresenceTo(item) || (await this.blockedEitherWay(from, item.jid))) continue;
      sentTo.add(item.jid);
      await this.deliverToAvailable(item.jid, stanza);
    }
    // §4.6.3: everyone who got directed presence and is not a subscriber.
    for (const target of entry.directed) {
      const j = Jid.tryParse(target);
      if (!j || sentTo.has(j.toBareString()) || (await this.blockedEitherWay(from, target))) continue;
      await this.deliverTo(j, stanza);
    }
    const own = this.available_(await this.sessionsOf(bare)).filter((s) => s.sid !== entry.sid);
    own.push({ jid: entry.jid, edge: entry.edge, sid: entry.sid, priority: 0, available: true });
    this.deliverer.deliver(own, 'presence', stanza);
    // XEP-0012: the last logout of the account.
    if ((await this.deps.store.ofBare(bare)).length === 0) {
      await this.deps.storage.lastActivity.set(from.domain, from.local, { at: new Date().toISOString(), status });
    }
  }

  /** A session that ended without unavailable presence (its edge died), found by the sweep. */
  private async sessionEnded(from: Jid, sid: string): Promise<void> {
    const prev = await this.deps.store.get(from.toString());
    if (!prev || prev.entry.sid !== sid) return;
    if (!(await this.deps.store.remove(from.toString(), prev.revision))) return;
    this.deps.log.info({ sid }, 'session gone without unavailable presence: broadcasting it');
    const stanza = xml('presence', { xmlns: 'jabber:client', type: 'unavailable', from: from.toString() }).toString();
    await this.broadcastUnavailable(from, prev.entry, stanza, '');
  }

  /** Find presence entries whose session is no longer in the registry and queue their end. */
  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for await (const p of this.deps.store.all()) {
        const bare = p.jid.slice(0, p.jid.indexOf('/'));
        if (this.deps.view.resources(bare).some((s) => s.sid === p.sid)) continue;
        const live = await this.deps.view.fetch(bare);
        if (live.some((s) => s.sid === p.sid)) continue;
        const env: Envelope = { from: p.jid, to: bare, kind: 'presence', type: 'unavailable', ns: '', edge: p.edge, sid: p.sid, ts: Date.now() };
        await this.deliverer.toService('presence', bare, env, '', 'session-end');
      }
    } catch (e) {
      this.deps.log.warn({ err: e }, 'presence sweep failed');
    } finally {
      this.sweeping = false;
    }
  }

  // ---- blocking (XEP-0191 §3.3-3.5) ----------------------------------------------------------------

  /** The presence side effects of a change of the user's blocklist; nothing when the user is not available. */
  private async blocklistChanged(from: Jid, data: Uint8Array): Promise<void> {
    const change = decodeBlocklistChange(data);
    if (!change || change.domain !== from.domain || change.username !== from.local || from.resource) {
      this.deps.log.warn({ valid: change !== null }, 'malformed blocklist work item dropped');
      return;
    }
    // This replica's cache may predate the change (the notice that evicts it travels separately).
    this.deps.blocking.evict?.(from.domain, from.local);
    const mine = await this.deps.store.ofBare(from.toBareString());
    if (mine.length === 0) return; // unavailable: nobody sees the user's presence, nothing to withdraw or restore
    const roster = await this.deps.storage.roster.get(from.domain, from.local);
    if (change.blocked.length) await this.withdrawPresence(from, mine, roster.items, compileBlocklist(change.blocked));
    if (change.unblocked.length) await this.restorePresence(from, mine, roster.items, compileBlocklist(change.unblocked));
  }

  /**
   * §3.3: every session of a newly blocked JID that could see the user (a subscriber's, or one that got
   * directed presence) gets unavailable presence from each of the user's available resources; directed
   * presence sent to a blocked JID is then forgotten (it has had its unavailable).
   */
  private async withdrawPresence(user: Jid, mine: PresenceEntry[], items: RosterItem[], blocked: BlocklistMatcher): Promise<void> {
    const unavailable = (e: PresenceEntry) => xml('presence', { xmlns: 'jabber:client', type: 'unavailable', from: e.jid }).toString();
    const subscribers = new Set(items.filter((i) => sendsPresenceTo(i)).map((i) => i.jid));
    for (const bare of subscribers) {
      const hit = await this.sessionsMatching(user, bare, '', blocked);
      for (const e of mine) this.deliverer.deliver(hit, 'presence', unavailable(e));
    }
    for (const e of mine) {
      const keep: string[] = [];
      for (const target of e.directed) {
        const j = Jid.tryParse(target);
        if (!j || !blocked.matches(j)) {
          keep.push(target);
          continue;
        }
        if (!subscribers.has(j.toBareString())) this.deliverer.deliver(await this.sessionsMatching(user, j.toBareString(), j.resource, blocked), 'presence', unavailable(e));
      }
      if (keep.length !== e.directed.length) await this.deps.store.put({ ...e, directed: keep });
    }
  }

  /** §3.4: every session of an unblocked subscriber gets the user's current presence, resource by resource. */
  private async restorePresence(user: Jid, mine: PresenceEntry[], items: RosterItem[], unblocked: BlocklistMatcher): Promise<void> {
    // The list as it is now, from the store: an unblocked full JID may still be covered by a blocked bare one.
    const still = compileBlocklist(await this.deps.storage.blocklist.get(user.domain, user.local));
    for (const item of items) {
      if (!sendsPresenceTo(item)) continue;
      const hit = (await this.sessionsMatching(user, item.jid, '', unblocked)).filter((s) => !still.matches(Jid.parse(s.jid)));
      for (const e of mine) this.deliverer.deliver(hit, 'presence', e.stanza);
    }
  }

  /**
   * The available sessions of a local contact (only `resource`, when given) whose full JID `matcher`
   * matches, unless the contact blocks the user. Remote contacts: none until federation exists.
   */
  private async sessionsMatching(user: Jid, bare: string, resource: string, matcher: BlocklistMatcher): Promise<SessionEntry[]> {
    const contact = Jid.tryParse(bare);
    if (!contact || !contact.local || !this.isLocal(bare)) return [];
    if (await this.deps.blocking.blocks(contact.domain, contact.local, user)) return [];
    return this.available_(await this.sessionsOf(bare)).filter((s) => {
      const j = Jid.tryParse(s.jid);
      return !!j && (!resource || j.resource === resource) && matcher.matches(j);
    });
  }

  // ---- directed presence and probes (RFC 6121 §4.6, §4.3) ------------------------------------------

  private async directed(from: Jid, to: Jid, el: Element, type: string): Promise<void> {
    if (await this.blockedEitherWay(from, to.toString())) return;
    await this.deliverTo(to, el.toString());
    const prev = await this.deps.store.get(from.toString());
    if (!prev) return; // not available: nothing to track (§4.6.3)
    const item = await this.deps.storage.roster.getItem(from.domain, from.local, to.toBareString());
    if (sendsPresenceTo(item)) return; // a subscriber hears of the logout anyway
    const target = to.toString();
    const directed = prev.entry.directed.filter((j) => j !== target);
    if (type === '') directed.push(target);
    if (directed.length !== prev.entry.directed.length || type === '') await this.deps.store.put({ ...prev.entry, directed: directed.slice(-1000) });
  }

  private async probe(from: Jid, to: Jid, env: Envelope): Promise<void> {
    if (!this.isLocal(to.toBareString())) {
      if (to.local && !(await this.blockedEitherWay(from, to.toBareString()))) {
        await this.toRemote(to.toBareString(), xml('presence', { xmlns: 'jabber:client', type: 'probe', from: from.toBareString() }).toString());
      }
      return;
    }
    if (await this.blockedEitherWay(from, to.toBareString())) return;
    // §4.3.2: only a subscriber (the contact's item for the user says from or both) learns the presence.
    const item = await this.deps.storage.roster.getItem(to.domain, to.local, from.toBareString());
    if (!sendsPresenceTo(item) && from.toBareString() !== to.toBareString()) return;
    const me = env.edge && env.sid ? [{ edge: env.edge, sid: env.sid }] : [];
    for (const p of await this.deps.store.ofBare(to.toBareString())) this.deliverer.deliver(me, 'presence', p.stanza);
  }

  // ---- subscriptions (RFC 6121 §3, Appendix A) --------------------------------------------------------

  private async outboundSubscription(from: Jid, contact: Jid, type: SubscriptionType, el: Element): Promise<void> {
    const user = from.bare();
    const userBare = user.toString();
    const contactBare = contact.toString();
    if (contactBare === userBare || !contact.local) return;
    if (await this.blockedEitherWay(from, contactBare)) return;
    // §3.1.2: the user's server stamps the bare JID and addresses the contact's bare JID.
    el.attrs.from = userBare;
    el.attrs.to = contactBare;
    let forward = false;
    const change = await this.deps.storage.roster.update(user.domain, user.local, contactBare, (cur) => {
      const t = transition('outbound', type, contactBare, cur);
      forward = t.forward;
      return t.item ?? undefined;
    });
    await this.pushRoster(userBare, change);
    const lostFrom = sendsPresenceTo(change?.previous ?? null) && !sendsPresenceTo(change?.item ?? null);
    if (type === 'unsubscribed' && (lostFrom || !change?.previous)) {
      // §3.2.2: the contact no longer gets the user's presence: it sees the user go offline.
      for (const p of await this.deps.store.ofBare(userBare)) {
        await this.deliverToAvailable(contactBare, xml('presence', { xmlns: 'jabber:client', type: 'unavailable', from: p.jid }).toString());
      }
    }
    const gainedFrom = !sendsPresenceTo(change?.previous ?? null) && sendsPresenceTo(change?.item ?? null);
    if (!forward) return;
    if (this.isLocal(contactBare)) {
      await this.inboundSubscription(user, contact, type, el);
    } else {
      // The contact's server does its half (RFC 6121 §3.1.2).
      await this.toRemote(contactBare, el.toString());
    }
    if (type === 'subscribed' && gainedFrom) {
      // §3.1.5: the new subscriber gets the user's current presence.
      for (const p of await this.deps.store.ofBare(userBare)) await this.deliverToAvailable(contactBare, p.stanza);
    }
  }

  /** The contact's server's half (Appendix A.3), for a contact on a served domain. */
  private async inboundSubscription(user: Jid, contact: Jid, type: SubscriptionType, el: Element): Promise<void> {
    const userBare = user.toString();
    const contactBare = contact.toString();
    if (!(await this.deps.storage.accounts.get(contact.domain, contact.local))) {
      // §3.1.3: no such contact: the request is refused.
      if (type !== 'subscribe') return;
      const refusal = xml('presence', { xmlns: 'jabber:client', type: 'unsubscribed', from: contactBare, to: userBare });
      if (this.isLocal(userBare)) await this.applyInbound(contact, user, 'unsubscribed', refusal);
      else await this.toRemote(userBare, refusal.toString());
      return;
    }
    await this.applyInbound(user, contact, type, el);
  }

  /** Inbound processing of `type` from `sender` at `owner` (both bare, owner local). */
  private async applyInbound(sender: Jid, owner: Jid, type: SubscriptionType, el: Element): Promise<void> {
    const senderBare = sender.toString();
    const ownerBare = owner.toString();
    const stanza = el.toString();
    let forward = false;
    let autoReply = false;
    const change = await this.deps.storage.roster.update(owner.domain, owner.local, senderBare, (cur) => {
      const t = transition('inbound', type, senderBare, cur, type === 'subscribe' ? stanza : undefined);
      forward = t.forward;
      autoReply = t.autoReplySubscribed;
      return t.item ?? undefined;
    });
    await this.pushRoster(ownerBare, change);
    if (forward) await this.deliverToAvailable(ownerBare, stanza);
    if (type === 'unsubscribe' && sendsPresenceTo(change?.previous ?? null) && !sendsPresenceTo(change?.item ?? null)) {
      // §3.3.3: the former subscriber sees the owner go offline.
      for (const p of await this.deps.store.ofBare(ownerBare)) {
        await this.deliverToAvailable(senderBare, xml('presence', { xmlns: 'jabber:client', type: 'unavailable', from: p.jid }).toString());
      }
    }
    if (type === 'subscribed' && receivesPresenceOf(change?.item ?? null) && !receivesPresenceOf(change?.previous ?? null)) {
      // §3.1.6: now subscribed: the owner gets the sender's current presence.
      for (const p of await this.deps.store.ofBare(senderBare)) await this.deliverToAvailable(ownerBare, p.stanza);
    }
    if (autoReply) {
      // §3.1.3 / §3.4: the owner already approved: answer for it, as the owner's outbound subscribed.
      const reply = xml('presence', { xmlns: 'jabber:client', type: 'subscribed', from: ownerBare, to: senderBare });
      if (this.isLocal(senderBare)) await this.applyInbound(owner, sender, 'subscribed', reply);
      else await this.toRemote(senderBare, reply.toString());
      for (const p of await this.deps.store.ofBare(ownerBare)) await this.deliverToAvailable(senderBare, p.stanza);
    }
  }

  // ---- helpers -----------------------------------------------------------------------------------------

  private isLocal(bare: string): boolean {
    const at = bare.indexOf('@');
    return this.deps.domains.has(bare.slice(at + 1).split('/')[0]);
  }

  private async blockedEitherWay(user: Jid, other: string): Promise<boolean> {
    const o = Jid.tryParse(other);
    if (!o) return true;
    if (await this.deps.blocking.blocks(user.domain, user.local, o)) return true;
    if (o.local && this.deps.domains.has(o.domain) && (await this.deps.blocking.blocks(o.domain, o.local, user))) return true;
    return false;
  }

  /** RFC 6121 §2.1.6: every change of the roster is pushed to the owner's interested resources (ROSTER_PUSH_KIND). */
  private async pushRoster(ownerBare: string, change: RosterChange | null): Promise<void> {
    if (!change) return;
    const what = rosterPushFor(change.previous, change.item);
    if (what === null) return;
    pushRosterChange(this.deliverer, await this.sessionsOf(ownerBare), ownerBare, what, change.version);
  }

  private async sessionsOf(bare: string): Promise<SessionEntry[]> {
    const s = this.deps.view.resources(bare);
    return s.length ? s : this.deps.view.fetch(bare);
  }

  private available_(s: SessionEntry[]): SessionEntry[] {
    return s.filter((x) => x.available);
  }

  /** To every available session of a bare JID (presence to a contact); a contact elsewhere gets it through federation. */
  private async deliverToAvailable(bare: string, stanza: string): Promise<void> {
    if (!this.isLocal(bare)) return this.toRemote(bare, stanza);
    let sessions = this.deps.view.resources(bare).filter((s) => s.available);
    // The watch may lag a login elsewhere: ask the bucket before concluding nobody is there.
    if (sessions.length === 0) {
      sessions = await this.deps.view
        .fetch(bare)
        .then((s) => s.filter((x) => x.available))
        .catch((e: unknown) => {
          this.deps.log.warn({ err: e }, 'session lookup for a presence delivery failed');
          return [];
        });
    }
    this.deliverer.deliver(sessions, 'presence', stanza);
  }

  /** Directed: a full JID gets it on that session, a bare JID on every available one; elsewhere through federation. */
  private async deliverTo(to: Jid, stanza: string): Promise<void> {
    if (!this.deps.domains.has(to.domain)) return this.toRemote(to.toString(), stanza);
    if (!to.local) return;
    if (!to.resource) return this.deliverToAvailable(to.toBareString(), stanza);
    const full = to.toString();
    const s = this.deps.view.resources(to.toBareString()).find((x) => x.jid === full);
    if (s) {
      this.deliverer.deliver([s], 'presence', stanza);
      return;
    }
    // As for a bare JID: the watch may lag a bind on another edge.
    const all = await this.deps.view.fetch(to.toBareString()).catch((e: unknown) => {
      this.deps.log.warn({ err: e }, 'session lookup for a presence delivery failed');
      return [] as SessionEntry[];
    });
    this.deliverer.deliver(all.filter((x) => x.jid === full), 'presence', stanza);
  }

  /**
   * Presence for a JID on another server: addressed to it and queued for the federation service
   * (durably, before this work item is acked); for a connected component, delivered to it.
   */
  private async toRemote(to: string, stanza: string): Promise<void> {
    const j = Jid.tryParse(to);
    if (!j) return;
    let el: Element;
    try {
      el = parseXml(stanza);
    } catch {
      return;
    }
    el.attrs.to = to;
    el.attrs.xmlns = 'jabber:client';
    const component = await this.deps.components?.lookup(j.domain).catch(() => null);
    if (component) {
      this.deliverer.deliver([component], 'presence', el.toString());
      return;
    }
    const env: Envelope = { from: el.attrs.from ?? '', to, kind: 'presence', type: el.attrs.type ?? '', ns: '', edge: '', sid: '', ts: Date.now() };
    await queueForRemote(this.deps.nc, this.config.SERVICE_PARTITIONS, j.domain, env, el.toString());
  }

  // ---- from other servers (inbound half for local users) ------------------------------------------------

  /** Presence a remote entity sent to a local user (RFC 6121 §3 inbound, §4.3 probes, §4.4/§4.6 inbound). */
  private async fromRemote(from: Jid, to: Jid, el: Element, type: string): Promise<void> {
    if (!to.local || !this.deps.domains.has(to.domain)) return;
    const owner = to.bare();
    if (SUBSCRIPTION.has(type)) {
      // §3.1.3: subscription stanzas carry bare JIDs.
      el.attrs.from = from.toBareString();
      el.attrs.to = owner.toString();
      if (await this.blockedEitherWay(owner, from.toBareString())) return;
      return this.inboundSubscription(from.bare(), owner, type as SubscriptionType, el);
    }
    if (type === 'probe') return this.remoteProbe(from, owner);
    if (type !== '' && type !== 'unavailable') return;
    if (await this.blockedEitherWay(owner, from.toString())) return;
    // §4.2.4 / §4.5.2 / §4.6: broadcast or directed presence from a contact, to the user's sessions.
    if (to.resource) return this.deliverTo(to, el.toString());
    return this.deliverToAvailable(owner.toString(), el.toString());
  }

  /** §4.3.2: a remote server probes a local user's presence on behalf of its user. */
  private async remoteProbe(from: Jid, owner: Jid): Promise<void> {
    const ownerBare = owner.toString();
    const prober = from.toBareString();
    if (!(await this.deps.storage.accounts.get(owner.domain, owner.local))) return;
    if (await this.blockedEitherWay(owner, prober)) return;
    const item = await this.deps.storage.roster.getItem(owner.domain, owner.local, prober);
    if (!sendsPresenceTo(item)) {
      // §4.3.2.1: not a subscriber: it learns nothing, and is told so.
      await this.toRemote(prober, xml('presence', { xmlns: 'jabber:client', type: 'unsubscribed', from: ownerBare }).toString());
      return;
    }
    const current = await this.deps.store.ofBare(ownerBare);
    if (current.length === 0) {
      await this.toRemote(from.toString(), xml('presence', { xmlns: 'jabber:client', type: 'unavailable', from: ownerBare }).toString());
      return;
    }
    for (const p of current) await this.toRemote(from.toString(), p.stanza);
  }
}

function clampPriority(text: string | null): number {
  const p = text === null ? 0 : Number(text.trim());
  return Number.isInteger(p) ? Math.max(-128, Math.min(127, p)) : 0;
}
