/**
 * Delivering stanzas to sessions and handing work to services: what the router and every service do
 * with their results. Deliveries go to the owning edge's subject (core NATS, one publish per edge);
 * work for a service goes into its partitioned queue with a JetStream acknowledgement awaited, so the
 * caller acks its own item only once the hand-off is durable.
 */
import { NatsConnection } from 'nats';
import { BATCH_MAX_BYTES, BATCH_MAX_ITEMS, OutItem, publishItems } from './batch';
import { deliveryHeaders, encodeEnvelope, Envelope, ServiceOp } from './envelope';
import { edgeDeliverySubject, partitionOf, ServiceName, serviceSubject } from './subjects';

export interface SessionTarget {
  edge: string;
  sid: string;
}

const encoder = new TextEncoder();

export class Deliverer {
  constructor(private readonly nc: NatsConnection, private readonly servicePartitions: number) {}

  /** One publish per edge with the payload bytes as given. */
  deliver(sessions: readonly SessionTarget[], kind: string, data: Uint8Array | string): void {
    const b = this.batch();
    b.add(sessions, kind, data);
    b.flush();
  }

  /** Deliveries gathered and sent as one message per edge (DeliveryBatch). */
  batch(): DeliveryBatch {
    return new DeliveryBatch(this.nc);
  }

  /**
   * Queue work for a service, partitioned by the bare JID whose state it changes; resolves once
   * JetStream has stored it (throws otherwise: the caller retries its own item).
   */
  async toService(service: ServiceName, partitionKey: string, env: Envelope, data: Uint8Array | string, op: ServiceOp = 'stanza'): Promise<void> {
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    const subject = serviceSubject(service, partitionOf(partitionKey, this.servicePartitions));
    await this.nc.jetstream().publish(subject, bytes, { headers: encodeEnvelope(env, op) });
  }
}

function byEdge(sessions: readonly SessionTarget[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of sessions) {
    const list = out.get(s.edge);
    if (list) list.push(s.sid);
    else out.set(s.edge, [s.sid]);
  }
  return out;
}

interface Pending {
  items: OutItem[];
  bytes: number;
}

/**
 * Deliveries gathered per edge and published by flush() as one message per edge (batch.ts): the router
 * routes a batch of stanzas and delivers what it decided in one NATS message to each edge instead of one
 * per stanza. Deliveries to one edge keep the order they were added in; an edge's batch that reaches
 * BATCH_MAX_BYTES or BATCH_MAX_ITEMS goes at once. A batch of one is a plain delivery message.
 */
export class DeliveryBatch {
  private readonly edges = new Map<string, Pending>();

  constructor(private readonly nc: NatsConnection) {}

  add(sessions: readonly SessionTarget[], kind: string, data: Uint8Array | string): void {
    for (const [edge, sids] of byEdge(sessions)) {
      let p = this.edges.get(edge);
      if (!p) this.edges.set(edge, (p = { items: [], bytes: 0 }));
      p.items.push({ headers: deliveryHeaders(sids, kind), data });
      // A string's length in UTF-16 units stands in for its size in bytes (the cap is a rough one).
      p.bytes += data.length;
      if (p.bytes >= BATCH_MAX_BYTES || p.items.length >= BATCH_MAX_ITEMS) this.send(edge, p);
    }
  }

  /** Publish what was gathered (no await: it leaves with the caller's next write, e.g. its ack). */
  flush(): void {
    for (const [edge, p] of this.edges) this.send(edge, p);
  }

  private send(edge: string, p: Pending): void {
    this.edges.delete(edge);
    publishItems(this.nc, edgeDeliverySubject(edge), p.items);
  }
}
