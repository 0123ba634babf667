import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { edgeDeliverySubject, partitionOf, routeSubject, sessionKey, sessionKeyFilter } from './subjects';
import { decodeEnvelope, encodeEnvelope } from './envelope';

describe('subjects', () => {
  it('never embeds raw JIDs: keys are subject-safe tokens', () => {
    for (const [bare, res] of [
      ['a.b@c.d', 'x.y'],
      ['*@>', '> *'],
      ['ünï@dømain.example', 'résource/with/slash'],
    ]) {
      const k = sessionKey(bare, res);
      assert.match(k, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      assert.ok(k.startsWith(sessionKeyFilter(bare).slice(0, -1)));
    }
  });
  it('partitions are stable and spread', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const p = partitionOf(`user${i}@example.com`, 32);
      assert.ok(p >= 0 && p < 32);
      assert.equal(p, partitionOf(`user${i}@example.com`, 32));
      seen.add(p);
    }
    assert.equal(seen.size, 32);
    assert.equal(routeSubject(7), 'xmpp.route.7');
    assert.equal(edgeDeliverySubject('e-1'), 'xmpp.edge.e-1.deliver');
  });
  it('envelope headers round-trip, including non-ASCII JIDs', () => {
    const env = { from: 'ä@x.example/r', to: 'b@y.example', kind: 'message', type: 'chat', ns: '', edge: 'e1', sid: 's1', ts: 123 };
    assert.deepEqual(decodeEnvelope(encodeEnvelope(env)), env);
    assert.equal(decodeEnvelope(undefined), null);
  });
});
