/** The accounts contract against a real nats-server with JetStream (one server, one bucket per run). */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { lazyNatsServer } from '@kxmpp/testing';
import { accountsContract } from './accounts.contract';
import { JetStreamAccountsRepository } from './jetstream/accounts.jetstream';
import { deriveAllCredentials } from './scram';

const shared = lazyNatsServer();
let bucketSeq = 0;

const natsUrl = () => shared.url();

after(() => shared.stop());

accountsContract('jetstream', async () => {
  const nc = await connect({ servers: await natsUrl() });
  const repo = await JetStreamAccountsRepository.open(nc, { bucket: `accounts_contract_${++bucketSeq}` });
  return { repo, close: () => nc.drain() };
});

describe('JetStreamAccountsRepository specifics', () => {
  let nc: NatsConnection;
  before(async () => {
    nc = await connect({ servers: await natsUrl() });
  });
  after(async () => {
    await nc?.drain();
  });

  it('opening twice binds to the same bucket', async () => {
    const a = await JetStreamAccountsRepository.open(nc, { bucket: 'accounts_twice' });
    const b = await JetStreamAccountsRepository.open(nc, { bucket: 'accounts_twice' });
    const rec = { domain: 'example.com', username: 'alice', scram: deriveAllCredentials('pw', 16), createdAt: new Date().toISOString() };
    assert.equal(await a.create(rec), true);
    assert.deepEqual(await b.get('example.com', 'alice'), rec);
  });

  it('keys never contain the raw domain or username', async () => {
    const repo = await JetStreamAccountsRepository.open(nc, { bucket: 'accounts_keys' });
    const rec = { domain: 'example.com', username: 'a.b*c>', scram: deriveAllCredentials('pw', 16), createdAt: new Date().toISOString() };
    assert.equal(await repo.create(rec), true);
    const kv = await nc.jetstream().views.kv('accounts_keys', { bindOnly: true });
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    assert.equal(keys.length, 1);
    assert.match(keys[0] ?? '', /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    assert.ok(!keys[0]?.includes('example'));
  });

  it('rejects an empty username instead of writing a malformed key', async () => {
    const repo = await JetStreamAccountsRepository.open(nc, { bucket: 'accounts_keys' });
    await assert.rejects(repo.get('example.com', ''), RangeError);
  });
});
