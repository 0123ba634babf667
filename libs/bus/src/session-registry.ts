/**
 * Session registry on JetStream KV (ARCHITECTURE.md, The bus).
 *
 * Each edge owns the entries of its sessions and re-puts them every ttl/3; the bucket's max age is the
 * ttl, so the entries of an edge that died vanish within ttl seconds. Readers (routers) keep a local map
 * fed by a watch of the whole bucket and treat an entry older than the ttl as gone, since key expiry
 * itself produces no watch event.
 */
import { headers, JSONCodec, KV, KvEntry, NatsConnection, StorageType } from 'nats';
import { decodeToken } from '@kxmpp/xmpp-core';
import { kvSubject, SESSIONS_BUCKET, sessionKey, sessionKeyFilter } from './subjects';

export interface SessionEntry {
  /** Full JID. */
  jid: string;
  edge: string;
  sid: string;
  /** RFC 6121 §4.7.2.3 priority of the last available presence; 0 before any. */
  priority: number;
  /** Whether the session has sent available presence (RFC 6121 §4.2). */
  available: boolean;
  /** XEP-0280: the session enabled message carbons. */
  carbons?: boolean;
}

const codec = JSONCodec<SessionEntry>();

export async function openSessionsBucket(nc: NatsConnection, ttlSeconds: number, replicas = 1): Promise<KV> {
  const js = nc.jetstream();
  return js.views.kv(SESSIONS_BUCKET, {
    history: 1,
    ttl: ttlSeconds * 1000,
    storage: StorageType.File,
    replicas,
  });
}

function splitFull(jid: string): [string, string] {
  const slash = jid.indexOf('/');
  return [jid.slice(0, slash), jid.slice(slash + 1)];
}

/**
 * The edge's side: publish, refresh and withdraw its own sessions. Every write after the first is a
 * compare-and-set on the revision this edge wrote last, so an edge whose session was taken over by a
 * newer bind elsewhere (resource conflict) can never write its stale entry back over the new one.
 */
export class EdgeSessionRegistry {
  private readonly own = new Map<string, { entry: SessionEntry; revision: number }>();
  private timer?: NodeJS.Timeout;

  /** With a connection, removals are sent without waiting for JetStream's acknowledgement. */
  constructor(private readonly kv: KV, private readonly ttlSeconds: number, private readonly nc?: NatsConnection) {}

  start(): void {
    const every = Math.max(1000, Math.floor((this.ttlSeconds * 1000) / 3));
    this.timer = setInterval(() => void this.refresh(), every);
    this.timer.unref();
  }

  /**
   * Claim a full JID for a newly bound session; the newest bind wins (RFC 6120 §7.7.2.2). Returns the
   * live session it displaced, if any, so the caller can end it. The common case (the resource is
   * free) costs one atomic create and no lookup.
   */
  async claim(entry: SessionEntry): Promise<SessionEntry | null> {
    const [bare, res] = splitFull(entry.jid);
    const key = sessionKey(bare, res);
    try {
      const revision = await this.kv.create(key, codec.encode(entry));
      this.own.set(entry.jid, { entry, revision });
      return null;
    } catch (e) {
      if (!isWrongLastSequence(e)) throw e;
    }
    const previous = await this.lookup(entry.jid);
    await this.put(entry);
    return previous && previous.sid !== entry.sid ? previous : null;
  }

  /** Write an entry unconditionally (the claim of a bind). */
  async put(entry: SessionEntry): Promise<void> {
    const [bare, res] = splitFull(entry.jid);
    const revision = await this.kv.put(sessionKey(bare, res), codec.encode(entry));
    this.own.set(entry.jid, { entry, revision });
  }

  /**
   * Change an owned entry (presence, priority). Returns false when the session is no longer ours in
   * the registry (taken over elsewhere), in which case it is forgotten.
   */
  async update(entry: SessionEntry): Promise<boolean> {
    const mine = this.own.get(entry.jid);
    if (!mine || mine.entry.sid !== entry.sid) return false;
    mine.entry = entry;
    return this.rewrite(mine);
  }

  private async rewrite(mine: { entry: SessionEntry; revision: number }): Promise<boolean> {
    const [bare, res] = splitFull(mine.entry.jid);
    const key = sessionKey(bare, res);
    try {
      mine.revision = await this.kv.update(key, codec.encode(mine.entry), mine.revision);
      return true;
    } catch (e) {
      if (!isWrongLastSequence(e)) throw e;
    }
    // Our revision is gone. Either another session took the JID (give up), or the entry expired or was
    // lost while NATS was unreachable for longer than the ttl (write it again: the session is alive).
    const cur = await this.kv.get(key);
    const holder = cur && cur.operation === 'PUT' && cur.value.length ? codec.decode(cur.value) : null;
    if (holder && holder.sid !== mine.entry.sid) {
      if (this.own.get(mine.entry.jid) === mine) this.own.delete(mine.entry.jid);
      return false;
    }
    mine.revision = await this.kv.put(key, codec.encode(mine.entry));
    return true;
  }

  async remove(jid: string, sid: string): Promise<void> {
    const mine = this.own.get(jid);
    if (!mine || mine.entry.sid !== sid) return;
    this.own.delete(jid);
    const [bare, res] = splitFull(jid);
    const key = sessionKey(bare, res);
    // Only if the key still holds what we wrote: a newer bind elsewhere keeps its entry.
    if (this.nc) {
      // Every logout does this: a plain publish of the KV delete marker, with the same compare-and-set
      // header, costs a fraction of a request. If it is lost, the entry still expires with the ttl.
      const h = headers();
      h.set('KV-Operation', 'DEL');
      h.set('Nats-Expected-Last-Subject-Sequence', String(mine.revision));
      this.nc.publish(kvSubject(SESSIONS_BUCKET, key), new Uint8Array(0), { headers: h });
      return;
    }
    await this.kv.delete(key, { previousSeq: mine.revision }).catch(() => undefined);
  }

