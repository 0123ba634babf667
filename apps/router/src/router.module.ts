/** Nest wiring of a router: NATS, the accounts store, the session registry view, the kernel, health. */
import 'reflect-metadata';
import { DynamicModule, Inject, Injectable, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NatsConnection } from 'nats';
import { ComponentDirectory, connectBus, Deliverer, DomainSet, openComponentsBucket, openSessionsBucket, SessionRegistryView } from '@kxmpp/bus';
import { BlockingPolicy } from '@kxmpp/blocking';
import type { RouterConfig } from '@kxmpp/config';
import { Kernel } from '@kxmpp/kernel';
import { openStorage, Storage } from '@kxmpp/store';
import { createLogger, HealthServer, Logger } from '@kxmpp/telemetry';
import { routerModules } from './modules';
import { RouterBlocking, RouterComponents, RouterService } from './router.service';
import { blockedError } from '@kxmpp/blocking';

export const ROUTER_CONFIG = Symbol('ROUTER_CONFIG');
export const ROUTER_OPTIONS = Symbol('ROUTER_OPTIONS');
export const NATS = Symbol('ROUTER_NATS');
export const LOGGER = Symbol('ROUTER_LOGGER');
export const HEALTH = Symbol('ROUTER_HEALTH');
export const STORAGE = Symbol('ROUTER_STORAGE');
export const DOMAINS = Symbol('ROUTER_DOMAINS');
export const BLOCKING = Symbol('ROUTER_BLOCKING');
export const SESSION_VIEW = Symbol('ROUTER_SESSION_VIEW');
export const KERNEL = Symbol('ROUTER_KERNEL');
export const COMPONENTS = Symbol('ROUTER_COMPONENTS');

export type StandaloneRouterConfig = RouterConfig & { NATS_URL: string };

export interface RouterOptions {
  logger?: Logger;
  /** A health server owned by the embedding process: the router adds its readiness check to it. */
  health?: HealthServer;
  /** Serve /metrics, /healthz, /readyz on METRICS_PORT (default: true unless `health` is given). */
  serveHealth?: boolean;
  /** Shared by an embedding process (all-in-one); made and closed by the router when absent. */
  storage?: Storage;
  domains?: DomainSet;
  blocking?: BlockingPolicy;
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
    @Inject(STORAGE) private readonly storage: Storage,
    @Inject(DOMAINS) private readonly domains: DomainSet,
    @Inject(BLOCKING) private readonly blocking: BlockingPolicy,
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
    if (!this.opts.blocking) this.blocking.stop();
    if (!this.opts.domains) this.domains.stop();
    if (!this.opts.storage) await this.storage.close().catch(() => undefined);
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
          provide: STORAGE,
          inject: [NATS],
          useFactory: (nc: NatsConnection) =>
            opts.storage ?? openStorage({ kind: config.STORAGE, nc, mongodbUri: config.MONGODB_URI, replicas: config.NATS_REPLICAS }),
        },
        {
          provide: DOMAINS,
          inject: [NATS],
          useFactory: async (nc: NatsConnection) => {
            if (opts.domains) return opts.domains;
            const d = new DomainSet(nc, config.XMPP_DOMAINS, { replicas: config.NATS_REPLICAS });
            await d.start();
            return d;
          },
        },
        {
          provide: BLOCKING,
          inject: [NATS, STORAGE],
          useFactory: async (nc: NatsConnection, storage: Storage) => {
            if (opts.blocking) return opts.blocking;
            const b = new BlockingPolicy(storage.blocklist, nc, { maxEntries: 10_000 });
            await b.start();
            return b;
          },
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
          inject: [NATS, STORAGE, SESSION_VIEW, LOGGER],
          useFactory: (nc: NatsConnection, storage: Storage, view: SessionRegistryView, log: Logger) => {
            const deliverer = new Deliverer(nc, config.SERVICE_PARTITIONS);
            const sessionsOf = async (bare: string) => {
              const s = view.resources(bare);
              return s.length ? s : view.fetch(bare);
            };
            return new Kernel(routerModules(config, { storage, nc }), {
              log,
              accountExists: async (bare) => (await storage.accounts.get(bare.domain, bare.local)) !== null,
              sessions: (bare) => sessionsOf(bare.toString()),
              push: (bare, stanza) => {
                void sessionsOf(bare).then((sessions) => {
                  for (const s of sessions) {
                    stanza.attrs.to = s.jid;
                    deliverer.deliver([s], stanza.name, stanza.toString());
                  }
                });
              },
            });
          },
        },
        {
          // XEP-0114: the configured component domains and a watch of which are connected (docs/components.md).
          provide: COMPONENTS,
          inject: [NATS],
          useFactory: async (nc: NatsConnection): Promise<RouterComponents & { onApplicationShutdown(): void }> => {
            const configured = new Set((config.COMPONENTS ?? []).map((c) => c.domain));
            if (configured.size === 0) return { has: () => false, lookup: async () => null, onApplicationShutdown: () => undefined };
            const dir = new ComponentDirectory(await openComponentsBucket(nc, config.SESSION_TTL_SECONDS, config.NATS_REPLICAS), config.SESSION_TTL_SECONDS);
            await dir.start();
            return { has: (d) => configured.has(d), lookup: (d) => dir.lookup(d), onApplicationShutdown: () => dir.stop() };
          },
        },
        {
          provide: RouterService,
          inject: [NATS, STORAGE, SESSION_VIEW, KERNEL, LOGGER, DOMAINS, BLOCKING, COMPONENTS],
          useFactory: (nc: NatsConnection, storage: Storage, view: SessionRegistryView, kernel: Kernel, log: Logger, domains: DomainSet, blocking: BlockingPolicy, components: RouterComponents) => {
            const b: RouterBlocking = { blocks: (d, u, o) => blocking.blocks(d, u, o), cached: (d, u, o) => blocking.cached(d, u, o), blockedError };
            return new RouterService(config, nc, storage.accounts, view, kernel, log, { domains, blocking: b, components });
          },
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
