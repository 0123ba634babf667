/**
 * The roster service's metrics (names xmpp_roster_*; label values from fixed sets, never a JID).
 * Registered in the platform registry that HealthServer serves on /metrics; created once per process
 * even with several replicas in it (the all-in-one).
 */
import { Counter } from 'prom-client';
import { registry } from '@kxmpp/telemetry';

function counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter({ name, help, labelNames, registers: [registry] });
}

export type RosterRequestType = 'get' | 'set' | 'remove' | 'other';
/** result: answered with data or a change; unchanged: a set that changed nothing; not_modified: a get whose ver is current. */
export type RosterOutcome = 'result' | 'unchanged' | 'not_modified' | 'error';

export const rosterMetrics = {
  requests: counter('xmpp_roster_requests_total', 'Roster requests (jabber:iq:roster) handled, by request type and outcome', ['type', 'outcome'] as const),
  errors: counter('xmpp_roster_errors_total', 'Roster requests refused, by stanza error condition', ['condition'] as const),
  pushes: counter('xmpp_roster_pushes_total', 'Roster pushes sent to sessions', [] as const),
  unsubscriptions: counter('xmpp_roster_unsubscriptions_total', 'Presence unsubscribe/unsubscribed emitted for removed roster items, by type', ['type'] as const),
};
