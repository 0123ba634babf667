/**
 * The served domains (virtual hosts) of the deployment: the configured ones (XMPP_DOMAINS, always
 * served, never removable at run time) plus the ones the admin API added, kept in a JetStream KV
 * bucket that every process watches. An add or a remove reaches every edge, router and service within
 * milliseconds, without a restart.
 *
 * `has()` is one Set lookup: the edge asks it for every stream header, on its hot path.
 */
import { JSONCodec, KV, KvEntry, NatsConnection, StorageType } from 'nats';
import { decodeToken, encodeToken, JidError, prepDomain } from '@kxmpp/xmpp-core';
import { DOMAINS_BUCKET } from './subjects';

export interface DomainEntry {
  domain: string;
  /** From XMPP_DOMAINS: always served, not removable through the API. */
  configured: boolean;
  /** ISO 8601, when it was added at run time; '' for a configured domain. */
  addedAt: string;
}

export interface DomainChange {
  op: 'add' | 'remove';
  domain: string;
}

export interface DomainSetOptions {
  /** JetStream replicas of the bucket (NATS_REPLICAS). */
  replicas?: number;
  /** Bucket name (tests); default DOMAINS_BUCKET. */
  bucket?: string;
}

/** Why an add or a remove was refused: the admin API maps each to a gRPC status. */
export class DomainError extends Error {
  constructor(readonly reason: 'invalid' | 'configured' | 'exists' | 'unknown', message: string) {
    super(message);
    this.name = 'DomainError';
  }
}

interface StoredDomain {
  domain: string;
  addedAt: string;
}

const codec = JSONCodec<StoredDomain>();
const WRONG_LAST_SEQUENCE = 10071;

/**
 * A domain as the API accepts it: an RFC 7622 domainpart (lower case, NFC, no trailing dot) made of
 * letters, digits, '-', '_' and '.', not an IP address. Single labels are allowed (intranet names,
 * `localhost`), as XMPP_DOMAINS allows them.
 */
export function normalizeDomain(input: string): string {
  const raw = (input ?? '').trim();
  if (!raw) throw new DomainError('invalid', 'domain is empty');
  let d: string;
  try {
    d = prepDomain(raw);
  } catch (e) {
    throw new DomainError('invalid', `invalid domain ${JSON.stringify(raw)}: ${(e as JidError).message}`);
  }
  if (d.startsWith('[') || /^[0-9.]+$/.test(d)) throw new DomainError('invalid', `invalid domain ${JSON.stringify(raw)}: an IP address is not a domain`);
  if (Buffer.byteLength(d) > 253) throw new DomainError('invalid', `invalid domain ${JSON.stringify(raw)}: longer than 253 octets`);
  if (!/^[\p{L}\p{N}._-]+$/u.test(d)) throw new DomainError('invalid', `invalid domain ${JSON.stringify(raw)}: only letters, digits, '-', '_' and '.' are allowed`);
  return d;
}

export class DomainSet {
  private readonly configured: ReadonlySet<string>;
  /** Configured plus run-time domains: the one lookup of has(). */
  private readonly served = new Set<string>();
  /** Run-time domains and the KV revision of their last event (a delete keeps its revision, value null). */
  private readonly runtime = new Map<string, { revision: number; entry: StoredDomain | null }>();
  private readonly listeners = new Set<(c: DomainChange) => void>();
  private kv?: KV;
  private stopWatch: () => void = () => undefined;
  private started?: Promise<void>;

  constructor(private readonly nc: NatsConnection, configDomains: readonly string[], private readonly opts: DomainSetOptions = {}) {
    this.configured = new Set(configDomains.map((d) => d.toLowerCase()));
    for (const d of this.configured) this.served.add(d);
  }

  /** Open (or create) the bucket, load the run-time domains and follow changes. Idempotent. */
  start(): Promise<void> {
    return (this.started ??= this.open());
  }

  private async open(): Promise<void> {
    this.kv = await this.nc.jetstream().views.kv(this.opts.bucket ?? DOMAINS_BUCKET, {
      history: 1,
      storage: StorageType.File,
      replicas: this.opts.replicas ?? 1,
    });
    let initialized!: () => void;
    const ready = new Promise<void>((r) => (initialized = r));
    // nats.js may call initializedFn before the loop below has taken the initial entries off the
    // iterator's queue; that happens in microtasks only, so a macrotask later they are all applied.
    const iter = await this.kv.watch({ key: '>', initializedFn: () => setImmediate(initialized) });
    this.stopWatch = () => iter.stop();
    void (async () => {
      for await (const e of iter) this.apply(e);
    })().catch(() => undefined);
    await ready;
  }

  stop(): void {
    this.stopWatch();
    this.listeners.clear();
  }

