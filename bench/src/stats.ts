/** Small numeric helpers: percentiles, rounding, per-process CPU and memory from /proc. */
import { readFileSync } from 'node:fs';

export function percentiles(values: Float64Array | number[], ps: number[]): number[] {
  const a = Float64Array.from(values).sort();
  if (a.length === 0) return ps.map(() => NaN);
  return ps.map((p) => a[Math.min(a.length - 1, Math.max(0, Math.ceil((p / 100) * a.length) - 1))]!);
}

export function round(x: number, digits = 2): number {
  if (!Number.isFinite(x)) return x;
  const m = 10 ** digits;
  return Math.round(x * m) / m;
}

const CLK_TCK = 100;

/** utime + stime of a process in seconds, or NaN if gone. */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields after ')' start at field 3 (state): utime is field 14, stime 15 → indexes 11, 12
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** VmRSS of a process in KiB from /proc/<pid>/status. */
export function rssKb(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Machine-wide jiffies from /proc/stat: busy (user+nice+system+irq+softirq) and steal. */
function machineJiffies(): { busy: number; steal: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
    return { busy: user + nice + system + irq + softirq, steal };
  } catch {
    return { busy: NaN, steal: NaN };
  }
}

export interface Watched {
  name: string;
  pid: number | undefined;
}

/** CPU use of several processes (and this one) over an interval, as a share of one core. */
export class CpuMeter {
  private t0 = process.hrtime.bigint();
  private base: number[];
  private self0 = cpuSeconds(process.pid);
  private m0 = machineJiffies();
  constructor(private readonly procs: Watched[]) {
    this.base = procs.map((p) => cpuSeconds(p.pid));
  }
  /** { name: cores used on average } including 'bench-client'. */
  read(): Record<string, number> {
    const wall = Number(process.hrtime.bigint() - this.t0) / 1e9;
    const out: Record<string, number> = {};
    this.procs.forEach((p, i) => {
      out[p.name] = round((cpuSeconds(p.pid) - this.base[i]!) / wall, 2);
    });
    out['bench-client'] = round((cpuSeconds(process.pid) - this.self0) / wall, 2);
    const m = machineJiffies();
    const machine = (m.busy - this.m0.busy) / CLK_TCK / wall;
    const ours = Object.values(out).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    out['machine-total'] = round(machine, 2);
    // Anything else running on the machine meanwhile (other builds, tests): a noisy-run flag.
    out['other-processes'] = round(Math.max(0, machine - ours), 2);
    out['steal'] = round((m.steal - this.m0.steal) / CLK_TCK / wall, 2);
    return out;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
