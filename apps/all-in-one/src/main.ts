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
  // Installed before anything starts, so a signal during boot still shuts down cleanly.
  let stop: ((signal: string) => Promise<void>) | null = null;
  let pendingSignal: string | null = null;
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (stop) void stop(sig);
      else pendingSignal ??= sig;
    });
  }
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
  stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: draining sessions and stopping\n`);
    await app.close();
    await embedded?.stop();
    process.exit(0);
  };
  if (pendingSignal) await stop(pendingSignal);
}

main().catch((e: Error) => {
  process.stderr.write(`all-in-one failed to start: ${e.message}\n`);
  process.exit(1);
});
