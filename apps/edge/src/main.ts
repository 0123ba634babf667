/** The edge as its own process: `node apps/edge/dist/main.js`, configured by environment variables. */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { edgeSchema, loadConfigOrExit } from '@kxmpp/config';
import { EdgeModule } from './edge.module';

async function main(): Promise<void> {
  const config = loadConfigOrExit(edgeSchema);
  if (!config.NATS_URL) {
    process.stderr.write('NATS_URL is required for a standalone edge (e.g. nats://127.0.0.1:4222)\n');
    process.exit(1);
  }
  const app = await NestFactory.createApplicationContext(EdgeModule.forRoot({ ...config, NATS_URL: config.NATS_URL }), {
    logger: ['error', 'warn'],
  });
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
}

main().catch((e: Error) => {
  process.stderr.write(`edge failed to start: ${e.message}\n`);
  process.exit(1);
});
