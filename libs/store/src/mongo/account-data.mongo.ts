/**
 * The smaller per-account stores on MongoDB: blocking (XEP-0191), vcard-temp (XEP-0054), private XML
 * (XEP-0049), last activity (XEP-0012). One collection each, unique on the owner plus the item's key.
 */
import { Schema, type Connection, type Model } from 'mongoose';
import type {
  BlocklistRepository,
  LastActivity,
  LastActivityRepository,
  PrivateXmlRepository,
  VCardRepository,
} from '../account-data.port';
import { requireAccount, requireNonEmpty, requireString } from '../input.guard';
import { MONGO_COLLECTIONS, upsertRetrying } from './common.mongo';

interface BlockedDoc {
  domain: string;
  username: string;
  jid: string;
}

const blockedSchema = new Schema<BlockedDoc>(
  {
    domain: { type: String, required: true },
    username: { type: String, required: true },
    jid: { type: String, required: true },
  },
  { collection: MONGO_COLLECTIONS.blocklist, versionKey: false },
);
blockedSchema.index({ domain: 1, username: 1, jid: 1 }, { unique: true });
blockedSchema.index({ domain: 1, username: 1, _id: 1 });

/**
 * One document per blocked JID. An add is an ordered bulk of upserts that only insert ($setOnInsert),
 * so a JID already blocked keeps its document and its place; order is the server-assigned _id, which
 * grows in insertion order.
 */
export class MongoBlocklistRepository implements BlocklistRepository {
  private constructor(private readonly model: Model<BlockedDoc>) {}

  static define(conn: Connection): MongoBlocklistRepository {
    return new MongoBlocklistRepository(conn.model<BlockedDoc>('Blocked', blockedSchema));
  }

  async get(domain: string, username: string): Promise<string[]> {
    requireAccount(domain, username);
    const docs = await this.model.find({ domain, username }, { _id: 0, jid: 1 }).sort({ _id: 1 }).lean<Array<Pick<BlockedDoc, 'jid'>>>().exec();
    return docs.map((d) => d.jid);
  }

  async add(domain: string, username: string, jids: string[]): Promise<void> {
    requireAccount(domain, username);
    const unique = [...new Set(jids)].map((jid) => requireNonEmpty(jid, 'blocked jid'));
    if (unique.length === 0) return;
    const ops = unique.map((jid) => ({
      updateOne: { filter: { domain, username, jid }, update: { $setOnInsert: { domain, username, jid } }, upsert: true },
    }));
    // Idempotent, so a bulk that lost an insert race to a concurrent add of the same JID simply runs again.
    await upsertRetrying(() => this.model.bulkWrite(ops, { ordered: true }));
  }

  async remove(domain: string, username: string, jids: string[]): Promise<void> {
    requireAccount(domain, username);
    const unique = [...new Set(jids)].map((jid) => requireNonEmpty(jid, 'blocked jid'));
    if (unique.length === 0) return;
    await this.model.deleteMany({ domain, username, jid: { $in: unique } }).exec();
  }

  async clear(domain: string, username: string): Promise<void> {
    requireAccount(domain, username);
    await this.model.deleteMany({ domain, username }).exec();
  }
}

interface VCardDoc {
  domain: string;
  username: string;
  xml: string;
}

const vcardSchema = new Schema<VCardDoc>(
  {
    domain: { type: String, required: true },
    username: { type: String, required: true },
    xml: { type: String, required: true },
  },
  { collection: MONGO_COLLECTIONS.vcards, versionKey: false },
);
vcardSchema.index({ domain: 1, username: 1 }, { unique: true });

export class MongoVCardRepository implements VCardRepository {
  private constructor(private readonly model: Model<VCardDoc>) {}

  static define(conn: Connection): MongoVCardRepository {
    return new MongoVCardRepository(conn.model<VCardDoc>('VCard', vcardSchema));
  }

