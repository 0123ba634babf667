/** The presence service as its own process: `NATS_URL=nats://... node apps/presence/dist/main.js`. */
import 'reflect-metadata';
import { loadConfigOrExit, serviceSchema } from '@kxmpp/config';
import { startPresenceService } from './presence.app';

async function main(): Promise<void> {
  const config = loadConfigOrExit(serviceSchema);
  if (!config.NATS_URL) {
    process.stderr.write('NATS_URL is required for a standalone presence service (e.g. NATS_URL=nats://127.0.0.1:4222)\n');
    process.exit(1);
  }
  const running = await startPresenceService({ ...config, NATS_URL: config.NATS_URL });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: presence service stopping\n`);
    running.stop().then(
      () => process.exit(0),
      (e: Error) => {
        process.stderr.write(`presence service failed to stop cleanly: ${e.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e: Error) => {
  process.stderr.write(`presence service failed to start: ${e.message}\n`);
  process.exit(1);
});
