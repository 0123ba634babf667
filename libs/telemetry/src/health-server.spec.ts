import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HealthServer } from './health-server';
import { metrics } from './metrics';

function promtool(): string {
  for (const p of ['/usr/bin/promtool', '/usr/local/bin/promtool']) if (existsSync(p)) return p;
  throw new Error('promtool not found: `npm test` installs it (Debian package prometheus)');
}

describe('health server', () => {
  const server = new HealthServer();
  let port = 0;
  after(() => server.close());

  it('serves /healthz, /readyz with readiness checks, and 404 elsewhere', async () => {
    port = await server.listen(0, '127.0.0.1');
    let ready = false;
    server.addReadiness('thing', () => ready);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    const notReady = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(notReady.status, 503);
    assert.match(await notReady.text(), /thing/);
    ready = true;
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
    server.setDraining();
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 503);
    assert.equal((await fetch(`http://127.0.0.1:${port}/nope`)).status, 404);
  });

  it('/metrics passes promtool check metrics and carries the xmpp_* families', async () => {
    metrics.connections.inc({ transport: 'tcp' });
    metrics.stanzasIn.inc({ kind: 'message' });
    metrics.stanzasOut.inc({ kind: 'iq' });
    metrics.authAttempts.inc({ mechanism: 'SCRAM-SHA-256', result: 'success' });
    metrics.routingLatency.observe({ kind: 'message' }, 0.002);
    metrics.routed.inc({ kind: 'message', outcome: 'deliver' });
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    const body = await res.text();
    for (const name of [
      'xmpp_edge_connections',
      'xmpp_edge_stanzas_in_total',
      'xmpp_edge_stanzas_out_total',
      'xmpp_auth_attempts_total',
      'xmpp_router_routing_latency_seconds_bucket',
    ]) {
      assert.match(body, new RegExp(`^${name}\\{`, 'm'), name);
    }
    const file = join(mkdtempSync(join(tmpdir(), 'kxmpp-metrics-')), 'metrics.txt');
    writeFileSync(file, body);
    const r = spawnSync(promtool(), ['check', 'metrics'], { input: body, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool check metrics failed:\n${r.stdout}\n${r.stderr}`);
  });
});
