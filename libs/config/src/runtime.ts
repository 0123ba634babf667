/**
 * Runtime settings for the processes the platform starts on one machine beside its own (the embedded
 * nats-server of the all-in-one, and the test and benchmark platforms), and the ones docs/operations.md
 * recommends for deployments. Measured in bench/README.md ("Where we stand"): on a 2-core machine
 * running edge, router, services and nats-server together, a nats-server using every core and V8's
 * default pool of GC and compiler threads per Node process keep more threads runnable than there are
 * cores, and every message wakes several of them; capping both cut nats-server's CPU per message by a
 * fifth and the latency tail with it.
 */
import { availableParallelism } from 'node:os';

/**
 * The environment for a nats-server sharing the machine with the platform, each setting unless the
 * caller's environment has its own: GOMAXPROCS at half the cores (at least 1), and GOGC=400 (Go collects
 * when the heap has grown 4× since the last collection, not 2×: nats-server allocates per message and its
 * live heap is small, so this trades ~90 MB at full load for a tenth more throughput).
 */
export function natsServerEnv(env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): NodeJS.ProcessEnv {
  return {
    ...env,
    GOMAXPROCS: env.GOMAXPROCS || String(Math.max(1, Math.floor(cores / 2))),
    GOGC: env.GOGC || '400',
  };
}

/** Node options for the platform's processes on a small machine: one V8 background thread at 2 cores or fewer. */
export function platformNodeFlags(cores = availableParallelism()): string[] {
  return cores <= 2 ? ['--v8-pool-size=1'] : [];
}
