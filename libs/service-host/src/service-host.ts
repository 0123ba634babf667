/**
 * The process shape every service behind the router shares (presence, roster, offline, and whatever
 * consumes the service queues next): one replica as a Nest application context that connects to NATS,
 * opens storage and a session registry view, builds the service from a factory, starts it, serves
 * /metrics /healthz /readyz, and on shutdown releases all of that in reverse order.
 *
 * Standalone (main.ts) the host makes everything itself; inside the all-in-one (or a test) it uses
 * whatever the embedding process shares and never closes that, so one connection and one storage serve
 * many replicas. What a service does is the factory's business: the host only knows `HostedService`.
 */
import 'reflect-metadata';
import { DynamicModule, Inject, Injectable, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NatsConnection } from 'nats';
import { connectBus, openSessionsBucket, SessionRegistryView } from '@kxmpp/bus';
import type { ServiceConfig } from '@kxmpp/config';
import { openStorage, Storage } from '@kxmpp/store';
import { createLogger, HealthServer, Logger } from '@kxmpp/telemetry';

/** What the host needs of a service: started once its dependencies are up, stopped before they close. */
export interface HostedService {
  /** Consuming (the host adds the NATS connection and any extra check for /readyz). */
  readonly ready: boolean;
  start(): Promise<void>;
  /** Stop taking work; the item in hand finishes. */
  stop(): Promise<void>;
}

/** The slice of serviceSchema the host reads; NATS_URL is needed only when no connection is shared. */
export type ServiceHostConfig = Pick<
  ServiceConfig,
  'SERVICE_ID' | 'LOG_LEVEL' | 'STORAGE' | 'MONGODB_URI' | 'NATS_REPLICAS' | 'SESSION_TTL_SECONDS' | 'METRICS_PORT' | 'METRICS_HOST'
> & { NATS_URL?: string };

/** What an embedding process shares with the replica; anything absent the replica makes (and closes). */
export interface SharedServiceDeps {
  nc?: NatsConnection;
  storage?: Storage;
  log?: Logger;
  view?: SessionRegistryView;
  /** A health server owned by the embedding process: the replica adds its readiness check to it. */
  health?: HealthServer;
  /** Serve /metrics, /healthz, /readyz on METRICS_PORT when no health server is given (default true). */
  serveHealth?: boolean;
}

/** What a service factory gets: the replica's dependencies, shared or made by the host. */
export interface ServiceContext<C> {
  config: C;
  nc: NatsConnection;
  storage: Storage;
  view: SessionRegistryView;
  /** Carries `service` (the spec's name) and `id` (SERVICE_ID). */
  log: Logger;
  /**
   * Release `fn` at shutdown: after the service stopped, before the view, storage and connection the
   * host made. Resources registered later are released first.
   */
  onClose(fn: () => Promise<void> | void): void;
}

export interface ServiceAppSpec<C extends ServiceHostConfig, S extends HostedService> {
  /** Short name: the logger's `service`, the NATS connection name, the readiness check `<name>-<SERVICE_ID>`. */
  name: string;
  config: C;
  deps?: SharedServiceDeps;
  /** Build the service (not started: the host starts it once everything is up). */
  create(ctx: ServiceContext<C>): Promise<S> | S;
  /** More that must hold for /readyz besides the service's `ready` and an open NATS connection. */
  ready?: (service: S) => boolean;
  /**
   * Keep a watched copy of the session registry (default true). A watch costs every replica a message
   * per login, logout and presence change of every user; a service that looks sessions up rarely passes
   * false and gets a view that reads the bucket on each lookup (resources() is then always empty).
   */
  watchSessions?: boolean;
}

export interface RunningService<S> {
  service: S;
  /** Idempotent: a second call waits for the first. */
  stop(): Promise<void>;
}

type Closer = () => Promise<void> | void;
type AnySpec = ServiceAppSpec<ServiceHostConfig, HostedService>;

const SPEC = Symbol('SERVICE_APP_SPEC');

