/**
 * Same machine, same client: reads bench JSONs of --target ours / ejabberd / prosody and prints a
 * markdown table with each target's figures and our ratio against the best peer per figure.
 *
 *   node bench/dist/ratios.js bench/results-2026-11-21-ours.json bench/results-2026-11-21-ejabberd.json bench/results-2026-11-21-prosody.json
 */
import { readFileSync } from 'node:fs';

interface Figure {
  label: string;
  better: 'higher' | 'lower';
  get(r: any): number | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
  digits: number;
}

/** Cores used by the server under test (every watched process, not the client, not the rest of the machine). */
function serverCores(cpu: Record<string, number> | undefined): number | undefined {
  if (!cpu) return undefined;
  const skip = new Set(['bench-client', 'machine-total', 'other-processes', 'steal']);
  return Object.entries(cpu).reduce((s, [k, v]) => (skip.has(k) ? s : s + v), 0);
}
/** Server CPU time per operation in µs: cores / (operations per second). */
function cpuPerOp(cpu: Record<string, number> | undefined, perSec: number | undefined): number | undefined {
  const c = serverCores(cpu);
  return c === undefined || !perSec ? undefined : (c / perSec) * 1e6;
}

const FIGURES: Figure[] = [
  { label: 'SCRAM-SHA-1 logins/s (50 concurrent)', better: 'higher', get: (r) => r.logins?.logins_per_sec, digits: 0 },
  { label: 'server CPU per login (µs)', better: 'lower', get: (r) => cpuPerOp(r.logins?.cpu_cores_used, r.logins?.logins_per_sec), digits: 0 },
  { label: 'login latency p50 (ms)', better: 'lower', get: (r) => r.logins?.login_latency_ms?.p50, digits: 1 },
  { label: 'delivered msg/s (window 20, 100 flows)', better: 'higher', get: (r) => r.messages?.throughput?.delivered_per_sec, digits: 0 },
  { label: 'server CPU per message at max throughput (µs)', better: 'lower', get: (r) => cpuPerOp(r.messages?.throughput?.cpu_cores_used, r.messages?.throughput?.delivered_per_sec), digits: 0 },
  { label: 'server cores used at 2,000 msg/s', better: 'lower', get: (r) => serverCores(r.messages?.latency?.cpu_cores_used), digits: 2 },
  { label: 'latency p50 at 2,000 msg/s (ms)', better: 'lower', get: (r) => r.messages?.latency?.latency_ms?.p50, digits: 2 },
  { label: 'latency p99 at 2,000 msg/s (ms)', better: 'lower', get: (r) => r.messages?.latency?.latency_ms?.p99, digits: 2 },
  { label: 'latency max at 2,000 msg/s (ms)', better: 'lower', get: (r) => r.messages?.latency?.latency_ms?.max, digits: 1 },
  { label: 'RSS per idle session (KB, 10,000 sessions)', better: 'lower', get: (r) => r.idle?.rss_per_session_kb, digits: 1 },
];

const fmt = (v: number | undefined, d: number) =>
  v === undefined || !Number.isFinite(v) ? '–' : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

function main(): void {
  const files = process.argv.slice(2);
  if (!files.length) {
    process.stderr.write('usage: node bench/dist/ratios.js RESULT.json...\n');
    process.exit(2);
  }
  const runs = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as { target?: string; results: unknown; errors: string[] });
  const name = (r: { target?: string }) => r.target ?? 'ours';
  const ours = runs.find((r) => name(r) === 'ours');
  const peers = runs.filter((r) => name(r) !== 'ours');
  const head = ['figure', ...runs.map(name), ...(ours && peers.length ? ['ours / best peer'] : [])];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const f of FIGURES) {
    const vals = runs.map((r) => f.get(r.results));
    const cells = vals.map((v) => fmt(v, f.digits));
    if (ours && peers.length) {
      const pv = peers.map((p) => ({ n: name(p), v: f.get(p.results) })).filter((x): x is { n: string; v: number } => Number.isFinite(x.v));
      const o = f.get(ours.results);
      if (pv.length && o !== undefined && Number.isFinite(o)) {
        const best = pv.reduce((a, b) => ((f.better === 'higher' ? b.v > a.v : b.v < a.v) ? b : a));
        cells.push(`${(o / best.v).toFixed(2)} (vs ${best.n}; ${f.better} is better)`);
      } else cells.push('–');
    }
    lines.push(`| ${f.label} | ${cells.join(' | ')} |`);
  }
  const lost = runs.map((r) => {
    const x = r.results as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    return `${x.messages?.throughput?.lost ?? '–'}+${x.messages?.latency?.lost ?? '–'} / ${(x.messages?.throughput?.reordered ?? 0) + (x.messages?.latency?.reordered ?? 0)} / ${(x.logins?.failures ?? 0) + (x.idle?.failures ?? 0)}`;
  });
  lines.push(`| lost / reordered / failed logins | ${lost.join(' | ')} |${ours && peers.length ? ' |' : ''}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  for (const r of runs) if (r.errors?.length) process.stdout.write(`\n${name(r)} errors: ${r.errors.join('; ')}\n`);
}

main();
