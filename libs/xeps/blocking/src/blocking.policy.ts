/**
 * XEP-0191 enforcement: "does this user block that JID?", answered from a bounded LRU cache of compiled
 * blocklists, for the router's hot path and the presence service.
 *
 * A cached answer is one Map lookup and at most four Set lookups, returned as an already resolved
 * promise; a miss reads the list once (concurrent misses for one owner share the read). Every replica
 * subscribes to BLOCKLIST_CHANGED_SUBJECT (start()) and evicts the owner named in a notice; the cache is
 * also dropped whenever the NATS connection comes back (notices may have been missed while it was down),
 * and an entry older than `ttlMs` is read again, bounding the damage of a notice lost otherwise.
 *
 * What the router must do (XEP-0191 §3.3-3.5), for a stanza from S to R, both as parsed Jids, skipped
 * when S and R share a bare JID (a user's resources never block each other, §6 note) and for stanzas
 * to or from the server's own domain:
 *
 *  1. Outbound, S local: if `await policy.blocks(S.domain, S.local, R)`:
 *       - message (not type error) and iq get/set: do not route; reply to S with
 *         errorReply(stanza, blockedError(), R.toString()) (not-acceptable + <blocked/>, §3.3);
 *       - presence of any type (directed, subscription requests/answers, unavailable): drop silently;
 *       - message type error, iq result/error: drop silently.
 *  2. Inbound, R local: if `await policy.blocks(R.domain, R.local, S)`:
 *       - message (not type error): bounce service-unavailable to S; do not deliver and do not store
 *         offline, so R appears offline to S;
 *       - iq get/set: service-unavailable to S, including IQs to R's bare JID that the server answers
 *         for R (vcard-temp, jabber:iq:last, disco): check before handing them to the kernel;
 *       - presence of any type (including probes and subscription requests): drop, no error;
 *       - message type error, iq result/error: drop.
 *  Check 1 before 2; a stanza both rules catch gets the outbound answer. blocks() rejects when the
 *  store cannot be read: treat that as a transient failure (do not acknowledge the stanza, let it be
 *  redelivered) rather than routing it unchecked.
 *
 * What the presence service must do: on the change (decodeBlocklistChange), which the blocking module
 * queues as a 'blocklist' work item in the user's presence partition (not the core notice, which every
 * replica hears), send unavailable presence from each of the user's available resources to every JID in
 * `blocked` that may see the user's presence (subscription from/both, or directed presence sent), and
 * the current presence to every JID in `unblocked` that may (§3.3, §3.4); leave blocked JIDs out of
 * presence broadcasts and do not answer their probes (rule 2 above covers the probes if they go through
 * the router).
 */
import type { NatsConnection, Subscription } from 'nats';
import { Events } from 'nats';
import type { Jid } from '@kxmpp/xmpp-core';
import type { BlocklistRepository } from '@kxmpp/store';
import { BLOCKLIST_CHANGED_SUBJECT } from '@kxmpp/bus';
import { BlocklistMatcher, compileBlocklist } from './blocklist.match';
import { decodeBlocklistChange } from './blocking.protocol';

export interface BlockingPolicyOptions {
  /** Most blocklists kept; the least recently used one goes first. */
  maxEntries: number;
  /** Re-read a cached list older than this (a safety net for a lost notice). Default 10 minutes. */
  ttlMs?: number;
}

interface Entry {
  /** null while the first read is in flight. */
  matcher: BlocklistMatcher | null;
  loading: Promise<BlocklistMatcher>;
  at: number;
  /** `clock` when the entry last went (back) in at the end of the map. */
  pos: number;
}

const TRUE = Promise.resolve(true);
const FALSE = Promise.resolve(false);

export class BlockingPolicy {
  private readonly cache = new Map<string, Entry>();
  /** Counts insertions into `cache`: an entry's pos minus this is how many went in after it. */
  private clock = 0;
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private sub?: Subscription;
  private status?: AsyncIterable<unknown> & { stop?: () => void };

  constructor(private readonly repo: BlocklistRepository, private readonly nc: NatsConnection, opts: BlockingPolicyOptions) {
    if (!(opts.maxEntries >= 1)) throw new RangeError('maxEntries must be at least 1');
    this.maxEntries = opts.maxEntries;
    this.ttlMs = opts.ttlMs ?? 600_000;
  }

  /** Subscribe to change notices; resolves once the server has the subscription. */
  async start(): Promise<void> {
    if (this.sub) return;
    this.sub = this.nc.subscribe(BLOCKLIST_CHANGED_SUBJECT, {
      callback: (err, msg) => {
        if (err) return;
        const c = decodeBlocklistChange(msg.data);
        if (c) this.evict(c.domain, c.username);
      },
    });
    const status = this.nc.status() as AsyncIterable<{ type: string }> & { stop?: () => void };
    this.status = status;
    void (async () => {
      for await (const s of status) if (s.type === Events.Reconnect) this.clear();
    })().catch(() => undefined);
    await this.nc.flush();
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.status?.stop?.();
    this.status = undefined;
    this.cache.clear();
  }

  /** Number of blocklists cached. */
  get size(): number {
    return this.cache.size;
  }

  evict(domain: string, username: string): void {
    this.cache.delete(key(domain, username));
  }

  clear(): void {
    this.cache.clear();
  }

  /** Whether the user ownerUser@ownerDomain blocks `other` (XEP-0191 §5 matching). */
  blocks(ownerDomain: string, ownerUser: string, other: Jid): Promise<boolean> {
    const known = this.cached(ownerDomain, ownerUser, other);
    if (known !== undefined) return known ? TRUE : FALSE;
    const k = key(ownerDomain, ownerUser);
    const e = this.cache.get(k);
    if (e !== undefined && e.matcher === null) return e.loading.then((m) => m.matches(other));
    return this.load(k, ownerDomain, ownerUser).then((m) => m.matches(other));
  }

  /** What blocks() answers when that needs no read (the list is cached and fresh); else undefined. */
  cached(ownerDomain: string, ownerUser: string, other: Jid): boolean | undefined {
    if (other.local === ownerUser && other.domain === ownerDomain) return false;
    const k = key(ownerDomain, ownerUser);
    const e = this.cache.get(k);
    if (e === undefined || e.matcher === null || Date.now() - e.at >= this.ttlMs) return undefined;
    // Most recently used goes last (Map keeps insertion order, so the first key is the LRU one), but
    // only once it is in the older half: moving it on every use cost more than the match itself.
    if (this.clock - e.pos >= this.maxEntries >> 1) {
      this.cache.delete(k);
      this.cache.set(k, e);
      e.pos = ++this.clock;
    }
    return e.matcher.matches(other);
  }

  private load(k: string, domain: string, username: string): Promise<BlocklistMatcher> {
    // An eviction while the read is in flight removes `entry` from the map; the read then does not
    // store what may be the list from before the change.
    let entry: Entry | undefined;
    const loading = this.repo.get(domain, username).then(
      (jids) => {
        const m = compileBlocklist(jids);
        if (entry && this.cache.get(k) === entry) {
          entry.matcher = m;
          entry.at = Date.now();
        }
        return m;
      },
      (err: unknown) => {
        if (entry && this.cache.get(k) === entry) this.cache.delete(k);
        throw err;
      },
    );
    entry = { matcher: null, loading, at: 0, pos: ++this.clock };
    this.cache.delete(k);
    this.cache.set(k, entry);
    if (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    return loading;
  }
}

function key(domain: string, username: string): string {
  return `${username}@${domain}`;
}
