/**
 * The offline service's metrics (names xmpp_offline_*; label values from fixed sets, never a JID).
 * Registered in the platform registry that HealthServer serves on /metrics; created once per process
 * even with several replicas in it (the all-in-one).
 */
import { Counter } from 'prom-client';
import { registry } from '@kxmpp/telemetry';

function counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter({ name, help, labelNames, registers: [registry] });
}

/**
 * stored: kept for later; direct: a session had become available meanwhile, delivered at once;
 * bounced: refused to the sender (storage full or disabled); dropped: not worth storing (chat state only,
 * no-store hint, empty) or not a message.
 */
export type OfflineOutcome = 'stored' | 'direct' | 'bounced' | 'dropped';
/** delivered: messages went out; empty: nothing stored; session_gone: the session had ended, messages kept. */
export type FlushOutcome = 'delivered' | 'empty' | 'session_gone';

export const offlineMetrics = {
  messages: counter('xmpp_offline_messages_total', 'Messages for offline users handled, by outcome', ['outcome'] as const),
  bounces: counter('xmpp_offline_bounces_total', 'Messages bounced to their sender, by stanza error condition', ['condition'] as const),
  flushes: counter('xmpp_offline_flushes_total', 'Flushes of stored messages to a session that became available, by outcome', ['outcome'] as const),
  flushed: counter('xmpp_offline_flushed_messages_total', 'Stored messages delivered (and then removed from storage)', [] as const),
};
