/**
 * XEP-0191 Blocking Command: the user's blocklist IQs (§3.2-3.5), answered by the server for the user's
 * own account (the IQs carry no 'to', so they arrive addressed to the sender's bare JID).
 *
 *  - <blocklist/> get: the stored JIDs as <item/>s, in the order blocked; an empty <blocklist/> when none.
 *  - <block/> set: one or more items (none: bad-request, §3.3); a 'jid' that is not a JID: jid-malformed
 *    (RFC 6120 §8.3.3.8); an item without 'jid': bad-request (the schema requires it); blocking one's own
 *    JID: not-acceptable (§6 note: a user's resources are never blocked from each other anyway); more
 *    than `maxItems` JIDs in the list: policy-violation (a local quota bounding every cache of it).
 *  - <unblock/> set: the items given, or all of them when there is none (§3.5).
 *  - Anyone but the owner: forbidden. The feature is a server feature (§3.1 queries the server).
 *
 * After a change: the change notice on BLOCKLIST_CHANGED_SUBJECT (core NATS) that every BlockingPolicy
 * cache evicts on; then, when JIDs really became blocked or unblocked, the same change as a 'blocklist'
 * work item in the presence service's queue, in the user's partition, so that exactly one presence
 * replica does the §3.3 / §3.4 presence side effects (unavailable to newly blocked contacts, the current
 * presence to unblocked ones), in order with the user's own presence; then a block/unblock push (an iq
 * set with a fresh id, no 'from') to every session of the user, the requester included (§3.3-3.5
 * examples; we do not track which resources asked for the list, and pushing to all is what clients handle).
 */
import { randomUUID } from 'node:crypto';
import type { NatsConnection } from 'nats';
import { Element, Jid, NS, StanzaError, xml } from '@kxmpp/xmpp-core';
import { isOwnAccount, type IqContext, type IqHandler, type XepModule } from '@kxmpp/kernel';
import type { BlocklistRepository } from '@kxmpp/store';
import { BLOCKLIST_CHANGED_SUBJECT, Deliverer } from '@kxmpp/bus';
import { BlocklistChange, encodeBlocklistChange, NS_BLOCKING } from './blocking.protocol';

export interface BlockingModuleOptions {
  repo: BlocklistRepository;
  nc: NatsConnection;
  /** Most JIDs one user may block. Default 1000. */
  maxItems?: number;
  /**
   * SERVICE_PARTITIONS of the deployment: with it, every real change is handed to the presence service
   * (see above); without it (tests of the IQs alone) no presence side effect happens.
   */
  servicePartitions?: number;
}

/** Attempts at queueing the presence side effects of a change (the list itself is already written). */
const HANDOFF_ATTEMPTS = 3;

export const DEFAULT_BLOCKLIST_MAX_ITEMS = 1000;

/** The items' JIDs, normalized and deduplicated in request order, or the error for the request. */
export function parseItems(payload: Element): string[] | StanzaError {
  const out = new Set<string>();
  for (const item of payload.getChildElements()) {
    if (item.getName() !== 'item' || item.getNS() !== NS_BLOCKING) continue;
    const raw = item.attrs.jid;
    if (typeof raw !== 'string' || raw === '') return new StanzaError('bad-request', 'an item needs a jid');
    const jid = Jid.tryParse(raw);
    if (!jid) return new StanzaError('jid-malformed');
    out.add(jid.toString());
  }
  return [...out];
}

function result(ctx: IqContext): Element {
  return xml('iq', { xmlns: ctx.stanza.attrs.xmlns, type: 'result', id: ctx.stanza.attrs.id, from: ctx.to.toString(), to: ctx.from.toString() });
}

