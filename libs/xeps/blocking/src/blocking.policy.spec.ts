/**
 * BlockingPolicy on the real JetStream blocklist of a real nats-server: the XEP-0191 §5 matching table,
 * the cache (hits, eviction on a notice, LRU bound, re-reads), and the <blocked/> error.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { errorReply, Jid, parseXml } from '@kxmpp/xmpp-core';
import { Kernel } from '@kxmpp/kernel';
import { openStorage, type BlocklistRepository, type Storage } from '@kxmpp/store';
import { BLOCKLIST_CHANGED_SUBJECT } from '@kxmpp/bus';
import { eventually, lazyNatsServer } from '@kxmpp/testing';
import { blockingModule } from './blocking.module';
import { BlockingPolicy } from './blocking.policy';
import { blockedError, decodeBlocklistChange, encodeBlocklistChange, NS_BLOCKING, NS_BLOCKING_ERRORS } from './blocking.protocol';

const server = lazyNatsServer();
let nc: NatsConnection;
let storage: Storage;
const policies: BlockingPolicy[] = [];
let seq = 0;
const fresh = () => `juliet${++seq}`;
const DOMAIN = 'capulet.example';

before(async () => {
  nc = await connect({ servers: await server.url() });
  storage = await openStorage({ kind: 'jetstream', nc });
});
after(async () => {
  for (const p of policies) p.stop();
  await storage?.close();
  await nc?.drain();
  await server.stop();
});

async function policy(opts: { maxEntries: number; ttlMs?: number }, repo: BlocklistRepository = storage.blocklist): Promise<BlockingPolicy> {
  const p = new BlockingPolicy(repo, nc, opts);
  policies.push(p);
  await p.start();
  return p;
}

/** The real repository, counting reads (a spy, not a fake: every call goes to JetStream). */
function counting(repo: BlocklistRepository): BlocklistRepository & { reads: number } {
  const spy = {
    reads: 0,
    get: (d: string, u: string) => {
      spy.reads++;
      return repo.get(d, u);
    },
    add: repo.add.bind(repo),
    remove: repo.remove.bind(repo),
    clear: repo.clear.bind(repo),
  };
  return spy;
}

const notice = (username: string) => nc.publish(BLOCKLIST_CHANGED_SUBJECT, encodeBlocklistChange({ domain: DOMAIN, username, blocked: [], unblocked: [] }));

describe('BlockingPolicy: XEP-0191 §5 JID matching', () => {
  const ENTRIES = ['romeo@montague.example/orchard', 'iago@shakespeare.example', 'verona.example/gate', 'spam.example'];
  const rows: Array<[string, boolean, string]> = [
    // [other, blocked?, rule]
    ['romeo@montague.example/orchard', true, 'full JID entry: that full JID'],
    ['romeo@montague.example/garden', false, 'full JID entry: not another resource'],
    ['romeo@montague.example', false, 'full JID entry: not the bare JID'],
    ['iago@shakespeare.example', true, 'bare entry: the bare JID'],
    ['iago@shakespeare.example/any', true, 'bare entry: every resource'],
    ['IAGO@Shakespeare.example/Any', true, 'bare entry: after JID normalization'],
    ['othello@shakespeare.example', false, 'bare entry: not others at the domain'],
    ['shakespeare.example', false, 'bare entry: not the domain'],
    ['verona.example/gate', true, 'domain/resource entry: that JID'],
    ['verona.example', false, 'domain/resource entry: not the domain'],
    ['verona.example/wall', false, 'domain/resource entry: not another resource'],
    ['prince@verona.example/gate', false, 'domain/resource entry: not a user at the domain with that resource'],
    ['spam.example', true, 'domain entry: the domain'],
    ['bot@spam.example', true, 'domain entry: a user at it'],
    ['bot@spam.example/x', true, 'domain entry: a full JID at it'],
    ['spam.example/svc', true, 'domain entry: domain/resource at it'],
    ['relay.spam.example', false, 'domain entry: not a subdomain (XEP-0191 1.3)'],
    ['nurse@capulet.example', false, 'not listed at all'],
  ];
  let owner: string;
  let p: BlockingPolicy;
  before(async () => {
    owner = fresh();
    await storage.blocklist.add(DOMAIN, owner, ENTRIES);
    p = await policy({ maxEntries: 10 });
  });
  for (const [other, expected, rule] of rows) {
    it(`${rule}: ${other} -> ${expected ? 'blocked' : 'not blocked'}`, async () => {
      assert.equal(await p.blocks(DOMAIN, owner, Jid.parse(other)), expected);
    });
  }

  it('a user\'s own resources are never blocked, even with the own domain listed', async () => {
    const u = fresh();
    await storage.blocklist.add(DOMAIN, u, [DOMAIN, `${u}@${DOMAIN}/evil`]);
    const q = await policy({ maxEntries: 10 });
    assert.equal(await q.blocks(DOMAIN, u, Jid.parse(`${u}@${DOMAIN}/evil`)), false);
    assert.equal(await q.blocks(DOMAIN, u, Jid.parse(`${u}@${DOMAIN}`)), false);
    assert.equal(await q.blocks(DOMAIN, u, Jid.parse(`tybalt@${DOMAIN}`)), true);
  });
});

