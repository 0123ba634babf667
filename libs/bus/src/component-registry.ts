/**
 * Registry of connected XEP-0114 external components on JetStream KV: component domain -> the edge and
 * session that hold its stream. The same pattern as the session registry (session-registry.ts): the
 * owning edge creates its entry atomically at the handshake, refreshes it every ttl/3 with a
 * compare-and-set on its own revision, and deletes it when the stream closes; the bucket's max age is
 * the ttl, so the entries of an edge that died vanish within ttl seconds, and readers ignore entries
 * older than that even before the server purges them.
 *
 * One domain, one stream (XEP-0114 §3: a second connection gets <conflict/>): claim() refuses a domain
 * whose live entry belongs to another session, on this edge or any other.
 */
import { JSONCodec, KV, KvEntry, NatsConnection, StorageType } from 'nats';
import { decodeToken } from '@kxmpp/xmpp-core';
import { COMPONENTS_BUCKET, componentKey } from './subjects';

export interface ComponentEntry {
  edge: string;
  sid: string;
}

const codec = JSONCodec<ComponentEntry>();

export async function openComponentsBucket(nc: NatsConnection, ttlSeconds: number, replicas = 1): Promise<KV> {
  return nc.jetstream().views.kv(COMPONENTS_BUCKET, {
    history: 1,
    ttl: ttlSeconds * 1000,
    storage: StorageType.File,
    replicas,
  });
}

function isWrongLastSequence(e: unknown): boolean {
  const err = e as { api_error?: { err_code?: number }; message?: string };
  return err?.api_error?.err_code === 10071 || /wrong last sequence/i.test(err?.message ?? '');
}

function decodeLive(e: KvEntry | null, ttlSeconds: number, now = Date.now()): ComponentEntry | null {
  if (!e || e.operation !== 'PUT' || !e.value.length) return null;
  if (now - e.created.getTime() > ttlSeconds * 1000) return null;
  try {
    return codec.decode(e.value);
  } catch {
    return null;
  }
}

/** The edge's side: claim, refresh and release the domains of its component streams. */
export class EdgeComponentRegistry {
  private readonly own = new Map<string, { entry: ComponentEntry; revision: number }>();
  private timer?: NodeJS.Timeout;

  /**
   * @param onLost called when a refresh finds the domain held by another session (this edge lost NATS
   *   for longer than the ttl and another edge took the component meanwhile): the caller ends its stream.
   */
  constructor(
    private readonly kv: KV,
    private readonly ttlSeconds: number,
    private readonly onLost: (domain: string, sid: string) => void = () => undefined,
  ) {}

  start(): void {
    const every = Math.max(1000, Math.floor((this.ttlSeconds * 1000) / 3));
    this.timer = setInterval(() => void this.refresh(), every);
    this.timer.unref();
  }

