/**
 * Boots a presence service replica on the shared service host (@kxmpp/service-host): standalone
 * (main.ts) with its own NATS connection, storage and health endpoint, or inside the all-in-one with
 * the process's shared ones (whatever is given is never closed here). Besides what the host provides,
 * the service needs the served domains, a blocklist cache and its presence bucket.
 */
import { ComponentDirectory, DomainSet, openComponentsBucket } from '@kxmpp/bus';
import { BlockingPolicy } from '@kxmpp/blocking';
import type { ServiceConfig } from '@kxmpp/config';
import { RunningService, SharedServiceDeps, startServiceApp } from '@kxmpp/service-host';
import { PresenceStore } from './presence-store';
import { BlockCheck, PresenceService } from './presence.service';

/** serviceSchema's config; NATS_URL is only needed when no connection is given. */
export type PresenceAppConfig = ServiceConfig & { NATS_URL?: string };

/** What an embedding process shares with the replica; anything absent the replica makes (and closes). */
export interface SharedDeps extends SharedServiceDeps {
  domains?: { has(domain: string): boolean };
  blocking?: BlockCheck;
}

export type RunningPresence = RunningService<PresenceService>;

/** Boot one presence service replica in this process (main.ts, the all-in-one, tests). */
export function startPresenceService(config: PresenceAppConfig, deps: SharedDeps = {}): Promise<RunningPresence> {
  return startServiceApp({
    name: 'presence',
    config,
    deps,
    create: async ({ nc, storage, view, log, onClose }) => {
      let domains = deps.domains;
      if (!domains) {
        const set = new DomainSet(nc, config.XMPP_DOMAINS);
        await set.start();
        onClose(() => set.stop());
        domains = set;
      }
      let blocking = deps.blocking;
      if (!blocking) {
        const policy = new BlockingPolicy(storage.blocklist, nc, { maxEntries: 10_000 });
        await policy.start();
        onClose(() => policy.stop());
        blocking = policy;
      }
      const store = await PresenceStore.open(nc, config.NATS_REPLICAS);
      // Presence for a connected XEP-0114 component goes to it directly (not through federation).
      const components = new ComponentDirectory(await openComponentsBucket(nc, config.SESSION_TTL_SECONDS, config.NATS_REPLICAS), config.SESSION_TTL_SECONDS);
      await components.start();
      onClose(() => components.stop());
      return new PresenceService(config, { nc, storage, view, store, domains, blocking, log, components });
    },
  });
}
