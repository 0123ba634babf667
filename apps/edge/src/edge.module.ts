/** Nest wiring of the edge: configuration, NATS, storage, telemetry and the EdgeService lifecycle. */
import { Inject, Injectable, Module, DynamicModule, OnApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import { connectBus } from '@kxmpp/bus';
import type { EdgeConfig } from '@kxmpp/config';
import { AccountsRepository, CachedAccountsRepository, deleteAccountData, openStorage } from '@kxmpp/store';
import { createLogger, HealthServer, Logger } from '@kxmpp/telemetry';
import { EdgeService } from './edge.service';

export const EDGE_CONFIG = Symbol('EDGE_CONFIG');
export const NATS = Symbol('NATS');
export const LOGGER = Symbol('LOGGER');
export const HEALTH = Symbol('HEALTH');

@Injectable()
export class EdgeLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(EdgeService) private readonly edge: EdgeService,
    @Inject(NATS) private readonly nc: NatsConnection,
    @Inject(HEALTH) private readonly health: HealthServer,
    @Inject(EDGE_CONFIG) private readonly config: EdgeConfig,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.edge.start();
    const port = await this.health.listen(this.config.METRICS_PORT, this.config.METRICS_HOST);
    this.log.info({ port }, 'metrics and health endpoints listening');
  }

  async onApplicationShutdown(): Promise<void> {
    await this.edge.drain();
    await this.edge.stop();
    await this.health.close();
    await this.nc.drain().catch(() => undefined);
  }
}

@Module({})
export class EdgeModule {
  static forRoot(config: EdgeConfig & { NATS_URL: string }): DynamicModule {
    return {
      module: EdgeModule,
      providers: [
        { provide: EDGE_CONFIG, useValue: config },
        { provide: LOGGER, useFactory: () => createLogger('edge', config.LOG_LEVEL) },
        { provide: HEALTH, useFactory: () => new HealthServer() },
        { provide: NATS, useFactory: () => connectBus(config.NATS_URL, `edge-${config.EDGE_ID}`) },
        {
          provide: EdgeService,
          inject: [NATS, LOGGER, HEALTH],
          useFactory: async (nc: NatsConnection, log: Logger, health: HealthServer) => {
            const storage = await openStorage({ kind: config.STORAGE, nc, mongodbUri: config.MONGODB_URI, replicas: config.NATS_REPLICAS });
            let accounts: AccountsRepository = storage.accounts;
            if (config.ACCOUNT_CACHE_SIZE > 0) {
              const cache = new CachedAccountsRepository(storage.accounts, { max: config.ACCOUNT_CACHE_SIZE, ttlMs: config.ACCOUNT_CACHE_TTL_SECONDS * 1000 });
              await cache.follow(storage.accountChanges);
              accounts = cache;
            }
            const edge = new EdgeService(config, nc, accounts, log, health);
            // XEP-0077 §3.2: a cancelled account takes its roster, offline messages and the rest with it.
            edge.onAccountRemoved = (domain, username) =>
              deleteAccountData(storage, domain, username).catch((e) => log.warn({ err: e }, 'deleting the data of a removed account failed'));
            edge.onStop = () => storage.close();
            return edge;
          },
        },
        EdgeLifecycle,
      ],
      exports: [EdgeService, HEALTH],
    };
  }
}
