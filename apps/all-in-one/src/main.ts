/**
 * Every process of the platform in one Node process: the embedded default (`npm start`) and a
 * convenient test target. Same code and same NATS subjects as the separate deployments.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { allInOneSchema, loadConfigOrExit } from '@kxmpp/config';
import { AllInOneModule } from './all-in-one.module';
import { startEmbeddedNats, EmbeddedNats } from './embedded-nats';

async function main(): Promise<void> {
  const config = loadConfigOrExit(allInOneSchema);
  let embedded: EmbeddedNats | null = null;
  let natsUrl = config.NATS_URL;
  if (!natsUrl) {
    embedded = await startEmbeddedNats(config.DATA_DIR, config.EMBEDDED_NATS_PORT, config.NATS_SERVER_BIN);
    natsUrl = embedded.url;
  }
  const app = await NestFactory.createApplicationContext(AllInOneModule.forRoot({ ...config, NATS_URL: natsUrl }), {
    logger: ['error', 'warn'],
  });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: draining sessions and stopping\n`);
    await app.close();
    await embedded?.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((e: Error) => {
  process.stderr.write(`all-in-one failed to start: ${e.message}\n`);
  process.exit(1);
});
