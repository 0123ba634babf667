import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NatsConnection } from 'nats';
import { startNatsServer, NatsServerHandle, eventually } from '@kxmpp/testing';
import { connectBus } from './connection';
import { EdgeSessionRegistry, openSessionsBucket, SessionRegistryView } from './session-registry';
import { sessionKey } from './subjects';

describe('session registry on JetStream KV (real nats-server)', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  const TTL = 3;

  before(async () => {
    nats = await startNatsServer();
    nc = await connectBus(nats.url, 'registry-test');
  });
  after(async () => {
    await nc.close();
    await nats.stop();
  });

  it('a view sees entries put by an edge, updates and removals', async () => {
    const kv = await openSessionsBucket(nc, TTL);
    const edge = new EdgeSessionRegistry(kv, TTL);
    const view = new SessionRegistryView(kv, TTL);
    await view.start();
    await edge.put({ jid: 'alice@a.example/phone', edge: 'e1', sid: 's1', priority: 0, available: false });
    await edge.put({ jid: 'alice@a.example/laptop', edge: 'e2', sid: 's2', priority: 5, available: true });
    await eventually(() => view.resources('alice@a.example').length === 2, 5000, 'two sessions');
    assert.equal(view.get('alice@a.example/laptop')?.edge, 'e2');
    assert.equal(await edge.update({ jid: 'alice@a.example/phone', edge: 'e1', sid: 's1', priority: 3, available: true }), true);
    await eventually(() => view.get('alice@a.example/phone')?.available === true, 5000, 'presence update');
    await edge.remove('alice@a.example/phone', 's1');
    await eventually(() => view.get('alice@a.example/phone') === null, 5000, 'removal');
    // fetch() reads the bucket directly (for a bind the watch has not delivered yet)
    const direct = await view.fetch('alice@a.example');
    assert.deepEqual(direct.map((e) => e.sid), ['s2']);
    await edge.stop();
    view.stop();
  });

  it('the sessions of an edge that stops refreshing disappear within the ttl', async () => {
    const kv = await openSessionsBucket(nc, TTL);
    const dying = new EdgeSessionRegistry(kv, TTL);
    // Never start()ed: it puts once and never refreshes, as an edge that died right after binding.
    await dying.put({ jid: 'bob@a.example/r', edge: 'dead', sid: 'x', priority: 0, available: true });
    const alive = new EdgeSessionRegistry(kv, TTL);
    alive.start();
    await alive.put({ jid: 'carol@a.example/r', edge: 'live', sid: 'y', priority: 0, available: true });
    const view = new SessionRegistryView(kv, TTL);
    await view.start();
    await eventually(() => view.get('bob@a.example/r') !== null, 5000, 'bob visible');
    const t0 = Date.now();
    await eventually(() => view.get('bob@a.example/r') === null, (TTL + 3) * 1000, 'bob expired');
    assert.ok(Date.now() - t0 <= (TTL + 3) * 1000);
    // The refreshed session is still there after the same time.
    assert.notEqual(view.get('carol@a.example/r'), null);
    assert.equal((await view.fetch('bob@a.example')).length, 0);
    await alive.stop();
    view.stop();
  });

  it('claim() reports the live session it displaces, and nothing for a free resource', async () => {
    const kv = await openSessionsBucket(nc, TTL);
    const e1 = new EdgeSessionRegistry(kv, TTL);
    const e2 = new EdgeSessionRegistry(kv, TTL);
    assert.equal(await e1.claim({ jid: 'erin@a.example/r', edge: 'e1', sid: 'first', priority: 0, available: false }), null);
    const displaced = await e2.claim({ jid: 'erin@a.example/r', edge: 'e2', sid: 'second', priority: 0, available: false });
    assert.equal(displaced?.sid, 'first');
    assert.equal(displaced?.edge, 'e1');
    assert.equal((await e1.lookup('erin@a.example/r'))?.sid, 'second');
    // After a clean removal the resource is free again.
    await e2.remove('erin@a.example/r', 'second');
    assert.equal(await e1.claim({ jid: 'erin@a.example/r', edge: 'e1', sid: 'third', priority: 0, available: false }), null);
    await e1.stop();
    await e2.stop();
  });

  it('removal by plain publish (no ack) deletes our entry and never a newer holder', async () => {
    const kv = await openSessionsBucket(nc, TTL);
    const e1 = new EdgeSessionRegistry(kv, TTL, nc);
    const e2 = new EdgeSessionRegistry(kv, TTL, nc);
    await e1.claim({ jid: 'gus@a.example/r', edge: 'e1', sid: 'g1', priority: 0, available: false });
    await e1.remove('gus@a.example/r', 'g1');
    await eventually(async () => (await e1.lookup('gus@a.example/r')) === null, 5000, 'removed');
    await e1.claim({ jid: 'gus@a.example/r', edge: 'e1', sid: 'g2', priority: 0, available: false });
    await e2.claim({ jid: 'gus@a.example/r', edge: 'e2', sid: 'g3', priority: 0, available: false });
    await e1.remove('gus@a.example/r', 'g2');
    await nc.flush();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await e2.lookup('gus@a.example/r'))?.sid, 'g3');
    await e1.stop();
    await e2.stop();
  });

  it('a session whose entry vanished (expired during a NATS outage) is written again, not dropped', async () => {
    const kv = await openSessionsBucket(nc, TTL);
    const edge = new EdgeSessionRegistry(kv, TTL);
    await edge.claim({ jid: 'fay@a.example/r', edge: 'e1', sid: 'alive', priority: 0, available: false });
    // As if the entry had expired: gone from the bucket while the session lives on.
    await kv.purge(sessionKey('fay@a.example', 'r'));
    assert.equal(await edge.update({ jid: 'fay@a.example/r', edge: 'e1', sid: 'alive', priority: 2, available: true }), true);
    assert.equal((await edge.lookup('fay@a.example/r'))?.priority, 2);
    assert.equal(edge.size, 1);
    await edge.stop();
  });

  it('remove() does not delete a newer session that took over the same full JID', async () => {
    const kv = await openSessionsBucket(nc, TTL);
    const e1 = new EdgeSessionRegistry(kv, TTL);
    const e2 = new EdgeSessionRegistry(kv, TTL);
    await e1.put({ jid: 'dave@a.example/r', edge: 'e1', sid: 'old', priority: 0, available: false });
    await e2.put({ jid: 'dave@a.example/r', edge: 'e2', sid: 'new', priority: 0, available: false });
    // The replaced edge can neither update nor delete the newer entry.
    assert.equal(await e1.update({ jid: 'dave@a.example/r', edge: 'e1', sid: 'old', priority: 1, available: true }), false);
    await e1.remove('dave@a.example/r', 'old');
    assert.equal((await e2.lookup('dave@a.example/r'))?.sid, 'new');
    assert.equal(e1.size, 0);
    await e1.stop();
    await e2.stop();
  });
});
