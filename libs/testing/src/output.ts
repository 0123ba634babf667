import type { ChildProcess } from 'node:child_process';

/**
 * What a child process writes to stdout and stderr, kept in memory for error messages and post-mortems:
 * the last ~100-200 KB, so a chatty server cannot grow the test process without bound.
 */
export function captureOutput(child: ChildProcess): () => string {
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => out;
}
