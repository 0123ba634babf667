/**
 * AccountsRepository on a JetStream KV bucket (history 1, file storage).
 *
 * Key `<encodeToken(domain)>.<encodeToken(username)>`: base64url tokens, so nothing a user chose can add
 * a '.', '*' or '>' to the key (STYLE.md rule 4), and one domain is the filter `<domain>.*`.
 * Atomicity comes from JetStream's expected-last-subject-sequence check: create is a put expecting no
 * live value, setCredentials and delete are compare-and-set on the revision they read.
 */
import { KvWatchInclude, StorageType, type KV, type KvEntry, type NatsConnection } from 'nats';
import { decodeToken } from '@kxmpp/xmpp-core';
import { isWrongLastSequence, live, MAX_CAS_ATTEMPTS } from './common.jetstream';
import { accountKey, JS_NAMES, token } from './names.jetstream';
import { compareCodePoints, type AccountChangeFeed, type AccountRecord, type AccountsRepository } from '../accounts.port';
import type { ScramCredential, ScramMech } from '../scram';

export interface JetStreamAccountsOptions {
  /** default JS_NAMES.accountsBucket, 'xmpp_accounts' */
  bucket?: string;
  /** default 1; 3 on a clustered install */
  replicas?: number;
}

function encode(rec: AccountRecord): Uint8Array {
  return Buffer.from(JSON.stringify(rec), 'utf8');
}

function decode(e: KvEntry): AccountRecord {
  const rec = JSON.parse(Buffer.from(e.value).toString('utf8')) as AccountRecord;
  if (!rec || typeof rec !== 'object' || !rec.scram || typeof rec.username !== 'string') {
    throw new Error(`corrupt account record under key ${e.key}`);
  }
  return rec;
}

export class JetStreamAccountsRepository implements AccountsRepository, AccountChangeFeed {
  private constructor(private readonly kv: KV) {}

  /** Creates the bucket if missing, binds to it otherwise. */
  static async open(nc: NatsConnection, opts: JetStreamAccountsOptions = {}): Promise<JetStreamAccountsRepository> {
    const kv = await nc.jetstream().views.kv(opts.bucket ?? JS_NAMES.accountsBucket, {
      history: 1,
      storage: StorageType.File,
      replicas: opts.replicas ?? 1,
    });
    return new JetStreamAccountsRepository(kv);
  }

  async watchChanges(onChange: (domain: string, username: string) => void): Promise<() => void> {
    const iter = await this.kv.watch({ key: '>', include: KvWatchInclude.UpdatesOnly });
    void (async () => {
      for await (const e of iter) {
        const dot = e.key.indexOf('.');
        if (dot > 0) onChange(decodeToken(e.key.slice(0, dot)), decodeToken(e.key.slice(dot + 1)));
      }
    })().catch(() => undefined);
    return () => iter.stop();
  }

  async get(domain: string, username: string): Promise<AccountRecord | null> {
    const e = await this.kv.get(accountKey(domain, username));
    return live(e) ? decode(e) : null;
  }

  async create(rec: AccountRecord): Promise<boolean> {
    try {
      // kv.create also succeeds over a DEL/PURGE tombstone, using a compare-and-set on its revision.
      await this.kv.create(accountKey(rec.domain, rec.username), encode(rec));
      return true;
    } catch (err) {
      if (isWrongLastSequence(err)) return false;
      throw err;
    }
  }

  async setCredentials(domain: string, username: string, scram: Record<ScramMech, ScramCredential>): Promise<boolean> {
    const key = accountKey(domain, username);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const e = await this.kv.get(key);
      if (!live(e)) return false;
      const rec = { ...decode(e), scram };
      try {
        await this.kv.update(key, encode(rec), e.revision);
        return true;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
      }
    }
    throw new Error(`setCredentials: too much contention on ${key}`);
  }

  async delete(domain: string, username: string): Promise<boolean> {
    const key = accountKey(domain, username);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const e = await this.kv.get(key);
      if (!live(e)) return false;
      try {
        // Conditional on the revision read, so of two concurrent deletes only one reports true.
        await this.kv.delete(key, { previousSeq: e.revision });
        return true;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
      }
    }
    throw new Error(`delete: too much contention on ${key}`);
  }

  async list(domain: string, limit?: number): Promise<string[]> {
    // KV keys come in stream order; reading them all is what the KV offers (the mongo adapter pages).
    const names = (await this.keysOf(domain)).sort(compareCodePoints);
    return limit === undefined ? names : names.slice(0, Math.max(0, limit));
  }

  async count(domain: string): Promise<number> {
    return (await this.keysOf(domain)).length;
  }

  private async keysOf(domain: string): Promise<string[]> {
    const prefix = token(domain, 'domain');
    const out: string[] = [];
    // keys() leaves out keys whose last operation is DEL or PURGE.
    for await (const k of await this.kv.keys(`${prefix}.*`)) {
      out.push(decodeToken(k.slice(prefix.length + 1)));
    }
    return out;
  }
}
