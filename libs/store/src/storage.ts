/**
 * Every storage port of the platform, bundled (ARCHITECTURE.md, Storage). Apps get a Storage from
 * openStorage() (storage.factory.ts), which picks the adapter from config: `jetstream` (the embedded
 * default) or `mongo` (mongoose; the production system of record).
 */
import type { AccountChangeFeed, AccountsRepository } from './accounts.port';
import type { OfflineRepository } from './offline.port';
import type { RosterRepository } from './roster.port';
import type { BlocklistRepository, LastActivityRepository, PrivateXmlRepository, VCardRepository } from './account-data.port';

export type StorageKind = 'jetstream' | 'mongo';

export interface Storage {
  readonly kind: StorageKind;
  readonly accounts: AccountsRepository;
  /** Changes to accounts made by any process, for caches (CachedAccountsRepository.follow). */
  readonly accountChanges: AccountChangeFeed;
  readonly roster: RosterRepository;
  readonly offline: OfflineRepository;
  readonly blocklist: BlocklistRepository;
  readonly vcard: VCardRepository;
  readonly privateXml: PrivateXmlRepository;
  readonly lastActivity: LastActivityRepository;
  /** Releases connections the adapter opened itself (never the NATS connection it was given). */
  close(): Promise<void>;
}

/** Removes everything an account owns except the account record itself (XEP-0077 cancel, admin delete). */
export async function deleteAccountData(s: Storage, domain: string, username: string): Promise<void> {
  await Promise.all([
    s.roster.deleteAll(domain, username),
    s.offline.deleteAll(domain, username),
    s.blocklist.clear(domain, username),
    s.vcard.delete(domain, username),
    s.privateXml.deleteAll(domain, username),
    s.lastActivity.delete(domain, username),
  ]);
}
