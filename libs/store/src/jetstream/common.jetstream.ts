/**
 * What the JetStream adapters share: bucket creation, the compare-and-set error, and a one-shot ordered
 * read of a subject filter (the KV view has none that also returns delete markers with their sequence).
 */
import {
  consumerOpts,
  StorageType,
  type JetStreamClient,
  type JsMsg,
  type KV,
  type KvEntry,
  type NatsConnection,
} from 'nats';

/** JetStream API error "wrong last sequence": someone else wrote the key first. */
export const WRONG_LAST_SEQUENCE = 10071;
export const MAX_CAS_ATTEMPTS = 16;

export function isWrongLastSequence(err: unknown): boolean {
  const apiError = (err as { api_error?: { err_code?: number } } | null)?.api_error;
  return apiError?.err_code === WRONG_LAST_SEQUENCE;
}

export function apiErrorCode(err: unknown): number | undefined {
  return (err as { api_error?: { err_code?: number } } | null)?.api_error?.err_code;
}

export interface BucketOptions {
  /** default 1; 3 on a clustered install */
  replicas?: number;
}

/** Creates the bucket (history 1, file storage) if missing, binds to it otherwise. */
export function openBucket(nc: NatsConnection, name: string, opts: BucketOptions = {}): Promise<KV> {
  return nc.jetstream().views.kv(name, { history: 1, storage: StorageType.File, replicas: opts.replicas ?? 1 });
}

export function live(e: KvEntry | null): e is KvEntry {
  return e !== null && e.operation === 'PUT';
}

/** The KV operation of a stream message of a bucket: PUT, DEL or PURGE. */
export function kvOperation(m: JsMsg): 'PUT' | 'DEL' | 'PURGE' {
  const op = m.headers?.get('KV-Operation');
  return op === 'DEL' || op === 'PURGE' ? op : 'PUT';
}

export function json(data: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(data), 'utf8');
}

export function parseJson<T>(data: Uint8Array, what: string): T {
  try {
    return JSON.parse(Buffer.from(data).toString('utf8')) as T;
  } catch {
    throw new Error(`corrupt ${what}`);
  }
}

const READ_TIMEOUT_MS = 10_000;
const STALL_CHECK_MS = 200;

interface SubscriptionInfo {
  info?: { last?: { num_pending?: number } } | null;
}

/**
 * The messages of `stream` matching `filter` in stream order, at most `max`: an ephemeral ordered
 * consumer read until the server reports nothing pending. What it returns is a prefix of the stream
 * (in sequence order), so a set of keys read this way is a consistent snapshot.
 *
 * The end is normally seen on a message (its pending count is 0). When the messages counted at the
 * start are deleted before delivery (a stream where deletes append nothing, as offline's), no message
 * carries that news: a stall check asks the consumer whether anything is left to deliver.
 */
export async function readOrdered(
  js: JetStreamClient,
  stream: string,
  filter: string,
  max = Infinity,
  timeoutMs = READ_TIMEOUT_MS,
): Promise<JsMsg[]> {
  if (max <= 0) return [];
  const out: JsMsg[] = [];
  let finished = false;
  let finish!: (err?: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = (err) => {
      finished = true;
      if (err) reject(err);
      else resolve();
    };
  });
  done.catch(() => undefined); // rejections are seen by the await below
  const opts = consumerOpts()
    .bindStream(stream)
    .orderedConsumer()
    .deliverAll()
    .callback((err, m) => {
      if (err) return finish(err);
      if (!m || finished) return;
      out.push(m);
      if (out.length >= max || m.info.pending === 0) finish();
    });
  const sub = await js.subscribe(filter, opts);
  const deadline = Date.now() + timeoutMs;
  try {
    if ((sub as unknown as SubscriptionInfo).info?.last?.num_pending === 0 && out.length === 0) finish();
    while (!finished) {
      const seen = out.length;
      await Promise.race([done, new Promise((r) => setTimeout(r, STALL_CHECK_MS))]);
      if (finished || out.length !== seen) continue;
      if (Date.now() > deadline) throw new Error(`read of ${stream} timed out after ${timeoutMs} ms`);
      const ci = await sub.consumerInfo();
      // Nothing left to send, and nothing sent that has not arrived (delivery sequences match).
      const lastDelivery = out.length ? out[out.length - 1]!.info.deliverySequence : 0;
      if (!finished && out.length === seen && ci.num_pending === 0 && ci.delivered.consumer_seq === lastDelivery) finish();
    }
    await done;
  } finally {
    sub.unsubscribe();
  }
  return out;
}
