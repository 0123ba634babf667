/** XEP-0199 XMPP Ping: the server answers pings to its domain (§4.2) and, on their behalf, to accounts' bare JIDs. */
import { NS, xml } from '@kxmpp/xmpp-core';
import type { XepModule } from '@kxmpp/kernel';

export const pingModule: XepModule = {
  name: 'ping',
  serverFeatures: [NS.PING],
  // A ping result has no payload, so the handler returns the whole reply (an Element named iq).
  iq: [{ name: 'ping', xmlns: NS.PING, type: 'get', handler: async (ctx) => xml('iq', { xmlns: ctx.stanza.attrs.xmlns, type: 'result', id: ctx.stanza.attrs.id, from: ctx.to.toString(), to: ctx.from.toString() }) }],
};
