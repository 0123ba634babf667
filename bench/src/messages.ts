/**
 * Scenario 2: 1:1 messages between pairs of available users, each sending to its partner's full JID.
 * Every user is a sender (flow f: user f → user f^1), so 100 users make 50 pairs and 100 flows.
 *  (a) throughput: each flow keeps `window` messages outstanding for `duration` seconds;
 *  (b) latency: a fixed total offered rate, paced by a timer, for `duration` seconds.
 * The body carries phase:flow:seq:sendTimeMicros, so loss, reordering and latency are exact.
 */
import { writeFileSync } from 'node:fs';
import { login, registerAll, XmppConn } from './client';
import { Ctx, PASSWORD, targetFor } from './context';
import { CpuMeter, log, percentiles, round, sleep } from './stats';

interface Flow {
  from: XmppConn;
  to: string;
  sent: number;
  received: number;
  maxSeq: number;
  reordered: number;
}

export interface RunResult {
  seconds: number;
  sent: number;
  delivered_in_window: number;
  delivered_total: number;
  lost: number;
  reordered: number;
  duplicates_or_stale: number;
  error_stanzas: number;
  latency_ms: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** Per second of send time: count and latency percentiles (ms). */
  timeline: { s: number; n: number; p50: number; p99: number; max: number }[];
  cpu_cores_used: Record<string, number>;
}

export interface MessagesResult {
  users: number;
  pairs: number;
  flows: number;
  body_bytes: number;
  throughput: RunResult & { window_per_sender: number; delivered_per_sec: number };
  latency: RunResult & { offered_rate: number; achieved_send_rate: number };
}

const base = process.hrtime.bigint();
const nowMicros = () => Number((process.hrtime.bigint() - base) / 1000n);

