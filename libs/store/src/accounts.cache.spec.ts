/** The account cache: the full contract through it, plus hits, eviction across processes, TTL and size. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { eventually, lazyNatsServer } from '@kxmpp/testing';
import { accountsContract } from './accounts.contract';
import { CachedAccountsRepository } from './accounts.cache';
import type { AccountRecord, AccountsRepository } from './accounts.port';
import { JetStreamAccountsRepository } from './jetstream/accounts.jetstream';
import { deriveAllCredentials, verifyPassword } from './scram';

const shared = lazyNatsServer();
let bucketSeq = 0;
const natsUrl = () => shared.url();
after(() => shared.stop());

accountsContract('jetstream behind the cache', async () => {
  const nc = await connect({ servers: await natsUrl() });
  const inner = await JetStreamAccountsRepository.open(nc, { bucket: `accounts_cached_${++bucketSeq}` });
  const repo = new CachedAccountsRepository(inner);
  await repo.follow(inner);
  return {
    repo,
    close: async () => {
      repo.close();
      await nc.drain();
    },
  };
});

/** Counts the reads that reach the store. */
class Counting implements AccountsRepository {
  gets = 0;
  constructor(private readonly inner: AccountsRepository) {}
  get(d: string, u: string) {
    this.gets++;
    return this.inner.get(d, u);
  }
  create(r: AccountRecord) {
    return this.inner.create(r);
  }
  setCredentials(d: string, u: string, s: AccountRecord['scram']) {
    return this.inner.setCredentials(d, u, s);
  }
  delete(d: string, u: string) {
    return this.inner.delete(d, u);
  }
  list(d: string, l?: number) {
    return this.inner.list(d, l);
  }
  count(d: string) {
    return this.inner.count(d);
  }
}

const rec = (username: string, password: string): AccountRecord => ({
  domain: 'cache.example',
  username,
  scram: deriveAllCredentials(password, 16),
  createdAt: new Date().toISOString(),
});

describe('CachedAccountsRepository', () => {
  let nc: NatsConnection;
  let store: JetStreamAccountsRepository;
  before(async () => {
    nc = await connect({ servers: await natsUrl() });
    store = await JetStreamAccountsRepository.open(nc, { bucket: 'accounts_cache_specifics' });
  });
  after(async () => {
    await nc?.drain();
  });

  it('serves repeated reads from memory and never caches an absent account', async () => {
    const counting = new Counting(store);
    const cache = new CachedAccountsRepository(counting);
    assert.equal(await cache.get('cache.example', 'nobody'), null);
    assert.equal(await cache.get('cache.example', 'nobody'), null);
    assert.equal(counting.gets, 2);
    await store.create(rec('hit', 'pw'));
    for (let i = 0; i < 5; i++) assert.equal((await cache.get('cache.example', 'hit'))?.username, 'hit');
    assert.equal(counting.gets, 3);
  });

  it('a password changed by another process is seen through the change feed', async () => {
    await store.create(rec('moved', 'old'));
    const cache = new CachedAccountsRepository(store, { ttlMs: 3_600_000 });
    await cache.follow(store);
    assert.ok(verifyPassword((await cache.get('cache.example', 'moved'))!.scram['SCRAM-SHA-256'], 'SCRAM-SHA-256', 'old'));
    // "Another edge": the store directly, not through this cache.
    await store.setCredentials('cache.example', 'moved', deriveAllCredentials('new', 16));
    await eventually(async () => {
      const r = await cache.get('cache.example', 'moved');
      return r && verifyPassword(r.scram['SCRAM-SHA-256'], 'SCRAM-SHA-256', 'new');
    }, 5000, 'new credentials through the cache');
    await store.delete('cache.example', 'moved');
    await eventually(async () => (await cache.get('cache.example', 'moved')) === null, 5000, 'deletion through the cache');
    cache.close();
  });

  it('expires entries after the ttl and keeps at most max entries', async () => {
    const counting = new Counting(store);
    const cache = new CachedAccountsRepository(counting, { ttlMs: 200, max: 2 });
    for (const u of ['a1', 'a2', 'a3']) await store.create(rec(u, 'pw'));
    await cache.get('cache.example', 'a1');
    await cache.get('cache.example', 'a2');
    await cache.get('cache.example', 'a3');
    assert.equal(cache.size, 2);
    const before = counting.gets;
    await cache.get('cache.example', 'a1'); // evicted as least recently used
    assert.equal(counting.gets, before + 1);
    await new Promise((r) => setTimeout(r, 250));
    await cache.get('cache.example', 'a1');
    assert.equal(counting.gets, before + 2);
  });
});
