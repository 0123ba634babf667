/**
 * Scenario 3: memory per idle authenticated session. Edge RSS (VmRSS) with no session, after a settle,
 * then with K bound idle sessions opened in batches, after a settle: (after - before) / K.
 */
import { spawnSync } from 'node:child_process';
import { login, registerAll, XmppConn } from './client';
import { Ctx, PASSWORD, targetFor } from './context';
import { log, round, rssKb, sleep } from './stats';

export interface IdleResult {
  requested_sessions: number;
  sessions: number;
  accounts: number;
  failures: number;
  failure_samples: string[];
  warnings: string[];
  open_seconds: number;
  edge_rss_before_kb: number;
  edge_rss_after_kb: number;
  rss_per_session_kb: number;
  edge_heap_used_before_kb: number | null;
  edge_heap_used_after_kb: number | null;
  heap_per_session_kb: number | null;
  other_rss_delta_per_session_kb: Record<string, number>;
  /** The processes the edge_rss_* readings are summed over (edge-* for ours, beam.smp / lua5.4 for a peer). */
  rss_processes: string[];
  /** Whether a full GC was forced before each reading (ours: yes, via the preload hook; peers: no). */
  forced_gc: boolean;
}

/** The soft open-files limit this process (and the platform it spawns) runs under. */
export function openFilesLimit(): number {
  const r = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const n = Number(String(r.stdout).trim());
  return Number.isFinite(n) ? n : r.stdout.trim() === 'unlimited' ? Infinity : 1024;
}

export async function heapUsedKb(metricsPort: number): Promise<number | null> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const m = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? ([0-9.e+]+)/m.exec(text);
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

export async function runIdle(ctx: Ctx): Promise<IdleResult> {
  const { cfg } = ctx;
  const warnings: string[] = [];
  let K = cfg.idle;
  const limit = openFilesLimit();
  const max = limit - 512;
  if (K > max) {
    const w = `ulimit -n is ${limit}: lowering idle sessions from ${K} to ${max} (raise it with ulimit -n 65536 for more)`;
    log(`idle: WARNING ${w}`);
    warnings.push(w);
    K = Math.max(1, max);
  }
  const accounts = Math.min(cfg.idleUsers, K);
  const users = Array.from({ length: accounts }, (_, i) => `iu${i}`);
  log(`idle: registering ${accounts} accounts`);
  await registerAll(targetFor(ctx, 0), users, PASSWORD, cfg.registerParallel, (d) => log(`idle: ${d} registered`));

  const measured = ctx.sessionProcs;
  const others = ctx.watched.filter((w) => !measured.some((m) => m.pid === w.pid));
  const edgeRss = () => measured.reduce((s, p) => s + rssKb(p.pid), 0);
  const heap = () => ctx.heapKb();

  log(`idle: settling ${cfg.settleMs} ms with no session`);
  await sleep(cfg.settleMs / 2);
  await ctx.gc();
  await sleep(cfg.settleMs / 2);
  const before = edgeRss();
  const heapBefore = await heap();
  const othersBefore = others.map((o) => rssKb(o.pid));
  log(`idle: edge RSS before ${before} kB`);

  const conns: XmppConn[] = [];
  const failures: string[] = [];
  let failed = 0;
  const t0 = performance.now();
  for (let start = 0; start < K && !ctx.aborted(); start += cfg.idleBatch) {
    const end = Math.min(K, start + cfg.idleBatch);
    await Promise.all(
      Array.from({ length: end - start }, async (_, j) => {
        const i = start + j;
        try {
          const c = await login(targetFor(ctx, i), users[i % accounts]!, PASSWORD, { resource: `i${i}` });
          if (cfg.idleEcho > 0) {
            c.send(`<message to='${c.jid}' type='chat' id='echo'><body>${'e'.repeat(cfg.idleEcho)}</body></message>`);
            await c.expect('message');
          }
          conns.push(c);
        } catch (e) {
          failed++;
          if (failures.length < 5) failures.push(String((e as Error).message).slice(0, 300));
        }
      }),
    );
    if (end % 1000 === 0 || end === K) log(`idle: ${conns.length} sessions open (${failed} failed)`);
    if (cfg.idlePauseMs) await sleep(cfg.idlePauseMs);
  }
  const openSeconds = (performance.now() - t0) / 1000;
  const n = conns.length;
  log(`idle: settling ${cfg.settleMs} ms with ${n} sessions`);
  await sleep(cfg.settleMs / 2);
  await ctx.gc();
  await sleep(cfg.settleMs / 2);
  const after = edgeRss();
  const heapAfter = await heap();
  const othersAfter = others.map((o) => rssKb(o.pid));
  log(`idle: edge RSS after ${after} kB → ${((after - before) / Math.max(1, n)).toFixed(1)} kB/session`);
  const otherDelta: Record<string, number> = {};
  others.forEach((o, i) => (otherDelta[o.name] = round((othersAfter[i]! - othersBefore[i]!) / Math.max(1, n), 2)));

  log('idle: closing sessions');
  for (const c of conns) c.destroy();
  return {
    requested_sessions: cfg.idle,
    sessions: n,
    accounts,
    failures: failed,
    failure_samples: failures,
    warnings,
    open_seconds: round(openSeconds, 2),
    edge_rss_before_kb: before,
    edge_rss_after_kb: after,
    rss_per_session_kb: round((after - before) / Math.max(1, n), 2),
    edge_heap_used_before_kb: heapBefore === null ? null : round(heapBefore, 0),
    edge_heap_used_after_kb: heapAfter === null ? null : round(heapAfter, 0),
    heap_per_session_kb: heapBefore === null || heapAfter === null ? null : round((heapAfter - heapBefore) / Math.max(1, n), 2),
    other_rss_delta_per_session_kb: otherDelta,
    rss_processes: measured.map((m) => `${m.name} (pid ${m.pid})`),
    forced_gc: ctx.target === 'ours',
  };
}
