/**
 * A snapshot of the session registry (libs/bus/src/session-registry.ts) for listings and statistics:
 * the last value of every key through one ordered consumer, instead of a request per key. Entries older
 * than the ttl belong to a dead edge (key expiry makes no event) and are left out, as the routers do.
 */
import { JSONCodec, KV } from 'nats';
import type { SessionEntry } from '@kxmpp/bus';

export interface LiveSession extends SessionEntry {
  /** When the edge last wrote the entry. */
  updatedAt: Date;
}

const codec = JSONCodec<SessionEntry>();

export async function readSessions(kv: KV, ttlSeconds: number, keyFilter = '>'): Promise<LiveSession[]> {
  const byKey = new Map<string, LiveSession>();
  let initialized!: () => void;
  const done = new Promise<void>((r) => (initialized = r));
  // initializedFn can run before the loop has drained the queued entries (microtasks): wait a macrotask.
  const iter = await kv.watch({ key: keyFilter, initializedFn: () => setImmediate(initialized) });
  const loop = (async () => {
    for await (const e of iter) {
      if (e.operation === 'PUT' && e.value.length) {
        try {
          byKey.set(e.key, { ...codec.decode(e.value), updatedAt: e.created });
        } catch {
          // Not an entry an edge wrote: skip it.
        }
      } else {
        byKey.delete(e.key);
      }
    }
  })();
  await done;
  iter.stop();
  await loop.catch(() => undefined);
  const oldest = Date.now() - ttlSeconds * 1000;
  return [...byKey.values()].filter((s) => s.updatedAt.getTime() >= oldest).sort((a, b) => (a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : 0));
}

/** Domainpart of a full JID as the edge wrote it (normalized). */
export function domainOf(jid: string): string {
  const at = jid.indexOf('@');
  const slash = jid.indexOf('/', at + 1);
  return jid.slice(at + 1, slash < 0 ? undefined : slash);
}
