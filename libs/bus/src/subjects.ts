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

/**
 * Services behind the router (presence, roster, offline): one JetStream work-queue stream, a subject and
 * a durable consumer per (service, partition), consumed like the routing stream (one at a time per
 * partition, across all replicas of the service). The partition key is the user whose state the work
 * changes, so one user's roster, presence and offline queue are each touched by one worker at a time.
 */
export type ServiceName = 'presence' | 'roster' | 'offline';
export const SERVICE_NAMES: readonly ServiceName[] = ['presence', 'roster', 'offline'];
export const SERVICE_STREAM = 'XMPP_SVC';
export const SERVICE_SUBJECT_PREFIX = 'xmpp.svc';
export const SERVICE_SUBJECTS = `${SERVICE_SUBJECT_PREFIX}.>`;

export function serviceSubject(service: ServiceName, partition: number): string {
  return `${SERVICE_SUBJECT_PREFIX}.${service}.${partition}`;
}

export function serviceConsumer(service: ServiceName, partition: number): string {
  return `svc-${service}-${partition}`;
}

/** KV bucket of the last presence of every available session (the presence service's state). */
export const PRESENCE_BUCKET = 'xmpp_presence';
/** KV bucket of the served domains added at run time (the admin API); config domains are always served. */
export const DOMAINS_BUCKET = 'xmpp_domains';
/** Admin requests the services answer (NATS request/reply): stats and session listings. */
export const ADMIN_STATS_SUBJECT = 'xmpp.admin.stats';
/** Core NATS notice "this user's blocklist changed" (JSON {domain, username}), for caches in routers and services. */
export const BLOCKLIST_CHANGED_SUBJECT = 'xmpp.blocklist.changed';

/**
 * Federation (outbound S2S): stanzas for remote domains wait in their own work-queue stream, one
 * subject and durable consumer per partition, partitioned by the remote domain, so one federation
 * replica (the partition's lease holder) writes every stanza for a domain over one stream, in order.
 */
export const S2S_OUT_STREAM = 'XMPP_S2S';
export const S2S_OUT_SUBJECT_PREFIX = 'xmpp.s2s.out';
export const S2S_OUT_SUBJECTS = `${S2S_OUT_SUBJECT_PREFIX}.*`;

export function s2sOutSubject(partition: number): string {
  return `${S2S_OUT_SUBJECT_PREFIX}.${partition}`;
}

export function s2sOutConsumer(partition: number): string {
  return `s2s-out-${partition}`;
}

/** KV bucket of the federation partition leases (key p<n>, value: the holding replica), with a TTL. */
export const FEDERATION_LEASES_BUCKET = 'xmpp_federation_leases';
/** KV bucket of federation-wide settings that every replica must share (the dialback secret). */
export const S2S_SHARED_BUCKET = 'xmpp_s2s';
export const S2S_DIALBACK_SECRET_KEY = 'dialback-secret';

/**
 * XEP-0114 external components: which edge session holds each connected component domain. Key:
 * componentKey(domain); value {edge, sid}; the owning edge refreshes it, so a dead edge's entries expire.
 */
export const COMPONENTS_BUCKET = 'xmpp_components';

export function componentKey(domain: string): string {
  return encodeToken(domain);
}
