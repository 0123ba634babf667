/**
 * kxmpp load benchmark: starts the platform split (edge, router, nats-server as separate processes on
 * free loopback ports, via @kxmpp/e2e) — or, with --target ejabberd|prosody, a peer server from the
 * Debian packages with a generated config (./peers) — drives it with the lean raw-socket client in ./client, and
 * prints one JSON object on stdout (progress goes to stderr). Every phase is bounded in count and time.
 *
 *   npm run bench -- --scenario all --logins 2000 --pairs 100 --rate 2000 --duration 10 --idle 10000
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, platform as osPlatform, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { EDGE_MAIN, ROUTER_MAIN, startPlatform, type Platform } from '@kxmpp/e2e';
import { parseArgs, type Config } from './args';
import type { Target } from './client';
import type { Ctx } from './context';
import { Control } from './control';
import { heapUsedKb, runIdle, type IdleResult } from './idle';
import { makeCert, startPeer, type PeerKind } from './peers';
import { runLogins, type LoginsResult } from './logins';
import { runMessages, type MessagesResult } from './messages';
import { summarizeProfile } from './profile-summary';
import { log, round, type Watched } from './stats';

const REFERENCE = {
  source: 'issue figures (ejabberd 23.01, Prosody), not measured on this machine',
  ejabberd_23_01: { scram_logins_per_sec: 780, delivered_msgs_per_sec: 11000, p99_latency_ms_at_2000_msgs_per_sec: 5 },
  prosody: { kb_per_idle_session: 36 },
};

interface Output {
  benchmark: string;
  target: Config['target'];
  date: string;
  machine: { cpus: number; cpu_model: string; node: string; os: string; total_mem_mb: number; open_files_limit?: number };
  config: Record<string, unknown>;
  results: { logins?: LoginsResult; messages?: MessagesResult; idle?: IdleResult };
  reference: typeof REFERENCE;
  comparison: Record<string, { ours: number; theirs: number; ratio_ours_over_theirs: number; better: 'higher' | 'lower' }>;
  profiles?: Record<string, unknown>;
  errors: string[];
  ok: boolean;
}

const BASE_ENV: Record<string, string> = {
  ROUTE_STORAGE: 'memory',
  LOG_LEVEL: 'warn',
  AUTH_TIMEOUT_SECONDS: '600',
  IDLE_TIMEOUT_SECONDS: '600',
  ROUTE_PARTITIONS: '32',
  // No per-client byte rate, as the peers run without shapers or mod_limits (peers.ts).
  C2S_MAX_BYTES_PER_SECOND: '0',
};

/** The platform's served domains in every scenario (the first is the one the load logs in to). */
const PLATFORM_DOMAINS = ['localhost', 'example.test'];

let current: { stop(): Promise<void> } | null = null;
let abortFlag = false;
let printed = false;

function platformEnv(cfg: Config, control: Control): Record<string, string> {
  return { ...BASE_ENV, ...cfg.env, ...control.env(), ...(cfg.natsNoAsyncTraces ? { BENCH_NATS_NO_ASYNC_TRACES: '1' } : {}) };
}

