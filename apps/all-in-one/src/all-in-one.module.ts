/** Wires the edge, N routers and every service (presence, roster, offline, admin) into one Nest application context. */
import { DynamicModule, Inject, Injectable, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { AllInOneConfig } from '@kxmpp/config';
import { EdgeModule, EdgeService, HEALTH } from '@kxmpp/edge';
import type { HealthServer } from '@kxmpp/telemetry';
import { startRouter } from '@kxmpp/router';
import { startPresenceService } from '@kxmpp/presence';
import { startRosterService } from '@kxmpp/roster';
import { startOfflineService } from '@kxmpp/offline';
import { startFederationService } from '@kxmpp/federation';
import { adminTokenFile, startAdmin } from './admin';

const AIO_CONFIG = Symbol('AIO_CONFIG');

@Injectable()
export class RoutersLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  /** Routers and service replicas, stopped together at shutdown. */
  private routers: Array<{ close(): Promise<void> } | { stop(): Promise<void> }> = [];

  constructor(
    @Inject(AIO_CONFIG) private readonly config: AllInOneConfig & { NATS_URL: string },
    @Inject(EdgeService) private readonly edge: EdgeService,
    @Inject(HEALTH) health: HealthServer,
  ) {
    // Not ready until the routers consume: the edge alone would accept stanzas nobody routes yet.
    health.addReadiness('routers', () => this.started);
  }

  private started = false;

  async onApplicationBootstrap(): Promise<void> {
    for (let i = 0; i < this.config.ROUTERS; i++) {
      this.routers.push(
        await startRouter({ ...this.config, ROUTER_ID: `${this.config.ROUTER_ID}-${i}` }, { serveHealth: false }),
      );
    }
    for (let i = 0; i < this.config.SERVICE_REPLICAS; i++) {
      const svc = { ...this.config, SERVICE_ID: `${this.config.SERVICE_ID}-${i}` };
      this.routers.push(await startPresenceService(svc, { serveHealth: false }));
      this.routers.push(await startRosterService(svc, { serveHealth: false }));
      this.routers.push(await startOfflineService(svc, { serveHealth: false }));
      if (this.config.FEDERATION_ENABLED) {
        this.routers.push(await startFederationService(svc, { serveHealth: false, domains: this.edge.domains, tls: this.edge.tls }));
      }
    }
    const admin = await startAdmin(this.config);
    this.routers.push(admin);
    printWelcome(this.config, this.edge, admin.port);
    this.started = true;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.routers.map((r) => ('close' in r ? r.close() : r.stop())));
  }
}

function printWelcome(config: AllInOneConfig, edge: EdgeService, adminPort: number): void {
  const d = config.XMPP_DOMAINS[0];
  const p = edge.ports;
  const open = config.XMPP_REGISTRATION.trim() !== '';
  process.stdout.write(
    [
      '',
      `kxmpp is running for ${config.XMPP_DOMAINS.join(', ')}`,
      `  XMPP clients   ${d}:${p.c2s} (STARTTLS), ${d}:${p.c2sTls} (direct TLS, XEP-0368)`,
      `  WebSocket      ws://${d}:${p.http}/xmpp-websocket (RFC 7395; discovery at /.well-known/host-meta)`,
      p.s2s
        ? `  federation     ${d}:${p.s2s} (server-to-server, STARTTLS)${p.s2sTls ? `, ${d}:${p.s2sTls} (direct TLS)` : ''}; docs/federation.md`
        : '  federation     off (S2S_ENABLED=false)',
      `  metrics        http://127.0.0.1:${config.METRICS_PORT}/metrics  /healthz  /readyz`,
      `  admin (gRPC)   ${config.ADMIN_GRPC_HOST}:${adminPort}; token ${config.ADMIN_TOKEN ? 'from ADMIN_TOKEN' : `in ${adminTokenFile(config.DATA_DIR)}`}`,
      `                 e.g. XMPPCTL_SERVER=127.0.0.1:${adminPort} XMPPCTL_TOKEN=$(cat ${adminTokenFile(config.DATA_DIR)}) node apps/admin/dist/cli.js stats`,
      '',
      open
        ? `Register a user from your client's "create account" screen (in-band registration, XEP-0077), e.g. alice@${d},`
        : 'In-band registration is closed (XMPP_REGISTRATION is empty).',
      open ? `then log in as alice@${d}. The TLS certificate is self-signed: accept it in the client.` : '',
      'Any XMPP client works (Gajim, Dino, Conversations, Profanity, xmpp.js); README.md "Try it" has a script.',
      '',
    ].join('\n'),
  );
}

@Module({})
export class AllInOneModule {
  static forRoot(config: AllInOneConfig & { NATS_URL: string }): DynamicModule {
    return {
      module: AllInOneModule,
      imports: [EdgeModule.forRoot(config)],
      providers: [{ provide: AIO_CONFIG, useValue: config }, RoutersLifecycle],
    };
  }
}
