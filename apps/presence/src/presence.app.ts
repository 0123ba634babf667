/**
 * Boots a presence service replica: standalone (main.ts) with its own NATS connection, storage and
 * health endpoint, or inside the all-in-one with the process's shared ones.
 */
import 'reflect-metadata';
import { Inject, Injectable, Module, OnApplicationBootstrap, OnApplicationShutdown, DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NatsConnection } from 'nats';
import { connectBus, DomainSet, openSessionsBucket, SessionRegistryView } from '@kxmpp/bus';
import { BlockingPolicy } from '@kxmpp/blocking';
import type { ServiceConfig } from '@kxmpp/config';
import { openStorage, Storage } from '@kxmpp/store';
import { createLogger, HealthServer, Logger } from '@kxmpp/telemetry';
import { PresenceStore } from './presence-store';
import { BlockCheck, PresenceService } from './presence.service';

export type PresenceAppConfig = ServiceConfig & { NATS_URL: string };

/** What an embedding process shares with the replica; anything absent the replica makes (and closes). */
export interface SharedDeps {
  nc?: NatsConnection;
  storage?: Storage;
  log?: Logger;
  domains?: { has(domain: string): boolean };
  blocking?: BlockCheck;
  /** Serve /metrics, /healthz, /readyz on METRICS_PORT (standalone). */
  health?: HealthServer;
  serveHealth?: boolean;
}

export interface RunningPresence {
  service: PresenceService;
  stop(): Promise<void>;
}

const CONFIG = Symbol('PRESENCE_CONFIG');
const DEPS = Symbol('PRESENCE_DEPS');

@Injectable()
class PresenceLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  service!: PresenceService;
  private readonly closers: Array<() => Promise<void> | void> = [];

  constructor(@Inject(CONFIG) private readonly config: PresenceAppConfig, @Inject(DEPS) private readonly deps: SharedDeps) {}

  async onApplicationBootstrap(): Promise<void> {
    const { config, deps } = this;
    const log = (deps.log ?? createLogger('presence', config.LOG_LEVEL)).child({ service: 'presence', id: config.SERVICE_ID });
    const nc = deps.nc ?? (await connectBus(config.NATS_URL, `presence-${config.SERVICE_ID}`));
    if (!deps.nc) this.closers.push(() => nc.drain().catch(() => undefined));
    const storage = deps.storage ?? (await openStorage({ kind: config.STORAGE, nc, mongodbUri: config.MONGODB_URI, replicas: config.NATS_REPLICAS }));
    if (!deps.storage) this.closers.unshift(() => storage.close());
    let domains = deps.domains;
    if (!domains) {
      const set = new DomainSet(nc, config.XMPP_DOMAINS);
      await set.start();
      this.closers.unshift(() => set.stop());
      domains = set;
    }
    let blocking = deps.blocking;
    if (!blocking) {
      const policy = new BlockingPolicy(storage.blocklist, nc, { maxEntries: 10_000 });
      await policy.start();
      this.closers.unshift(() => policy.stop());
      blocking = policy;
    }
    const view = new SessionRegistryView(await openSessionsBucket(nc, config.SESSION_TTL_SECONDS, config.NATS_REPLICAS), config.SESSION_TTL_SECONDS);
    await view.start();
    this.closers.unshift(() => view.stop());
    const store = await PresenceStore.open(nc, config.NATS_REPLICAS);
    this.service = new PresenceService(config, { nc, storage, view, store, domains, blocking, log });
    await this.service.start();
    this.closers.unshift(() => this.service.stop());
    const health = deps.health ?? (deps.serveHealth === false ? undefined : new HealthServer());
    if (health) {
      health.addReadiness(`presence-${config.SERVICE_ID}`, () => this.service.ready && !nc.isClosed());
      if (!deps.health) {
        const port = await health.listen(config.METRICS_PORT, config.METRICS_HOST);
        log.info({ port }, 'metrics and health endpoints listening');
        this.closers.push(() => health.close());
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    for (const c of this.closers) await c();
  }
}

@Module({})
class PresenceModule {
  static forRoot(config: PresenceAppConfig, deps: SharedDeps): DynamicModule {
    return {
      module: PresenceModule,
      providers: [{ provide: CONFIG, useValue: config }, { provide: DEPS, useValue: deps }, PresenceLifecycle],
    };
  }
}

export async function startPresenceService(config: PresenceAppConfig, deps: SharedDeps = {}): Promise<RunningPresence> {
  const app = await NestFactory.createApplicationContext(PresenceModule.forRoot(config, deps), { logger: ['error', 'warn'], abortOnError: false });
  let closing: Promise<void> | undefined;
  return { service: app.get(PresenceLifecycle).service, stop: () => (closing ??= app.close()) };
}
