/** Nest wiring of a router: NATS, the accounts store, the session registry view, the kernel, health. */
import 'reflect-metadata';
import { DynamicModule, Inject, Injectable, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NatsConnection } from 'nats';
import { connectBus, openSessionsBucket, SessionRegistryView } from '@kxmpp/bus';
import type { RouterConfig } from '@kxmpp/config';
import { Kernel } from '@kxmpp/kernel';
import { AccountsRepository, JetStreamAccountsRepository } from '@kxmpp/store';
import { createLogger, HealthServer, Logger } from '@kxmpp/telemetry';
import { routerModules } from './modules';
import { RouterService } from './router.service';

export const ROUTER_CONFIG = Symbol('ROUTER_CONFIG');
export const ROUTER_OPTIONS = Symbol('ROUTER_OPTIONS');
export const NATS = Symbol('ROUTER_NATS');
export const LOGGER = Symbol('ROUTER_LOGGER');
export const HEALTH = Symbol('ROUTER_HEALTH');
export const ACCOUNTS = Symbol('ROUTER_ACCOUNTS');
export const SESSION_VIEW = Symbol('ROUTER_SESSION_VIEW');
export const KERNEL = Symbol('ROUTER_KERNEL');

export type StandaloneRouterConfig = RouterConfig & { NATS_URL: string };

export interface RouterOptions {
  logger?: Logger;
  /** A health server owned by the embedding process: the router adds its readiness check to it. */
  health?: HealthServer;
  /** Serve /metrics, /healthz, /readyz on METRICS_PORT (default: true unless `health` is given). */
  serveHealth?: boolean;
}

@Injectable()
export class RouterLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(RouterService) private readonly router: RouterService,
    @Inject(NATS) private readonly nc: NatsConnection,
    @Inject(SESSION_VIEW) private readonly view: SessionRegistryView,
    @Inject(HEALTH) private readonly health: HealthServer,
    @Inject(ROUTER_CONFIG) private readonly config: StandaloneRouterConfig,
    @Inject(ROUTER_OPTIONS) private readonly opts: RouterOptions,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  private get serving(): boolean {
    return this.opts.serveHealth ?? !this.opts.health;
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.router.start();
    this.health.addReadiness(`router-${this.config.ROUTER_ID}`, () => this.router.ready);
    if (this.serving) {
      const port = await this.health.listen(this.config.METRICS_PORT, this.config.METRICS_HOST);
      this.log.info({ port }, 'metrics and health endpoints listening');
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.router.stop();
    this.view.stop();
    if (this.serving) await this.health.close();
    await this.nc.drain().catch(() => undefined);
  }
}

@Module({})
export class RouterModule {
  static forRoot(config: StandaloneRouterConfig, opts: RouterOptions = {}): DynamicModule {
    return {
      module: RouterModule,
      providers: [
        { provide: ROUTER_CONFIG, useValue: config },
        { provide: ROUTER_OPTIONS, useValue: opts },
        { provide: LOGGER, useFactory: () => (opts.logger ?? createLogger('router', config.LOG_LEVEL)).child({ router: config.ROUTER_ID }) },
        { provide: HEALTH, useFactory: () => opts.health ?? new HealthServer() },
        { provide: NATS, useFactory: () => connectBus(config.NATS_URL, `router-${config.ROUTER_ID}`) },
        {
          provide: ACCOUNTS,
          inject: [NATS],
          useFactory: (nc: NatsConnection) => JetStreamAccountsRepository.open(nc, { replicas: config.NATS_REPLICAS }),
        },
        {
          provide: SESSION_VIEW,
          inject: [NATS],
          useFactory: async (nc: NatsConnection) => {
            const kv = await openSessionsBucket(nc, config.SESSION_TTL_SECONDS, config.NATS_REPLICAS);
            const view = new SessionRegistryView(kv, config.SESSION_TTL_SECONDS);
            await view.start();
            return view;
          },
        },
        {
          provide: KERNEL,
          inject: [ACCOUNTS, LOGGER],
          useFactory: (accounts: AccountsRepository, log: Logger) =>
            new Kernel(routerModules(config), { log, accountExists: async (bare) => (await accounts.get(bare.domain, bare.local)) !== null }),
        },
        {
          provide: RouterService,
          inject: [NATS, ACCOUNTS, SESSION_VIEW, KERNEL, LOGGER],
          useFactory: (nc: NatsConnection, accounts: AccountsRepository, view: SessionRegistryView, kernel: Kernel, log: Logger) =>
            new RouterService(config, nc, accounts, view, kernel, log),
        },
        RouterLifecycle,
      ],
      exports: [RouterService],
    };
  }
}

export interface RunningRouter {
  service: RouterService;
  close(): Promise<void>;
}

/** Boot one router replica in this process (the standalone main, the all-in-one, tests). */
export async function startRouter(config: StandaloneRouterConfig, opts: RouterOptions = {}): Promise<RunningRouter> {
  const app = await NestFactory.createApplicationContext(RouterModule.forRoot(config, opts), { logger: ['error', 'warn'], abortOnError: false });
  let closing: Promise<void> | undefined;
  return {
    service: app.get(RouterService),
    close: () => (closing ??= app.close()),
  };
}
