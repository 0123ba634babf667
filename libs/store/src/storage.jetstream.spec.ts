/**
 * Every port contract against the JetStream adapters on a real nats-server (one server for the file;
 * the suites keep apart by random domains, as they would on a shared install).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { lazyNatsServer } from '@kxmpp/testing';
import { blocklistContract, lastActivityContract, privateXmlContract, vcardContract } from './account-data.contract';
import { offlineContract } from './offline.contract';
import { rosterContract } from './roster.contract';
import { storageContract } from './storage.contract';
import { openStorage } from './storage.factory';
import type { Storage } from './storage';
import { JS_NAMES } from './jetstream/names.jetstream';

const server = lazyNatsServer();
const connections: NatsConnection[] = [];

async function storage(): Promise<Storage> {
  const nc = await connect({ servers: await server.url() });
  connections.push(nc);
  return openStorage({ kind: 'jetstream', nc });
}

function port<K extends keyof Storage>(key: K) {
  return async () => ({ repo: (await storage())[key], close: async () => undefined });
}

after(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
  await server.stop();
});

rosterContract('jetstream', port('roster'));
offlineContract('jetstream', port('offline'));
blocklistContract('jetstream', port('blocklist'));
vcardContract('jetstream', port('vcard'));
privateXmlContract('jetstream', port('privateXml'));
lastActivityContract('jetstream', port('lastActivity'));
storageContract('jetstream', storage);

describe('JetStream storage specifics', () => {
  let nc: NatsConnection;
  before(async () => {
    nc = await connect({ servers: await server.url() });
    connections.push(nc);
  });

  it('openStorage twice binds to the same buckets and stream and leaves the connection open', async () => {
    const s1 = await openStorage({ kind: 'jetstream', nc });
    const s2 = await openStorage({ kind: 'jetstream', nc });
    await s1.vcard.set('example.com', 'twice', '<vCard/>');
    assert.equal(await s2.vcard.get('example.com', 'twice'), '<vCard/>');
    await s1.close();
    assert.equal(nc.isClosed(), false);
  });

  it('keys and subjects never contain raw domains, usernames or JIDs', async () => {
    const s = await openStorage({ kind: 'jetstream', nc });
    const d = 'raw.example.com';
    const u = 'a.b*c>';
    await s.roster.update(d, u, 'bob@other.example', () => ({ jid: 'bob@other.example', groups: [], subscription: 'none', ask: false, pendingIn: false, approved: false }));
    await s.blocklist.add(d, u, ['eve@evil.example']);
    await s.offline.push(d, u, { from: 'x@y/z', stanza: '<message/>', storedAt: new Date().toISOString() }, 10);
    const safe = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
    for (const bucket of [JS_NAMES.rosterBucket, JS_NAMES.blocklistBucket]) {
      const kv = await nc.jetstream().views.kv(bucket, { bindOnly: true });
      for await (const k of await kv.keys()) {
        assert.match(k, safe);
        assert.ok(!k.includes('example'), k);
      }
    }
    const jsm = await nc.jetstreamManager();
    const si = await jsm.streams.info(JS_NAMES.offlineStream, { subjects_filter: '>' });
    for (const subject of Object.keys(si.state.subjects ?? {})) {
      assert.match(subject, /^xmpp\.store\.offline\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      assert.ok(!subject.includes('example'), subject);
    }
  });

  it('a roster contact JID at the 3071-byte limit still fits a subject', async () => {
    const s = await openStorage({ kind: 'jetstream', nc });
    const long = `${'l'.repeat(1023)}@${'d'.repeat(1023)}`;
    const owner = 'o'.repeat(1023);
    const domain = `${'e'.repeat(1010)}.example`;
    const change = await s.roster.update(domain, owner, long, () => ({ jid: long, groups: [], subscription: 'none', ask: false, pendingIn: false, approved: false }));
    assert.equal(change?.item?.jid, long);
    assert.equal((await s.roster.get(domain, owner)).items[0]?.jid, long);
  });
});
