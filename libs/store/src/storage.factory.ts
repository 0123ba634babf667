/**
 * openStorage(): the one place that picks and wires the storage adapters (ARCHITECTURE.md, Storage).
 * `jetstream` creates its buckets and stream idempotently on the given connection; `mongo` opens its own
 * mongoose connection (closed by Storage.close()) and uses the NATS connection for the account change feed.
 * The NATS connection is the caller's: it is never closed here.
 */
import type { NatsConnection } from 'nats';
import type { Storage, StorageKind } from './storage';
import { JetStreamAccountsRepository } from './jetstream/accounts.jetstream';
import { JetStreamRosterRepository } from './jetstream/roster.jetstream';
import { JetStreamOfflineRepository } from './jetstream/offline.jetstream';
import {
  JetStreamBlocklistRepository,
  JetStreamLastActivityRepository,
  JetStreamPrivateXmlRepository,
  JetStreamVCardRepository,
} from './jetstream/account-data.jetstream';

export interface StorageOptions {
  kind: StorageKind;
  nc: NatsConnection;
  /** Required for kind 'mongo'. */
  mongodbUri?: string;
  /** JetStream replicas for buckets and streams: default 1; 3 on a clustered install. */
  replicas?: number;
}

export async function openStorage(opts: StorageOptions): Promise<Storage> {
  switch (opts.kind) {
    case 'jetstream':
      return openJetStreamStorage(opts.nc, opts.replicas);
    case 'mongo': {
      if (!opts.mongodbUri) throw new RangeError("storage kind 'mongo' needs mongodbUri");
      // Loaded on demand: a NATS-only install never loads mongoose.
      const { openMongoStorage } = await import('./mongo/storage.mongo.js');
      return openMongoStorage(opts.mongodbUri, opts.nc);
    }
    default:
      throw new RangeError(`unknown storage kind ${JSON.stringify((opts as { kind: unknown }).kind)}`);
  }
}

async function openJetStreamStorage(nc: NatsConnection, replicas?: number): Promise<Storage> {
  const o = { replicas };
  const [accounts, roster, offline, blocklist, vcard, privateXml, lastActivity] = await Promise.all([
    JetStreamAccountsRepository.open(nc, o),
    JetStreamRosterRepository.open(nc, o),
    JetStreamOfflineRepository.open(nc, o),
    JetStreamBlocklistRepository.open(nc, o),
    JetStreamVCardRepository.open(nc, o),
    JetStreamPrivateXmlRepository.open(nc, o),
    JetStreamLastActivityRepository.open(nc, o),
  ]);
  return {
    kind: 'jetstream',
    accounts,
    accountChanges: accounts,
    roster,
    offline,
    blocklist,
    vcard,
    privateXml,
    lastActivity,
    // Nothing of its own to release: every adapter runs on the caller's connection.
    close: async () => undefined,
  };
}