  /** Whether a (normalized, lower-case) domain is served. */
  has(domain: string): boolean {
    return this.served.has(domain);
  }

  isConfigured(domain: string): boolean {
    return this.configured.has(domain);
  }

  /** Every served domain: configured ones first (in config order), then run-time ones sorted. */
  list(): string[] {
    return this.entries().map((e) => e.domain);
  }

  entries(): DomainEntry[] {
    const out: DomainEntry[] = [...this.configured].map((domain) => ({ domain, configured: true, addedAt: '' }));
    const added = [...this.runtime.values()]
      .map((r) => r.entry)
      .filter((e): e is StoredDomain => e !== null && !this.configured.has(e.domain))
      .sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
    for (const e of added) out.push({ domain: e.domain, configured: false, addedAt: e.addedAt });
    return out;
  }

  /**
   * Serve a new domain everywhere. Throws DomainError 'invalid' or 'exists'. When it resolves, has()
   * is already true in this process; other processes follow within milliseconds.
   */
  async add(input: string): Promise<DomainEntry> {
    const domain = normalizeDomain(input);
    if (this.configured.has(domain)) throw new DomainError('exists', `domain ${domain} is already served (configured in XMPP_DOMAINS)`);
    const kv = this.bucket();
    const entry: StoredDomain = { domain, addedAt: new Date().toISOString() };
    let revision: number;
    try {
      revision = await kv.create(encodeToken(domain), codec.encode(entry));
    } catch (e) {
      if ((e as { api_error?: { err_code?: number } }).api_error?.err_code === WRONG_LAST_SEQUENCE || /wrong last sequence/i.test(String((e as Error).message))) {
        throw new DomainError('exists', `domain ${domain} is already served`);
      }
      throw e;
    }
    this.record(domain, revision, entry);
    return { domain, configured: false, addedAt: entry.addedAt };
  }

  /**
   * Stop serving a run-time domain everywhere (its data stays; adding it again serves it again).
   * Throws DomainError 'invalid', 'configured' or 'unknown'.
   */
  async remove(input: string): Promise<void> {
    const domain = normalizeDomain(input);
    if (this.configured.has(domain)) {
      throw new DomainError('configured', `domain ${domain} is configured in XMPP_DOMAINS and cannot be removed at run time`);
    }
    const kv = this.bucket();
    const key = encodeToken(domain);
    const cur = await kv.get(key);
    if (!cur || cur.operation !== 'PUT' || cur.value.length === 0) throw new DomainError('unknown', `domain ${domain} is not served`);
    try {
      await kv.delete(key, { previousSeq: cur.revision });
    } catch (e) {
      if ((e as { api_error?: { err_code?: number } }).api_error?.err_code === WRONG_LAST_SEQUENCE) {
        throw new DomainError('unknown', `domain ${domain} was changed concurrently, try again`);
      }
      throw e;
    }
    // kv.delete does not return the marker's revision (the watch brings it, > cur.revision). Record the
    // removal just after the PUT it deleted, so a late watch event of that PUT cannot bring it back.
    this.record(domain, cur.revision + 0.5, null);
  }

  /** Called with every add and remove of a run-time domain (here or elsewhere); returns an unsubscribe. */
  onChange(cb: (c: DomainChange) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  private bucket(): KV {
    if (!this.kv) throw new Error('DomainSet not started');
    return this.kv;
  }

  private apply(e: KvEntry): void {
    let domain: string;
    try {
      domain = decodeToken(e.key);
    } catch {
      return;
    }
    let entry: StoredDomain | null = null;
    if (e.operation === 'PUT' && e.value.length) {
      try {
        entry = codec.decode(e.value);
      } catch {
        return;
      }
      if (entry.domain !== domain) return;
    }
    this.record(domain, e.revision, entry);
  }

  /** Apply an event unless a newer one for the domain was applied already (local writes race the watch). */
  private record(domain: string, revision: number, entry: StoredDomain | null): void {
    const prev = this.runtime.get(domain);
    if (prev && prev.revision > revision) return;
    if (prev && prev.revision === revision && (prev.entry === null) === (entry === null)) return;
    this.runtime.set(domain, { revision, entry });
    if (this.configured.has(domain)) return;
    const was = this.served.has(domain);
    if (entry && !was) {
      this.served.add(domain);
      this.emit({ op: 'add', domain });
    } else if (!entry && was) {
      this.served.delete(domain);
      this.emit({ op: 'remove', domain });
    }
  }

  private emit(c: DomainChange): void {
    for (const cb of this.listeners) {
      try {
        cb(c);
      } catch {
        // A listener's failure is its own; the others still hear of the change.
      }
    }
  }
}
