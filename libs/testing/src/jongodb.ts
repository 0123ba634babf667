/**
 * A MongoDB wire-protocol server for tests (ARCHITECTURE.md, Storage): the jongodb binary from the npm
 * package @jongodb/memory-server-bin-linux-x64-gnu, on a loopback port it picks itself (`--port=0`, so no
 * race for a port probed free), data in memory, one unique
 * database per start. Never reuses a server the machine may already run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

export interface JongodbHandle {
  /** mongodb://… as the server printed it, naming the database. */
  uri: string;
  database: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

const PACKAGE = '@jongodb/memory-server-bin-linux-x64-gnu';

export function jongodbBinary(): string {
  if (process.env.JONGODB_BIN && existsSync(process.env.JONGODB_BIN)) return process.env.JONGODB_BIN;
  let pkg: string;
  try {
    pkg = dirname(require.resolve(`${PACKAGE}/package.json`));
  } catch {
    throw new Error(`jongodb not found: the dev dependency ${PACKAGE} is not installed`);
  }
  const bin = join(pkg, 'bin', 'jongodb');
  if (!existsSync(bin)) throw new Error(`jongodb not found at ${bin}`);
  return bin;
}

export async function startJongodb(opts: { timeoutMs?: number } = {}): Promise<JongodbHandle> {
  const database = `kxmpp_${randomBytes(6).toString('hex')}`;
  const proc = spawn(jongodbBinary(), ['--host=127.0.0.1', '--port=0', `--database=${database}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer) => {
    if (output.length < 10_000) output += d.toString();
  };
  proc.stderr?.on('data', keep);
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000).unref())]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  };
  try {
    const uri = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no JONGODB_URI line in time')), opts.timeoutMs ?? 20_000);
      timer.unref();
      const lines = createInterface({ input: proc.stdout! });
      lines.on('line', (line) => {
        keep(Buffer.from(`${line}\n`));
        const m = /^JONGODB_URI=(mongodb:\/\/\S+)/.exec(line.trim());
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      proc.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`exited early (code ${code}, signal ${signal})`));
      });
    });
    // Keep draining stdout so a chatty server never blocks on a full pipe.
    proc.stdout?.resume();
    return { uri, database, process: proc, stop };
  } catch (e) {
    await stop();
    throw new Error(`jongodb did not start: ${(e as Error).message}\n${output}`);
  }
}

/**
 * One jongodb shared by the tests of a file, started on first use: `uri()` starts it if needed,
 * `stop()` (for an `after` hook) stops it if it was started.
 */
export function lazyJongodb(): { uri(): Promise<string>; stop(): Promise<void> } {
  let server: Promise<JongodbHandle> | undefined;
  return {
    async uri() {
      server ??= startJongodb();
      return (await server).uri;
    },
    async stop() {
      if (server) await (await server).stop();
    },
  };
}
