/**
 * Starts the real platform for end-to-end tests: its own nats-server on a free port, and either one
 * all-in-one process or separate edge and router processes, each on free ports, as child processes
 * running the compiled apps exactly as a deployment would.
 */
import { spawn, ChildProcess } from 'node:child_process';
import { platformNodeFlags } from '@kxmpp/config';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureOutput, freePort, startNatsServer, NatsServerHandle, waitForPort } from '@kxmpp/testing';

const root = join(__dirname, '..', '..');
export const EDGE_MAIN = join(root, 'apps', 'edge', 'dist', 'main.js');
export const ROUTER_MAIN = join(root, 'apps', 'router', 'dist', 'main.js');
export const AIO_MAIN = join(root, 'apps', 'all-in-one', 'dist', 'main.js');
export const SERVICE_MAINS = {
  presence: join(root, 'apps', 'presence', 'dist', 'main.js'),
  roster: join(root, 'apps', 'roster', 'dist', 'main.js'),
  offline: join(root, 'apps', 'offline', 'dist', 'main.js'),
  federation: join(root, 'apps', 'federation', 'dist', 'main.js'),
} as const;
export const ADMIN_MAIN = join(root, 'apps', 'admin', 'dist', 'main.js');

export interface EdgePorts {
  c2s: number;
  c2sTls: number;
  http: number;
  metrics: number;
  /** XEP-0114 component listener (listening only when the platform has `components`). */
  component: number;
  /** Inbound server-to-server (federation), STARTTLS and direct TLS (XEP-0368). */
  s2s: number;
  s2sTls: number;
}

export interface Proc {
  name: string;
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<number | string>;
}

export interface Platform {
  domain: string;
  domains: string[];
  nats: NatsServerHandle;
  edges: EdgePorts[];
  procs: Proc[];
  /** The environment every process got (NATS_URL, domains, partitions, ...): for processes a test adds. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export interface PlatformOptions {
  mode?: 'all-in-one' | 'split';
  edges?: number;
  routers?: number;
  /** Split mode: replicas of each service (presence, roster, offline); default 1. */
  services?: number;
  domains?: string[];
  env?: Record<string, string>;
  /** XEP-0114 components, domain -> shared secret (the COMPONENTS variable of every process). */
  components?: Record<string, string>;
}

