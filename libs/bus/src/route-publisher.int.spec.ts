import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DiscardPolicy, headers, NatsConnection, StorageType } from 'nats';
import { eventually, startNatsServer, NatsServerHandle } from '@kxmpp/testing';
import { connectBus } from './connection';
import { BATCH_HEADER, BATCH_MAX_BYTES, BATCH_MAX_ITEMS, decodeBatch } from './batch';
import { PublishFailure, RoutePublisher } from './route-publisher';

describe('RoutePublisher (real nats-server)', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  before(async () => {
    nats = await startNatsServer();
    nc = await connectBus(nats.url, 'publisher-test');
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'T_OK', subjects: ['t.ok'], storage: StorageType.Memory });
    await jsm.streams.add({ name: 'T_FULL', subjects: ['t.full'], storage: StorageType.Memory, max_msgs: 1, discard: DiscardPolicy.New });
  });
  after(async () => {
    await nc.close();
    await nats.stop();
  });

  const data = new TextEncoder().encode('<message/>');

  /** Every stanza stored in a stream, in order: the header 'n' of each plain message or batch item. */
  async function storedNs(stream: string): Promise<{ ns: string[]; messages: number }> {
    const jsm = await nc.jetstreamManager();
    const messages = (await jsm.streams.info(stream)).state.messages;
    const ns: string[] = [];
    for (let seq = 1; seq <= messages; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      const count = Number(m.header.get(BATCH_HEADER) || 0);
      if (count === 0) ns.push(m.header.get('n'));
      else for (const it of decodeBatch(m.data, count)) ns.push(it.fields.get('n') ?? '?');
    }
    return { ns, messages };
  }

  it('the first stanza goes alone at once; those published while it awaits its PubAck go together, in order', async () => {
    const p = new RoutePublisher(nc);
    const failures: PublishFailure[] = [];
    for (let i = 0; i < 500; i++) {
      const h = headers();
      h.set('n', String(i));
      p.publish('t.ok', data, h, (why) => failures.push(why));
    }
    await eventually(() => p.unacknowledged === 0, 5000, 'all acknowledged');
    assert.deepEqual(failures, []);
    const { ns, messages } = await storedNs('T_OK');
    assert.deepEqual(ns, Array.from({ length: 500 }, (_, i) => String(i)));
    // One alone, then batches of at most BATCH_MAX_ITEMS.
    assert.equal(messages, 1 + Math.ceil(499 / BATCH_MAX_ITEMS));
    p.close();
  });

  it('a batch holds at most BATCH_MAX_BYTES (a bigger stanza travels alone), and a quiet subject sends each stanza alone', async () => {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'T_BIG', subjects: ['t.big'], storage: StorageType.Memory });
    const p = new RoutePublisher(nc);
    const big = new Uint8Array(BATCH_MAX_BYTES / 2 + 1).fill(0x61);
    for (let i = 0; i < 6; i++) {
      const h = headers();
      h.set('n', String(i));
      p.publish('t.big', i === 3 ? new Uint8Array(BATCH_MAX_BYTES * 2).fill(0x62) : big, h, () => assert.fail('no failure expected'));
    }
    await eventually(() => p.unacknowledged === 0, 5000, 'all acknowledged');
    for (let i = 6; i < 9; i++) {
      const h = headers();
      h.set('n', String(i));
      p.publish('t.big', data, h, () => assert.fail('no failure expected'));
      await eventually(() => p.unacknowledged === 0, 5000, 'acknowledged');
    }
    const { ns, messages } = await storedNs('T_BIG');
    assert.deepEqual(ns, ['0', '1', '2', '3', '4', '5', '6', '7', '8']);
    // 0 alone; 1+2 fill a batch; 3 fills one alone; 4+5 fill one; 6, 7, 8 alone (nothing in flight).
    assert.equal(messages, 7);
    for (let seq = 1; seq <= messages; seq++) {
      const m = await jsm.streams.getMessage('T_BIG', { seq });
      assert.ok(m.data.length <= BATCH_MAX_BYTES * 2 + 1024, `message ${seq}: ${m.data.length} bytes`);
    }
    p.close();
  });

  it('a stanza JetStream refuses is reported rejected', async () => {
    const p = new RoutePublisher(nc);
    const failures: string[] = [];
    p.publish('t.full', data, headers(), (why) => failures.push(why));
    p.publish('t.full', data, headers(), (why) => failures.push(why));
    await eventually(() => p.unacknowledged === 0, 5000, 'settled');
    assert.deepEqual(failures, ['rejected']);
    p.close();
  });

  it('a subject no stream listens on is reported rejected (no responders)', async () => {
    const p = new RoutePublisher(nc);
    const failures: string[] = [];
    p.publish('t.nowhere', data, headers(), (why) => failures.push(why));
    await eventually(() => failures.length === 1, 5000, 'no responders');
    assert.deepEqual(failures, ['rejected']);
    p.close();
  });

  it('an unconfirmed publish times out, and too many pending are refused at once', async () => {
    const silent = nc.subscribe('t.silent'); // takes messages, never answers
    const p = new RoutePublisher(nc, { ackTimeoutMs: 300, maxPending: 2 });
    const failures: string[] = [];
    for (let i = 0; i < 3; i++) p.publish('t.silent', data, headers(), (why) => failures.push(why));
    assert.deepEqual(failures, ['overloaded']);
    await eventually(() => failures.length === 3, 5000, 'timeouts');
    assert.deepEqual(failures, ['overloaded', 'timeout', 'timeout']);
    assert.equal(p.unacknowledged, 0);
    silent.unsubscribe();
    p.close();
  });

  it('an owner counts each of its stanzas once while it waits and once when settled: accepted, refused or timed out', async () => {
    const silent = nc.subscribe('t.silent2');
    const p = new RoutePublisher(nc, { ackTimeoutMs: 300, maxPending: 10 });
    const owner = { waiting: 0, published: 0, settled: 0 };
    const o = {
      published: () => {
        owner.published++;
        owner.waiting++;
      },
      settled: () => {
        owner.settled++;
        owner.waiting--;
      },
    };
    const failures: string[] = [];
    for (let i = 0; i < 4; i++) p.publish('t.ok', data, headers(), (why) => failures.push(why), o);
    p.publish('t.nowhere', data, headers(), (why) => failures.push(why), o);
    for (let i = 0; i < 2; i++) p.publish('t.silent2', data, headers(), (why) => failures.push(why), o);
    assert.equal(owner.waiting, 7, 'all seven wait for JetStream');
    // Another publisher's stanzas are not this owner's.
    p.publish('t.ok', data, headers(), () => undefined);
    await eventually(() => p.unacknowledged === 0, 5000, 'all settled');
    assert.deepEqual(failures.sort(), ['rejected', 'timeout', 'timeout']);
    assert.deepEqual(owner, { waiting: 0, published: 7, settled: 7 });
    // Refused at once as overloaded: it never waited, so the owner hears nothing of it.
    const full = new RoutePublisher(nc, { ackTimeoutMs: 300, maxPending: 1 });
    full.publish('t.silent2', data, headers(), () => undefined, o);
    full.publish('t.silent2', data, headers(), (why) => failures.push(why), o);
    assert.equal(owner.published, 8);
    assert.equal(failures.at(-1), 'overloaded');
    await eventually(() => owner.settled === 8, 5000, 'the one that waited timed out');
    silent.unsubscribe();
    p.close();
    full.close();
  });

  it('a batch JetStream refuses fails every stanza in it, and each owner hears of each', async () => {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'T_ONE', subjects: ['t.one'], storage: StorageType.Memory, max_msgs: 1, discard: DiscardPolicy.New });
    const p = new RoutePublisher(nc);
    let settled = 0;
    const o = { published: () => undefined, settled: () => void settled++ };
    const failures: string[] = [];
    for (let i = 0; i < 4; i++) {
      const h = headers();
      h.set('n', String(i));
      p.publish('t.one', data, h, (why) => failures.push(`${i}:${why}`), o);
    }
    await eventually(() => p.unacknowledged === 0, 5000, 'settled');
    // 0 was stored alone; 1-3 went as one batch, which the full stream refused.
    assert.deepEqual(failures, ['1:rejected', '2:rejected', '3:rejected']);
    assert.equal(settled, 4);
    assert.equal((await jsm.streams.info('T_ONE')).state.messages, 1);
    p.close();
  });

  it('stanzas behind a message whose PubAck never comes go anyway after LANE_MAX_WAIT_MS, as one batch', async () => {
    const got: number[] = [];
    const silent = nc.subscribe('t.lost', { callback: (_e, m) => got.push(Number(m.headers?.get(BATCH_HEADER) || 1)) });
    await nc.flush();
    const p = new RoutePublisher(nc, { ackTimeoutMs: 60_000 });
    for (let i = 0; i < 3; i++) p.publish('t.lost', data, headers(), () => undefined);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(got, [1], 'the first alone; the others wait for its PubAck');
    await eventually(() => got.length === 2, 5000, 'the waiting ones sent without the PubAck');
    assert.deepEqual(got, [1, 2]);
    assert.equal(p.unacknowledged, 3, 'still unacknowledged: they time out or get their PubAcks later');
    silent.unsubscribe();
    p.close();
  });
});
