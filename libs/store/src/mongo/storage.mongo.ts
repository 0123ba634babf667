/**
 * The mongo Storage: its own mongoose Connection (never the global one, so apps and tests can hold
 * several), models for every port, and their indexes created explicitly at open. autoCreate and
 * autoIndex are off: createIndexes makes each missing collection, the portable way (the MongoDB-wire
 * test server has no `create` command), and index builds never run behind a first query.
 */
import mongoose from 'mongoose';
import type { NatsConnection } from 'nats';
import type { Storage } from '../storage';
import { MongoAccountsRepository } from './accounts.mongo';
import { MongoBlocklistRepository, MongoLastActivityRepository, MongoPrivateXmlRepository, MongoVCardRepository } from './account-data.mongo';
import { MongoOfflineRepository } from './offline.mongo';
import { MongoRosterRepository } from './roster.mongo';

export async function openMongoStorage(uri: string, nc: NatsConnection): Promise<Storage> {
  const conn = await mongoose.createConnection(uri, { autoCreate: false, autoIndex: false }).asPromise();
  try {
    const accounts = MongoAccountsRepository.define(conn, nc);
    const storage: Storage = {
      kind: 'mongo',
      accounts,
      accountChanges: accounts,
      roster: MongoRosterRepository.define(conn),
      offline: MongoOfflineRepository.define(conn),
      blocklist: MongoBlocklistRepository.define(conn),
      vcard: MongoVCardRepository.define(conn),
      privateXml: MongoPrivateXmlRepository.define(conn),
      lastActivity: MongoLastActivityRepository.define(conn),
      close: () => conn.close(),
    };
    // Idempotent: an index that exists with the same definition is left alone.
    await Promise.all(Object.values(conn.models).map((m) => m.createIndexes()));
    return storage;
  } catch (err) {
    await conn.close().catch(() => undefined);
    throw err;
  }
}
