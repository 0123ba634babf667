/**
 * Boots an offline service replica on the shared service host (@kxmpp/service-host): standalone
 * (main.ts) with its own NATS connection, storage and health endpoint, or inside the all-in-one with
 * the process's shared ones (whatever is given is never closed here).
 */
import type { ServiceConfig } from '@kxmpp/config';
import { RunningService, SharedServiceDeps, startServiceApp } from '@kxmpp/service-host';
import { OfflineService } from './offline.service';

/** serviceSchema's config; NATS_URL is only needed when no connection is given. */
export type OfflineAppConfig = ServiceConfig & { NATS_URL?: string };

/** What an embedding process shares with the replica; anything absent the replica makes (and closes). */
export interface OfflineSharedDeps extends SharedServiceDeps {
  /** Stored messages per flush batch (tests; default 100). */
  flushBatch?: number;
}

export type RunningOffline = RunningService<OfflineService>;

/** Boot one offline service replica in this process (main.ts, the all-in-one, tests). */
export function startOfflineService(config: OfflineAppConfig, deps: OfflineSharedDeps = {}): Promise<RunningOffline> {
  return startServiceApp({
    name: 'offline',
    config,
    deps,
    // Rare lookups (a flush, a store): read the registry when needed instead of watching every login.
    watchSessions: false,
    create: ({ nc, storage, view, log }) => new OfflineService(config, { nc, offline: storage.offline, view, log, flushBatch: deps.flushBatch }),
  });
}
