/**
 * The smaller per-account stores on JetStream KV buckets (history 1): blocking (XEP-0191), vcard-temp
 * (XEP-0054), private XML (XEP-0049) and last activity (XEP-0012). Keys come from names.jetstream.ts.
 */
import type { JetStreamClient, KV, NatsConnection } from 'nats';
import type {
  BlocklistRepository,
  LastActivity,
  LastActivityRepository,
  PrivateXmlRepository,
  VCardRepository,
} from '../account-data.port';
import { requireNonEmpty } from '../input.guard';
import { isWrongLastSequence, json, kvOperation, live, openBucket, parseJson, readOrdered, type BucketOptions } from './common.jetstream';
import { accountKey, accountKeysFilter, blockedJidKey, JS_NAMES, kvStream, kvSubject, privateXmlKey } from './names.jetstream';

function text(data: Uint8Array): string {
  return Buffer.from(data).toString('utf8');
}

async function deleteKeys(kv: KV, filter: string): Promise<void> {
  const keys: string[] = [];
  for await (const k of await kv.keys(filter)) keys.push(k);
  await Promise.all(keys.map((k) => kv.delete(k)));
}

/**
 * One key per blocked JID, `<domain>.<username>.<sha256(jid)>`, value the JID: adds of different JIDs
 * never contend, a create over a live value is the dedupe, and stream order is the order added.
 */
export class JetStreamBlocklistRepository implements BlocklistRepository {
  private readonly js: JetStreamClient;

  private constructor(nc: NatsConnection, private readonly kv: KV) {
    this.js = nc.jetstream();
  }

  static async open(nc: NatsConnection, opts: BucketOptions = {}): Promise<JetStreamBlocklistRepository> {
    return new JetStreamBlocklistRepository(nc, await openBucket(nc, JS_NAMES.blocklistBucket, opts));
  }

  async get(domain: string, username: string): Promise<string[]> {
    const bucket = JS_NAMES.blocklistBucket;
    const msgs = await readOrdered(this.js, kvStream(bucket), kvSubject(bucket, accountKeysFilter(domain, username)));
    const latest = new Map<string, string | null>();
    for (const m of msgs) {
      // A key rewritten during the read moves to the end, as a later add would.
      latest.delete(m.subject);
      latest.set(m.subject, kvOperation(m) === 'PUT' ? text(m.data) : null);
    }
    return [...latest.values()].filter((j): j is string => j !== null);
  }

  async add(domain: string, username: string, jids: string[]): Promise<void> {
    accountKey(domain, username); // validates even when jids is empty
    // In order, so one call's JIDs are stored in the order given.
    for (const jid of new Set(jids)) {
      try {
        await this.kv.create(blockedJidKey(domain, username, jid), Buffer.from(jid, 'utf8'));
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err; // already blocked: keep the first position
      }
    }
  }

  async remove(domain: string, username: string, jids: string[]): Promise<void> {
    accountKey(domain, username);
    const keys = [...new Set(jids)].map((jid) => blockedJidKey(domain, username, jid));
    await Promise.all(keys.map((k) => this.kv.delete(k)));
  }

  async clear(domain: string, username: string): Promise<void> {
    await deleteKeys(this.kv, accountKeysFilter(domain, username));
  }
}

/** Key `<domain>.<username>`, value the vCard XML (at most the server's max_payload, 1 MB by default). */
export class JetStreamVCardRepository implements VCardRepository {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection, opts: BucketOptions = {}): Promise<JetStreamVCardRepository> {
    return new JetStreamVCardRepository(await openBucket(nc, JS_NAMES.vcardBucket, opts));
  }

  async get(domain: string, username: string): Promise<string | null> {
    const e = await this.kv.get(accountKey(domain, username));
    return live(e) ? text(e.value) : null;
  }

  async set(domain: string, username: string, vcardXml: string): Promise<void> {
    await this.kv.put(accountKey(domain, username), Buffer.from(vcardXml, 'utf8'));
  }

  async delete(domain: string, username: string): Promise<void> {
    await this.kv.delete(accountKey(domain, username));
  }
}

/** Key `<domain>.<username>.<sha256(name NUL xmlns)>`, value the element XML. */
export class JetStreamPrivateXmlRepository implements PrivateXmlRepository {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection, opts: BucketOptions = {}): Promise<JetStreamPrivateXmlRepository> {
    return new JetStreamPrivateXmlRepository(await openBucket(nc, JS_NAMES.privateXmlBucket, opts));
  }

  async get(domain: string, username: string, name: string, xmlns: string): Promise<string | null> {
    const e = await this.kv.get(privateXmlKey(domain, username, name, xmlns));
    return live(e) ? text(e.value) : null;
  }

  async set(domain: string, username: string, name: string, xmlns: string, xmlText: string): Promise<void> {
    await this.kv.put(privateXmlKey(domain, username, name, xmlns), Buffer.from(xmlText, 'utf8'));
  }

  async deleteAll(domain: string, username: string): Promise<void> {
    await deleteKeys(this.kv, accountKeysFilter(domain, username));
  }
}

/** Key `<domain>.<username>`, value `{at, status}` as JSON. */
export class JetStreamLastActivityRepository implements LastActivityRepository {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection, opts: BucketOptions = {}): Promise<JetStreamLastActivityRepository> {
    return new JetStreamLastActivityRepository(await openBucket(nc, JS_NAMES.lastActivityBucket, opts));
  }

  async get(domain: string, username: string): Promise<LastActivity | null> {
    const e = await this.kv.get(accountKey(domain, username));
    if (!live(e)) return null;
    const v = parseJson<LastActivity>(e.value, 'last activity');
    return { at: String(v.at), status: String(v.status ?? '') };
  }

  async set(domain: string, username: string, last: LastActivity): Promise<void> {
    requireNonEmpty(last?.at, 'last activity time');
    await this.kv.put(accountKey(domain, username), json({ at: last.at, status: last.status ?? '' }));
  }

  async delete(domain: string, username: string): Promise<void> {
    await this.kv.delete(accountKey(domain, username));
  }
}
