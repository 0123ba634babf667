/** DomainSet against a real nats-server: run-time domains reach every process without a restart. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NatsConnection } from 'nats';
import { eventually, lazyNatsServer } from '@kxmpp/testing';
import { connectBus } from './connection';
import { DomainChange, DomainError, DomainSet, normalizeDomain } from './domains';

describe('DomainSet (real nats-server)', () => {
  const nats = lazyNatsServer();
  let a: NatsConnection;
  let b: NatsConnection;
  let n = 0;
  const bucket = () => `domains_test_${++n}`;

  before(async () => {
    a = await connectBus(await nats.url(), 'domains-a');
    b = await connectBus(await nats.url(), 'domains-b');
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await nats.stop();
  });

  it('serves config domains before start and whatever happens in the bucket', async () => {
    const set = new DomainSet(a, ['Example.com', 'b.example'], { bucket: bucket() });
    assert.equal(set.has('example.com'), true);
    assert.equal(set.has('b.example'), true);
    assert.equal(set.has('c.example'), false);
    await set.start();
    assert.deepEqual(set.list(), ['example.com', 'b.example']);
    set.stop();
  });

  it('an add on one connection is seen by another within milliseconds, and a remove too', async () => {
    const name = bucket();
    const one = new DomainSet(a, ['example.com'], { bucket: name });
    const two = new DomainSet(b, ['example.com'], { bucket: name });
    await Promise.all([one.start(), two.start()]);
    const seen: DomainChange[] = [];
    two.onChange((c) => seen.push(c));

    const added = await one.add('New.Example');
    assert.equal(added.domain, 'new.example');
    assert.equal(added.configured, false);
    assert.equal(one.has('new.example'), true, 'visible at once where it was added');
    const t0 = Date.now();
    await eventually(() => two.has('new.example'), 5000, 'propagation');
    assert.ok(Date.now() - t0 < 1000, `propagation took ${Date.now() - t0} ms`);
    assert.deepEqual(two.list(), ['example.com', 'new.example']);
    assert.equal(two.entries()[1].configured, false);
    assert.ok(two.entries()[1].addedAt);

    await one.remove('new.example');
    assert.equal(one.has('new.example'), false);
    await eventually(() => !two.has('new.example'), 5000, 'removal propagation');
    assert.deepEqual(seen, [
      { op: 'add', domain: 'new.example' },
      { op: 'remove', domain: 'new.example' },
    ]);

    // Added again after a removal: served again.
    await two.add('new.example');
    await eventually(() => one.has('new.example'), 5000, 're-add propagation');
    one.stop();
    two.stop();
  });

  it('a process started later loads the run-time domains before start() resolves', async () => {
    const name = bucket();
    const first = new DomainSet(a, ['example.com'], { bucket: name });
    await first.start();
    await first.add('later.example');
    const late = new DomainSet(b, ['example.com'], { bucket: name });
    assert.equal(late.has('later.example'), false);
    await late.start();
    assert.equal(late.has('later.example'), true);
    first.stop();
    late.stop();
  });

  it('refuses invalid, duplicate, configured and unknown domains with a reason', async () => {
    const set = new DomainSet(a, ['example.com'], { bucket: bucket() });
    await set.start();
    const reason = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        assert.ok(e instanceof DomainError, String(e));
        return e.reason;
      }
      return 'resolved';
    };
    assert.equal(await reason(set.add('bad domain')), 'invalid');
    assert.equal(await reason(set.add('a@b.example')), 'invalid');
    assert.equal(await reason(set.add('127.0.0.1')), 'invalid');
    assert.equal(await reason(set.add('')), 'invalid');
    assert.equal(await reason(set.add('example.com')), 'exists');
    await set.add('x.example');
    assert.equal(await reason(set.add('X.example.')), 'exists');
    assert.equal(await reason(set.remove('example.com')), 'configured');
    assert.equal(await reason(set.remove('nope.example')), 'unknown');
    assert.equal(set.has('example.com'), true);
    set.stop();
  });

  it('normalizes domains like JIDs do', () => {
    assert.equal(normalizeDomain(' Chat.Example.ORG. '), 'chat.example.org');
    assert.throws(() => normalizeDomain('-bad.example'), DomainError);
    assert.throws(() => normalizeDomain('a..b'), DomainError);
    assert.throws(() => normalizeDomain('exa$mple.com'), DomainError);
  });
});
