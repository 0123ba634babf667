/** Scenario 1: full logins per second (TCP connect + TLS + SCRAM + stream restart + bind + close). */
import { login, registerAll, scramStats, tlsSeen } from './client';
import { Ctx, PASSWORD, targetFor } from './context';
import { CpuMeter, log, percentiles, round } from './stats';

export interface LoginsResult {
  logins: number;
  concurrency: number;
  accounts: number;
  warmup_logins: number;
  failures: number;
  failure_samples: string[];
  seconds: number;
  logins_per_sec: number;
  login_latency_ms: { p50: number; p90: number; p99: number; max: number };
  cpu_cores_used: Record<string, number>;
  /** What the TLS handshake negotiated with this server (first connection). */
  tls: typeof tlsSeen;
}

export async function runLogins(ctx: Ctx): Promise<LoginsResult> {
  const { cfg } = ctx;
  const n = cfg.logins;
  const accounts = Math.min(cfg.loginUsers, n);
  const users = Array.from({ length: accounts }, (_, i) => `lu${i}`);
  log(`logins: registering ${accounts} accounts`);
  await registerAll(targetFor(ctx, 0), users, PASSWORD, cfg.registerParallel);

  const failures: string[] = [];
  let failed = 0;
  const latencies: number[] = [];
  const runBatch = async (count: number, offset: number, record: boolean) => {
    let next = 0;
    const worker = async () => {
      while (next < count && !ctx.aborted()) {
        const i = next++;
        const u = users[(offset + i) % accounts]!;
        const t0 = performance.now();
        try {
          const c = await login(targetFor(ctx, offset + i), u, PASSWORD, { resource: `l${offset + i}` });
          if (record) latencies.push(performance.now() - t0);
          await c.close(5000);
        } catch (e) {
          if (!record) throw e;
          failed++;
          if (failures.length < 5) failures.push(String((e as Error).message).slice(0, 300));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(cfg.loginConcurrency, count) }, worker));
  };

  // Warm-up (untimed): each account logs in at least once, so the client has its SCRAM keys cached, and
  // the server runs long enough to reach its steady state (a JIT's optimized code, warm caches and
  // pools); the timed part then measures what a server that has been up a while sustains.
  const warmup = Math.max(accounts, cfg.loginWarmup);
  log(`logins: warm-up, ${warmup} logins`);
  await runBatch(warmup, 0, false);
  const pbkdf2Before = scramStats.pbkdf2;

  log(`logins: timing ${n} logins, ${cfg.loginConcurrency} at a time`);
  await ctx.profile('start');
  const meter = new CpuMeter(ctx.watched);
  const t0 = performance.now();
  await runBatch(n, warmup, true);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = meter.read();
  await ctx.profile('stop');
  if (scramStats.pbkdf2 !== pbkdf2Before) log(`logins: note: ${scramStats.pbkdf2 - pbkdf2Before} PBKDF2 runs in the timed part`);
  const [p50, p90, p99, max] = percentiles(latencies, [50, 90, 99, 100]);
  const ok = n - failed;
  log(`logins: ${ok} ok, ${failed} failed in ${seconds.toFixed(2)} s = ${(ok / seconds).toFixed(0)}/s`);
  return {
    logins: n,
    concurrency: cfg.loginConcurrency,
    accounts,
    warmup_logins: warmup,
    failures: failed,
    failure_samples: failures,
    seconds: round(seconds, 3),
    logins_per_sec: round(ok / seconds, 1),
    login_latency_ms: { p50: round(p50!), p90: round(p90!), p99: round(p99!), max: round(max!) },
    cpu_cores_used: cpu,
    tls: { ...tlsSeen },
  };
}
