/**
 * Every NATS subject, stream, consumer and KV bucket name of the platform, built here and nowhere else.
 * Subjects never embed raw JIDs or domains (they contain '.'): see encodeToken (STYLE.md rule 4).
 */
import { encodeToken } from '@kxmpp/xmpp-core';

/** JetStream stream holding stanzas on their way to a router, one subject per partition. */
export const ROUTE_STREAM = 'XMPP_ROUTE';
export const ROUTE_SUBJECT_PREFIX = 'xmpp.route';
export const ROUTE_SUBJECTS = `${ROUTE_SUBJECT_PREFIX}.*`;

export function routeSubject(partition: number): string {
  return `${ROUTE_SUBJECT_PREFIX}.${partition}`;
}

/** Durable consumer name of a routing partition; every router replica pulls from every partition. */
export function routeConsumer(partition: number): string {
  return `route-${partition}`;
}

/** Deliveries to the sessions an edge owns (core NATS). */
export function edgeDeliverySubject(edgeId: string): string {
  return `xmpp.edge.${edgeId}.deliver`;
}

/** Control messages for an edge: kick a session (conflict, admin), drain. */
export function edgeControlSubject(edgeId: string): string {
  return `xmpp.edge.${edgeId}.control`;
}

/** Control messages for every edge at once (an account removed: end its sessions everywhere). */
export const EDGES_CONTROL_SUBJECT = 'xmpp.edges.control';

/** KV buckets. */
export const SESSIONS_BUCKET = 'xmpp_sessions';

/** The subject JetStream KV stores a key of a bucket under (for writes that need no acknowledgement). */
export function kvSubject(bucket: string, key: string): string {
  return `$KV.${bucket}.${key}`;
}

/** Session registry key for a full JID: <bare>.<resource>, each encoded. */
export function sessionKey(bare: string, resource: string): string {
  return `${encodeToken(bare)}.${encodeToken(resource)}`;
}

/** Filter matching every session of one bare JID. */
export function sessionKeyFilter(bare: string): string {
  return `${encodeToken(bare)}.*`;
}

/**
 * Routing partition of a stanza: FNV-1a of the sender's bare JID. All stanzas of one sender share a
 * partition, and a partition is processed one stanza at a time (docs/adr/0001-routing-and-ordering.md).
 */
export function partitionOf(senderBare: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < senderBare.length; i++) {
    h ^= senderBare.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}
