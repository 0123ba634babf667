/**
 * Preloaded into the platform's node processes by the benchmark (NODE_OPTIONS=--require ...), inert
 * unless BENCH_CTL_DIR is set. On SIGUSR2 it reads BENCH_CTL_DIR/<pid>.cmd and acts:
 *   prof-start  start the V8 sampling profiler
 *   prof-stop   stop it and write BENCH_CTL_DIR/<app>-<pid>-<n>.cpuprofile
 *               (with BENCH_HEAP_PROF=1 in the environment, also V8's sampling heap profiler over the same
 *               time: <app>-<pid>-<n>.heapprofile, where the allocations come from; Chrome DevTools opens it)
 *   gc          run a full garbage collection (for the idle-memory readings)
 * then writes BENCH_CTL_DIR/<pid>.ack with the result, so the benchmark knows it is done.
 * With BENCH_NATS_NO_ASYNC_TRACES=1 it also patches nats.js (see below): an experiment, not the default.
 */
import { Session } from 'node:inspector';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// What-if experiment (--nats-no-async-traces): connect every NATS client with noAsyncTraces, i.e.
// without the Error objects nats.js creates per request/js.publish to keep async stack traces.
if (process.env.BENCH_NATS_NO_ASYNC_TRACES === '1') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const opts = require('nats/lib/nats-base-client/options') as { parseOptions: (o?: object) => object };
  const parse = opts.parseOptions;
  opts.parseOptions = (o?: object) => parse({ ...(o ?? {}), noAsyncTraces: true });
}

const dir = process.env.BENCH_CTL_DIR;
if (dir) {
  const app = basename(dirname(dirname(process.argv[1] ?? 'node')));
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  let session: Session | null = null;
  const heap = process.env.BENCH_HEAP_PROF === '1';
  let n = 0;
  const ack = (s: string) => writeFileSync(join(dir, `${process.pid}.ack`), s);
  process.on('SIGUSR2', () => {
    let cmd = '';
    try {
      cmd = readFileSync(join(dir, `${process.pid}.cmd`), 'utf8').trim();
    } catch {
      return;
    }
    if (cmd === 'gc') {
      const t = performance.now();
      gc();
      ack(`gc ${(performance.now() - t).toFixed(1)} ms`);
    } else if (cmd === 'prof-start') {
      session = new Session();
      session.connect();
      const s = session;
      const start = () => s.post('Profiler.enable', () => s.post('Profiler.start', () => ack('prof-start')));
      if (heap) s.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }, start);
      else start();
    } else if (cmd === 'prof-stop' && session) {
      const s = session;
      session = null;
      s.post('Profiler.stop', (err, res) => {
        if (err) return ack(`error ${err.message}`);
        const base = join(dir, `${app}-${process.pid}-${n++}`);
        const file = `${base}.cpuprofile`;
        writeFileSync(file, JSON.stringify(res.profile));
        if (!heap) {
          s.disconnect();
          return ack(file);
        }
        s.post('HeapProfiler.stopSampling', (herr, hres) => {
          if (!herr) writeFileSync(`${base}.heapprofile`, JSON.stringify(hres.profile));
          s.disconnect();
          ack(file);
        });
      });
    }
  });
}
