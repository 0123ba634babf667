/** readOrdered against a real nats-server, including the end it cannot see on a message. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, StorageType, type NatsConnection } from 'nats';
import { lazyNatsServer } from '@kxmpp/testing';
import { readOrdered } from './common.jetstream';

const server = lazyNatsServer();

describe('readOrdered', () => {
  let nc: NatsConnection;
  before(async () => {
    nc = await connect({ servers: await server.url() });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'READ_TEST', subjects: ['rt.>'], storage: StorageType.Memory });
  });
  after(async () => {
    await nc?.close();
    await server.stop();
  });

  it('reads a filter in stream order, at most max, and nothing for an empty filter', async () => {
    const js = nc.jetstream();
    for (let i = 0; i < 5; i++) {
      await js.publish('rt.a', `a${i}`);
      await js.publish('rt.b', `b${i}`);
    }
    const all = await readOrdered(js, 'READ_TEST', 'rt.a');
    assert.deepEqual(all.map((m) => m.string()), ['a0', 'a1', 'a2', 'a3', 'a4']);
    assert.deepEqual((await readOrdered(js, 'READ_TEST', 'rt.b', 2)).map((m) => m.string()), ['b0', 'b1']);
    assert.deepEqual(await readOrdered(js, 'READ_TEST', 'rt.none'), []);
    assert.deepEqual(await readOrdered(js, 'READ_TEST', 'rt.a', 0), []);
  });

  it('ends, without its timeout, when the messages it counted are purged before delivery', async () => {
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager();
    // Purge right behind the consumer's creation, so some reads count messages that never come.
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 30; i++) await js.publish('rt.gone', `g${i}`);
      const read = readOrdered(js, 'READ_TEST', 'rt.gone', Infinity, 3000);
      if (round % 2) await new Promise((r) => setImmediate(r));
      await jsm.streams.purge('READ_TEST', { filter: 'rt.gone' });
      const got = await read; // rejects with "timed out" if the end went unseen
      assert.ok(got.length <= 30);
    }
  });
});
