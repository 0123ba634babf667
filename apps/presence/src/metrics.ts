/** The presence service's own metrics (names xmpp_presence_*; labels bounded), on the telemetry registry /metrics serves. */
import { Counter } from 'prom-client';
import { registry } from '@kxmpp/telemetry';

function counter(name: string, help: string, labelNames: string[]): Counter<string> {
  return (registry.getSingleMetric(name) as Counter<string> | undefined) ?? new Counter({ name, help, labelNames, registers: [registry] });
}

export const presenceMetrics = {
  handled: counter('xmpp_presence_handled_total', 'Presence work items handled, by presence type or operation', ['op']),
};
