/** Test fixtures of the admin API (integration specs only): a real server on loopback over a real nats-server. */
import assert from 'node:assert/strict';
import type { NatsConnection } from 'nats';
import { connectBus } from '@kxmpp/bus';
import { adminSchema, loadConfig } from '@kxmpp/config';
import { openStorage, Storage } from '@kxmpp/store';
import { createLogger } from '@kxmpp/telemetry';
import { AdminClient } from './admin.client';
import { AdminServiceConfig } from './admin.context';
import { AdminService, AdminServiceOptions } from './admin.service';

export const TEST_TOKEN = 'test-token-0123456789abcdef';

export interface AdminHarness {
  config: AdminServiceConfig;
  nc: NatsConnection;
  storage: Storage;
  admin: AdminService;
  /** Authenticated client. */
  client: AdminClient;
  server: string;
  stop(): Promise<void>;
}

export async function startAdminHarness(natsUrl: string, env: Record<string, string> = {}, opts: AdminServiceOptions = {}): Promise<AdminHarness> {
  const config = loadConfig(adminSchema, {
    XMPP_DOMAINS: 'example.com',
    ADMIN_TOKEN: TEST_TOKEN,
    ADMIN_GRPC_PORT: '0',
    ADMIN_GRPC_HOST: '127.0.0.1',
    ROUTE_PARTITIONS: '4',
    ROUTE_STORAGE: 'memory',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const nc = await connectBus(natsUrl, 'admin-test');
  const storage = await openStorage({ kind: 'jetstream', nc });
  const admin = new AdminService(config, nc, storage, createLogger('admin', 'silent'), opts);
  const port = await admin.start();
  assert.ok(port > 0);
  const server = `127.0.0.1:${port}`;
  const client = new AdminClient({ server, token: TEST_TOKEN });
  return {
    config,
    nc,
    storage,
    admin,
    client,
    server,
    async stop() {
      client.close();
      await admin.stop();
      await storage.close();
      await nc.close();
    },
  };
}

/** A predicate for assert.rejects: a gRPC error with this status code (and message pattern). */
export function grpcError(code: number, details?: RegExp) {
  return (e: unknown) => {
    const err = e as { code?: number; details?: string };
    assert.equal(err.code, code, `expected status ${code}, got ${err.code}: ${err.details}`);
    if (details) assert.match(err.details ?? '', details);
    return true;
  };
}
