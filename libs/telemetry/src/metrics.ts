/**
 * The platform's Prometheus metrics. Names follow xmpp_<area>_<thing>_<unit>; every label value comes
 * from a fixed set (never a JID or a domain), so cardinality stays bounded (ARCHITECTURE.md, Observability).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { HotCounter, HotHistogram } from './hot-metrics';

export const registry = new Registry();
// The event-loop lag monitor samples with a timer: at prom-client's default 10 ms every process woke
// ~200 times a second doing nothing (eight processes on a small node: 1,600 wakeups a second, each a
// context switch that delays a stanza somewhere). 100 ms still sees any lag worth alerting on.
collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
// These three prom-client defaults are gauges named *_total, which `promtool check metrics` rejects;
// their information is in nodejs_active_{handles,requests,resources} (the per-type gauges) anyway.
for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
  registry.removeSingleMetric(name);
}

export type Transport = 'tcp' | 'tls' | 'websocket' | 's2s';
export type StanzaKind = 'message' | 'presence' | 'iq';

export const metrics = {
  connections: new Gauge({
    name: 'xmpp_edge_connections',
    help: 'Open client connections by transport',
    labelNames: ['transport'] as const,
    registers: [registry],
  }),
  connectionsOpened: new Counter({
    name: 'xmpp_edge_connections_opened_total',
    help: 'Client connections accepted by transport',
    labelNames: ['transport'] as const,
    registers: [registry],
  }),
  sessions: new Gauge({
    name: 'xmpp_edge_sessions',
    help: 'Authenticated sessions with a bound resource on this edge',
    registers: [registry],
  }),
  stanzasIn: new HotCounter({
    name: 'xmpp_edge_stanzas_in_total',
    help: 'Stanzas received from clients by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  }),
  stanzasOut: new HotCounter({
    name: 'xmpp_edge_stanzas_out_total',
    help: 'Stanzas written to clients by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  }),
  authAttempts: new Counter({
    name: 'xmpp_auth_attempts_total',
    help: 'SASL authentication attempts by mechanism and result',
    labelNames: ['mechanism', 'result'] as const,
    registers: [registry],
  }),
  streamErrors: new Counter({
    name: 'xmpp_edge_stream_errors_total',
    help: 'Stream errors sent by condition',
    labelNames: ['condition'] as const,
    registers: [registry],
  }),
  rerouted: new Counter({
    name: 'xmpp_edge_rerouted_total',
    help: 'Stanzas for a session that ended, routed again: those its client never acknowledged (XEP-0198), and deliveries that arrived after it ended',
    registers: [registry],
  }),
  lateDeliveries: new Counter({
    name: 'xmpp_edge_late_deliveries_total',
    help: 'Deliveries (messages, IQ requests) that reached the edge for a session that had just ended there',
    registers: [registry],
  }),
  readsPaused: new Counter({
    name: 'xmpp_edge_reads_paused_total',
    help: 'Times a client stream stopped reading: over its byte rate (rate), or too many stanzas not yet accepted by the routing stream (inflight)',
    labelNames: ['reason'] as const,
    registers: [registry],
  }),
  routed: new HotCounter({
    name: 'xmpp_router_stanzas_total',
    help: 'Stanzas routed by kind and outcome',
    labelNames: ['kind', 'outcome'] as const,
    registers: [registry],
  }),
  routingLatency: new HotHistogram({
    name: 'xmpp_router_routing_latency_seconds',
    help: 'Time from edge ingress to the routing decision being published, by kind',
    labelNames: ['kind'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  }),
  s2sStreams: new Gauge({
    name: 'xmpp_s2s_streams',
    help: 'Authenticated server-to-server streams by direction (in: edge, out: federation)',
    labelNames: ['direction'] as const,
    registers: [registry],
  }),
  s2sAuth: new Counter({
    name: 'xmpp_s2s_auth_total',
    help: 'Server-to-server authentications by direction, method (sasl-external, dialback) and result',
    labelNames: ['direction', 'method', 'result'] as const,
    registers: [registry],
  }),
  s2sStanzasOut: new Counter({
    name: 'xmpp_s2s_stanzas_out_total',
    help: 'Stanzas written to remote servers by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  }),
  s2sBounced: new Counter({
    name: 'xmpp_s2s_bounced_total',
    help: 'Stanzas for remote servers bounced to their sender, by stanza error condition',
    labelNames: ['condition'] as const,
    registers: [registry],
  }),
  registrySessions: new Gauge({
    name: 'xmpp_router_registry_sessions',
    help: 'Sessions known to this router from the session registry',
    registers: [registry],
  }),
};

const KINDS = new Set(['message', 'presence', 'iq']);
/** Map any element name to a bounded label value. */
export function kindLabel(name: string): StanzaKind | 'other' {
  return KINDS.has(name) ? (name as StanzaKind) : 'other';
}
