/**
 * RosterRepository on MongoDB: one document per user holding the items and the version, so an item and
 * the version change in one single-document write, atomic without transactions. update() is a
 * compare-and-set on the version it read (insert for a user's first item, where the unique index on
 * (domain, username) makes the loser of a race retry). A 16 MB document holds some 50,000 items.
 *
 * deleteAll empties the items but keeps the document with its version (raised once more), so a roster
 * recreated for a new account of the same name never repeats a version a client of the old one may hold;
 * the JetStream adapter keeps its delete markers for the same reason.
 */
import { Schema, type Connection, type Model } from 'mongoose';
import { requireAccount, requireNonEmpty } from '../input.guard';
import { canonicalRosterItem } from '../roster.codec';
import type { RosterChange, RosterItem, RosterRepository, RosterSnapshot } from '../roster.port';
import { isDuplicateKey, MAX_CAS_ATTEMPTS, MONGO_COLLECTIONS } from './common.mongo';

interface RosterDoc {
  domain: string;
  username: string;
  version: number;
  items: RosterItem[];
}

const itemSchema = new Schema<RosterItem>(
  {
    jid: { type: String, required: true },
    name: String,
    groups: [String],
    subscription: { type: String, enum: ['none', 'to', 'from', 'both'], required: true },
    ask: Boolean,
    pendingIn: Boolean,
    pendingInStanza: String,
    approved: Boolean,
  },
  { _id: false },
);

const schema = new Schema<RosterDoc>(
  {
    domain: { type: String, required: true },
    username: { type: String, required: true },
    version: { type: Number, required: true },
    items: [itemSchema],
  },
  { collection: MONGO_COLLECTIONS.rosters, versionKey: false },
);
schema.index({ domain: 1, username: 1 }, { unique: true });

function fromDoc(item: RosterItem): RosterItem {
  // Subdocuments may come back with nulls for absent optional fields.
  const clean = { ...item } as Partial<RosterItem> & Record<string, unknown>;
  for (const k of Object.keys(clean)) if (clean[k] === null) delete clean[k];
  return canonicalRosterItem(clean as RosterItem, item.jid);
}

export class MongoRosterRepository implements RosterRepository {
  private constructor(private readonly model: Model<RosterDoc>) {}

  static define(conn: Connection): MongoRosterRepository {
    return new MongoRosterRepository(conn.model<RosterDoc>('Roster', schema));
  }

  async get(domain: string, username: string): Promise<RosterSnapshot> {
    const doc = await this.load(domain, username);
    return doc ? { version: doc.version, items: doc.items.map(fromDoc) } : { version: 0, items: [] };
  }

  async getItem(domain: string, username: string, jid: string): Promise<RosterItem | null> {
    requireNonEmpty(jid, 'contact jid');
    const doc = await this.load(domain, username);
    const item = doc?.items.find((i) => i.jid === jid);
    return item ? fromDoc(item) : null;
  }

  async update(
    domain: string,
    username: string,
    jid: string,
    fn: (current: RosterItem | null) => RosterItem | null | undefined,
  ): Promise<RosterChange | null> {
    requireNonEmpty(jid, 'contact jid');
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const doc = await this.load(domain, username);
      const items = (doc?.items ?? []).map(fromDoc);
      const at = items.findIndex((i) => i.jid === jid);
      const previous = at >= 0 ? items[at]! : null;
      const next = fn(previous === null ? null : structuredClone(previous));
      if (next === undefined || (next === null && previous === null)) return null;
      const item = next === null ? null : canonicalRosterItem(next, jid);
      if (item === null) items.splice(at, 1);
      else if (at >= 0) items[at] = item;
      else items.push(item);

      if (!doc) {
        const version = 1;
        try {
          await this.model.create({ domain, username, version, items });
          return { version, previous, item };
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
          continue; // another writer created the roster first
        }
      }
      const version = doc.version + 1;
      const r = await this.model.updateOne({ domain, username, version: doc.version }, { $set: { items, version } }).exec();
      if (r.matchedCount === 1) return { version, previous, item };
    }
    throw new Error('roster update: too much contention');
  }

  async deleteAll(domain: string, username: string): Promise<void> {
    requireAccount(domain, username);
    await this.model.updateOne({ domain, username }, { $set: { items: [] }, $inc: { version: 1 } }).exec();
  }

  private load(domain: string, username: string): Promise<RosterDoc | null> {
    requireAccount(domain, username);
    return this.model.findOne({ domain, username }).lean<RosterDoc>().exec();
  }
}