  /**
   * Claim a component domain for a stream that completed its handshake. Returns null when the domain
   * is now this stream's, or the live holder that keeps it (the caller answers <conflict/>).
   */
  async claim(domain: string, entry: ComponentEntry): Promise<ComponentEntry | null> {
    const key = componentKey(domain);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const revision = await this.kv.create(key, codec.encode(entry));
        this.own.set(domain, { entry, revision });
        return null;
      } catch (e) {
        if (!isWrongLastSequence(e)) throw e;
      }
      // The key holds an entry: live (a conflict) or one that outlived its ttl (an edge that died and
      // the server has not purged yet): take the stale one over with a compare-and-set.
      const cur = await this.kv.get(key);
      const holder = decodeLive(cur, this.ttlSeconds);
      if (holder) return holder.sid === entry.sid && holder.edge === entry.edge ? null : holder;
      if (!cur) continue;
      try {
        const revision = await this.kv.update(key, codec.encode(entry), cur.revision);
        this.own.set(domain, { entry, revision });
        return null;
      } catch (e) {
        if (!isWrongLastSequence(e)) throw e;
        // Someone wrote in between: look again.
      }
    }
    const last = decodeLive(await this.kv.get(key), this.ttlSeconds);
    if (last) return last;
    throw new Error(`component registry: the entry of ${domain} kept changing`);
  }

  /** Withdraw a domain this edge holds for the stream `sid` (when it closes). */
  async remove(domain: string, sid: string): Promise<void> {
    const mine = this.own.get(domain);
    if (!mine || mine.entry.sid !== sid) return;
    this.own.delete(domain);
    // Only if the key still holds what we wrote.
    await this.kv.delete(componentKey(domain), { previousSeq: mine.revision }).catch(() => undefined);
  }

  /** Whether this edge currently holds the domain (for tests and the stream's own checks). */
  holds(domain: string, sid: string): boolean {
    return this.own.get(domain)?.entry.sid === sid;
  }

  private async refresh(): Promise<void> {
    for (const [domain, mine] of [...this.own]) {
      try {
        await this.rewrite(domain, mine);
      } catch {
        /* NATS unreachable: the next round tries again; the entry expires if it never can */
      }
    }
  }

  private async rewrite(domain: string, mine: { entry: ComponentEntry; revision: number }): Promise<void> {
    const key = componentKey(domain);
    try {
      mine.revision = await this.kv.update(key, codec.encode(mine.entry), mine.revision);
      return;
    } catch (e) {
      if (!isWrongLastSequence(e)) throw e;
    }
    const cur = await this.kv.get(key);
    const holder = decodeLive(cur, this.ttlSeconds);
    if (holder && holder.sid !== mine.entry.sid) {
      if (this.own.get(domain) === mine) this.own.delete(domain);
      this.onLost(domain, mine.entry.sid);
      return;
    }
    // Our entry expired or was lost while NATS was away: the stream is alive, write it again.
    mine.revision = cur ? await this.kv.update(key, codec.encode(mine.entry), cur.revision) : await this.kv.create(key, codec.encode(mine.entry));
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const all = [...this.own];
    this.own.clear();
    await Promise.all(all.map(([domain, { revision }]) => this.kv.delete(componentKey(domain), { previousSeq: revision }).catch(() => undefined)));
  }

  get size(): number {
    return this.own.size;
  }
}

/**
 * The routers' side: a watch-fed map of component domain -> holder, with a direct read for a miss
 * (the watch can lag a handshake that happened a moment ago).
 */
export class ComponentDirectory {
  private readonly byDomain = new Map<string, { entry: ComponentEntry; seenAt: number }>();
  private stopWatch: () => void = () => undefined;
  private stopped = false;

  constructor(private readonly kv: KV, private readonly ttlSeconds: number) {}

  /** Resolves once the current entries are loaded (or after 2 s: never block a boot on the watch). */
  async start(): Promise<void> {
    let initialized!: () => void;
    const ready = new Promise<void>((r) => (initialized = r));
    // initializedFn may run before the loop below took the initial entries off the iterator's queue;
    // that happens in microtasks, so a macrotask later they are applied.
    const iter = await this.kv.watch({ key: '>', initializedFn: () => setImmediate(initialized) });
    this.stopWatch = () => iter.stop();
    void (async () => {
      for await (const e of iter) {
        if (this.stopped) break;
        this.apply(e);
      }
    })().catch(() => undefined);
    await Promise.race([ready, new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  stop(): void {
    this.stopped = true;
    this.stopWatch();
  }

  private apply(e: KvEntry): void {
    let domain: string;
    try {
      domain = decodeToken(e.key);
    } catch {
      return;
    }
    if (e.operation === 'PUT' && e.value.length) {
      try {
        this.byDomain.set(domain, { entry: codec.decode(e.value), seenAt: e.created.getTime() });
      } catch {
        /* not ours */
      }
    } else {
      this.byDomain.delete(domain);
    }
  }

  /** The live holder of a component domain, from the watched map. */
  get(domain: string): ComponentEntry | null {
    const c = this.byDomain.get(domain);
    if (!c) return null;
    if (Date.now() - c.seenAt > this.ttlSeconds * 1000) {
      this.byDomain.delete(domain);
      return null;
    }
    return c.entry;
  }

  /** The live holder read from the bucket itself (for a miss in the map). */
  async fetch(domain: string): Promise<ComponentEntry | null> {
    const e = await this.kv.get(componentKey(domain)).catch(() => null);
    const live = decodeLive(e, this.ttlSeconds);
    if (live && e) this.apply(e);
    return live;
  }

  /** Live holder, from the map or else the bucket. */
  async lookup(domain: string): Promise<ComponentEntry | null> {
    return this.get(domain) ?? this.fetch(domain);
  }
}
