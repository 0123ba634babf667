/**
 * OfflineRepository on a JetStream stream (XEP-0160): one subject per user,
 * `xmpp.store.offline.<domain>.<username>` (tokens), so stored order is stream order, the id is the
 * stream sequence, the count is the stream's per-subject count, and deleteAll is a filtered purge.
 */
import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
} from 'nats';
import type { OfflineMessage, OfflineRepository } from '../offline.port';
import { apiErrorCode, json, parseJson, readOrdered } from './common.jetstream';
import { JS_NAMES, OFFLINE_SUBJECTS, offlineSubject } from './names.jetstream';

export interface JetStreamOfflineOptions {
  /** default 1; 3 on a clustered install */
  replicas?: number;
}

const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;
const NO_MESSAGE_FOUND = 10037;

type Stored = Omit<OfflineMessage, 'id'>;

export class JetStreamOfflineRepository implements OfflineRepository {
  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {}

  /** Creates the stream if missing, binds to it otherwise. */
  static async open(nc: NatsConnection, opts: JetStreamOfflineOptions = {}): Promise<JetStreamOfflineRepository> {
    const jsm = await nc.jetstreamManager();
    const name = JS_NAMES.offlineStream;
    try {
      await jsm.streams.info(name);
    } catch (err) {
      if (apiErrorCode(err) !== STREAM_NOT_FOUND) throw err;
      try {
        await jsm.streams.add({
          name,
          subjects: [OFFLINE_SUBJECTS],
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          discard: DiscardPolicy.Old,
          num_replicas: opts.replicas ?? 1,
        });
      } catch (addErr) {
        // Another process created it between our info and add.
        if (apiErrorCode(addErr) !== STREAM_NAME_IN_USE) throw addErr;
      }
    }
    return new JetStreamOfflineRepository(nc.jetstream(), jsm);
  }

  async push(domain: string, username: string, msg: Stored, limit: number): Promise<boolean> {
    const subject = offlineSubject(domain, username);
    if ((await this.countSubject(subject)) >= limit) return false;
    const stored: Stored = { from: msg.from, stanza: msg.stanza, storedAt: msg.storedAt };
    await this.js.publish(subject, json(stored), { expect: { streamName: JS_NAMES.offlineStream } });
    return true;
  }

  async list(domain: string, username: string, max?: number): Promise<OfflineMessage[]> {
    const msgs = await readOrdered(this.js, JS_NAMES.offlineStream, offlineSubject(domain, username), max);
    return msgs.map((m) => {
      const s = parseJson<Stored>(m.data, 'offline message');
      return { id: String(m.seq), from: s.from, stanza: s.stanza, storedAt: s.storedAt };
    });
  }

  async remove(domain: string, username: string, ids: string[]): Promise<void> {
    const subject = offlineSubject(domain, username);
    const seqs = [...new Set(ids)].filter((id) => /^[1-9][0-9]{0,15}$/.test(id)).map(Number);
    await Promise.all(
      seqs.map(async (seq) => {
        try {
          // A sequence is another user's message unless its subject says otherwise: check before deleting.
          const sm = await this.jsm.streams.getMessage(JS_NAMES.offlineStream, { seq });
          if (sm.subject !== subject) return;
          await this.jsm.streams.deleteMessage(JS_NAMES.offlineStream, seq, false);
        } catch (err) {
          if (!isMissing(err)) throw err;
        }
      }),
    );
  }

  async count(domain: string, username: string): Promise<number> {
    return this.countSubject(offlineSubject(domain, username));
  }

  async deleteAll(domain: string, username: string): Promise<void> {
    await this.jsm.streams.purge(JS_NAMES.offlineStream, { filter: offlineSubject(domain, username) });
  }

  private async countSubject(subject: string): Promise<number> {
    const si = await this.jsm.streams.info(JS_NAMES.offlineStream, { subjects_filter: subject });
    return si.state.subjects?.[subject] ?? 0;
  }
}

function isMissing(err: unknown): boolean {
  if (apiErrorCode(err) === NO_MESSAGE_FOUND) return true;
  // getMessage reports a missing sequence as a 404 status, not always with an API error code.
  const code = (err as { code?: string } | null)?.code;
  return code === '404';
}