describe('BlockingPolicy: the cache', () => {
  it('a hit does not read the store and answers with an already settled promise', async () => {
    const repo = counting(storage.blocklist);
    const p = await policy({ maxEntries: 10 }, repo);
    const u = fresh();
    const romeo = Jid.parse('romeo@montague.example');
    assert.equal(await p.blocks(DOMAIN, u, romeo), false);
    assert.equal(repo.reads, 1);
    // Settled before a single macrotask: resolves within the microtasks queued right now.
    let settled = false;
    void p.blocks(DOMAIN, u, romeo).then(() => (settled = true));
    await Promise.resolve();
    assert.equal(settled, true);
    assert.equal(repo.reads, 1);
  });

  it('concurrent misses for one owner share one read', async () => {
    const repo = counting(storage.blocklist);
    const p = await policy({ maxEntries: 10 }, repo);
    const u = fresh();
    await storage.blocklist.add(DOMAIN, u, ['romeo@montague.example']);
    const answers = await Promise.all(['romeo@montague.example', 'tybalt@capulet.example', 'romeo@montague.example/x'].map((j) => p.blocks(DOMAIN, u, Jid.parse(j))));
    assert.deepEqual(answers, [true, false, true]);
    assert.equal(repo.reads, 1);
  });

  it('an eviction during the first read keeps that read out of the cache', async () => {
    const repo = counting(storage.blocklist);
    const p = await policy({ maxEntries: 10 }, repo);
    const u = fresh();
    const pending = p.blocks(DOMAIN, u, Jid.parse('romeo@montague.example'));
    p.evict(DOMAIN, u);
    assert.equal(await pending, false);
    assert.equal(p.size, 0);
    await p.blocks(DOMAIN, u, Jid.parse('romeo@montague.example'));
    assert.equal(repo.reads, 2);
  });

  it('keeps a cached list until a change notice evicts it', async () => {
    const p = await policy({ maxEntries: 10 });
    const u = fresh();
    const romeo = Jid.parse('romeo@montague.example/orchard');
    assert.equal(await p.blocks(DOMAIN, u, romeo), false);
    // Written behind the policy's back (as another process would, before its notice arrives): still cached.
    await storage.blocklist.add(DOMAIN, u, ['romeo@montague.example']);
    assert.equal(await p.blocks(DOMAIN, u, romeo), false);
    notice(u);
    await eventually(async () => p.blocks(DOMAIN, u, romeo), 5000, 'eviction on the notice');
    // And back, on an unblock's notice.
    await storage.blocklist.remove(DOMAIN, u, ['romeo@montague.example']);
    notice(u);
    await eventually(async () => !(await p.blocks(DOMAIN, u, romeo)), 5000, 'eviction on the second notice');
  });

  it('a notice for another user or a malformed notice evicts nothing', async () => {
    const repo = counting(storage.blocklist);
    const p = await policy({ maxEntries: 10 }, repo);
    const u = fresh();
    await p.blocks(DOMAIN, u, Jid.parse('romeo@montague.example'));
    notice(fresh());
    nc.publish(BLOCKLIST_CHANGED_SUBJECT, new TextEncoder().encode('not json'));
    nc.publish(BLOCKLIST_CHANGED_SUBJECT, new TextEncoder().encode('{"domain":1}'));
    await nc.flush();
    await p.blocks(DOMAIN, u, Jid.parse('romeo@montague.example'));
    assert.equal(p.size, 1);
    assert.equal(repo.reads, 1);
  });

  it('a block through the module reaches every policy through the notice', async () => {
    const p = await policy({ maxEntries: 10 });
    const kernel = new Kernel([blockingModule({ repo: storage.blocklist, nc })]);
    const juliet = Jid.parse(`${fresh()}@${DOMAIN}/chamber`);
    const romeo = Jid.parse('romeo@montague.example/orchard');
    assert.equal(await p.blocks(DOMAIN, juliet.local, romeo), false);
    const stanza = parseXml(`<iq type="set" id="b"><block xmlns="${NS_BLOCKING}"><item jid="romeo@montague.example"/></block></iq>`);
    assert.equal((await kernel.handleIq({ stanza, from: juliet, to: juliet.bare(), target: 'account' }))?.attrs.type, 'result');
    await eventually(async () => p.blocks(DOMAIN, juliet.local, romeo), 5000, 'the block to reach the policy');
  });

  it('holds at most maxEntries lists, dropping the least recently used', async () => {
    const repo = counting(storage.blocklist);
    const p = await policy({ maxEntries: 2 }, repo);
    const [a, b, c] = [fresh(), fresh(), fresh()];
    const x = Jid.parse('romeo@montague.example');
    await p.blocks(DOMAIN, a, x);
    await p.blocks(DOMAIN, b, x);
    await p.blocks(DOMAIN, a, x); // a is now the most recently used
    await p.blocks(DOMAIN, c, x); // evicts b
    assert.equal(p.size, 2);
    assert.equal(repo.reads, 3);
    await p.blocks(DOMAIN, a, x);
    await p.blocks(DOMAIN, c, x);
    assert.equal(repo.reads, 3);
    await p.blocks(DOMAIN, b, x);
    assert.equal(repo.reads, 4);
    assert.equal(p.size, 2);
  });

  it('a list used lately outlives at least maxEntries/2 later reads of other lists, cached() answers without a read', async () => {
    const repo = counting(storage.blocklist);
    const p = await policy({ maxEntries: 4 }, repo);
    const [a, b, c, d, e, f] = [fresh(), fresh(), fresh(), fresh(), fresh(), fresh()];
    const x = Jid.parse('romeo@montague.example');
    assert.equal(p.cached(DOMAIN, a, x), undefined, 'nothing cached yet');
    for (const u of [a, b, c, d]) await p.blocks(DOMAIN, u, x);
    assert.equal(p.cached(DOMAIN, a, x), false); // a is used: it moves to the newest end
    await p.blocks(DOMAIN, e, x); // evicts b
    await p.blocks(DOMAIN, f, x); // evicts c
    assert.equal(repo.reads, 6);
    assert.equal(p.cached(DOMAIN, a, x), false, 'a is still cached');
    assert.equal(p.cached(DOMAIN, b, x), undefined, 'b was evicted');
    assert.equal(repo.reads, 6, 'cached() never reads');
    assert.equal(p.size, 4);
  });

  it('re-reads a list older than ttlMs without any notice', async () => {
    const p = await policy({ maxEntries: 10, ttlMs: 0 });
    const u = fresh();
    const romeo = Jid.parse('romeo@montague.example');
    assert.equal(await p.blocks(DOMAIN, u, romeo), false);
    await storage.blocklist.add(DOMAIN, u, ['romeo@montague.example']);
    assert.equal(await p.blocks(DOMAIN, u, romeo), true);
  });

  it('after stop() notices are no longer applied and the cache is empty', async () => {
    const p = await policy({ maxEntries: 10 });
    await p.blocks(DOMAIN, fresh(), Jid.parse('romeo@montague.example'));
    p.stop();
    assert.equal(p.size, 0);
  });

  it('rejects a maxEntries below 1', () => {
    assert.throws(() => new BlockingPolicy(storage.blocklist, nc, { maxEntries: 0 }), RangeError);
  });
});