  async get(domain: string, username: string): Promise<string | null> {
    requireAccount(domain, username);
    const d = await this.model.findOne({ domain, username }).lean<VCardDoc>().exec();
    return d ? d.xml : null;
  }

  async set(domain: string, username: string, vcardXml: string): Promise<void> {
    requireAccount(domain, username);
    await upsertRetrying(() => this.model.updateOne({ domain, username }, { $set: { xml: vcardXml } }, { upsert: true }).exec());
  }

  async delete(domain: string, username: string): Promise<void> {
    requireAccount(domain, username);
    await this.model.deleteOne({ domain, username }).exec();
  }
}

interface PrivateDoc {
  domain: string;
  username: string;
  name: string;
  xmlns: string;
  xml: string;
}

const privateSchema = new Schema<PrivateDoc>(
  {
    domain: { type: String, required: true },
    username: { type: String, required: true },
    name: { type: String, required: true },
    // '' is a legal (empty) namespace, so not `required`.
    xmlns: { type: String, default: '' },
    xml: { type: String, required: true },
  },
  { collection: MONGO_COLLECTIONS.privateXml, versionKey: false },
);
privateSchema.index({ domain: 1, username: 1, name: 1, xmlns: 1 }, { unique: true });

export class MongoPrivateXmlRepository implements PrivateXmlRepository {
  private constructor(private readonly model: Model<PrivateDoc>) {}

  static define(conn: Connection): MongoPrivateXmlRepository {
    return new MongoPrivateXmlRepository(conn.model<PrivateDoc>('PrivateXml', privateSchema));
  }

  async get(domain: string, username: string, name: string, xmlns: string): Promise<string | null> {
    requireAccount(domain, username);
    requireNonEmpty(name, 'element name');
    requireString(xmlns, 'namespace');
    const d = await this.model.findOne({ domain, username, name, xmlns }).lean<PrivateDoc>().exec();
    return d ? d.xml : null;
  }

  async set(domain: string, username: string, name: string, xmlns: string, xmlText: string): Promise<void> {
    requireAccount(domain, username);
    requireNonEmpty(name, 'element name');
    requireString(xmlns, 'namespace');
    await upsertRetrying(() => this.model.updateOne({ domain, username, name, xmlns }, { $set: { xml: xmlText } }, { upsert: true }).exec());
  }

  async deleteAll(domain: string, username: string): Promise<void> {
    requireAccount(domain, username);
    await this.model.deleteMany({ domain, username }).exec();
  }
}

interface LastDoc {
  domain: string;
  username: string;
  at: string;
  status: string;
}

const lastSchema = new Schema<LastDoc>(
  {
    domain: { type: String, required: true },
    username: { type: String, required: true },
    at: { type: String, required: true },
    status: { type: String, default: '' },
  },
  { collection: MONGO_COLLECTIONS.lastActivity, versionKey: false },
);
lastSchema.index({ domain: 1, username: 1 }, { unique: true });

export class MongoLastActivityRepository implements LastActivityRepository {
  private constructor(private readonly model: Model<LastDoc>) {}

  static define(conn: Connection): MongoLastActivityRepository {
    return new MongoLastActivityRepository(conn.model<LastDoc>('LastActivity', lastSchema));
  }

  async get(domain: string, username: string): Promise<LastActivity | null> {
    requireAccount(domain, username);
    const d = await this.model.findOne({ domain, username }).lean<LastDoc>().exec();
    return d ? { at: d.at, status: d.status ?? '' } : null;
  }

  async set(domain: string, username: string, last: LastActivity): Promise<void> {
    requireAccount(domain, username);
    requireNonEmpty(last?.at, 'last activity time');
    await upsertRetrying(() =>
      this.model.updateOne({ domain, username }, { $set: { at: last.at, status: last.status ?? '' } }, { upsert: true }).exec(),
    );
  }

  async delete(domain: string, username: string): Promise<void> {
    requireAccount(domain, username);
    await this.model.deleteOne({ domain, username }).exec();
  }
}
