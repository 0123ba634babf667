/**
 * The gRPC admin API server (proto/kxmpp/admin/v1/admin.proto, docs/admin.md): one grpc-js server with
 * the six admin services, server reflection, and bearer-token authentication in front of all of them.
 * Standalone in main.ts, or embedded (the all-in-one) with the process's NATS connection and storage.
 */
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import type { NatsConnection } from 'nats';
import { DomainSet, ensureRouteStream, openSessionsBucket } from '@kxmpp/bus';
import type { Storage } from '@kxmpp/store';
import type { Logger } from '@kxmpp/telemetry';
import { bearerAuthInterceptor } from './admin.auth';
import { AdminContext, AdminServiceConfig } from './admin.context';
import { accountHandlers } from './accounts.handlers';
import { domainHandlers } from './domains.handlers';
import { loadAdminProto } from './proto';
import { rosterHandlers } from './roster.handlers';
import { sessionHandlers } from './sessions.handlers';
import { stanzaHandlers } from './stanzas.handlers';
import { statsHandlers } from './stats.handlers';

export interface AdminServiceOptions {
  /** A DomainSet the embedding process already runs (started or not); by default the service keeps its own. */
  domains?: DomainSet;
  /** How long a roster change may take the roster service (default 5000 ms). */
  rosterWaitMs?: number;
}

export class AdminService {
  private server?: grpc.Server;
  private boundPort = 0;
  private readonly domains: DomainSet;
  private readonly ownsDomains: boolean;
  private readonly startedAt = new Date();

  constructor(
    private readonly config: AdminServiceConfig,
    private readonly nc: NatsConnection,
    private readonly storage: Storage,
    private readonly log: Logger,
    private readonly opts: AdminServiceOptions = {},
  ) {
    if (!config.ADMIN_TOKEN || config.ADMIN_TOKEN.length < 16) throw new Error('ADMIN_TOKEN must be at least 16 characters');
    this.ownsDomains = !opts.domains;
    this.domains = opts.domains ?? new DomainSet(nc, config.XMPP_DOMAINS, { replicas: config.NATS_REPLICAS });
  }

  /** The port the API listens on (the chosen one when ADMIN_GRPC_PORT is 0); 0 before start(). */
  get port(): number {
    return this.boundPort;
  }

  get listening(): boolean {
    return this.boundPort > 0;
  }

  /** Declare what the API publishes into, bind and serve. Resolves to the port. */
  async start(): Promise<number> {
    const cfg = this.config;
    await this.domains.start();
    // Stanzas sent through the API need the routing stream even before any edge declared it.
    await ensureRouteStream(await this.nc.jetstreamManager(), { partitions: cfg.ROUTE_PARTITIONS, storage: cfg.ROUTE_STORAGE, replicas: cfg.NATS_REPLICAS });
    const ctx: AdminContext = {
      config: cfg,
      nc: this.nc,
      js: this.nc.jetstream(),
      storage: this.storage,
      log: this.log,
      domains: this.domains,
      sessions: await openSessionsBucket(this.nc, cfg.SESSION_TTL_SECONDS, cfg.NATS_REPLICAS),
      startedAt: this.startedAt,
      rosterWaitMs: this.opts.rosterWaitMs ?? 5000,
    };

    const { packageDefinition, services } = loadAdminProto();
    const server = new grpc.Server({ interceptors: [bearerAuthInterceptor(cfg.ADMIN_TOKEN, this.log)] });
    server.addService(services.DomainService.service, domainHandlers(ctx));
    server.addService(services.AccountService.service, accountHandlers(ctx));
    server.addService(services.SessionService.service, sessionHandlers(ctx));
    server.addService(services.StanzaService.service, stanzaHandlers(ctx));
    server.addService(services.RosterService.service, rosterHandlers(ctx));
    server.addService(services.StatsService.service, statsHandlers(ctx));
    new ReflectionService(packageDefinition).addToServer(server);

    const host = cfg.ADMIN_GRPC_HOST.includes(':') && !cfg.ADMIN_GRPC_HOST.startsWith('[') ? `[${cfg.ADMIN_GRPC_HOST}]` : cfg.ADMIN_GRPC_HOST;
    // Plaintext HTTP/2: the API is meant for a cluster-internal address (docs/admin.md, Security).
    this.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${cfg.ADMIN_GRPC_PORT}`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.server = server;
    this.log.info({ port: this.boundPort, host: cfg.ADMIN_GRPC_HOST }, 'admin gRPC API listening');
    return this.boundPort;
  }

  /** Finish the calls in flight (up to graceMs), then close. */
  async stop(graceMs = 2000): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.boundPort = 0;
    if (server) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    if (this.ownsDomains) this.domains.stop();
  }
}
