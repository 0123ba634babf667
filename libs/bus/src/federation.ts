/**
 * What routers, services and edges share about federation: the outbound queue (stanzas for remote
 * domains), the dialback secret every replica must agree on, and the partition leases that give each
 * remote domain exactly one federation replica (so one outbound stream per domain across replicas).
 */
import { randomBytes } from 'node:crypto';
import { KV, NatsConnection, StorageType } from 'nats';
import { encodeEnvelope, Envelope } from './envelope';
import { ensureWorkQueue, WorkQueueSpec } from './work-queue';
import {
  FEDERATION_LEASES_BUCKET,
  partitionOf,
  S2S_DIALBACK_SECRET_KEY,
  S2S_OUT_STREAM,
  S2S_OUT_SUBJECTS,
  s2sOutConsumer,
  s2sOutSubject,
  S2S_SHARED_BUCKET,
} from './subjects';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function s2sQueueSpec(partitions: number, maxAckPending: number, storage: 'memory' | 'file' = 'file', replicas = 1): WorkQueueSpec {
  return {
    stream: S2S_OUT_STREAM,
    subjects: [S2S_OUT_SUBJECTS],
    storage,
    replicas,
    consumers: Array.from({ length: partitions }, (_, p) => ({ name: s2sOutConsumer(p), filter: s2sOutSubject(p) })),
    // Short, so the stanzas a dead holder had taken are redelivered before the lease (10 s TTL) passes to
    // the next holder, ahead of newer ones (ordering); a live holder keeps its waiting stanzas with
    // in-progress acks (JsMsg.working) while their stream comes up.
    ackWaitMs: S2S_ACK_WAIT_MS,
    maxAckPending,
  };
}

/** ack_wait of the federation queue; holders send in-progress acks more often than this. */
export const S2S_ACK_WAIT_MS = 5_000;
/** Federation lease TTL: longer than S2S_ACK_WAIT_MS, see s2sQueueSpec. */
export const FEDERATION_LEASE_TTL_MS = 10_000;

/** Header carrying the remote domain a queued stanza is for (the partition key). */
export const H_REMOTE = 'x-remote';

/** Queue a stanza for a remote domain; resolves once JetStream stored it. */
export async function queueForRemote(nc: NatsConnection, partitions: number, remoteDomain: string, env: Envelope, data: Uint8Array | string): Promise<void> {
  const headers = encodeEnvelope(env, 'stanza');
  headers.set(H_REMOTE, remoteDomain);
  await nc.jetstream().publish(s2sOutSubject(partitionOf(remoteDomain, partitions)), typeof data === 'string' ? encoder.encode(data) : data, { headers });
}

/**
 * The dialback secret: S2S_DIALBACK_SECRET when configured, else one generated once and kept in
 * JetStream KV (the first replica to ask creates it; every other one reads the same value).
 */
export async function sharedDialbackSecret(nc: NatsConnection, configured: string | undefined, replicas = 1): Promise<string> {
  if (configured) return configured;
  const kv = await nc.jetstream().views.kv(S2S_SHARED_BUCKET, { history: 1, storage: StorageType.File, replicas });
  const existing = await kv.get(S2S_DIALBACK_SECRET_KEY);
  if (existing && existing.operation === 'PUT') return decoder.decode(existing.value);
  const mine = randomBytes(32).toString('hex');
  try {
    await kv.create(S2S_DIALBACK_SECRET_KEY, encoder.encode(mine));
    return mine;
  } catch {
    const won = await kv.get(S2S_DIALBACK_SECRET_KEY);
    if (!won) throw new Error('dialback secret: lost the create race but found no value');
    return decoder.decode(won.value);
  }
}

export interface LeaseEvents {
  acquired(partition: number): void;
  lost(partition: number): void;
}

/**
 * Partition leases in a KV bucket with a TTL: a replica holds `p<n>` while it refreshes it (a CAS on its
 * own revision); a replica that stops refreshing (dead) loses its leases after the TTL and another takes
 * them. Each replica aims at its fair share (partitions / live replicas, rounded up), counting replicas
 * by their `r.<id>` heartbeat keys, and releases extras so leases spread as replicas join.
 */
export class PartitionLeases {
  private kv!: KV;
  private readonly held = new Map<number, number>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly id: string,
    private readonly partitions: number,
    private readonly events: LeaseEvents,
    private readonly ttlMs = FEDERATION_LEASE_TTL_MS,
    private readonly replicas = 1,
  ) {}

  async start(): Promise<void> {
    this.kv = await this.nc.jetstream().views.kv(FEDERATION_LEASES_BUCKET, { history: 1, ttl: this.ttlMs, storage: StorageType.File, replicas: this.replicas });
    await this.tick();
    this.timer = setInterval(() => void this.tick().catch(() => undefined), Math.max(500, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  holds(partition: number): boolean {
    return this.held.has(partition);
  }

  get count(): number {
    return this.held.size;
  }

  /** Release every lease at once (graceful stop): another replica takes over without waiting for the TTL. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const [p, rev] of this.held) {
      this.held.delete(p);
      this.events.lost(p);
      await this.kv.delete(`p${p}`, { previousSeq: rev }).catch(() => undefined);
    }
    await this.kv.delete(`r.${this.id}`).catch(() => undefined);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    await this.kv.put(`r.${this.id}`, encoder.encode(String(Date.now())));
    // Refresh what we hold; a failed CAS means someone else has it now.
    for (const [p, rev] of [...this.held]) {
      try {
        const next = await this.kv.update(`p${p}`, encoder.encode(this.id), rev);
        this.held.set(p, next);
      } catch {
        this.held.delete(p);
        this.events.lost(p);
      }
    }
    const live = new Set<string>();
    for await (const k of await this.kv.keys('r.*')) live.add(k);
    const share = Math.ceil(this.partitions / Math.max(1, live.size));
    // Give back extras (a replica joined), highest partitions first.
    while (this.held.size > share) {
      const p = Math.max(...this.held.keys());
      const rev = this.held.get(p)!;
      this.held.delete(p);
      this.events.lost(p);
      await this.kv.delete(`p${p}`, { previousSeq: rev }).catch(() => undefined);
    }
    // Take free ones up to our share, starting at a point that depends on our id so replicas spread.
    const start = partitionOf(this.id, this.partitions);
    for (let i = 0; i < this.partitions && this.held.size < share && !this.stopped; i++) {
      const p = (start + i) % this.partitions;
      if (this.held.has(p)) continue;
      try {
        const rev = await this.kv.create(`p${p}`, encoder.encode(this.id));
        this.held.set(p, rev);
        this.events.acquired(p);
      } catch {
        // Held by another replica (or a deleted key's marker within its TTL: create handles that).
      }
    }
  }
}
