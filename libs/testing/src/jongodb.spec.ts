/** startJongodb: a real MongoDB-wire server per call, each with its own database, gone after stop(). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startJongodb } from './jongodb';

function reachable(uri: string): Promise<boolean> {
  const { hostname, port } = new URL(uri);
  return new Promise((resolve) => {
    const s = connect({ host: hostname, port: Number(port) });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('startJongodb', () => {
  it('starts two servers on their own ports and databases, and stops them', async () => {
    const [a, b] = await Promise.all([startJongodb(), startJongodb()]);
    try {
      for (const h of [a, b]) {
        assert.match(h.uri, /^mongodb:\/\/127\.0\.0\.1:\d+\//);
        assert.ok(h.uri.includes(h.database), h.uri);
        assert.equal(await reachable(h.uri), true);
      }
      assert.notEqual(a.uri, b.uri);
      assert.notEqual(a.database, b.database);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    assert.equal(await reachable(a.uri), false);
    await a.stop(); // idempotent
  });
});
