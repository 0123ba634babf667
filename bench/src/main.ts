/**
 * kxmpp load benchmark: starts the platform split (edge, router, nats-server as separate processes on
 * free loopback ports, via @kxmpp/e2e), drives it with the lean raw-socket client in ./client, and
 * prints one JSON object on stdout (progress goes to stderr). Every phase is bounded in count and time.
 *
 *   npm run bench -- --scenario all --logins 2000 --pairs 100 --rate 2000 --duration 10 --idle 10000
 */
import { existsSync, mkdirSync } from 'node:fs';
import { cpus, platform as osPlatform, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { EDGE_MAIN, ROUTER_MAIN, startPlatform, type Platform } from '@kxmpp/e2e';
import { parseArgs, type Config } from './args';
import type { Target } from './client';
import type { Ctx } from './context';
import { Control } from './control';
import { runIdle, type IdleResult } from './idle';
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
};

let current: Platform | null = null;
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

async function main(): Promise<void> {
  const cfg = parseArgs(process.argv.slice(2));
  const out: Output = {
    benchmark: 'kxmpp load benchmark (bench/)',
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
      mode: 'split',
      pairs: cfg.users / 2,
      platform_env: BASE_ENV,
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

  for (const f of [EDGE_MAIN, ROUTER_MAIN]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: build first (npx tsc -b tsconfig.build.json)`);
  }
  if (cfg.cpuProf) {
    cfg.cpuProf = resolve(cfg.cpuProf);
    mkdirSync(cfg.cpuProf, { recursive: true });
    out.profiles = {};
  }
  const control = new Control(cfg.cpuProf || undefined);

  for (const scenario of cfg.scenarios) {
    if (abortFlag) break;
    log(`=== ${scenario}: starting platform (split, ${cfg.edges} edge(s), ${cfg.routers} router(s))`);
    let platform: Platform;
    try {
      platform = await startPlatform({ mode: 'split', edges: cfg.edges, routers: cfg.routers, env: platformEnv(cfg, control) });
    } catch (e) {
      out.errors.push(`${scenario}: platform did not start: ${String((e as Error).message).slice(0, 2000)}`);
      log(`${scenario}: platform did not start`);
      continue;
    }
    current = platform;
    const targets: Target[] = platform.edges.map((e) => ({
      host: '127.0.0.1',
      c2s: e.c2s,
      c2sTls: e.c2sTls,
      domain: platform.domain,
      tls: cfg.tls,
      mech: cfg.mech,
    }));
    const watched: Watched[] = [
      ...platform.procs.map((p) => ({ name: p.name, pid: p.child.pid })),
      { name: 'nats-server', pid: platform.nats.process.pid },
    ];
    const nodeProcs = platform.procs;
    const profile = async (action: 'start' | 'stop') => {
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
      out.profiles![scenario] = sums;
    };
    const gc = async () => {
      const answers = await control.send(nodeProcs, 'gc');
      log(`forced GC: ${nodeProcs.map((p, i) => `${p.name} ${answers[i]}`).join(', ')}`);
    };
    const ctx: Ctx = { cfg, platform, targets, watched, aborted: () => abortFlag, profile, gc };
    const died = Promise.race(
      platform.procs.map((p) => p.exited.then((code) => ({ name: p.name, code, output: p.output() }))),
    );
    try {
      const run = scenario === 'logins' ? runLogins(ctx) : scenario === 'messages' ? runMessages(ctx) : runIdle(ctx);
      const r = await Promise.race([
        run,
        died.then((d) => {
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
      for (const p of platform.procs) {
        const tail = p.output().slice(-1500);
        if (tail.trim()) log(`${p.name} output tail:\n${tail}`);
      }
    }
    log(`=== ${scenario}: stopping platform`);
    await platform.stop();
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
