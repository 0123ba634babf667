/**
 * A bounded read-through cache of account records for the hot login path, as ejabberd's auth cache:
 * every login otherwise costs a store round trip. Entries live at most `ttlMs`, at most `max` of them
 * (least recently used first out); a change made through this process evicts at once, a change made
 * elsewhere evicts through the store's change feed. Absent accounts are never cached, so probing random
 * names cannot fill it and a registration is visible at once.
 */
import type { AccountChangeFeed, AccountRecord, AccountsRepository } from './accounts.port';
import type { ScramCredential, ScramMech } from './scram';

export interface AccountsCacheOptions {
  max?: number;
  ttlMs?: number;
}

export class CachedAccountsRepository implements AccountsRepository {
  private readonly entries = new Map<string, { rec: AccountRecord; until: number }>();
  private readonly max: number;
  private readonly ttlMs: number;
  private stopFeed: () => void = () => undefined;

  constructor(private readonly inner: AccountsRepository, opts: AccountsCacheOptions = {}) {
    this.max = opts.max ?? 10_000;
    this.ttlMs = opts.ttlMs ?? 60_000;
  }

  /** Follow changes made by other processes. */
  async follow(feed: AccountChangeFeed): Promise<void> {
    this.stopFeed = await feed.watchChanges((domain, username) => this.evict(domain, username));
  }

  close(): void {
    this.stopFeed();
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private key(domain: string, username: string): string {
    return `${domain}\u0000${username}`;
  }

  evict(domain: string, username: string): void {
    this.entries.delete(this.key(domain, username));
  }

  async get(domain: string, username: string): Promise<AccountRecord | null> {
    const k = this.key(domain, username);
    const hit = this.entries.get(k);
    const now = Date.now();
    if (hit && hit.until > now) {
      // Refresh the LRU position.
      this.entries.delete(k);
      this.entries.set(k, hit);
      return hit.rec;
    }
    if (hit) this.entries.delete(k);
    const rec = await this.inner.get(domain, username);
    if (rec) {
      this.entries.set(k, { rec, until: now + this.ttlMs });
      if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
    }
    return rec;
  }

  async create(rec: AccountRecord): Promise<boolean> {
    this.evict(rec.domain, rec.username);
    return this.inner.create(rec);
  }

  async setCredentials(domain: string, username: string, scram: Record<ScramMech, ScramCredential>): Promise<boolean> {
    this.evict(domain, username);
    try {
      return await this.inner.setCredentials(domain, username, scram);
    } finally {
      this.evict(domain, username);
    }
  }

  async delete(domain: string, username: string): Promise<boolean> {
    this.evict(domain, username);
    try {
      return await this.inner.delete(domain, username);
    } finally {
      this.evict(domain, username);
    }
  }

  list(domain: string, limit?: number): Promise<string[]> {
    return this.inner.list(domain, limit);
  }

  count(domain: string): Promise<number> {
    return this.inner.count(domain);
  }
}
