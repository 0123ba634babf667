/**
 * The embedded default: when NATS_URL is not set, all-in-one runs its own `nats-server -js` on loopback,
 * with its JetStream data under DATA_DIR, and stops it on exit.
 */
import { spawn, ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { resolve } from 'node:path';
import { natsServerEnv } from '@kxmpp/config';

const CANDIDATES = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];

/** NATS_SERVER_BIN, when given, is the only place looked at (so a wrong value is reported, not ignored). */
export function findNatsServer(explicit?: string): string | null {
  if (explicit) return existsSync(explicit) ? explicit : null;
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

export interface EmbeddedNats {
  url: string;
  stop(): Promise<void>;
}

export async function startEmbeddedNats(dataDir: string, preferredPort = 4223, explicitBin?: string): Promise<EmbeddedNats> {
  const bin = findNatsServer(explicitBin);
  if (!bin) {
    throw new Error(
      `nats-server ${explicitBin ? `not found at NATS_SERVER_BIN=${explicitBin}` : 'is not installed'}. ` +
        'Install the Debian package: `sudo apt-get install nats-server` ' +
        '(or set NATS_URL to an existing NATS server with JetStream).',
    );
  }
  const dir = resolve(dataDir, 'nats');
  mkdirSync(dir, { recursive: true });
  // A previous all-in-one that was killed outright (SIGKILL, OOM) leaves its nats-server behind, holding
  // the JetStream folder: stop it first.
  const pidFile = resolve(dataDir, 'nats-server.pid');
  await stopLeftover(pidFile);
  const port = (await portFree(preferredPort)) ? preferredPort : await freePort();
  const proc: ChildProcess = spawn(bin, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    // It shares the machine with this process: not every core (docs/operations.md, Runtime settings).
    env: natsServerEnv(),
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 20_000) stderr += d.toString();
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nats-server exited at start (code ${proc.exitCode}):\n${stderr}`);
    const up = await new Promise<boolean>((res) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        res(true);
      });
      s.once('error', () => res(false));
    });
    if (up) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`nats-server did not start within 15 s:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  if (proc.pid) writeFileSync(pidFile, String(proc.pid));
  const stopOnExit = () => proc.kill('SIGTERM');
  process.once('exit', stopOnExit);
  return {
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      process.off('exit', stopOnExit);
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      rmSync(pidFile, { force: true });
    },
  };
}

async function stopLeftover(pidFile: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 1) return;
  let cmd = '';
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return; // not running
  }
  if (!cmd.includes('nats-server')) return; // the pid was reused by something else
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
}
