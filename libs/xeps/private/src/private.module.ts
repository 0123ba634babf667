/**
 * XEP-0049 Private XML Storage (jabber:iq:private), for the user's own account only.
 *
 *  - To any JID but the sender's own bare JID (another account, or the domain): forbidden (§2.3: the
 *    XEP prefers it to service-unavailable; §4: no one else may read or write a user's private XML).
 *  - get (§2.3): exactly one child naming the element and namespace wanted; none or several is
 *    bad-request ("Bad Format", and "MUST NOT query for more than one namespace"). The answer is the
 *    stored element, or the queried element empty when nothing is stored.
 *  - set (§2.3): one or more children, each stored under its (local name, namespace), replacing what
 *    was there; none is not-acceptable ("at least one child element ... MUST be included").
 *  - Reserved namespaces (§2.3, the optional error we choose to return): not-acceptable for a child in
 *    jabber:client, jabber:server or jabber:iq:private, or with no namespace of its own (which then
 *    inherits jabber:iq:private). The XEP's wider reservation ('jabber:*', 'http://jabber.org/*',
 *    vcard-temp) is not enforced: clients store data under such namespaces and the XEP leaves it optional.
 *  - Each element is at most `maxElementBytes` serialized, else policy-violation (a local quota);
 *    a set is checked whole before anything is written, so a refused set changes nothing.
 */
import { Element, StanzaError, detachElement, parseXml, xml } from '@kxmpp/xmpp-core';
import { isOwnAccount, type IqContext, type IqHandler, type XepModule } from '@kxmpp/kernel';
import type { PrivateXmlRepository } from '@kxmpp/store';

export const NS_PRIVATE = 'jabber:iq:private';

export const RESERVED_PRIVATE_NAMESPACES: ReadonlySet<string> = new Set(['', 'jabber:client', 'jabber:server', NS_PRIVATE]);

export interface PrivateOptions {
  /** Largest element stored, in bytes of serialized XML. Default 64 KiB (bookmarks of a few hundred rooms). */
  maxElementBytes?: number;
}

export const DEFAULT_PRIVATE_MAX_ELEMENT_BYTES = 64 * 1024;

function reserved(ns: string): boolean {
  return RESERVED_PRIVATE_NAMESPACES.has(ns);
}

export function privateModule(repo: PrivateXmlRepository, opts: PrivateOptions = {}): XepModule {
  const maxBytes = opts.maxElementBytes ?? DEFAULT_PRIVATE_MAX_ELEMENT_BYTES;

  const get: IqHandler = async (ctx) => {
    if (!isOwnAccount(ctx)) return new StanzaError('forbidden', 'private XML is readable by its owner only');
    const wanted = ctx.payload.getChildElements();
    if (wanted.length !== 1) return new StanzaError('bad-request', 'a private XML get names exactly one element');
    const ns: string = wanted[0].getNS() ?? '';
    if (reserved(ns)) return new StanzaError('not-acceptable', 'reserved namespace');
    const name = wanted[0].getName();
    const stored = await repo.get(ctx.to.domain, ctx.to.local, name, ns);
    return xml('query', { xmlns: NS_PRIVATE }, stored !== null ? parseXml(stored) : xml(name, { xmlns: ns }));
  };

  const set: IqHandler = async (ctx) => {
    if (!isOwnAccount(ctx)) return new StanzaError('forbidden', 'private XML is writable by its owner only');
    const children = ctx.payload.getChildElements();
    if (children.length === 0) return new StanzaError('not-acceptable', 'nothing to store');
    const writes: Array<{ name: string; ns: string; text: string }> = [];
    for (const child of children) {
      const ns: string = child.getNS() ?? '';
      if (reserved(ns)) return new StanzaError('not-acceptable', 'reserved namespace');
      const text = detachElement(child, ns).toString();
      if (Buffer.byteLength(text, 'utf8') > maxBytes) return new StanzaError('policy-violation', `a private XML element is limited to ${maxBytes} bytes`);
      writes.push({ name: child.getName(), ns, text });
    }
    // Two children with the same name and namespace: the last one is what gets stored.
    const last = new Map(writes.map((w) => [`${w.name}\u0000${w.ns}`, w]));
    await Promise.all([...last.values()].map((w) => repo.set(ctx.to.domain, ctx.to.local, w.name, w.ns, w.text)));
    // The result of a set carries no payload (§2.3 example): the handler returns the whole reply.
    return xml('iq', { xmlns: ctx.stanza.attrs.xmlns, type: 'result', id: ctx.stanza.attrs.id, from: ctx.to.toString(), to: ctx.from.toString() });
  };

  return {
    name: 'private',
    serverFeatures: [NS_PRIVATE],
    accountFeatures: [NS_PRIVATE],
    iq: [
      { name: 'query', xmlns: NS_PRIVATE, type: 'get', handler: get },
      { name: 'query', xmlns: NS_PRIVATE, type: 'set', handler: set },
    ],
  };
}
