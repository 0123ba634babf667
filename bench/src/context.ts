/** What every scenario gets: the flags, the running platform, and where to connect. */
import type { Platform } from '@kxmpp/e2e';
import type { Config } from './args';
import type { Target } from './client';
import type { Watched } from './stats';

export interface Ctx {
  cfg: Config;
  platform: Platform;
  /** One target per edge; connection i goes to targets[i % targets.length]. */
  targets: Target[];
  /** edge-*, router-*, nats-server processes, for CPU and RSS readings. */
  watched: Watched[];
  /** Bench-wide abort (time limit); long loops check it. */
  aborted(): boolean;
  /** Toggle CPU profiling of the platform's node processes (no-op without --cpu-prof). */
  profile(action: 'start' | 'stop'): Promise<void>;
  /** Force a full GC in the platform's node processes (via the preload hook). */
  gc(): Promise<void>;
}

export const PASSWORD = 'bench-pw';

export function targetFor(ctx: Ctx, i: number): Target {
  return ctx.targets[i % ctx.targets.length]!;
}