function print(out: Output): void {
  if (printed) return;
  printed = true;
  out.ok = out.errors.length === 0;
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

function compare(out: Output): void {
  // The issue's reference figures are compared with our platform only; peers measured here are compared
  // with ours by `node bench/dist/ratios.js` (same machine, same client).
  if (out.config.target !== 'ours') return;
  const c = out.comparison;
  const add = (k: string, ours: number | undefined, theirs: number, better: 'higher' | 'lower') => {
    if (ours === undefined || !Number.isFinite(ours)) return;
    c[k] = { ours, theirs, ratio_ours_over_theirs: round(ours / theirs, 3), better };
  };
  const r = out.results;
  add('logins_per_sec_vs_ejabberd', r.logins?.logins_per_sec, REFERENCE.ejabberd_23_01.scram_logins_per_sec, 'higher');
  add('delivered_per_sec_vs_ejabberd', r.messages?.throughput.delivered_per_sec, REFERENCE.ejabberd_23_01.delivered_msgs_per_sec, 'higher');
  add('p99_ms_at_rate_vs_ejabberd', r.messages?.latency.latency_ms.p99, REFERENCE.ejabberd_23_01.p99_latency_ms_at_2000_msgs_per_sec, 'lower');
  add('kb_per_idle_session_vs_prosody', r.idle?.rss_per_session_kb, REFERENCE.prosody.kb_per_idle_session, 'lower');
}

/** One started server under test, whatever it is, as the scenarios and the main loop see it. */
interface Running {
  targets: Target[];
  watched: Watched[];
  sessionProcs: Watched[];
  heapKb(): Promise<number | null>;
  profile(action: 'start' | 'stop', label?: string): Promise<void>;
  gc(): Promise<void>;
  died: Promise<{ name: string; code: number | string; output: string }>;
  tails(): { name: string; text: string }[];
  stop(): Promise<void>;
}

async function startOurs(cfg: Config, control: Control, scenario: string, out: Output): Promise<Running> {
  log(`=== ${scenario}: starting platform (split, ${cfg.edges} edge(s), ${cfg.routers} router(s))`);
  const env = platformEnv(cfg, control);
  // --cert ec: an openssl-made certificate per served domain, as a deployment would mount them.
  let certDir: string | undefined;
  if (cfg.cert === 'ec' && !env.TLS_CERT_DIR) {
    certDir = mkdtempSync(join(tmpdir(), 'kxmpp-bench-certs-'));
    for (const d of PLATFORM_DOMAINS) makeCert(certDir, 'ec', d);
    env.TLS_CERT_DIR = certDir;
  }
  const platform: Platform = await startPlatform({ mode: 'split', edges: cfg.edges, routers: cfg.routers, services: cfg.services, domains: PLATFORM_DOMAINS, env });
  const nodeProcs = platform.procs;
  const edges = nodeProcs.filter((p) => p.name.startsWith('edge-'));
  return {
    targets: platform.edges.map((e) => ({ host: '127.0.0.1', c2s: e.c2s, c2sTls: e.c2sTls, domain: platform.domain, tls: cfg.tls, mech: cfg.mech })),
    watched: [...nodeProcs.map((p) => ({ name: p.name, pid: p.child.pid })), { name: 'nats-server', pid: platform.nats.process.pid }],
    sessionProcs: edges.map((p) => ({ name: p.name, pid: p.child.pid })),
    heapKb: async () => {
      let s = 0;
      for (const e of platform.edges) {
        const h = await heapUsedKb(e.metrics);
        if (h === null) return null;
        s += h;
      }
      return s;
    },
    profile: async (action, label) => {
      if (!cfg.cpuProf) return;
      const answers = await control.send(nodeProcs, action === 'start' ? 'prof-start' : 'prof-stop');
      if (action === 'start') return;
      const sums: Record<string, unknown> = {};
      answers.forEach((file, i) => {
        const name = nodeProcs[i]!.name;
        try {
          sums[name] = { file, ...summarizeProfile(file) };
        } catch (e) {
          sums[name] = { error: `${file}: ${(e as Error).message}` };
        }
      });
      out.profiles![label ? `${scenario}-${label}` : scenario] = sums;
    },
    gc: async () => {
      const answers = await control.send(nodeProcs, 'gc');
      log(`forced GC: ${nodeProcs.map((p, i) => `${p.name} ${answers[i]}`).join(', ')}`);
    },
    died: Promise.race(nodeProcs.map((p) => p.exited.then((code) => ({ name: p.name, code, output: p.output() })))),
    tails: () => nodeProcs.map((p) => ({ name: p.name, text: p.output() })),
    stop: async () => {
      await platform.stop();
      if (certDir) rmSync(certDir, { recursive: true, force: true });
    },
  };
}

async function startPeerTarget(cfg: Config, kind: PeerKind, out: Output): Promise<Running> {
  log(`=== starting ${kind} (Debian package, generated config in a temp dir)`);
  const peer = await startPeer(kind, cfg.cert);
  if (!out.config.server) {
    out.config.server = {
      target: kind,
      package_version: peer.version,
      command: peer.command.join(' '),
      run_as_user: peer.user,
      measured_process: peer.procName,
      config_file: peer.configText,
    };
  }
  const w = { name: peer.procName, pid: peer.pid };
  return {
    targets: [{ host: '127.0.0.1', c2s: peer.c2s, c2sTls: peer.c2sTls, domain: 'localhost', tls: cfg.tls, mech: cfg.mech }],
    watched: [w],
    sessionProcs: [w],
    heapKb: async () => null,
    profile: async () => undefined,
    gc: async () => log(`${kind}: no forced GC (settle time only)`),
    died: peer.exited.then((code) => ({ name: kind, code, output: peer.output() })),
    tails: () => [{ name: kind, text: peer.output() }],
    stop: () => peer.stop(),
  };
}

async function main(): Promise<void> {
  const cfg = parseArgs(process.argv.slice(2));
  const out: Output = {
    benchmark: 'kxmpp load benchmark (bench/)',
    target: cfg.target,
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpu_model: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      os: `${osPlatform()} ${release()}`,
      total_mem_mb: Math.round(totalmem() / 2 ** 20),
    },
    config: {
      ...cfg,
      ...(cfg.target === 'ours' ? { mode: 'split', platform_env: BASE_ENV } : {}),
      pairs: cfg.users / 2,
      client: `lean raw-socket client, ${cfg.tls === 'direct' ? 'direct TLS (XEP-0368)' : 'STARTTLS'}, ${cfg.mech}, one node process`,
    },
    results: {},
    reference: REFERENCE,
    comparison: {},
    errors: [],
    ok: false,
  };

  const hardStop = setTimeout(() => {
    abortFlag = true;
    out.errors.push(`time limit of ${cfg.timeLimit} s reached: aborted`);
    log('time limit reached, aborting');
    setTimeout(() => {
      compare(out);
      print(out);
      void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(2));
      setTimeout(() => process.exit(2), 10_000).unref();
    }, 30_000).unref();
  }, cfg.timeLimit * 1000);
  hardStop.unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      out.errors.push(`interrupted by ${sig}`);
      compare(out);
      print(out);
      void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
    });
  }

  if (cfg.target === 'ours') {
    for (const f of [EDGE_MAIN, ROUTER_MAIN]) {
      if (!existsSync(f)) throw new Error(`${f} is missing: build first (npx tsc -b tsconfig.build.json)`);
    }
  } else if (cfg.cpuProf || cfg.natsNoAsyncTraces || Object.keys(cfg.env).length || cfg.edges !== 1 || cfg.routers !== 1 || cfg.services !== 1) {
    throw new Error(`--cpu-prof, --nats-no-async-traces, --env, --edges, --routers and --services apply to --target ours only`);
  }
  if (cfg.cpuProf) {
    cfg.cpuProf = resolve(cfg.cpuProf);
    mkdirSync(cfg.cpuProf, { recursive: true });
    out.profiles = {};
  }
  // The preload control dir (profiles, forced GCs) is for our node processes only.
  const control = cfg.target === 'ours' ? new Control(cfg.cpuProf || undefined) : undefined;

  for (const scenario of cfg.scenarios) {
    if (abortFlag) break;
    let run: Running;
    try {
      run = cfg.target === 'ours' ? await startOurs(cfg, control!, scenario, out) : await startPeerTarget(cfg, cfg.target, out);
    } catch (e) {
      out.errors.push(`${scenario}: ${cfg.target} did not start: ${String((e as Error).message).slice(0, 2000)}`);
      log(`${scenario}: ${cfg.target} did not start: ${String((e as Error).message).slice(0, 2000)}`);
      continue;
    }
    current = run;
    const ctx: Ctx = {
      cfg,
      target: cfg.target,
      targets: run.targets,
      watched: run.watched,
      sessionProcs: run.sessionProcs,
      heapKb: run.heapKb,
      aborted: () => abortFlag,
      profile: run.profile,
      gc: run.gc,
    };
    try {
      const r = await Promise.race([
        scenario === 'logins' ? runLogins(ctx) : scenario === 'messages' ? runMessages(ctx) : runIdle(ctx),
        run.died.then((d) => {
          throw new Error(`${d.name} exited (${d.code}) during the run:\n${d.output.slice(-3000)}`);
        }),
      ]);
      if (scenario === 'logins') out.results.logins = r as LoginsResult;
      else if (scenario === 'messages') out.results.messages = r as MessagesResult;
      else out.results.idle = r as IdleResult;
    } catch (e) {
      const msg = String((e as Error).stack ?? e).slice(0, 3000);
      out.errors.push(`${scenario}: ${msg}`);
      log(`${scenario} failed: ${msg}`);
      for (const t of run.tails()) if (t.text.trim()) log(`${t.name} output tail:\n${t.text.slice(-1500)}`);
    }
    log(`=== ${scenario}: stopping ${cfg.target}`);
    await run.stop();
    current = null;
  }
  compare(out);
  print(out);
}

main()
  .then(() => process.exit(0))
  .catch((e: Error) => {
    process.stderr.write(`bench failed: ${e.stack ?? e.message}\n`);
    if (!printed) process.stdout.write(`${JSON.stringify({ ok: false, errors: [e.message] })}\n`);
    process.exit(1);
  });
