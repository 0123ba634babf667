/**
 * Delivering stanzas to sessions and handing work to services: what the router and every service do
 * with their results. Deliveries go to the owning edge's subject (core NATS, one publish per edge);
 * work for a service goes into its partitioned queue with a JetStream acknowledgement awaited, so the
 * caller acks its own item only once the hand-off is durable.
 */
import { NatsConnection } from 'nats';
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
    if (sessions.length === 0) return;
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    const byEdge = new Map<string, string[]>();
    for (const s of sessions) {
      const list = byEdge.get(s.edge);
      if (list) list.push(s.sid);
      else byEdge.set(s.edge, [s.sid]);
    }
    for (const [edge, sids] of byEdge) this.nc.publish(edgeDeliverySubject(edge), bytes, { headers: deliveryHeaders(sids, kind) });
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
