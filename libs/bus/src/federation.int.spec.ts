/**
 * Federation plumbing against a real nats-server: partition leases give every partition exactly one
 * holder, spread over the live replicas and taken over when a holder goes (graceful or dead); the
 * dialback secret is the same for every replica.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NatsConnection } from 'nats';
import { eventually, lazyNatsServer } from '@kxmpp/testing';
import { connectBus } from './connection';
import { PartitionLeases, sharedDialbackSecret } from './federation';

describe('federation leases and secret (real nats-server)', () => {
  const nats = lazyNatsServer();
  let a: NatsConnection;
  let b: NatsConnection;

  before(async () => {
    a = await connectBus(await nats.url(), 'fed-a');
    b = await connectBus(await nats.url(), 'fed-b');
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await nats.stop();
  });

  function replica(nc: NatsConnection, id: string, partitions: number, ttlMs: number) {
    const held = new Set<number>();
    const events: string[] = [];
    const leases = new PartitionLeases(nc, id, partitions, {
      acquired: (p) => {
        assert.ok(!held.has(p), `${id} acquired ${p} twice`);
        held.add(p);
        events.push(`+${p}`);
      },
      lost: (p) => {
        held.delete(p);
        events.push(`-${p}`);
      },
    }, ttlMs);
    return { leases, held, events };
  }

  it('one holder per partition, spread over replicas, taken over when one stops and when one dies', async () => {
    const P = 8;
    const r1 = replica(a, 'r1', P, 3000);
    await r1.leases.start();
    assert.equal(r1.held.size, P, 'alone, a replica holds every partition');
    const r2 = replica(b, 'r2', P, 3000);
    await r2.leases.start();
    // r1 sees r2's heartbeat and gives back its extras; r2 takes them.
    await eventually(() => r1.held.size === 4 && r2.held.size === 4, 15_000, 'an even spread');
    for (let p = 0; p < P; p++) assert.ok(r1.held.has(p) !== r2.held.has(p), `partition ${p} has exactly one holder`);

    // Graceful stop: the leases are released at once and the other replica takes them.
    await r2.leases.stop();
    await eventually(() => r1.held.size === P, 10_000, 'r1 takes every partition back');

    // A replica that dies (stops refreshing without releasing): its leases expire after the TTL.
    const r3 = replica(b, 'r3', P, 3000);
    await r3.leases.start();
    await eventually(() => r1.held.size === 4 && r3.held.size === 4, 15_000, 'spread again');
    // Simulate death: stop r3's timer without releasing anything.
    (r3.leases as unknown as { timer?: NodeJS.Timeout; stopped: boolean }).stopped = true;
    clearInterval((r3.leases as unknown as { timer?: NodeJS.Timeout }).timer);
    await eventually(() => r1.held.size === P, 20_000, 'r1 takes the dead replica partitions after the TTL');
    await r1.leases.stop();
  });

  it('every replica gets the same generated dialback secret; a configured one wins', async () => {
    const [s1, s2] = await Promise.all([sharedDialbackSecret(a, undefined), sharedDialbackSecret(b, undefined)]);
    assert.equal(s1, s2);
    assert.ok(s1.length >= 32);
    assert.equal(await sharedDialbackSecret(a, 'configured-secret-123'), 'configured-secret-123');
    assert.equal(await sharedDialbackSecret(b, undefined), s1, 'the stored one is unchanged');
  });
});
