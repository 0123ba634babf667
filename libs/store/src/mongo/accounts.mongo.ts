/**
 * AccountsRepository on MongoDB: one document per account, unique on (domain, username), so create is an
 * insert that E11000 refuses for an existing account. Every successful write is announced on core NATS
 * (ACCOUNTS_CHANGED_SUBJECT) for the caches of other processes; the notice carries the JID parts in the
 * payload, never in the subject.
 *
 * list() relies on MongoDB's binary string order, which is code point order (UTF-8 byte order).
 */
import { Schema, type Connection, type Model } from 'mongoose';
import type { NatsConnection } from 'nats';
import type { AccountChangeFeed, AccountRecord, AccountsRepository } from '../accounts.port';
import { requireAccount, requireNonEmpty } from '../input.guard';
import type { ScramCredential, ScramMech } from '../scram';
import { ACCOUNTS_CHANGED_SUBJECT, isDuplicateKey, MONGO_COLLECTIONS } from './common.mongo';

interface AccountDoc {
  domain: string;
  username: string;
  scram: Record<ScramMech, ScramCredential>;
  createdAt: string;
}

const credential = new Schema<ScramCredential>(
  { iterations: { type: Number, required: true }, salt: String, storedKey: String, serverKey: String },
  { _id: false },
);

const schema = new Schema<AccountDoc>(
  {
    domain: { type: String, required: true },
    username: { type: String, required: true },
    scram: { 'SCRAM-SHA-1': credential, 'SCRAM-SHA-256': credential },
    createdAt: { type: String, required: true },
  },
  { collection: MONGO_COLLECTIONS.accounts, versionKey: false },
);
schema.index({ domain: 1, username: 1 }, { unique: true });

function toRecord(d: AccountDoc): AccountRecord {
  return { domain: d.domain, username: d.username, scram: scramOf(d.scram), createdAt: d.createdAt };
}

function scramOf(scram: Record<ScramMech, ScramCredential>): Record<ScramMech, ScramCredential> {
  // Only the known fields, in a fixed shape: what comes back equals what went in.
  const out = {} as Record<ScramMech, ScramCredential>;
  for (const [mech, c] of Object.entries(scram) as Array<[ScramMech, ScramCredential]>) {
    out[mech] = { iterations: c.iterations, salt: c.salt, storedKey: c.storedKey, serverKey: c.serverKey };
  }
  return out;
}

export class MongoAccountsRepository implements AccountsRepository, AccountChangeFeed {
  private constructor(
    private readonly model: Model<AccountDoc>,
    private readonly nc: NatsConnection,
  ) {}

  static define(conn: Connection, nc: NatsConnection): MongoAccountsRepository {
    return new MongoAccountsRepository(conn.model<AccountDoc>('Account', schema), nc);
  }

  async watchChanges(onChange: (domain: string, username: string) => void): Promise<() => void> {
    const sub = this.nc.subscribe(ACCOUNTS_CHANGED_SUBJECT, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const { domain, username } = msg.json<{ domain: unknown; username: unknown }>();
          if (typeof domain === 'string' && typeof username === 'string') onChange(domain, username);
        } catch {
          // A malformed notice is dropped: the feed is best-effort by contract.
        }
      },
    });
    // The server has the subscription once flush returns, so no change made after this resolves is missed.
    await this.nc.flush();
    return () => sub.unsubscribe();
  }

  async get(domain: string, username: string): Promise<AccountRecord | null> {
    requireAccount(domain, username);
    const d = await this.model.findOne({ domain, username }).lean<AccountDoc>().exec();
    return d ? toRecord(d) : null;
  }

  async create(rec: AccountRecord): Promise<boolean> {
    requireAccount(rec.domain, rec.username);
    try {
      await this.model.create({ domain: rec.domain, username: rec.username, scram: scramOf(rec.scram), createdAt: rec.createdAt });
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
    this.announce(rec.domain, rec.username);
    return true;
  }

  async setCredentials(domain: string, username: string, scram: Record<ScramMech, ScramCredential>): Promise<boolean> {
    requireAccount(domain, username);
    const r = await this.model.updateOne({ domain, username }, { $set: { scram: scramOf(scram) } }).exec();
    if (r.matchedCount === 0) return false;
    this.announce(domain, username);
    return true;
  }

  async delete(domain: string, username: string): Promise<boolean> {
    requireAccount(domain, username);
    const r = await this.model.deleteOne({ domain, username }).exec();
    if (r.deletedCount === 0) return false;
    this.announce(domain, username);
    return true;
  }

  async list(domain: string, limit?: number): Promise<string[]> {
    requireNonEmpty(domain, 'domain');
    if (limit !== undefined && limit <= 0) return [];
    const q = this.model.find({ domain }, { _id: 0, username: 1 }).sort({ username: 1 });
    if (limit !== undefined) q.limit(limit);
    return (await q.lean<Array<Pick<AccountDoc, 'username'>>>().exec()).map((d) => d.username);
  }

  async count(domain: string): Promise<number> {
    requireNonEmpty(domain, 'domain');
    return this.model.countDocuments({ domain }).exec();
  }

  private announce(domain: string, username: string): void {
    try {
      this.nc.publish(ACCOUNTS_CHANGED_SUBJECT, JSON.stringify({ domain, username }));
    } catch {
      // A closed connection loses the notice; caches still expire by TTL.
    }
  }
}
