/**
 * Every port contract against the mongo adapters: always on jongodb (a MongoDB wire-protocol server from
 * npm, ARCHITECTURE.md "Storage"), and on a real MongoDB when MONGODB_URI is set. The account change feed
 * runs over a real nats-server.
 *
 * Cases a backend cannot run are skipped by a capability probed on that backend, with the reason.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import { connect, type NatsConnection } from 'nats';
import { lazyJongodb, lazyNatsServer } from '@kxmpp/testing';
import { accountsContract } from './accounts.contract';
import { blocklistContract, lastActivityContract, privateXmlContract, vcardContract } from './account-data.contract';
import type { Skips } from './contract.fixtures';
import { offlineContract } from './offline.contract';
import { rosterContract } from './roster.contract';
import { storageContract } from './storage.contract';
import { openStorage } from './storage.factory';
import type { Storage } from './storage';
import { MONGO_COLLECTIONS } from './mongo/common.mongo';

const nats = lazyNatsServer();
const jongodb = lazyJongodb();
const connections: NatsConnection[] = [];
const storages: Storage[] = [];

after(async () => {
  await Promise.all(storages.map((s) => s.close()));
  await Promise.all(connections.map((nc) => nc.close()));
  await Promise.all([nats.stop(), jongodb.stop()]);
});

async function natsConnection(): Promise<NatsConnection> {
  const nc = await connect({ servers: await nats.url() });
  connections.push(nc);
  return nc;
}

/**
 * What the server can do, asked of the server itself: MongoDB compares strings by UTF-8 bytes (code
 * point order); a server that compares UTF-16 code units orders astral characters differently.
 */
async function probe(uri: string): Promise<Skips> {
  const conn = await mongoose.createConnection(uri, { autoCreate: false, autoIndex: false }).asPromise();
  try {
    const c = conn.db!.collection(`capability_probe_${Date.now()}`);
    await c.insertMany([{ s: '\u{1F984}' }, { s: '\uFF5A' }]);
    const order = (await c.find({}).sort({ s: 1 }).toArray()).map((d) => d.s as string);
    await c.drop().catch(() => undefined);
    const skips: Record<string, string> = {};
    if (order[0] !== '\uFF5A') {
      skips['list orders usernames by code point, beyond the BMP too'] =
        'this server sorts strings by UTF-16 code units, not by code point (jongodb); MongoDB sorts by UTF-8 bytes';
    }
    return skips;
  } finally {
    await conn.close();
  }
}

/** The contracts and specifics on one backend; skips come from probing it, so the suite body is async. */
async function suites(name: string, uri: () => Promise<string>): Promise<void> {
  const skips = await probe(await uri());

  async function storage(): Promise<Storage> {
    const s = await openStorage({ kind: 'mongo', mongodbUri: await uri(), nc: await natsConnection() });
    storages.push(s);
    return s;
  }
  function port<K extends keyof Storage>(key: K) {
    return async () => ({ repo: (await storage())[key], close: async () => undefined });
  }

  accountsContract(name, port('accounts'), skips);
  rosterContract(name, port('roster'));
  offlineContract(name, port('offline'));
  blocklistContract(name, port('blocklist'));
  vcardContract(name, port('vcard'));
  privateXmlContract(name, port('privateXml'));
  lastActivityContract(name, port('lastActivity'));
  storageContract(name, storage);

  describe(`mongo storage specifics: ${name}`, () => {
    it('openStorage creates the collections and their unique indexes, and twice is fine', async () => {
      const s1 = await storage();
      await storage();
      const conn = await mongoose.createConnection(await uri(), { autoCreate: false, autoIndex: false }).asPromise();
      try {
        // listIndexes, not listCollections (which jongodb lacks): an index list proves the collection exists.
        for (const c of Object.values(MONGO_COLLECTIONS)) {
          const idx = await conn.db!.collection(c).listIndexes().toArray();
          assert.ok(idx.some((i) => i.unique === true && i.name !== '_id_'), `unique index on ${c}`);
        }
        const idx = await conn.db!.collection(MONGO_COLLECTIONS.accounts).listIndexes().toArray();
        assert.ok(idx.some((i) => i.unique === true && JSON.stringify(i.key) === '{"domain":1,"username":1}'));
      } finally {
        await conn.close();
      }
      assert.equal(s1.kind, 'mongo');
    });

    it('close() closes its own mongoose connection and leaves NATS open', async () => {
      const nc = await natsConnection();
      const s = await openStorage({ kind: 'mongo', mongodbUri: await uri(), nc });
      await s.close();
      await assert.rejects(s.vcard.get('example.com', 'alice'));
      assert.equal(nc.isClosed(), false);
      assert.equal(mongoose.connection.readyState, 0, 'the global mongoose connection is never used');
    });

    it("openStorage({kind:'mongo'}) without a URI is a RangeError", async () => {
      await assert.rejects(openStorage({ kind: 'mongo', nc: await natsConnection() }), RangeError);
    });
  });
}

describe('mongo on jongodb', () => suites('jongodb', () => jongodb.uri()));

const realUri = process.env.MONGODB_URI;
describe('mongo on a real MongoDB (MONGODB_URI)', () => {
  if (realUri) return suites('MONGODB_URI', async () => realUri);
  it('runs every contract against MONGODB_URI', { skip: 'MONGODB_URI is not set: the mongo adapters ran on jongodb only' }, () => undefined);
});
