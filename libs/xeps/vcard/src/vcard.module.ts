/**
 * XEP-0054 vcard-temp, answered by the server on behalf of accounts' bare JIDs.
 *
 *  - Own vCard (§3.1, an IQ-get with no 'to', which arrives addressed to the sender's bare JID): the
 *    stored vCard, or an empty <vCard xmlns='vcard-temp'/> when there is none. §3.1 allows this or
 *    item-not-found; the empty result is the one every client reads as "no vCard yet" without an
 *    error path.
 *  - Another account's vCard (§3.3): world-readable (§6). With none stored §3.3 requires an error:
 *    item-not-found for an existing account, service-unavailable when the account does not exist (the
 *    same answer as for any IQ to a missing account, RFC 6121 §8.5.1, so existence is not revealed).
 *  - Update (§3.2): only the owner on its own bare JID (forbidden otherwise); the whole vCard is
 *    replaced; an empty vCard deletes it. A vCard over `maxBytes` serialized is refused with
 *    policy-violation (a local quota; the XEP sets none).
 *  - The server's own vCard (§3.3 note): none is configured, so a get to the domain is item-not-found.
 *  - Determining support (§4): the example queries the server, so 'vcard-temp' is a server feature;
 *    it is on accounts too, since the server answers vcard-temp for every account's bare JID.
 */
import { Element, StanzaError, detachElement, parseXml, xml } from '@kxmpp/xmpp-core';
import { isOwnAccount, type IqContext, type IqHandler, type XepModule } from '@kxmpp/kernel';
import type { VCardRepository } from '@kxmpp/store';

export const NS_VCARD = 'vcard-temp';

export interface VCardOptions {
  /** Largest vCard accepted, in bytes of serialized XML. Default 64 KiB: room for a small embedded PHOTO. */
  maxBytes?: number;
}

export const DEFAULT_VCARD_MAX_BYTES = 64 * 1024;

/** The result of a set carries no payload (§3.2): the handler returns the whole reply. */
function emptyResult(ctx: IqContext): Element {
  return xml('iq', { xmlns: ctx.stanza.attrs.xmlns, type: 'result', id: ctx.stanza.attrs.id, from: ctx.to.toString(), to: ctx.from.toString() });
}

function isEmpty(el: Element): boolean {
  return el.children.every((c) => typeof c === 'string' && c.trim() === '');
}

export function vcardModule(repo: VCardRepository, opts: VCardOptions = {}): XepModule {
  const maxBytes = opts.maxBytes ?? DEFAULT_VCARD_MAX_BYTES;

  const get: IqHandler = async (ctx) => {
    if (ctx.target === 'server') return new StanzaError('item-not-found');
    const stored = await repo.get(ctx.to.domain, ctx.to.local);
    if (stored !== null) return parseXml(stored);
    if (isOwnAccount(ctx)) return xml('vCard', { xmlns: NS_VCARD });
    return (await ctx.accountExists()) ? new StanzaError('item-not-found') : new StanzaError('service-unavailable');
  };

  const set: IqHandler = async (ctx) => {
    if (!isOwnAccount(ctx)) return new StanzaError('forbidden', 'a vCard can only be set by its owner');
    if (isEmpty(ctx.payload)) {
      await repo.delete(ctx.to.domain, ctx.to.local);
      return emptyResult(ctx);
    }
    const text = detachElement(ctx.payload, NS_VCARD).toString();
    if (Buffer.byteLength(text, 'utf8') > maxBytes) return new StanzaError('policy-violation', `a vCard is limited to ${maxBytes} bytes`);
    await repo.set(ctx.to.domain, ctx.to.local, text);
    return emptyResult(ctx);
  };

  return {
    name: 'vcard',
    serverFeatures: [NS_VCARD],
    accountFeatures: [NS_VCARD],
    iq: [
      { name: 'vCard', xmlns: NS_VCARD, type: 'get', handler: get },
      { name: 'vCard', xmlns: NS_VCARD, type: 'set', handler: set },
    ],
  };
}
