/**
 * Boots a roster service replica on the shared service host (@kxmpp/service-host): standalone
 * (main.ts) with its own NATS connection, storage and health endpoint, or inside the all-in-one with
 * the process's shared ones (whatever is given is never closed here).
 */
import type { ServiceConfig } from '@kxmpp/config';
import { RunningService, SharedServiceDeps, startServiceApp } from '@kxmpp/service-host';
import { RosterService } from './roster.service';

/** serviceSchema's config; NATS_URL is only needed when no connection is given. */
export type RosterAppConfig = ServiceConfig & { NATS_URL?: string };

/** What an embedding process shares with the replica; anything absent the replica makes (and closes). */
export type RosterSharedDeps = SharedServiceDeps;

export type RunningRoster = RunningService<RosterService>;

/** Boot one roster service replica in this process (main.ts, the all-in-one, tests). */
export function startRosterService(config: RosterAppConfig, deps: RosterSharedDeps = {}): Promise<RunningRoster> {
  return startServiceApp({
    name: 'roster',
    config,
    deps,
    // Rare lookups (pushes after a roster change): read the registry when needed instead of watching every login.
    watchSessions: false,
    create: ({ nc, storage, view, log }) => new RosterService(config, { nc, roster: storage.roster, view, log }),
  });
}