export function blockingModule(opts: BlockingModuleOptions): XepModule {
  const { repo, nc } = opts;
  const maxItems = opts.maxItems ?? DEFAULT_BLOCKLIST_MAX_ITEMS;

  const deliverer = opts.servicePartitions ? new Deliverer(nc, opts.servicePartitions) : null;
  /** Durable hand-off of the presence side effects; a failure is logged, the change itself stands. */
  const toPresence = async (ctx: IqContext, change: BlocklistChange) => {
    if (!deliverer || (change.blocked.length === 0 && change.unblocked.length === 0)) return;
    const bare = ctx.to.toBareString();
    const env = { from: bare, to: bare, kind: 'iq', type: 'set', ns: NS_BLOCKING, edge: '', sid: '', ts: Date.now() };
    for (let attempt = 1; ; attempt++) {
      try {
        await deliverer.toService('presence', bare, env, encodeBlocklistChange(change), 'blocklist');
        return;
      } catch (e) {
        if (attempt >= HANDOFF_ATTEMPTS) {
          ctx.log.error({ err: e, blocked: change.blocked.length, unblocked: change.unblocked.length }, 'blocklist changed, but its presence side effects could not be queued');
          return;
        }
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  };
  const changed = async (ctx: IqContext, op: 'block' | 'unblock', items: string[], blocked: string[], unblocked: string[]) => {
    const bare = ctx.to.toBareString();
    const change: BlocklistChange = { domain: ctx.to.domain, username: ctx.to.local, blocked, unblocked };
    nc.publish(BLOCKLIST_CHANGED_SUBJECT, encodeBlocklistChange(change));
    await toPresence(ctx, change);
    const payload = xml(op, { xmlns: NS_BLOCKING }, ...items.map((jid) => xml('item', { jid })));
    ctx.push(bare, xml('iq', { xmlns: NS.CLIENT, type: 'set', id: `push-${randomUUID()}`, to: bare }, payload));
  };

  const blocklist: IqHandler = async (ctx) => {
    if (!isOwnAccount(ctx)) return new StanzaError('forbidden', 'a blocklist is its owner\'s only');
    const jids = await repo.get(ctx.to.domain, ctx.to.local);
    return xml('blocklist', { xmlns: NS_BLOCKING }, ...jids.map((jid) => xml('item', { jid })));
  };

  const block: IqHandler = async (ctx) => {
    if (!isOwnAccount(ctx)) return new StanzaError('forbidden', 'a blocklist is its owner\'s only');
    const items = parseItems(ctx.payload);
    if (items instanceof StanzaError) return items;
    if (items.length === 0) return new StanzaError('bad-request', 'block needs at least one item');
    const own = ctx.to.toBareString();
    if (items.some((j) => j === own || j.startsWith(`${own}/`))) return new StanzaError('not-acceptable', 'one cannot block oneself');
    const before = new Set(await repo.get(ctx.to.domain, ctx.to.local));
    const added = items.filter((j) => !before.has(j));
    if (before.size + added.length > maxItems) return new StanzaError('policy-violation', `a blocklist is limited to ${maxItems} JIDs`);
    // All items, not just the new ones: one a concurrent unblock just removed is blocked again.
    await repo.add(ctx.to.domain, ctx.to.local, items);
    await changed(ctx, 'block', items, added, []);
    return result(ctx);
  };

  const unblock: IqHandler = async (ctx) => {
    if (!isOwnAccount(ctx)) return new StanzaError('forbidden', 'a blocklist is its owner\'s only');
    const items = parseItems(ctx.payload);
    if (items instanceof StanzaError) return items;
    const before = await repo.get(ctx.to.domain, ctx.to.local);
    if (items.length === 0) {
      await repo.clear(ctx.to.domain, ctx.to.local);
      await changed(ctx, 'unblock', [], [], before);
      return result(ctx);
    }
    await repo.remove(ctx.to.domain, ctx.to.local, items);
    const was = new Set(before);
    await changed(ctx, 'unblock', items, [], items.filter((j) => was.has(j)));
    return result(ctx);
  };

  return {
    name: 'blocking',
    serverFeatures: [NS_BLOCKING],
    iq: [
      { name: 'blocklist', xmlns: NS_BLOCKING, type: 'get', targets: ['account'], handler: blocklist },
      { name: 'block', xmlns: NS_BLOCKING, type: 'set', targets: ['account'], handler: block },
      { name: 'unblock', xmlns: NS_BLOCKING, type: 'set', targets: ['account'], handler: unblock },
    ],
  };
}
