/**
 * The routing facts every edge stream puts in a stanza's NATS headers (see @kxmpp/bus envelope): values
 * taken from client input must be ones a header can carry and the router understands.
 */

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
