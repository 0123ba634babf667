/**
 * OfflineRepository on MongoDB (XEP-0160): one document per message, ordered by a per-user sequence from
 * a counter document ($inc with upsert), so ids never repeat for a user, even after every message was
 * removed or a deleteAll (which keeps the counter: a session holding an old id can never remove a new
 * message). Indexed on (domain, username, seq); remove and deleteAll are scoped to the user,
 * so another user's ids never match.
 */
import { Schema, type Connection, type Model } from 'mongoose';
import { requireAccount } from '../input.guard';
import type { OfflineMessage, OfflineRepository } from '../offline.port';
import { MONGO_COLLECTIONS, upsertRetrying } from './common.mongo';

interface MessageDoc {
  domain: string;
  username: string;
  seq: number;
  from: string;
  stanza: string;
  storedAt: string;
}

interface CounterDoc {
  domain: string;
  username: string;
  seq: number;
}

const messageSchema = new Schema<MessageDoc>(
  {
    domain: { type: String, required: true },
    username: { type: String, required: true },
    seq: { type: Number, required: true },
    from: { type: String, required: true },
    stanza: { type: String, required: true },
    storedAt: { type: String, required: true },
  },
  { collection: MONGO_COLLECTIONS.offlineMessages, versionKey: false },
);
messageSchema.index({ domain: 1, username: 1, seq: 1 }, { unique: true });

const counterSchema = new Schema<CounterDoc>(
  {
    domain: { type: String, required: true },
    username: { type: String, required: true },
    seq: { type: Number, required: true },
  },
  { collection: MONGO_COLLECTIONS.offlineCounters, versionKey: false },
);
counterSchema.index({ domain: 1, username: 1 }, { unique: true });

const ID = /^[1-9][0-9]{0,15}$/;

export class MongoOfflineRepository implements OfflineRepository {
  private constructor(
    private readonly messages: Model<MessageDoc>,
    private readonly counters: Model<CounterDoc>,
  ) {}

  static define(conn: Connection): MongoOfflineRepository {
    return new MongoOfflineRepository(conn.model<MessageDoc>('OfflineMessage', messageSchema), conn.model<CounterDoc>('OfflineCounter', counterSchema));
  }

  async push(domain: string, username: string, msg: Omit<OfflineMessage, 'id'>, limit: number): Promise<boolean> {
    if ((await this.count(domain, username)) >= limit) return false;
    const counter = await upsertRetrying(() =>
      this.counters.findOneAndUpdate({ domain, username }, { $inc: { seq: 1 } }, { upsert: true, returnDocument: 'after' }).lean<CounterDoc>().exec(),
    );
    if (!counter) throw new Error('offline push: no sequence');
    await this.messages.create({ domain, username, seq: counter.seq, from: msg.from, stanza: msg.stanza, storedAt: msg.storedAt });
    return true;
  }

  async list(domain: string, username: string, max?: number): Promise<OfflineMessage[]> {
    requireAccount(domain, username);
    if (max !== undefined && max <= 0) return [];
    const q = this.messages.find({ domain, username }).sort({ seq: 1 });
    if (max !== undefined) q.limit(max);
    const docs = await q.lean<MessageDoc[]>().exec();
    return docs.map((d) => ({ id: String(d.seq), from: d.from, stanza: d.stanza, storedAt: d.storedAt }));
  }

  async remove(domain: string, username: string, ids: string[]): Promise<void> {
    requireAccount(domain, username);
    const seqs = [...new Set(ids)].filter((id) => ID.test(id)).map(Number);
    if (seqs.length === 0) return;
    await this.messages.deleteMany({ domain, username, seq: { $in: seqs } }).exec();
  }

  async count(domain: string, username: string): Promise<number> {
    requireAccount(domain, username);
    return this.messages.countDocuments({ domain, username }).exec();
  }

  async deleteAll(domain: string, username: string): Promise<void> {
    requireAccount(domain, username);
    await this.messages.deleteMany({ domain, username }).exec();
  }
}
