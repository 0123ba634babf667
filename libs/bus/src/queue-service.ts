/**
 * What the presence, roster and offline services share: a PartitionedWorker over their partitions of the
 * service work queue (one item at a time per partition across all replicas), a Deliverer for what they
 * send to sessions, and the streams made sure of before consuming. A subclass handles the items and may
 * extend start() and stop().
 */
import type { JsMsg, NatsConnection } from 'nats';
import { ensureRouteStream } from './connection';
import { Deliverer } from './deliverer';
import type { ServiceName } from './subjects';
import { ensureWorkQueue, PartitionedWorker, serviceQueueSpec, serviceWorker, WorkerLogger } from './work-queue';

export interface QueueServiceBus {
  nc: NatsConnection;
  log: WorkerLogger;
  /** SERVICE_PARTITIONS: the same across the deployment. */
  partitions: number;
  /** NATS_REPLICAS of the streams made at start. */
  replicas: number;
  /** A service that publishes into the routing stream makes sure it exists, even before any router ran. */
  route?: { partitions: number; storage: 'memory' | 'file' };
}

export abstract class QueueService {
  protected readonly deliverer: Deliverer;
  private readonly worker: PartitionedWorker;

  protected constructor(
    private readonly service: ServiceName,
    private readonly bus: QueueServiceBus,
  ) {
    this.deliverer = new Deliverer(bus.nc, bus.partitions);
    const giveUp = this.giveUp?.bind(this);
    this.worker = serviceWorker(bus.nc, service, bus.partitions, {
      handle: (m) => this.handle(m),
      ...(giveUp ? { giveUp } : {}),
      log: bus.log,
    });
  }

  /** Handle one work item; throwing means a transient failure and the item comes again (PartitionedWorker). */
  protected abstract handle(m: JsMsg): Promise<void>;

  /** An item that failed every attempt (log it, bounce it); without it the worker logs and drops it. */
  protected giveUp?(m: JsMsg, err: unknown): Promise<void> | void;

  get ready(): boolean {
    return this.worker.ready;
  }

  /** Work items this replica finished (tests, the all-in-one). */
  get processed(): number {
    return this.worker.processed;
  }

  async start(): Promise<void> {
    const jsm = await this.bus.nc.jetstreamManager();
    await ensureWorkQueue(jsm, serviceQueueSpec(this.service, this.bus.partitions, 'file', this.bus.replicas));
    if (this.bus.route) await ensureRouteStream(jsm, { ...this.bus.route, replicas: this.bus.replicas });
    await this.worker.start();
  }

  /** Stop pulling; the item in flight in each partition finishes (its ack included). */
  async stop(): Promise<void> {
    await this.worker.stop();
  }
}
