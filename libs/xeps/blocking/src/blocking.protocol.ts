/**
 * XEP-0191 wire constants, the <blocked/> stanza error (§3.3) and the blocklist change notice the
 * platform publishes on BLOCKLIST_CHANGED_SUBJECT after every change.
 */
import { Element, StanzaError, xml } from '@kxmpp/xmpp-core';

export const NS_BLOCKING = 'urn:xmpp:blocking';
export const NS_BLOCKING_ERRORS = 'urn:xmpp:blocking:errors';

/**
 * StanzaError has no slot for an application-specific condition (RFC 6120 §8.3.2), so this subclass
 * appends it after the defined condition and the optional text, where §8.3.2 puts it.
 */
class BlockedError extends StanzaError {
  constructor() {
    // §3.3's example says type='cancel': retrying cannot help until the user unblocks.
    super('not-acceptable', undefined, 'cancel');
  }

  override toElement(): Element {
    const el = super.toElement();
    el.cnode(xml('blocked', { xmlns: NS_BLOCKING_ERRORS }));
    return el;
  }
}

/**
 * The error for a stanza a user sends to a JID the user blocked (§3.3): not-acceptable with
 * <blocked xmlns='urn:xmpp:blocking:errors'/>. Use with errorReply() like any StanzaError.
 */
export function blockedError(): StanzaError {
  return new BlockedError();
}

/**
 * The change notice (JSON on BLOCKLIST_CHANGED_SUBJECT). `domain` and `username` are all a cache needs
 * to evict; `blocked` and `unblocked` are the JIDs whose state really changed (normalized), for the
 * presence service's §3.3 / §3.4 duties (unavailable presence to newly blocked JIDs, current presence to
 * unblocked ones). Consumers must ignore fields they do not know.
 */
export interface BlocklistChange {
  domain: string;
  username: string;
  blocked: string[];
  unblocked: string[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeBlocklistChange(c: BlocklistChange): Uint8Array {
  return encoder.encode(JSON.stringify(c));
}

/** The notice, or null when the payload is not one (never throws: it runs in a subscription callback). */
export function decodeBlocklistChange(data: Uint8Array): BlocklistChange | null {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(data));
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.domain !== 'string' || typeof o.username !== 'string') return null;
  const strings = (x: unknown) => (Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : []);
  return { domain: o.domain, username: o.username, blocked: strings(o.blocked), unblocked: strings(o.unblocked) };
}
