/**
 * Server dialback keys (XEP-0220 §2.1, generated as XEP-0185 recommends): HMAC-SHA256 keyed with the
 * hex SHA-256 of a secret every edge and federation replica shares, over
 * "<receiving server> <originating server> <stream id>". Any replica can check a key another made,
 * so the authoritative side of dialback needs no state.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export function dialbackKey(secret: string, receiving: string, originating: string, streamId: string): string {
  const k = createHash('sha256').update(secret).digest('hex');
  return createHmac('sha256', k).update(`${receiving} ${originating} ${streamId}`).digest('hex');
}

/** Constant-time check of a key a peer presented back to us (db:verify). */
export function dialbackKeyValid(secret: string, receiving: string, originating: string, streamId: string, key: string): boolean {
  const want = Buffer.from(dialbackKey(secret, receiving, originating, streamId));
  const got = Buffer.from(key.trim());
  return want.length === got.length && timingSafeEqual(want, got);
}
