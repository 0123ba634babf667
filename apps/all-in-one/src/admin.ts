/**
 * The admin API inside the all-in-one. Without ADMIN_TOKEN a random token is made once and kept in
 * <DATA_DIR>/admin-token (mode 0600), so `xmppctl` on the same machine can read it; never printed in logs.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdminService } from '@kxmpp/admin';
import { connectBus } from '@kxmpp/bus';
import type { AllInOneConfig } from '@kxmpp/config';
import { openStorage } from '@kxmpp/store';
import { createLogger } from '@kxmpp/telemetry';

export function adminTokenFile(dataDir: string): string {
  return join(dataDir, 'admin-token');
}

function tokenFor(config: AllInOneConfig): string {
  if (config.ADMIN_TOKEN) return config.ADMIN_TOKEN;
  const file = adminTokenFile(config.DATA_DIR);
  if (existsSync(file)) {
    const t = readFileSync(file, 'utf8').trim();
    if (t.length >= 16) return t;
  }
  mkdirSync(config.DATA_DIR, { recursive: true });
  const t = randomBytes(24).toString('base64url');
  writeFileSync(file, `${t}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return t;
}

export interface RunningAdmin {
  port: number;
  stop(): Promise<void>;
}

export async function startAdmin(config: AllInOneConfig & { NATS_URL: string }): Promise<RunningAdmin> {
  const log = createLogger('admin', config.LOG_LEVEL);
  const nc = await connectBus(config.NATS_URL, 'admin');
  const storage = await openStorage({ kind: config.STORAGE, nc, mongodbUri: config.MONGODB_URI, replicas: config.NATS_REPLICAS });
  const admin = new AdminService({ ...config, ADMIN_TOKEN: tokenFor(config) }, nc, storage, log);
  const port = await admin.start();
  return {
    port,
    stop: async () => {
      await admin.stop();
      await storage.close();
      await nc.drain().catch(() => undefined);
    },
  };
}