export async function runMessages(ctx: Ctx): Promise<MessagesResult> {
  const { cfg } = ctx;
  const U = cfg.users;
  const users = Array.from({ length: U }, (_, i) => `mu${i}`);
  log(`messages: registering ${U} accounts`);
  await registerAll(targetFor(ctx, 0), users, PASSWORD, cfg.registerParallel);

  log(`messages: logging in ${U} users (available)`);
  const conns: XmppConn[] = new Array(U);
  let next = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < U) {
        const i = next++;
        conns[i] = await login(targetFor(ctx, i), users[i]!, PASSWORD, { resource: 'bench', presence: true });
      }
    }),
  );
  const flows: Flow[] = conns.map((c, f) => ({ from: c, to: conns[f ^ 1]!.jid, sent: 0, received: 0, maxSeq: -1, reordered: 0 }));

  let phase = 0;
  let running = false;
  let stale = 0;
  let errors = 0;
  let errorSample = '';
  let lat: Float64Array = new Float64Array(1024);
  let sentAt: Float64Array = new Float64Array(1024);
  let latN = 0;
  let dump: string[] | null = null;
  let phaseStart = 0;
  let received = 0;
  let windowed = false;
  const pad = 'x'.repeat(Math.max(0, cfg.bodyBytes - 24));

  const send = (f: number) => {
    const fl = flows[f]!;
    const seq = fl.sent++;
    fl.from.send(`<message to='${fl.to}' type='chat'><body>${phase}:${f}:${seq}:${nowMicros()}:${pad}</body></message>`);
  };

  const onElement = (name: string, xml: string) => {
    if (name !== 'message') {
      if (name === 'stream:error' || name === '/stream:stream') {
        errors++;
        if (!errorSample) errorSample = xml.slice(0, 300);
      }
      return; // presence and anything else: ignored
    }
    const b = xml.indexOf('<body>');
    const e = xml.indexOf('</body>', b);
    if (b === -1 || e === -1 || xml.includes("type='error'") || xml.includes('type="error"')) {
      errors++;
      if (!errorSample) errorSample = xml.slice(0, 300);
      return;
    }
    const body = xml.slice(b + 6, e);
    const c1 = body.indexOf(':');
    const c2 = body.indexOf(':', c1 + 1);
    const c3 = body.indexOf(':', c2 + 1);
    const c4 = body.indexOf(':', c3 + 1);
    if (Number(body.slice(0, c1)) !== phase) {
      stale++;
      return;
    }
    const f = Number(body.slice(c1 + 1, c2));
    const seq = Number(body.slice(c2 + 1, c3));
    const t = Number(body.slice(c3 + 1, c4 === -1 ? undefined : c4));
    const fl = flows[f];
    if (!fl) {
      stale++;
      return;
    }
    if (seq <= fl.maxSeq) fl.reordered++;
    else fl.maxSeq = seq;
    fl.received++;
    received++;
    if (latN === lat.length) {
      const bigger = new Float64Array(lat.length * 2);
      bigger.set(lat);
      lat = bigger;
      const bigger2 = new Float64Array(sentAt.length * 2);
      bigger2.set(sentAt);
      sentAt = bigger2;
    }
    sentAt[latN] = t;
    if (dump) dump.push(`${t - phaseStart},${f},${nowMicros() - t}`);
    lat[latN++] = (nowMicros() - t) / 1000;
    if (windowed && running) send(f);
  };
  for (const c of conns) c.onElement = onElement;

  const reset = () => {
    phase++;
    // BENCH_LATENCY_DUMP=<file>: every sample of the paced run (send time, flow, latency), for finding
    // what the tail is made of.
    dump = process.env.BENCH_LATENCY_DUMP ? [] : null;
    for (const fl of flows) {
      fl.sent = 0;
      fl.received = 0;
      fl.maxSeq = -1;
      fl.reordered = 0;
    }
    stale = 0;
    errors = 0;
    errorSample = '';
    latN = 0;
    received = 0;
    phaseStart = nowMicros();
  };

  /** Latency by send time, per second of the run: shows stalls (p99 is made of them or not). */
  const timeline = () => {
    const buckets: number[][] = [];
    for (let i = 0; i < latN; i++) {
      const b = Math.floor((sentAt[i]! - phaseStart) / 1e6);
      (buckets[b] ??= []).push(lat[i]!);
    }
    return buckets.map((v, s) => {
      const [p50, p99, max] = percentiles(v ?? [], [50, 99, 100]);
      return { s, n: v?.length ?? 0, p50: round(p50!, 2), p99: round(p99!, 2), max: round(max!, 2) };
    });
  };

  /** Wait until every sent message arrived, or `drain` seconds. */
  const drain = async () => {
    const until = Date.now() + cfg.drain * 1000;
    const total = () => flows.reduce((s, f) => s + f.sent, 0);
    while (received < total() && Date.now() < until) await sleep(20);
  };

  const summarize = (seconds: number, inWindow: number, cpu: Record<string, number>): RunResult => {
    const sent = flows.reduce((s, f) => s + f.sent, 0);
    const got = flows.reduce((s, f) => s + f.received, 0);
    const reordered = flows.reduce((s, f) => s + f.reordered, 0);
    const [p50, p90, p99, max] = percentiles(lat.subarray(0, latN), [50, 90, 99, 100]);
    let sum = 0;
    for (let i = 0; i < latN; i++) sum += lat[i]!;
    if (errorSample) log(`messages: first error stanza: ${errorSample}`);
    return {
      seconds: round(seconds, 3),
      sent,
      delivered_in_window: inWindow,
      delivered_total: got,
      lost: Math.max(0, sent - got),
      reordered,
      duplicates_or_stale: stale + Math.max(0, got - sent),
      error_stanzas: errors,
      latency_ms: { p50: round(p50!, 3), p90: round(p90!, 3), p99: round(p99!, 3), max: round(max!, 3), mean: round(latN ? sum / latN : NaN, 3) },
      timeline: timeline(),
      cpu_cores_used: cpu,
    };
  };

  const windowRun = async (seconds: number) => {
    windowed = true;
    running = true;
    for (let f = 0; f < flows.length; f++) for (let k = 0; k < cfg.window; k++) send(f);
    await sleep(seconds * 1000);
    running = false;
    return received;
  };

  // Warm-up: routes learned, JIT warm. Not counted.
  await sleep(500);
  log('messages: warm-up (2 s, windowed)');
  reset();
  await windowRun(2);
  await drain();
  const warm = summarize(2, 0, {});
  if (warm.delivered_total === 0) throw new Error(`no message delivered in the warm-up (${warm.sent} sent, ${warm.error_stanzas} errors)`);

  // (a) throughput.
  log(`messages: throughput, window ${cfg.window} per sender, ${cfg.duration} s`);
  reset();
  await ctx.profile('start');
  let meter = new CpuMeter(ctx.watched);
  const t0 = performance.now();
  const inWindow = await windowRun(cfg.duration);
  const tSecs = (performance.now() - t0) / 1000;
  let cpu = meter.read();
  await ctx.profile('stop');
  await drain();
  const thr = summarize(tSecs, inWindow, cpu);
  const throughput = { ...thr, window_per_sender: cfg.window, delivered_per_sec: round(inWindow / tSecs, 0) };
  log(`messages: ${throughput.delivered_per_sec} delivered/s, lost ${thr.lost}, reordered ${thr.reordered}`);

  // (b) latency at a fixed offered rate.
  log(`messages: latency at ${cfg.rate} msg/s, ${cfg.duration} s`);
  reset();
  windowed = false;
  running = true;
  await ctx.profile('start');
  meter = new CpuMeter(ctx.watched);
  const l0 = performance.now();
  let rr = 0;
  let total = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const el = (performance.now() - l0) / 1000;
      const due = Math.floor(Math.min(el, cfg.duration) * cfg.rate);
      while (total < due) {
        send(rr);
        rr = (rr + 1) % flows.length;
        total++;
      }
      if (el >= cfg.duration || ctx.aborted()) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  const lSecs = (performance.now() - l0) / 1000;
  running = false;
  const lInWindow = received;
  cpu = meter.read();
  await ctx.profile('stop', 'latency');
  await drain();
  const latRes = summarize(lSecs, lInWindow, cpu);
  const samples = dump as string[] | null; // set by reset(), which the compiler does not follow
  if (samples && process.env.BENCH_LATENCY_DUMP) {
    // sent_us counts from the start of the paced run, which began at epoch ms `phaseStartEpochMs`.
    const phaseStartEpochMs = Date.now() - (nowMicros() - phaseStart) / 1000;
    writeFileSync(process.env.BENCH_LATENCY_DUMP, `# phase_start_epoch_ms=${Math.round(phaseStartEpochMs)}\nsent_us,flow,latency_us\n${samples.join('\n')}\n`);
    log(`messages: latency samples of the paced run written to ${process.env.BENCH_LATENCY_DUMP}`);
  }
  const latency = { ...latRes, offered_rate: cfg.rate, achieved_send_rate: round(latRes.sent / lSecs, 0) };
  log(`messages: p50 ${latRes.latency_ms.p50} ms, p99 ${latRes.latency_ms.p99} ms, lost ${latRes.lost}, reordered ${latRes.reordered}`);

  await Promise.all(conns.map((c) => c.close(2000)));
  return { users: U, pairs: U / 2, flows: flows.length, body_bytes: cfg.bodyBytes, throughput, latency };
}
