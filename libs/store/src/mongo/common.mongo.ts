/**
 * What the mongo adapters share: collection names (one constants block), the duplicate-key check, and
 * the compare-and-set attempt limit. The adapters keep to the portable subset of MongoDB: single-document
 * writes (insertOne, updateOne with $set/$inc/$setOnInsert and upsert, findOneAndUpdate, deleteOne,
 * deleteMany, bulkWrite of upserts), finds with sort and limit, countDocuments, unique indexes. No
 * transactions, $push/$pull or findOneAndDelete, none of which the MongoDB-wire test server (jongodb) has.
 */
export const MONGO_COLLECTIONS = {
  accounts: 'accounts',
  rosters: 'rosters',
  offlineMessages: 'offline_messages',
  offlineCounters: 'offline_counters',
  blocklist: 'blocklist',
  vcards: 'vcards',
  privateXml: 'private_xml',
  lastActivity: 'last_activity',
} as const;

/** Core-NATS subject of the mongo account change notices (the KV watch plays this part on JetStream). */
export const ACCOUNTS_CHANGED_SUBJECT = 'xmpp.accounts.changed';

export const MAX_CAS_ATTEMPTS = 16;

/** E11000: a unique index refused the write. */
export function isDuplicateKey(err: unknown): boolean {
  const e = err as { code?: number; writeErrors?: Array<{ code?: number }> } | null;
  return e?.code === 11000 || (e?.writeErrors ?? []).some((w) => w.code === 11000);
}

/**
 * Runs an idempotent upsert again when it lost an insert race (two upserts of one new key: MongoDB may
 * refuse the second with E11000 instead of turning it into an update).
 */
export async function upsertRetrying<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (!isDuplicateKey(err) || attempt >= MAX_CAS_ATTEMPTS) throw err;
    }
  }
}
