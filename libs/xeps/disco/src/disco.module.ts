/**
 * XEP-0030 Service Discovery for the server domain and, on their behalf, for accounts' bare JIDs.
 * disco#info lists the identities and features the wired modules declared (kernel DiscoRegistry);
 * an account that does not exist is not revealed (RFC 6121 §8.5.1: service-unavailable); a node we do
 * not know is item-not-found (XEP-0030 §3.1, §7).
 */
import { Element, NS, StanzaError, xml } from '@kxmpp/xmpp-core';
import type { IqContext, IqHandler, XepModule } from '@kxmpp/kernel';

async function guard(ctx: IqContext): Promise<StanzaError | null> {
  if (ctx.target === 'account' && !(await ctx.accountExists())) return new StanzaError('service-unavailable');
  // No module publishes nodes yet: every node is unknown.
  if (ctx.payload.attrs.node !== undefined) return new StanzaError('item-not-found');
  return null;
}

const info: IqHandler = async (ctx) => {
  const err = await guard(ctx);
  if (err) return err;
  const q: Element = xml('query', { xmlns: NS.DISCO_INFO });
  for (const i of ctx.disco.identities(ctx.target, ctx.domain)) q.cnode(xml('identity', { category: i.category, type: i.type, name: i.name }));
  for (const f of ctx.disco.features(ctx.target, ctx.domain)) q.cnode(xml('feature', { var: f }));
  return q;
};

export interface DiscoOptions {
  /**
   * Entities the server lists in disco#items for a served domain (XEP-0030 §4): e.g. the XEP-0114
   * components that are subdomains of it. Never another tenant's.
   */
  serverItems?: (domain: string) => string[];
}

/** XEP-0030 with the server's items from `opts`. */
export function disco(opts: DiscoOptions = {}): XepModule {
  const items: IqHandler = async (ctx) => {
    const err = await guard(ctx);
    if (err) return err;
    const q = xml('query', { xmlns: NS.DISCO_ITEMS });
    if (ctx.target === 'server') for (const jid of opts.serverItems?.(ctx.domain) ?? []) q.cnode(xml('item', { jid }));
    return q;
  };
  return {
    name: 'disco',
    serverFeatures: [NS.DISCO_INFO, NS.DISCO_ITEMS],
    accountFeatures: [NS.DISCO_INFO, NS.DISCO_ITEMS],
    serverIdentities: [{ category: 'server', type: 'im' }],
    accountIdentities: [{ category: 'account', type: 'registered' }],
    iq: [
      { name: 'query', xmlns: NS.DISCO_INFO, type: 'get', handler: info },
      { name: 'query', xmlns: NS.DISCO_ITEMS, type: 'get', handler: items },
    ],
  };
}

/** XEP-0030 with no server items. */
export const discoModule: XepModule = disco();