  /** Current holder of a full JID anywhere in the deployment, if alive. */
  async lookup(jid: string): Promise<SessionEntry | null> {
    const [bare, res] = splitFull(jid);
    const e = await this.kv.get(sessionKey(bare, res)).catch(() => null);
    if (!e || e.operation !== 'PUT' || !e.value.length) return null;
    if (Date.now() - e.created.getTime() > this.ttlSeconds * 1000) return null;
    return codec.decode(e.value);
  }

  private async refresh(): Promise<void> {
    for (const mine of [...this.own.values()]) await this.rewrite(mine).catch(() => undefined);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const all = [...this.own.values()];
    this.own.clear();
    await Promise.all(
      all.map(({ entry, revision }) => {
        const [bare, res] = splitFull(entry.jid);
        return this.kv.delete(sessionKey(bare, res), { previousSeq: revision }).catch(() => undefined);
      }),
    );
  }

  get size(): number {
    return this.own.size;
  }
}

function isWrongLastSequence(e: unknown): boolean {
  const err = e as { api_error?: { err_code?: number }; message?: string };
  return err?.api_error?.err_code === 10071 || /wrong last sequence/i.test(err?.message ?? '');
}

interface CachedSession extends SessionEntry {
  seenAt: number;
}

/** The readers' side: a watch-fed map of bare JID -> resource -> entry. */
export class SessionRegistryView {
  private readonly byBare = new Map<string, Map<string, CachedSession>>();
  private count = 0;
  private stopped = false;
  private ready!: Promise<void>;

  constructor(private readonly kv: KV, private readonly ttlSeconds: number) {}

  /** Resolves after the initial snapshot has been loaded. */
  async start(): Promise<void> {
    const iter = await this.kv.watch({ key: '>' });
    let markReady!: () => void;
    this.ready = new Promise((r) => (markReady = r));
    // An empty bucket sends no initial entries; the watcher reports it through its pending count.
    (async () => {
      let signalled = false;
      if (iter.getProcessed() === 0 && iter.getPending() === 0) {
        signalled = true;
        markReady();
      }
      for await (const e of iter) {
        if (this.stopped) break;
        this.apply(e);
        if (!signalled && iter.getPending() === 0) {
          signalled = true;
          markReady();
        }
      }
    })().catch(() => undefined);
    // Safety: never block boot on a watcher quirk.
    await Promise.race([this.ready, new Promise((r) => setTimeout(r, 2000))]);
    this.stopWatch = () => iter.stop();
  }

  private stopWatch: () => void = () => undefined;

  stop(): void {
    this.stopped = true;
    this.stopWatch();
  }

  private apply(e: KvEntry): void {
    const dot = e.key.indexOf('.');
    if (dot < 0) return;
    const bare = decodeToken(e.key.slice(0, dot));
    const res = decodeToken(e.key.slice(dot + 1));
    if (e.operation === 'PUT' && e.value.length) {
      let entry: SessionEntry;
      try {
        entry = codec.decode(e.value);
      } catch {
        return;
      }
      let m = this.byBare.get(bare);
      if (!m) this.byBare.set(bare, (m = new Map()));
      if (!m.has(res)) this.count++;
      m.set(res, { ...entry, seenAt: e.created.getTime() });
    } else {
      const m = this.byBare.get(bare);
      if (m?.delete(res)) {
        this.count--;
        if (m.size === 0) this.byBare.delete(bare);
      }
    }
  }

  private alive(s: CachedSession, now: number): boolean {
    return now - s.seenAt <= this.ttlSeconds * 1000;
  }

  /** Sessions of a bare JID in the view, expired ones not yet swept included (no allocation: a quick check). */
  countOf(bare: string): number {
    return this.byBare.get(bare)?.size ?? 0;
  }

  /** Live sessions of a bare JID. */
  resources(bare: string): SessionEntry[] {
    const m = this.byBare.get(bare);
    if (!m) return [];
    const now = Date.now();
    const out: SessionEntry[] = [];
    for (const [res, s] of m) {
      if (this.alive(s, now)) out.push(s);
      else {
        m.delete(res);
        this.count--;
      }
    }
    if (m.size === 0) this.byBare.delete(bare);
    return out;
  }

  get(fullJid: string): SessionEntry | null {
    const [bare, res] = splitFull(fullJid);
    const s = this.byBare.get(bare)?.get(res);
    return s && this.alive(s, Date.now()) ? s : null;
  }

  /**
   * Read a bare JID's sessions straight from the bucket: for a miss in the local map, which can lag a
   * bind that happened a moment ago on another edge.
   */
  async fetch(bare: string): Promise<SessionEntry[]> {
    const out: SessionEntry[] = [];
    // Collect the keys first: awaiting a get inside the keys iterator ends it after the first key.
    const names: string[] = [];
    for await (const k of await this.kv.keys(sessionKeyFilter(bare))) names.push(k);
    const now = Date.now();
    for (const k of names) {
      const e = await this.kv.get(k);
      if (!e || e.operation !== 'PUT' || !e.value.length) continue;
      if (now - e.created.getTime() > this.ttlSeconds * 1000) continue;
      this.apply(e);
      out.push(codec.decode(e.value));
    }
    return out;
  }

  get size(): number {
    return this.count;
  }
}
