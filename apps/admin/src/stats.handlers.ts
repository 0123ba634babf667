/**
 * StatsService: sessions from the registry, accounts from storage, and the backlog of the routing,
 * service and federation work queues from JetStream (stream state and the durable consumers' counters).
 */
import type * as grpc from '@grpc/grpc-js';
import type { ConsumerInfo, JetStreamManager } from 'nats';
import { ROUTE_STREAM, S2S_OUT_STREAM, SERVICE_NAMES, SERVICE_STREAM, SERVICE_SUBJECT_PREFIX, ServiceName } from '@kxmpp/bus';
import type { AdminContext } from './admin.context';
import { unary } from './admin.context';
import { domainOf, readSessions } from './sessions.reader';

export interface QueueStatsMsg {
  name: string;
  present: boolean;
  messages: number;
  pending: number;
  ackPending: number;
  consumers: number;
}

const empty = (name: string): QueueStatsMsg => ({ name, present: false, messages: 0, pending: 0, ackPending: 0, consumers: 0 });

function isNotFound(e: unknown): boolean {
  const err = e as { code?: string; api_error?: { code?: number } };
  return err?.code === '404' || err?.api_error?.code === 404 || /not found/i.test((e as Error)?.message ?? '');
}

async function consumersOf(jsm: JetStreamManager, stream: string): Promise<ConsumerInfo[]> {
  const out: ConsumerInfo[] = [];
  for await (const ci of jsm.consumers.list(stream)) out.push(ci);
  return out;
}

function addConsumer(q: QueueStatsMsg, ci: ConsumerInfo): void {
  q.consumers++;
  q.pending += ci.num_pending;
  q.ackPending += ci.num_ack_pending;
}

/** A whole stream as one queue: the routing stream, and the federation queue (XMPP_S2S). */
async function streamStats(jsm: JetStreamManager, name: string, stream: string): Promise<QueueStatsMsg> {
  const q = empty(name);
  try {
    const info = await jsm.streams.info(stream);
    q.present = true;
    q.messages = info.state.messages;
  } catch (e) {
    if (isNotFound(e)) return q;
    throw e;
  }
  for (const ci of await consumersOf(jsm, stream)) addConsumer(q, ci);
  return q;
}

async function serviceStats(jsm: JetStreamManager): Promise<QueueStatsMsg[]> {
  const byName = new Map<ServiceName, QueueStatsMsg>(SERVICE_NAMES.map((n) => [n, empty(n)]));
  try {
    // Per-subject counts (xmpp.svc.<service>.<partition>) to split the stream's messages by service.
    const info = await jsm.streams.info(SERVICE_STREAM, { subjects_filter: `${SERVICE_SUBJECT_PREFIX}.>` });
    for (const q of byName.values()) q.present = true;
    for (const [subject, count] of Object.entries(info.state.subjects ?? {})) {
      const q = byName.get(subject.slice(SERVICE_SUBJECT_PREFIX.length + 1).split('.')[0] as ServiceName);
      if (q) q.messages += count;
    }
  } catch (e) {
    if (isNotFound(e)) return [...byName.values()];
    throw e;
  }
  for (const ci of await consumersOf(jsm, SERVICE_STREAM)) {
    // Durable names are svc-<service>-<partition> (serviceConsumer in subjects.ts).
    const q = byName.get(ci.name.split('-')[1] as ServiceName);
    if (q) addConsumer(q, ci);
  }
  return [...byName.values()];
}

export function statsHandlers(ctx: AdminContext): grpc.UntypedServiceImplementation {
  return {
    GetStats: unary('GetStats', ctx.log, async () => {
      const jsm = await ctx.nc.jetstreamManager();
      const [sessions, routing, services, federation] = await Promise.all([
        readSessions(ctx.sessions, ctx.config.SESSION_TTL_SECONDS),
        streamStats(jsm, 'routing', ROUTE_STREAM),
        serviceStats(jsm),
        streamStats(jsm, 'federation', S2S_OUT_STREAM),
      ]);
      const perDomain = new Map<string, number>();
      for (const d of ctx.domains.list()) perDomain.set(d, 0);
      for (const s of sessions) {
        const d = domainOf(s.jid);
        perDomain.set(d, (perDomain.get(d) ?? 0) + 1);
      }
      const domains = await Promise.all(
        [...perDomain].map(async ([domain, n]) => ({
          domain,
          sessions: n,
          accounts: await ctx.storage.accounts.count(domain),
          served: ctx.domains.has(domain),
        })),
      );
      const now = Date.now();
      return {
        sessions: sessions.length,
        domains,
        routing,
        services: [...services, federation],
        uptimeSeconds: (now - ctx.startedAt.getTime()) / 1000,
        startedAt: ctx.startedAt.toISOString(),
        natsServerVersion: ctx.nc.info?.version ?? '',
        storage: ctx.storage.kind,
      };
    }),
  };
}
