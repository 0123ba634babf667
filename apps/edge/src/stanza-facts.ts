/**
 * The routing facts every edge stream puts in a stanza's NATS headers (see @kxmpp/bus envelope): values
 * taken from client input must be ones a header can carry and the router understands.
 */
import { Element, StanzaError } from '@kxmpp/xmpp-core';

const MESSAGE_TYPES = new Set(['chat', 'error', 'groupchat', 'headline', 'normal']);

/**
 * The type a stanza is routed by. RFC 6121 §5.2.2: a message type the server does not understand is
 * handled as "normal". (Presence and IQ types are checked, with an error, before this.)
 */
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