describe('blockedError and the notice codec', () => {
  it('is not-acceptable (type cancel) with <blocked xmlns="urn:xmpp:blocking:errors"/> (§3.3)', () => {
    const msg = parseXml('<message xmlns="jabber:client" from="juliet@capulet.example/balcony" to="romeo@montague.example" id="m1" type="chat"><body>Can you hear me now?</body></message>');
    const r = errorReply(msg, blockedError(), 'romeo@montague.example');
    assert.equal(
      r?.toString(),
      '<message xmlns="jabber:client" type="error" id="m1" from="romeo@montague.example" to="juliet@capulet.example/balcony"><body>Can you hear me now?</body>' +
        `<error type="cancel"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><blocked xmlns="${NS_BLOCKING_ERRORS}"/></error></message>`,
    );
    assert.equal(blockedError().condition, 'not-acceptable');
  });

  const payloads: Array<[string, string, boolean]> = [
    ['the full notice', '{"domain":"d.example","username":"u","blocked":["a@b.example"],"unblocked":[]}', true],
    ['domain and username only', '{"domain":"d.example","username":"u"}', true],
    ['not JSON', 'x', false],
    ['no username', '{"domain":"d.example"}', false],
    ['null', 'null', false],
  ];
  for (const [name, text, ok] of payloads) {
    it(`decodes ${name}: ${ok ? 'a notice' : 'null'}`, () => {
      const c = decodeBlocklistChange(new TextEncoder().encode(text));
      assert.equal(c !== null, ok);
      if (c) assert.deepEqual(Object.keys(c), ['domain', 'username', 'blocked', 'unblocked']);
    });
  }
});