@Injectable()
class ServiceLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  service!: HostedService;
  /** Run in order at shutdown: service first, then what the factory registered, then the host's own. */
  private readonly closers: Closer[] = [];

  constructor(@Inject(SPEC) private readonly spec: AnySpec) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      await this.boot();
    } catch (e) {
      // Nest does not call the shutdown hook of an application that never finished booting.
      await this.onApplicationShutdown().catch(() => undefined);
      throw e;
    }
  }

  private async boot(): Promise<void> {
    const { name, config, create, ready } = this.spec;
    const deps = this.spec.deps ?? {};
    // A shared logger gets this service's name; our own already carries it.
    const log = deps.log ? deps.log.child({ service: name, id: config.SERVICE_ID }) : createLogger(name, config.LOG_LEVEL).child({ id: config.SERVICE_ID });
    let nc = deps.nc;
    if (!nc) {
      if (!config.NATS_URL) throw new Error('NATS_URL is required when no NATS connection is given');
      const own = await connectBus(config.NATS_URL, `${name}-${config.SERVICE_ID}`);
      this.closers.push(() => own.drain().catch(() => undefined));
      nc = own;
    }
    const storage = deps.storage ?? (await openStorage({ kind: config.STORAGE, nc, mongodbUri: config.MONGODB_URI, replicas: config.NATS_REPLICAS }));
    if (!deps.storage) this.closers.unshift(() => storage.close());
    let view = deps.view;
    if (!view) {
      const own = new SessionRegistryView(await openSessionsBucket(nc, config.SESSION_TTL_SECONDS, config.NATS_REPLICAS), config.SESSION_TTL_SECONDS);
      if (this.spec.watchSessions !== false) {
        await own.start();
        this.closers.unshift(() => own.stop());
      }
      view = own;
    }
    const service = await create({ config, nc, storage, view, log, onClose: (fn) => this.closers.unshift(fn) });
    await service.start();
    this.service = service;
    this.closers.unshift(() => service.stop());
    const health = deps.health ?? (deps.serveHealth === false ? undefined : new HealthServer());
    if (health) {
      const conn = nc;
      health.addReadiness(`${name}-${config.SERVICE_ID}`, () => service.ready && !conn.isClosed() && (ready?.(service) ?? true));
      if (!deps.health) {
        const port = await health.listen(config.METRICS_PORT, config.METRICS_HOST);
        log.info({ port }, 'metrics and health endpoints listening');
        this.closers.push(() => health.close());
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    // Each closer once, even if shutdown is entered twice (a failed boot, then the app's close).
    for (let c = this.closers.shift(); c; c = this.closers.shift()) await c();
  }
}

@Module({})
class ServiceHostModule {
  static forRoot(spec: AnySpec): DynamicModule {
    return { module: ServiceHostModule, providers: [{ provide: SPEC, useValue: spec }, ServiceLifecycle] };
  }
}

/** Boot one replica of a service in this process (its main.ts, the all-in-one, tests). */
export async function startServiceApp<C extends ServiceHostConfig, S extends HostedService>(spec: ServiceAppSpec<C, S>): Promise<RunningService<S>> {
  const app = await NestFactory.createApplicationContext(ServiceHostModule.forRoot(spec as unknown as AnySpec), {
    logger: ['error', 'warn'],
    abortOnError: false,
  });
  let closing: Promise<void> | undefined;
  return { service: app.get(ServiceLifecycle).service as S, stop: () => (closing ??= app.close()) };
}

/**
 * A service's main.ts: NATS_URL is required, SIGTERM and SIGINT stop the replica (the item in hand
 * finishes) and exit 0, a failed start or stop exits 1 with the reason on stderr.
 */
export function runServiceMain<C extends { NATS_URL?: string }>(
  name: string,
  config: C,
  start: (config: C & { NATS_URL: string }) => Promise<{ stop(): Promise<void> }>,
): void {
  const url = config.NATS_URL;
  if (!url) {
    process.stderr.write(`NATS_URL is required for a standalone ${name} service (e.g. NATS_URL=nats://127.0.0.1:4222)\n`);
    process.exit(1);
  }
  start({ ...config, NATS_URL: url }).then(
    (running) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`${signal}: ${name} service stopping\n`);
        running.stop().then(
          () => process.exit(0),
          (e: Error) => {
            process.stderr.write(`${name} service failed to stop cleanly: ${e.message}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    },
    (e: Error) => {
      process.stderr.write(`${name} service failed to start: ${e.message}\n`);
      process.exit(1);
    },
  );
}
