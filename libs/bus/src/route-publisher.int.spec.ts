import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DiscardPolicy, headers, NatsConnection, StorageType } from 'nats';
import { eventually, startNatsServer, NatsServerHandle } from '@kxmpp/testing';
import { connectBus } from './connection';
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

  it('acknowledged publishes report nothing and land in the stream in order', async () => {
    const p = new RoutePublisher(nc);
    const failures: PublishFailure[] = [];
    for (let i = 0; i < 500; i++) {
      const h = headers();
      h.set('n', String(i));
      p.publish('t.ok', data, h, (why) => failures.push(why));
    }
    await eventually(() => p.unacknowledged === 0, 5000, 'all acknowledged');
    assert.deepEqual(failures, []);
    const jsm = await nc.jetstreamManager();
    assert.equal((await jsm.streams.info('T_OK')).state.messages, 500);
    const last = await jsm.streams.getMessage('T_OK', { seq: 500 });
    assert.equal(last.header.get('n'), '499');
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
});
