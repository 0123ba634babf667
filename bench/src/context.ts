/** What every scenario gets: the flags, the running platform, and where to connect. */
import type { Config } from './args';
import type { Target } from './client';
import type { Watched } from './stats';

export interface Ctx {
  cfg: Config;
  /** What is being measured: our platform, or a peer server (--target). */
  target: 'ours' | 'ejabberd' | 'prosody';
  /** One target per edge; connection i goes to targets[i % targets.length]. */
  targets: Target[];
  /** edge-*, router-*, nats-server processes (or the peer's beam.smp / lua), for CPU and RSS readings. */
  watched: Watched[];
  /** The processes whose RSS growth makes the per-session memory figure (edge-*, or the peer's process). */
  sessionProcs: Watched[];
  /** JS heap in use (kB) summed over the session processes, or null (peers, or no metrics). */
  heapKb(): Promise<number | null>;
  /** Bench-wide abort (time limit); long loops check it. */
  aborted(): boolean;
  /** Toggle CPU profiling of the platform's node processes (no-op without --cpu-prof). */
  profile(action: 'start' | 'stop', label?: string): Promise<void>;
  /** Force a full GC in the platform's node processes (via the preload hook). */
  gc(): Promise<void>;
}

export const PASSWORD = 'bench-pw';

export function targetFor(ctx: Ctx, i: number): Target {
  return ctx.targets[i % ctx.targets.length]!;
}
