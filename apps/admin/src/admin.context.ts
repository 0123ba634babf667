/** What every admin handler gets, and the one wrapper that turns a handler's result or error into a gRPC answer. */
import * as grpc from '@grpc/grpc-js';
import type { JetStreamClient, KV, NatsConnection } from 'nats';
import { Counter } from 'prom-client';
import { DomainSet, encodeEnvelope, partitionOf, routeSubject } from '@kxmpp/bus';
import type { AdminConfig } from '@kxmpp/config';
import type { Storage } from '@kxmpp/store';
import { Logger, registry } from '@kxmpp/telemetry';
import type { Element, Jid } from '@kxmpp/xmpp-core';
import { AdminError, isBusUnavailable } from './admin.errors';

/** The settings the admin service reads; an embedding process passes its own config with a resolved token. */
export type AdminServiceConfig = Pick<
  AdminConfig,
  'ADMIN_GRPC_PORT' | 'ADMIN_GRPC_HOST' | 'ADMIN_TOKEN' | 'XMPP_DOMAINS' | 'ROUTE_PARTITIONS' | 'ROUTE_STORAGE' | 'SESSION_TTL_SECONDS' | 'NATS_REPLICAS'
>;

export interface RouteFacts {
  to: string;
  kind: 'message' | 'presence' | 'iq';
  type: string;
  ns: string;
}

export interface AdminContext {
  readonly config: AdminServiceConfig;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly storage: Storage;
  readonly log: Logger;
  readonly domains: DomainSet;
  /** The session registry bucket. */
  readonly sessions: KV;
  readonly startedAt: Date;
  /** How long a roster change may take the roster service before DEADLINE_EXCEEDED. */
  readonly rosterWaitMs: number;
}

const requests = new Counter({
  name: 'xmpp_admin_requests_total',
  help: 'Admin API calls by method and gRPC status',
  labelNames: ['method', 'code'] as const,
  registers: [registry],
});

const encoder = new TextEncoder();

/**
 * Publish a stanza into the routing stream as an edge does after stamping it (edge.service publish),
 * with no edge or session behind it, and wait for JetStream's acknowledgement. Returns the stream sequence.
 */
export async function publishToRoute(ctx: AdminContext, from: Jid, el: Element, facts: RouteFacts): Promise<number> {
  const headers = encodeEnvelope({ from: from.toString(), to: facts.to, kind: facts.kind, type: facts.type, ns: facts.ns, edge: '', sid: '', ts: Date.now() });
  const subject = routeSubject(partitionOf(from.toBareString(), ctx.config.ROUTE_PARTITIONS));
  try {
    const ack = await ctx.js.publish(subject, encoder.encode(el.toString()), { headers, timeout: 5000 });
    return ack.seq;
  } catch (e) {
    throw new AdminError(grpc.status.UNAVAILABLE, `the routing stream did not accept the stanza: ${(e as Error).message}`);
  }
}

/** Statuses by name for the metric label (a fixed set). */
const STATUS_NAMES = new Map<number, string>(Object.entries(grpc.status).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v as number, k]));

export function toServiceError(e: unknown, method: string, log: Logger): Partial<grpc.StatusObject> {
  if (e instanceof AdminError) return { code: e.code, details: e.message };
  if (isBusUnavailable(e)) return { code: grpc.status.UNAVAILABLE, details: `NATS unavailable: ${(e as Error).message}` };
  log.error({ err: e, method }, 'admin request failed');
  return { code: grpc.status.INTERNAL, details: `internal error: ${(e as Error)?.message ?? String(e)}` };
}

/**
 * A unary handler from an async function; errors become statuses (admin.proto header). The function
 * also gets the caller's deadline (ms since epoch, Infinity when none) for the calls that wait.
 */
export function unary<Req, Res>(method: string, log: Logger, fn: (req: Req, deadline: number) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const d = call.getDeadline();
    fn(call.request, d instanceof Date ? d.getTime() : Number(d)).then(
      (res) => {
        requests.inc({ method, code: 'OK' });
        callback(null, res);
      },
      (e: unknown) => {
        const err = toServiceError(e, method, log);
        requests.inc({ method, code: STATUS_NAMES.get(err.code ?? grpc.status.UNKNOWN) ?? 'UNKNOWN' });
        callback(err as grpc.ServiceError);
      },
    );
  };
}
