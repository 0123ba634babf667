/** The admin API as its own process: `NATS_URL=nats://... ADMIN_TOKEN=... node apps/admin/dist/main.js`. */
import { adminSchema, loadConfigOrExit } from '@kxmpp/config';
import { connectBus } from '@kxmpp/bus';
import { openStorage } from '@kxmpp/store';
import { createLogger, HealthServer } from '@kxmpp/telemetry';
import { AdminService } from './admin.service';

async function main(): Promise<void> {
  const config = loadConfigOrExit(adminSchema);
  if (!config.NATS_URL) {
    process.stderr.write('NATS_URL is required for a standalone admin API (e.g. NATS_URL=nats://127.0.0.1:4222)\n');
    process.exit(1);
  }
  const log = createLogger('admin', config.LOG_LEVEL);
  const nc = await connectBus(config.NATS_URL, 'admin');
  const storage = await openStorage({ kind: config.STORAGE, nc, mongodbUri: config.MONGODB_URI, replicas: config.NATS_REPLICAS });
  const admin = new AdminService(config, nc, storage, log);
  const health = new HealthServer();
  health.addReadiness('nats', () => !nc.isClosed());
  health.addReadiness('grpc', () => admin.listening);
  await admin.start();
  const metricsPort = await health.listen(config.METRICS_PORT, config.METRICS_HOST);
  log.info({ port: metricsPort }, 'metrics and health endpoints listening');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'admin API stopping');
    health.setDraining();
    (async () => {
      await admin.stop();
      await health.close();
      await storage.close();
      await nc.drain().catch(() => undefined);
    })().then(
      () => process.exit(0),
      (e: Error) => {
        process.stderr.write(`admin API failed to stop cleanly: ${e.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e: Error) => {
  process.stderr.write(`admin API failed to start: ${e.message}\n`);
  process.exit(1);
});
