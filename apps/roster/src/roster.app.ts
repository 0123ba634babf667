/**
 * Boots a roster service replica: standalone (main.ts) with its own NATS connection, storage and health
 * endpoint, or inside the all-in-one with the process's shared ones (whatever is given is never closed here).
 */
import 'reflect-metadata';
import { DynamicModule, Inject, Injectable, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NatsConnection } from 'nats';
import { connectBus, openSessionsBucket, SessionRegistryView } from '@kxmpp/bus';
import type { ServiceConfig } from '@kxmpp/config';
import { openStorage, Storage } from '@kxmpp/store';
import { createLogger, HealthServer, Logger } from '@kxmpp/telemetry';
import { RosterService } from './roster.service';

/** serviceSchema's config; NATS_URL is only needed when no connection is given. */
export type RosterAppConfig = ServiceConfig & { NATS_URL?: string };

/** What an embedding process shares with the replica; anything absent the replica makes (and closes). */
export interface RosterSharedDeps {
  nc?: NatsConnection;
  storage?: Storage;
  log?: Logger;
  view?: SessionRegistryView;
  /** A health server owned by the embedding process: the replica adds its readiness check to it. */
  health?: HealthServer;
  /** Serve /metrics, /healthz, /readyz on METRICS_PORT when no health server is given (default true). */
  serveHealth?: boolean;
}

export interface RunningRoster {
  service: RosterService;
  stop(): Promise<void>;
}

const CONFIG = Symbol('ROSTER_CONFIG');
const DEPS = Symbol('ROSTER_DEPS');

@Injectable()
class RosterLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  service!: RosterService;
  private readonly closers: Array<() => Promise<void> | void> = [];

  constructor(@Inject(CONFIG) private readonly config: RosterAppConfig, @Inject(DEPS) private readonly deps: RosterSharedDeps) {}

  async onApplicationBootstrap(): Promise<void> {
    const { config, deps } = this;
    // A shared logger gets this service's name; our own already carries it.
    const log = deps.log ? deps.log.child({ service: 'roster', id: config.SERVICE_ID }) : createLogger('roster', config.LOG_LEVEL).child({ id: config.SERVICE_ID });
    let nc = deps.nc;
    if (!nc) {
      if (!config.NATS_URL) throw new Error('NATS_URL is required when no NATS connection is given');
      const own = await connectBus(config.NATS_URL, `roster-${config.SERVICE_ID}`);
      this.closers.push(() => own.drain().catch(() => undefined));
      nc = own;
    }
    const storage = deps.storage ?? (await openStorage({ kind: config.STORAGE, nc, mongodbUri: config.MONGODB_URI, replicas: config.NATS_REPLICAS }));
    if (!deps.storage) this.closers.unshift(() => storage.close());
    let view = deps.view;
    if (!view) {
      const own = new SessionRegistryView(await openSessionsBucket(nc, config.SESSION_TTL_SECONDS, config.NATS_REPLICAS), config.SESSION_TTL_SECONDS);
      await own.start();
      this.closers.unshift(() => own.stop());
      view = own;
    }
    this.service = new RosterService(config, { nc, roster: storage.roster, view, log });
    await this.service.start();
    this.closers.unshift(() => this.service.stop());
    const health = deps.health ?? (deps.serveHealth === false ? undefined : new HealthServer());
    if (health) {
      const conn = nc;
      health.addReadiness(`roster-${config.SERVICE_ID}`, () => this.service.ready && !conn.isClosed());
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
export class RosterModule {
  static forRoot(config: RosterAppConfig, deps: RosterSharedDeps = {}): DynamicModule {
    return {
      module: RosterModule,
      providers: [{ provide: CONFIG, useValue: config }, { provide: DEPS, useValue: deps }, RosterLifecycle],
    };
  }
}

/** Boot one roster service replica in this process (main.ts, the all-in-one, tests). */
export async function startRosterService(config: RosterAppConfig, deps: RosterSharedDeps = {}): Promise<RunningRoster> {
  const app = await NestFactory.createApplicationContext(RosterModule.forRoot(config, deps), { logger: ['error', 'warn'], abortOnError: false });
  let closing: Promise<void> | undefined;
  return { service: app.get(RosterLifecycle).service, stop: () => (closing ??= app.close()) };
}
