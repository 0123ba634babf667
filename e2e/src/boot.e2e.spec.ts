/**
 * Booting the processes: configuration validated at boot (clear message, exit 1), and the embedded
 * default (all-in-one without NATS_URL starts its own nats-server and stops it on SIGTERM).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@kxmpp/testing';
import { AIO_MAIN, EDGE_MAIN, ROUTER_MAIN, edgeEnv, spawnProc, waitReady } from './platform';

async function exitOf(main: string, env: Record<string, string>): Promise<{ code: number | string; out: string }> {
  const p = spawnProc('boot', main, { NATS_URL: '', ...env });
  const code = await Promise.race([p.exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 15_000).unref())]);
  if (code === 'timeout') p.child.kill('SIGKILL');
  return { code, out: p.output() };
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('boot-time configuration', () => {
  const cases: Array<[string, string, Record<string, string>, RegExp]> = [
    ['edge with a non-numeric port', EDGE_MAIN, { NATS_URL: 'nats://127.0.0.1:1', C2S_PORT: 'abc' }, /C2S_PORT/],
    ['edge without NATS_URL', EDGE_MAIN, {}, /NATS_URL is required/],
    ['router without NATS_URL', ROUTER_MAIN, {}, /NATS_URL/],
    ['router with a bad partition count', ROUTER_MAIN, { NATS_URL: 'nats://127.0.0.1:1', ROUTE_PARTITIONS: '0' }, /ROUTE_PARTITIONS/],
    ['all-in-one with a bad boolean', AIO_MAIN, { REQUIRE_TLS: 'perhaps' }, /REQUIRE_TLS/],
    ['all-in-one with a bad NATS URL', AIO_MAIN, { NATS_URL: 'not a url' }, /NATS_URL/],
    [
      'all-in-one when the nats-server binary is missing',
      AIO_MAIN,
      { NATS_SERVER_BIN: '/nonexistent/nats-server', DATA_DIR: mkdtempSync(join(tmpdir(), 'kxmpp-boot-')) },
      /apt-get install nats-server/,
    ],
  ];
  for (const [name, main, env, pattern] of cases) {
    it(`${name}: clear message and exit 1`, async () => {
      const { code, out } = await exitOf(main, env);
      assert.equal(code, 1, out);
      assert.match(out, pattern);
    });
  }
});

describe('embedded default (all-in-one without NATS_URL)', () => {
  it('a nats-server left behind by a killed all-in-one is stopped at the next start', async () => {
    const { ports, env } = await edgeEnv();
    const natsPort = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'kxmpp-embedded-'));
    const start = () => spawnProc('all-in-one', AIO_MAIN, { ...env, NATS_URL: '', DATA_DIR: dataDir, EMBEDDED_NATS_PORT: String(natsPort) });
    const ready = (p: ReturnType<typeof start>) => waitReady(ports.metrics, p);
    const first = start();
    await ready(first);
    first.child.kill('SIGKILL');
    await first.exited;
    assert.ok(await tcpOpen(natsPort), 'the orphaned nats-server is still up after SIGKILL');
    const second = start();
    try {
      // It gets the same port back only because the orphan was stopped.
      await ready(second);
      assert.ok(await tcpOpen(natsPort));
      second.child.kill('SIGTERM');
      assert.equal(await second.exited, 0, second.output());
      const deadline = Date.now() + 5000;
      while ((await tcpOpen(natsPort)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await tcpOpen(natsPort), false, 'nothing left behind');
    } finally {
      if (second.child.exitCode === null) second.child.kill('SIGKILL');
    }
  });

  it('starts its own nats-server, serves clients, and stops everything on SIGTERM', async () => {
    const { ports, env } = await edgeEnv();
    const natsPort = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'kxmpp-embedded-'));
    const p = spawnProc('all-in-one', AIO_MAIN, { ...env, NATS_URL: '', DATA_DIR: dataDir, EMBEDDED_NATS_PORT: String(natsPort) });
    try {
      await waitReady(ports.metrics, p);
      assert.ok(await tcpOpen(natsPort), 'embedded nats-server listens on the configured port');
      assert.match(p.output(), /kxmpp is running/);
      assert.match(p.output(), new RegExp(`localhost:${ports.c2s}`));
      assert.ok(await tcpOpen(ports.c2s));
      p.child.kill('SIGTERM');
      const code = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r('timeout'), 20_000).unref())]);
      assert.equal(code, 0, p.output());
      // The embedded server went with it.
      const deadline2 = Date.now() + 5000;
      while ((await tcpOpen(natsPort)) && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await tcpOpen(natsPort), false, 'embedded nats-server stopped');
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
    }
  });
});
