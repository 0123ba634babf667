/**
 * Partitioned work queues on JetStream, the pattern the router and every service consume by
 * (docs/adr/0001-routing-and-ordering.md): a work-queue stream, one durable consumer per partition with
 * max_ack_pending 1, so each partition is processed one item at a time across all replicas, in order;
 * an item is acked only after its effects are published, so a replica that dies mid-item loses nothing
 * (JetStream hands the item to another replica after ack_wait).
 */
import { AckPolicy, ConsumerMessages, DeliverPolicy, JetStreamManager, JsMsg, NatsConnection, nanos, RetentionPolicy, StorageType } from 'nats';
import { SERVICE_STREAM, SERVICE_SUBJECTS, serviceConsumer, ServiceName, serviceSubject } from './subjects';

export interface WorkQueueSpec {
  stream: string;
  subjects: string[];
  storage: 'memory' | 'file';
  replicas?: number;
  consumers: { name: string; filter: string }[];
  /** How long a replica may hold an item before JetStream hands it to another (default 10 s). */
  ackWaitMs?: number;
  /**
   * Items of one partition in flight at once (default 1: strictly one at a time). More only where a
   * single consumer per partition is otherwise guaranteed (federation: partition leases).
   */
  maxAckPending?: number;
}

/** Declare the stream and its consumers; idempotent and race-safe (every replica calls it at boot). */
export async function ensureWorkQueue(jsm: JetStreamManager, spec: WorkQueueSpec): Promise<void> {
  const config = {
    name: spec.stream,
    subjects: spec.subjects,
    retention: RetentionPolicy.Workqueue,
    storage: spec.storage === 'memory' ? StorageType.Memory : StorageType.File,
    num_replicas: spec.replicas ?? 1,
    max_age: nanos(3_600_000),
    max_bytes: 1024 * 1024 * 1024,
  };
  try {
    await jsm.streams.info(spec.stream);
  } catch {
    try {
      await jsm.streams.add(config);
    } catch (e) {
      await jsm.streams.info(spec.stream).catch(() => {
        throw e;
      });
    }
  }
  const ackWait = nanos(spec.ackWaitMs ?? 10_000);
  await Promise.all(
    spec.consumers.map(async ({ name, filter }) => {
      try {
        await jsm.consumers.info(spec.stream, name);
      } catch {
        await jsm.consumers
          .add(spec.stream, {
            durable_name: name,
            filter_subject: filter,
            ack_policy: AckPolicy.Explicit,
            deliver_policy: DeliverPolicy.All,
            max_ack_pending: spec.maxAckPending ?? 1,
            ack_wait: ackWait,
          })
          .catch(async (e) => {
            await jsm.consumers.info(spec.stream, name).catch(() => {
              throw e;
            });
          });
      }
    }),
  );
}

/** The services' stream with the consumers of one service. */
export function serviceQueueSpec(service: ServiceName, partitions: number, storage: 'memory' | 'file' = 'file', replicas = 1): WorkQueueSpec {
  return {
    stream: SERVICE_STREAM,
    subjects: [SERVICE_SUBJECTS],
    storage,
    replicas,
    consumers: Array.from({ length: partitions }, (_, p) => ({ name: serviceConsumer(service, p), filter: serviceSubject(service, p) })),
    ackWaitMs: 30_000,
  };
}

/**
 * How long each pull request of a partition consumer lives (nats.js consume() `expires`; it pulls again
 * when one expires, and expects a heartbeat every half of it). Short on purpose: nats-server 2.9 (Debian
 * bookworm's) starts a timer for the oldest pending pull's expiry every time a consumer goes back to
 * waiting, which with one item in flight per partition is after every item, and never stops it. With
 * nats.js's 30 s default, ~500,000 such timers were alive at 17,000 stanzas/s: nats-server's heap grew to
 * 150 MB and each of its garbage collections held stanzas up for ~100 ms (bench/README.md). At 2 s they
 * live 15 times shorter; an idle consumer pulls again every 2 s.
 */
export const PULL_EXPIRES_MS = 2000;

export interface WorkerLogger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface PartitionedWorkerOptions {
  stream: string;
  consumer: (partition: number) => string;
  partitions: number;
  /** Handle one item. Throwing means "transient failure": the item is redelivered, up to maxAttempts. */
  handle: (m: JsMsg, partition: number) => Promise<void>;
  /** Called instead of handle once an item failed maxAttempts times (log it, bounce it). */
  giveUp?: (m: JsMsg, err: unknown) => Promise<void> | void;
  maxAttempts?: number;
  log: WorkerLogger;
  name: string;
}

/** Consumes every partition of a work queue; one item at a time per partition. */
export class PartitionedWorker {
  private readonly subs: ConsumerMessages[] = [];
  private readonly loops: Promise<void>[] = [];
  private running = false;
  /** Items this replica finished (acked); tests read it to see the spread over replicas. */
  processed = 0;

  constructor(private readonly nc: NatsConnection, private readonly opts: PartitionedWorkerOptions) {}

  get ready(): boolean {
    return this.running && !this.nc.isClosed();
  }

  async start(): Promise<void> {
    const js = this.nc.jetstream();
    this.running = true;
    for (let p = 0; p < this.opts.partitions; p++) {
      const consumer = await js.consumers.get(this.opts.stream, this.opts.consumer(p));
      const msgs = await consumer.consume({ max_messages: 10, expires: PULL_EXPIRES_MS });
      this.subs.push(msgs);
      this.loops.push(this.loop(p, msgs));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const s of this.subs) s.stop();
    await Promise.allSettled(this.loops);
  }

  private async loop(partition: number, msgs: ConsumerMessages): Promise<void> {
    try {
      for await (const m of msgs) {
        if (!this.running) {
          m.nak();
          continue;
        }
        await this.process(m, partition);
      }
    } catch (e) {
      if (this.running) this.opts.log.error({ err: e, partition, worker: this.opts.name }, 'partition consumer stopped');
    }
  }

  private async process(m: JsMsg, partition: number): Promise<void> {
    const max = this.opts.maxAttempts ?? 5;
    try {
      await this.opts.handle(m, partition);
    } catch (e) {
      if (m.info.redeliveryCount < max) {
        this.opts.log.warn({ err: e, seq: m.seq, attempt: m.info.redeliveryCount, worker: this.opts.name }, 'work item failed, will retry');
        m.nak(500);
        return;
      }
      this.opts.log.error({ err: e, seq: m.seq, worker: this.opts.name }, 'work item failed repeatedly, given up');
      await Promise.resolve(this.opts.giveUp?.(m, e)).catch(() => undefined);
    }
    m.ack();
    this.processed++;
  }
}

/** The worker of one bus service (presence, roster, offline): every partition of its XMPP_SVC consumers. */
export function serviceWorker(
  nc: NatsConnection,
  service: ServiceName,
  partitions: number,
  opts: Pick<PartitionedWorkerOptions, 'handle' | 'giveUp' | 'log' | 'maxAttempts'>,
): PartitionedWorker {
  return new PartitionedWorker(nc, { ...opts, name: service, stream: SERVICE_STREAM, consumer: (p) => serviceConsumer(service, p), partitions });
}
