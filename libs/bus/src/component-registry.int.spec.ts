import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NatsConnection } from 'nats';
import { startNatsServer, NatsServerHandle, eventually } from '@kxmpp/testing';
import { connectBus } from './connection';
import { ComponentDirectory, EdgeComponentRegistry, openComponentsBucket } from './component-registry';
import { COMPONENTS_BUCKET, componentKey } from './subjects';

describe('component registry on JetStream KV (real nats-server)', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  const TTL = 3;

  before(async () => {
    nats = await startNatsServer();
    nc = await connectBus(nats.url, 'component-registry-test');
  });
  after(async () => {
    await nc.close();
    await nats.stop();
  });

  it('keys are subject-safe tokens of the domain', () => {
    assert.equal(COMPONENTS_BUCKET, 'xmpp_components');
    assert.match(componentKey('gw.example.com'), /^[A-Za-z0-9_-]+$/);
  });

  it('one holder per domain: a second claim, on the same or another edge, gets the live holder back', async () => {
    const kv = await openComponentsBucket(nc, TTL);
    const e1 = new EdgeComponentRegistry(kv, TTL);
    const e2 = new EdgeComponentRegistry(kv, TTL);
    assert.equal(await e1.claim('gw.a.example', { edge: 'e1', sid: 's1' }), null);
    assert.deepEqual(await e2.claim('gw.a.example', { edge: 'e2', sid: 's2' }), { edge: 'e1', sid: 's1' });
    assert.deepEqual(await e1.claim('gw.a.example', { edge: 'e1', sid: 's3' }), { edge: 'e1', sid: 's1' });
    assert.equal(e1.holds('gw.a.example', 's1'), true);
    // Released on close: the next connection gets it at once.
    await e1.remove('gw.a.example', 's1');
    assert.equal(await e2.claim('gw.a.example', { edge: 'e2', sid: 's2' }), null);
    // A remove by a stream that does not hold it changes nothing.
    await e1.remove('gw.a.example', 's1');
    assert.deepEqual(await e1.claim('gw.a.example', { edge: 'e1', sid: 's4' }), { edge: 'e2', sid: 's2' });
    await e2.stop();
    assert.equal(await e1.claim('gw.a.example', { edge: 'e1', sid: 's4' }), null, 'stop() releases every domain');
    await e1.stop();
  });

  it('a directory follows claims and releases, and reads the bucket on a miss', async () => {
    const kv = await openComponentsBucket(nc, TTL);
    const edge = new EdgeComponentRegistry(kv, TTL);
    const dir = new ComponentDirectory(kv, TTL);
    await dir.start();
    assert.equal(dir.get('gw.b.example'), null);
    assert.equal(await dir.lookup('gw.b.example'), null);
    await edge.claim('gw.b.example', { edge: 'e1', sid: 's1' });
    // fetch() sees it at once, whatever the watch does
    assert.deepEqual(await dir.fetch('gw.b.example'), { edge: 'e1', sid: 's1' });
    await eventually(() => dir.get('gw.b.example')?.sid === 's1', 5000, 'watch delivers the claim');
    await edge.remove('gw.b.example', 's1');
    await eventually(() => dir.get('gw.b.example') === null, 5000, 'watch delivers the release');
    assert.equal(await dir.lookup('gw.b.example'), null);
    // A directory started after the claim loads it in its initial snapshot.
    await edge.claim('gw.b.example', { edge: 'e1', sid: 's2' });
    const late = new ComponentDirectory(kv, TTL);
    await late.start();
    assert.deepEqual(late.get('gw.b.example'), { edge: 'e1', sid: 's2' });
    late.stop();
    dir.stop();
    await edge.stop();
  });

  it('a dead edge\'s entries expire; a refreshing edge keeps its own; the domain can then be claimed elsewhere', async () => {
    const kv = await openComponentsBucket(nc, TTL);
    const dying = new EdgeComponentRegistry(kv, TTL); // never start()ed: it never refreshes, as an edge that died
    const alive = new EdgeComponentRegistry(kv, TTL);
    alive.start();
    const dir = new ComponentDirectory(kv, TTL);
    await dir.start();
    await dying.claim('gw.dead.example', { edge: 'dead', sid: 'x' });
    await alive.claim('gw.live.example', { edge: 'live', sid: 'y' });
    await eventually(() => dir.get('gw.dead.example') !== null && dir.get('gw.live.example') !== null, 5000, 'both seen');
    const other = new EdgeComponentRegistry(kv, TTL);
    assert.deepEqual(await other.claim('gw.dead.example', { edge: 'other', sid: 'z' }), { edge: 'dead', sid: 'x' }, 'conflict while alive');
    await new Promise((r) => setTimeout(r, (TTL + 1.5) * 1000));
    assert.equal(dir.get('gw.dead.example'), null, 'expired');
    assert.equal(await dir.fetch('gw.dead.example'), null);
    assert.deepEqual(dir.get('gw.live.example'), { edge: 'live', sid: 'y' }, 'refreshed');
    assert.equal(await other.claim('gw.dead.example', { edge: 'other', sid: 'z' }), null, 'claimed after expiry');
    dir.stop();
    await Promise.all([alive.stop(), other.stop()]);
  });

  it('a refresh that finds the domain taken by another session reports it lost', async () => {
    const kv = await openComponentsBucket(nc, TTL);
    const lost: string[] = [];
    const edge = new EdgeComponentRegistry(kv, TTL, (domain, sid) => lost.push(`${domain}/${sid}`));
    await edge.claim('gw.c.example', { edge: 'e1', sid: 's1' });
    // Another edge wrote over it (as after this edge was cut off from NATS for longer than the ttl).
    await kv.put(componentKey('gw.c.example'), new TextEncoder().encode(JSON.stringify({ edge: 'e2', sid: 's2' })));
    edge.start();
    await eventually(() => lost.length === 1, 5000, 'lost reported');
    assert.deepEqual(lost, ['gw.c.example/s1']);
    assert.equal(edge.size, 0);
    await edge.stop();
  });
});
