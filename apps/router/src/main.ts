/** The router as its own process: `NATS_URL=nats://... node apps/router/dist/main.js`. */
import 'reflect-metadata';
import { loadConfigOrExit, routerSchema } from '@kxmpp/config';
import { startRouter } from './router.module';

async function main(): Promise<void> {
  const config = loadConfigOrExit(routerSchema);
  if (!config.NATS_URL) {
    process.stderr.write('NATS_URL is required for a standalone router (e.g. NATS_URL=nats://127.0.0.1:4222)\n');
    process.exit(1);
  }
  const router = await startRouter({ ...config, NATS_URL: config.NATS_URL });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: router stopping\n`);
    router.close().then(
      () => process.exit(0),
      (e: Error) => {
        process.stderr.write(`router failed to stop cleanly: ${e.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e: Error) => {
  process.stderr.write(`router failed to start: ${e.message}\n`);
  process.exit(1);
});
