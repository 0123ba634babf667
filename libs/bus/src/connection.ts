/** The NATS connection every process holds, and the JetStream objects the platform declares on it. */
import {
  AckPolicy,
  connect,
  DeliverPolicy,
  JetStreamManager,
  NatsConnection,
  nanos,
  RetentionPolicy,
  StorageType,
} from 'nats';
import { ROUTE_STREAM, ROUTE_SUBJECTS, routeConsumer, routeSubject } from './subjects';

export async function connectBus(url: string, name: string): Promise<NatsConnection> {
  return connect({
    servers: url,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 10_000,
    // Without this, every request (each JetStream publish, each KV get) builds two Errors with stack
    // traces for diagnostics: about a third of the edge's CPU at full load (bench/README.md).
    noAsyncTraces: true,
  });
}

export interface RouteStreamOptions {
  partitions: number;
  storage: 'memory' | 'file';
  replicas?: number;
  /** How long a router may hold a stanza before JetStream hands it to another router. */
  ackWaitMs?: number;
}

/**
 * Declare the routing stream and one durable consumer per partition (idempotent: every process may call
 * it at boot). Work-queue retention: a stanza is removed once a router acknowledged it. max_ack_pending 1
 * makes each partition strictly sequential across all router replicas (docs/adr/0001).
 */
export async function ensureRouteStream(jsm: JetStreamManager, opts: RouteStreamOptions): Promise<void> {
  const storage = opts.storage === 'memory' ? StorageType.Memory : StorageType.File;
  const config = {
    name: ROUTE_STREAM,
    subjects: [ROUTE_SUBJECTS],
    retention: RetentionPolicy.Workqueue,
    storage,
    num_replicas: opts.replicas ?? 1,
    // Bounded: a stanza nobody could route within an hour is stale; the byte cap protects the server.
    max_age: nanos(3_600_000),
    max_bytes: 1024 * 1024 * 1024,
  };
  try {
    await jsm.streams.info(ROUTE_STREAM);
  } catch {
    try {
      await jsm.streams.add(config);
    } catch (e) {
      // Another process won the race: fine as long as it exists now.
      await jsm.streams.info(ROUTE_STREAM).catch(() => {
        throw e;
      });
    }
  }
  const ackWait = nanos(opts.ackWaitMs ?? 10_000);
  await Promise.all(
    Array.from({ length: opts.partitions }, async (_, p) => {
      const name = routeConsumer(p);
      try {
        await jsm.consumers.info(ROUTE_STREAM, name);
      } catch {
        await jsm.consumers
          .add(ROUTE_STREAM, {
            durable_name: name,
            filter_subject: routeSubject(p),
            ack_policy: AckPolicy.Explicit,
            deliver_policy: DeliverPolicy.All,
            max_ack_pending: 1,
            ack_wait: ackWait,
          })
          .catch(async (e) => {
            await jsm.consumers.info(ROUTE_STREAM, name).catch(() => {
              throw e;
            });
          });
      }
    }),
  );
}
