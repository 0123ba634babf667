/**
 * RosterRepository on a JetStream KV bucket (RFC 6121 §2, XEP-0237 versioning).
 *
 * One key per item, `<domain>.<username>.<sha256(contact)>`; the value is the item as JSON. An update is
 * a compare-and-set on the revision it read (create over nothing, update over a value or a delete
 * marker, delete with previousSeq), retried when another writer got there first.
 *
 * The roster version is the stream sequence of the user's latest item write, delete markers included.
 * The sequence is assigned by the same write that changes the item, so version and content can never
 * disagree (no second key to bump, nothing to lose in a crash between two writes), and it only grows,
 * also across deleteAll and a new account of the same name. Deletes therefore leave their markers: never
 * run purgeDeletes on this bucket, or a version could go back.
 */
import { headers, type JetStreamClient, type KV, type NatsConnection } from 'nats';
import { canonicalRosterItem } from '../roster.codec';
import type { RosterChange, RosterItem, RosterRepository, RosterSnapshot } from '../roster.port';
import {
  isWrongLastSequence,
  json,
  kvOperation,
  live,
  MAX_CAS_ATTEMPTS,
  openBucket,
  parseJson,
  readOrdered,
  type BucketOptions,
} from './common.jetstream';
import { accountKeysFilter, JS_NAMES, kvStream, kvSubject, rosterItemKey } from './names.jetstream';

function decodeItem(data: Uint8Array, jid?: string): RosterItem {
  const item = parseJson<RosterItem>(data, 'roster item');
  if (!item || typeof item.jid !== 'string') throw new Error('corrupt roster item');
  return canonicalRosterItem(item, jid ?? item.jid);
}

export class JetStreamRosterRepository implements RosterRepository {
  private readonly js: JetStreamClient;

  private constructor(nc: NatsConnection, private readonly kv: KV, private readonly bucket: string) {
    this.js = nc.jetstream();
  }

  static async open(nc: NatsConnection, opts: BucketOptions = {}): Promise<JetStreamRosterRepository> {
    const bucket = JS_NAMES.rosterBucket;
    return new JetStreamRosterRepository(nc, await openBucket(nc, bucket, opts), bucket);
  }

  async get(domain: string, username: string): Promise<RosterSnapshot> {
    const msgs = await readOrdered(this.js, kvStream(this.bucket), kvSubject(this.bucket, accountKeysFilter(domain, username)));
    let version = 0;
    const items: RosterItem[] = [];
    // With history 1 every key has one message; later ones still win should a rewrite race the read.
    const byKey = new Map<string, RosterItem | null>();
    for (const m of msgs) {
      version = Math.max(version, m.seq);
      byKey.set(m.subject, kvOperation(m) === 'PUT' ? decodeItem(m.data) : null);
    }
    for (const item of byKey.values()) if (item) items.push(item);
    return { version, items };
  }

  async getItem(domain: string, username: string, jid: string): Promise<RosterItem | null> {
    const e = await this.kv.get(rosterItemKey(domain, username, jid));
    return live(e) ? decodeItem(e.value, jid) : null;
  }

  async update(
    domain: string,
    username: string,
    jid: string,
    fn: (current: RosterItem | null) => RosterItem | null | undefined,
  ): Promise<RosterChange | null> {
    const key = rosterItemKey(domain, username, jid);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const e = await this.kv.get(key);
      // 0 expects no message at all; a delete marker's revision lets the write replace the marker.
      const expected = e?.revision ?? 0;
      const previous = live(e) ? decodeItem(e.value, jid) : null;
      const next = fn(previous === null ? null : structuredClone(previous));
      if (next === undefined || (next === null && previous === null)) return null;
      const item = next === null ? null : canonicalRosterItem(next, jid);
      try {
        const version = item === null ? await this.deleteMarker(key, expected) : await this.kv.put(key, json(item), { previousSeq: expected });
        return { version, previous, item };
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
      }
    }
    throw new Error(`roster update: too much contention on ${key}`);
  }

  async deleteAll(domain: string, username: string): Promise<void> {
    const filter = accountKeysFilter(domain, username);
    const keys: string[] = [];
    for await (const k of await this.kv.keys(filter)) keys.push(k);
    // Delete markers, not purges: they keep the version growing (see the header).
    await Promise.all(keys.map((k) => this.kv.delete(k)));
  }

  /** A KV delete that returns its sequence (kv.delete does not), conditional on the revision read. */
  private async deleteMarker(key: string, expected: number): Promise<number> {
    const h = headers();
    h.set('KV-Operation', 'DEL');
    const ack = await this.js.publish(kvSubject(this.bucket, key), undefined, {
      headers: h,
      expect: { lastSubjectSequence: expected },
    });
    return ack.seq;
  }
}
