/**
 * The presence service's state: the last available presence of every available session, on a JetStream
 * KV bucket (key: session registry key of the full JID), with the JIDs it sent directed presence to
 * (RFC 6121 §4.6). Entries are written only by the worker of the owner's partition; deletes are
 * compare-and-set, so of two replicas ending the same session exactly one broadcasts the unavailable.
 */
import { JSONCodec, KV, NatsConnection, StorageType } from 'nats';
import { PRESENCE_BUCKET, sessionKey, sessionKeyFilter } from '@kxmpp/bus';
import { decodeToken } from '@kxmpp/xmpp-core';

export interface PresenceEntry {
  /** Full JID. */
  jid: string;
  edge: string;
  sid: string;
  priority: number;
  /** The last available presence as sent (from stamped, no 'to'). */
  stanza: string;
  /** JIDs that got directed presence and are owed an unavailable at logout. */
  directed: string[];
  /** ms since epoch of the first available presence of this session. */
  since: number;
}

const codec = JSONCodec<PresenceEntry>();

function split(full: string): [string, string] {
  const i = full.indexOf('/');
  return [full.slice(0, i), full.slice(i + 1)];
}

export class PresenceStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection, replicas = 1): Promise<PresenceStore> {
    const kv = await nc.jetstream().views.kv(PRESENCE_BUCKET, { history: 1, storage: StorageType.File, replicas });
    return new PresenceStore(kv);
  }

  async get(full: string): Promise<{ entry: PresenceEntry; revision: number } | null> {
    const [bare, res] = split(full);
    const e = await this.kv.get(sessionKey(bare, res));
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return null;
    return { entry: codec.decode(e.value), revision: e.revision };
  }

  async put(entry: PresenceEntry): Promise<void> {
    const [bare, res] = split(entry.jid);
    await this.kv.put(sessionKey(bare, res), codec.encode(entry));
  }

  /** Delete only if unchanged since `revision`; false when someone else changed or deleted it first. */
  async remove(full: string, revision: number): Promise<boolean> {
    const [bare, res] = split(full);
    try {
      await this.kv.delete(sessionKey(bare, res), { previousSeq: revision });
      return true;
    } catch {
      return false;
    }
  }

  /** Every available session of a bare JID. */
  async ofBare(bare: string): Promise<PresenceEntry[]> {
    const out: PresenceEntry[] = [];
    const keys = await this.kv.keys(sessionKeyFilter(bare));
    const names: string[] = [];
    for await (const k of keys) names.push(k);
    for (const k of names) {
      const e = await this.kv.get(k);
      if (e && e.operation === 'PUT' && e.value.length) out.push(codec.decode(e.value));
    }
    return out;
  }

  /** Every entry (for the sweep that finds sessions whose edge died). */
  async *all(): AsyncGenerator<PresenceEntry> {
    const keys = await this.kv.keys();
    const names: string[] = [];
    for await (const k of keys) names.push(k);
    for (const k of names) {
      const dot = k.indexOf('.');
      if (dot < 0 || !decodeToken(k.slice(0, dot))) continue;
      const e = await this.kv.get(k);
      if (e && e.operation === 'PUT' && e.value.length) yield codec.decode(e.value);
    }
  }
}
