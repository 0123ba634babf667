/**
 * A real nats-server with JetStream for tests, on a free loopback port with its data in a temp folder.
 * Never reuses a server the machine may already run.
 */
import { spawn, ChildProcess } from 'node:child_process';
import { natsServerEnv } from '@kxmpp/config';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port';
import { waitForPort } from './wait';

export interface NatsServerHandle {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function natsServerBinary(): string {
  for (const p of [process.env.NATS_SERVER_BIN, '/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) {
    if (p && existsSync(p)) return p;
  }
  throw new Error('nats-server not found: install the Debian package `nats-server` (apt-get install nats-server)');
}

export async function startNatsServer(): Promise<NatsServerHandle> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'kxmpp-nats-'));
  // NATS_SERVER_ARGS: extra flags for a look inside (e.g. `--profile 6061` for Go's pprof endpoint).
  const extra = (process.env.NATS_SERVER_ARGS ?? '').split(/\s+/).filter(Boolean);
  const proc = spawn(natsServerBinary(), ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir, ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: natsServerEnv(),
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 10_000) stderr += d.toString();
  });
  try {
    await waitForPort(port);
  } catch (e) {
    proc.kill('SIGKILL');
    throw new Error(`nats-server did not start: ${(e as Error).message}\n${stderr}`);
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    process: proc,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000).unref())]);
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One nats-server shared by the tests of a file, started on first use: `url()` starts it if needed,
 * `stop()` (for an `after` hook) stops it if it was started.
 */
export function lazyNatsServer(): { url(): Promise<string>; stop(): Promise<void> } {
  let server: Promise<NatsServerHandle> | undefined;
  return {
    async url() {
      server ??= startNatsServer();
      return (await server).url;
    },
    async stop() {
      if (server) await (await server).stop();
    },
  };
}
