/** Drives cpu-profile-preload in the platform's node processes: profiles and forced GCs. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Proc } from '@kxmpp/e2e';
import { sleep } from './stats';

export class Control {
  readonly dir: string;
  constructor(dir?: string) {
    this.dir = dir ?? mkdtempSync(join(tmpdir(), 'kxmpp-bench-'));
    mkdirSync(this.dir, { recursive: true });
  }

  env(): Record<string, string> {
    const preload = join(__dirname, 'cpu-profile-preload.js');
    return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${process.env.BENCH_PLATFORM_NODE_OPTIONS ?? ''} --require ${preload}`.trim(), BENCH_CTL_DIR: this.dir };
  }

  /** Send a command to each process; resolves with their answers (or 'timeout'). */
  async send(procs: Proc[], cmd: 'gc' | 'prof-start' | 'prof-stop', timeoutMs = 20_000): Promise<string[]> {
    const live = procs.filter((p) => p.child.pid && p.child.exitCode === null);
    for (const p of live) {
      const ack = join(this.dir, `${p.child.pid}.ack`);
      if (existsSync(ack)) rmSync(ack);
      writeFileSync(join(this.dir, `${p.child.pid}.cmd`), cmd);
      p.child.kill('SIGUSR2');
    }
    const deadline = Date.now() + timeoutMs;
    const answers: string[] = new Array(live.length).fill('timeout');
    for (;;) {
      let pending = 0;
      live.forEach((p, i) => {
        if (answers[i] !== 'timeout') return;
        const ack = join(this.dir, `${p.child.pid}.ack`);
        if (existsSync(ack)) answers[i] = readFileSync(ack, 'utf8');
        else pending++;
      });
      if (!pending || Date.now() > deadline) return answers;
      await sleep(50);
    }
  }
}
