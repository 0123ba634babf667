/**
 * The routing facts every edge stream puts in a stanza's NATS headers (see @kxmpp/bus envelope): values
 * taken from client input must be ones a header can carry and the router understands.
 */
import { Element, NS, StanzaError } from '@kxmpp/xmpp-core';

const MESSAGE_TYPES = new Set(['chat', 'error', 'groupchat', 'headline', 'normal']);

/**
 * The type a stanza is routed by. RFC 6121 §5.2.2: a message type the server does not understand is
 * handled as "normal". (Presence and IQ types are checked, with an error, before this.)
 */
/** IM payloads that make a message of type normal worth a carbon copy without a body (XEP-0280 §6). */
const IM_PAYLOADS = new Set(['http://jabber.org/protocol/chatstates', 'urn:xmpp:receipts', 'urn:xmpp:chat-markers:0']);

/**
 * Whether a message is eligible for carbon copies to its sender's and recipient's other resources
 * (XEP-0280 §6): of type chat, or normal with a body or an IM payload (chat state, receipt, marker);
 * not marked <private/> (§7) or <no-copy/> (XEP-0334), and not itself a carbon copy.
 */
export function carbonsEligible(el: Element, type: string): boolean {
  if (type !== 'chat' && type !== 'normal' && type !== '') return false;
  let im = type === 'chat';
  for (const c of el.children) {
    if (typeof c === 'string') continue;
    const ns = c.attrs.xmlns;
    if (ns === NS.CARBONS || (ns === 'urn:xmpp:hints' && c.name === 'no-copy')) return false;
    if (c.name === 'body' || IM_PAYLOADS.has(ns)) im = true;
  }
  return im;
}

export function typeFact(kind: string, type: string): string {
  return kind !== 'message' || type === '' || MESSAGE_TYPES.has(type) ? type : 'normal';
}

/**
 * A payload namespace is a URI (Namespaces in XML §2.2), which never holds CR or LF; one that does
 * (written as &#10; or &#13;) cannot go into a header and names nothing the server could handle.
 */
export function isNamespaceFact(ns: string): boolean {
  return !/[\r\n]/.test(ns);
}

const PRESENCE_TYPES = new Set(['unavailable', 'subscribe', 'subscribed', 'unsubscribe', 'unsubscribed', 'probe', 'error']);

/**
 * The checks every stream makes before a stanza goes on the bus: an iq has an id and one of the four
 * types, and a get or set exactly one payload whose namespace is a URI (RFC 6120 §8.2.3); a presence
 * type is one RFC 6121 defines. Returns the iq payload's namespace ('' for anything else), or the error
 * to answer with.
 */
export function stanzaShape(name: string, type: string, el: Element): string | StanzaError {
  if (name === 'iq') {
    if (!el.attrs.id || (type !== 'get' && type !== 'set' && type !== 'result' && type !== 'error')) {
      return new StanzaError('bad-request', 'iq needs an id and a type');
    }
    if (type !== 'get' && type !== 'set') return '';
    const children = el.getChildElements();
    if (children.length !== 1) return new StanzaError('bad-request', 'iq get/set needs exactly one payload');
    const ns: string = children[0]!.attrs.xmlns ?? '';
    return isNamespaceFact(ns) ? ns : new StanzaError('bad-request', 'the payload namespace is not a URI');
  }
  if (name === 'presence' && type !== '' && !PRESENCE_TYPES.has(type)) return new StanzaError('bad-request', 'unknown presence type');
  return '';
}