export function spawnProc(name: string, main: string, env: Record<string, string>): Proc {
  // The runtime settings a deployment on a machine this size gets (docs/operations.md).
  const child = spawn(process.execPath, [...platformNodeFlags(), main], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = captureOutput(child);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  return { name, child, output, exited };
}

/** Poll a process's /readyz until 200; fail early if it exits. */
export async function waitReady(port: number, proc: Proc, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited early (${proc.child.exitCode}):\n${proc.output()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`${proc.name} not ready after ${timeoutMs} ms:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function edgeEnv(): Promise<{ ports: EdgePorts; env: Record<string, string> }> {
  const ports = { c2s: await freePort(), c2sTls: await freePort(), http: await freePort(), metrics: await freePort(), component: await freePort(), s2s: await freePort(), s2sTls: await freePort() };
  return {
    ports,
    env: {
      BIND_HOST: '127.0.0.1',
      C2S_PORT: String(ports.c2s),
      C2S_TLS_PORT: String(ports.c2sTls),
      HTTP_PORT: String(ports.http),
      METRICS_PORT: String(ports.metrics),
      METRICS_HOST: '127.0.0.1',
      COMPONENT_PORT: String(ports.component),
      // Inbound S2S on a free port too: several edges share the test machine.
      S2S_PORT: String(ports.s2s),
      S2S_TLS_PORT: String(ports.s2sTls),
    },
  };
}

/**
 * Spawn a process on ports picked just before, and wait until it is ready. Between picking a free port
 * and the process binding it, another test running beside this one may take it (EADDRINUSE): then the
 * ports are picked again, up to three times.
 */
export async function spawnOnFreePorts<P>(
  name: string,
  main: string,
  base: Record<string, string>,
  pick: () => Promise<{ ports: P; metrics: number; env: Record<string, string> }>,
): Promise<{ proc: Proc; ports: P }> {
  for (let attempt = 1; ; attempt++) {
    const { ports, metrics, env } = await pick();
    const proc = spawnProc(name, main, { ...base, ...env });
    try {
      await waitReady(metrics, proc);
      return { proc, ports };
    } catch (e) {
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
      await proc.exited;
      if (attempt < 3 && proc.output().includes('EADDRINUSE')) continue;
      throw e;
    }
  }
}

/** A metrics port and its variables, for a process with no other listener. */
async function metricsOnly(extra: Record<string, string>): Promise<{ ports: null; metrics: number; env: Record<string, string> }> {
  const metrics = await freePort();
  return { ports: null, metrics, env: { ...extra, METRICS_PORT: String(metrics), METRICS_HOST: '127.0.0.1' } };
}

async function edgePick(extra: Record<string, string>): Promise<{ ports: EdgePorts; metrics: number; env: Record<string, string> }> {
  const { ports, env } = await edgeEnv();
  return { ports, metrics: ports.metrics, env: { ...env, ...extra } };
}

export async function startPlatform(opts: PlatformOptions = {}): Promise<Platform> {
  const domains = opts.domains ?? ['localhost', 'example.test'];
  const nats = await startNatsServer();
  const common: Record<string, string> = {
    NATS_URL: nats.url,
    XMPP_DOMAINS: domains.join(','),
    XMPP_REGISTRATION: '*',
    ROUTE_PARTITIONS: '8',
    ROUTE_STORAGE: 'memory',
    SERVICE_PARTITIONS: '4',
    AUTH_FAILURE_DELAY_MS: '200',
    ...(opts.components ? { COMPONENTS: Object.entries(opts.components).map(([d, s]) => `${d}=${s}`).join(',') } : {}),
    ...opts.env,
  };
  const procs: Proc[] = [];
  const edges: EdgePorts[] = [];
  const stop = async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGTERM');
    await Promise.race([Promise.all(procs.map((p) => p.exited)), new Promise((r) => setTimeout(r, 8000).unref())]);
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await nats.stop();
  };
  try {
    if ((opts.mode ?? 'all-in-one') === 'all-in-one') {
      // Its admin API on a free port, and its token file in a folder of its own (tests run side by side).
      const dataDir = mkdtempSync(join(tmpdir(), 'kxmpp-aio-'));
      const { proc, ports } = await spawnOnFreePorts('all-in-one', AIO_MAIN, common, () =>
        edgePick({ ROUTERS: String(opts.routers ?? 1), ADMIN_GRPC_PORT: '0', DATA_DIR: dataDir }),
      );
      procs.push(proc);
      await waitForPort(ports.c2s);
      edges.push(ports);
    } else {
      for (let i = 0; i < (opts.routers ?? 1); i++) {
        procs.push((await spawnOnFreePorts(`router-${i}`, ROUTER_MAIN, common, () => metricsOnly({ ROUTER_ID: `r${i}` }))).proc);
      }
      for (const [svc, main] of Object.entries(SERVICE_MAINS)) {
        for (let i = 0; i < (opts.services ?? 1); i++) {
          procs.push((await spawnOnFreePorts(`${svc}-${i}`, main, common, () => metricsOnly({ SERVICE_ID: `${svc}${i}` }))).proc);
        }
      }
      for (let i = 0; i < (opts.edges ?? 1); i++) {
        const { proc, ports } = await spawnOnFreePorts(`edge-${i}`, EDGE_MAIN, common, () => edgePick({ EDGE_ID: `e${i}` }));
        procs.push(proc);
        edges.push(ports);
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { domain: domains[0], domains, nats, edges, procs, env: common, stop };
}
