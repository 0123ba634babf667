/**
 * Boots a federation replica on the shared service host (@kxmpp/service-host): standalone (main.ts) or
 * inside the all-in-one with the process's shared connection.
 */
import { DomainSet } from '@kxmpp/bus';
import type { TlsMaterial } from '@kxmpp/xmpp-stream';
import type { FederationConfig } from '@kxmpp/config';
import { RunningService, SharedServiceDeps, startServiceApp } from '@kxmpp/service-host';
import { FederationService } from './federation.service';

export type FederationAppConfig = FederationConfig & { NATS_URL?: string };
export type RunningFederation = RunningService<FederationService>;

export function startFederationService(config: FederationAppConfig, deps: SharedServiceDeps & { domains?: DomainSet; tls?: TlsMaterial } = {}): Promise<RunningFederation> {
  return startServiceApp({
    name: 'federation',
    config,
    deps,
    // Rare lookups (none at all): read the registry when needed instead of watching every login.
    watchSessions: false,
    create: async ({ nc, log, onClose }) => {
      let domains = deps.domains;
      if (!domains) {
        const own = new DomainSet(nc, config.XMPP_DOMAINS, { replicas: config.NATS_REPLICAS });
        await own.start();
        onClose(() => own.stop());
        domains = own;
      }
      return new FederationService(config, { nc, log, domains, tls: deps.tls });
    },
  });
}
