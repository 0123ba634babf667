/** The offline service as its own process: `NATS_URL=nats://... node apps/offline/dist/main.js`. */
import 'reflect-metadata';
import { loadConfigOrExit, serviceSchema } from '@kxmpp/config';
import { startOfflineService } from './offline.app';

async function main(): Promise<void> {
  const config = loadConfigOrExit(serviceSchema);
  if (!config.NATS_URL) {
    process.stderr.write('NATS_URL is required for a standalone offline service (e.g. NATS_URL=nats://127.0.0.1:4222)\n');
    process.exit(1);
  }
  const running = await startOfflineService(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: offline service stopping\n`);
    running.stop().then(
      () => process.exit(0),
      (e: Error) => {
        process.stderr.write(`offline service failed to stop cleanly: ${e.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e: Error) => {
  process.stderr.write(`offline service failed to start: ${e.message}\n`);
  process.exit(1);
});
