/**
 * XEP-0012 Last Activity (jabber:iq:last), answered by the server.
 *
 *  - To the domain (§5): the server's uptime in seconds, no text.
 *  - To an account's bare JID (§3): only to the user itself or to an entity allowed to see the user's
 *    presence, i.e. one the user's roster lists with subscription 'from' or 'both' (RFC 6121 §2.1.2.1);
 *    anyone else gets forbidden (§3, §8). Blocking (XEP-0191) is enforced before this by the router.
 *    With an available session the answer is seconds='0' and no text (§3). Otherwise it is the time
 *    since the last session ended, with the status text of the last unavailable presence (§3).
 *  - No record (a user who has never logged out since records were kept): the XEP names no answer.
 *    We return item-not-found: the requester is authorized, so this reveals nothing, and inventing
 *    seconds='0' would claim the user is online.
 *  - Full JIDs (§4, idle time) are the client's business: the router delivers those IQs to the session.
 * The record is written by whoever ends sessions (the presence service); this module only reads it.
 * The feature is advertised on the server (§6) and on accounts (the server answers for them).
 */
import { StanzaError, xml } from '@kxmpp/xmpp-core';
import type { IqContext, IqHandler, XepModule } from '@kxmpp/kernel';
import type { LastActivityRepository, RosterRepository } from '@kxmpp/store';

export const NS_LAST = 'jabber:iq:last';

export interface LastOptions {
  repo: LastActivityRepository;
  roster: RosterRepository;
  /** When this process started: the uptime reported for the domain. */
  startedAt: Date;
  /** Clock; tests pin it. */
  now?: () => Date;
}

function secondsBetween(from: number, to: number): number {
  return Math.max(0, Math.floor((to - from) / 1000));
}

async function mayView(ctx: IqContext, roster: RosterRepository): Promise<boolean> {
  if (ctx.from.local === ctx.to.local && ctx.from.domain === ctx.to.domain) return true;
  const item = await roster.getItem(ctx.to.domain, ctx.to.local, ctx.from.toBareString());
  return item !== null && (item.subscription === 'from' || item.subscription === 'both');
}

export function lastModule(opts: LastOptions): XepModule {
  const now = opts.now ?? (() => new Date());
  const query = (seconds: number, text?: string) => xml('query', { xmlns: NS_LAST, seconds }, text || null);

  const get: IqHandler = async (ctx) => {
    if (ctx.target === 'server') return query(secondsBetween(opts.startedAt.getTime(), now().getTime()));
    if (!(await mayView(ctx, opts.roster))) return new StanzaError('forbidden', 'not subscribed to this user\'s presence');
    if ((await ctx.sessions()).some((s) => s.available)) return query(0);
    const last = await opts.repo.get(ctx.to.domain, ctx.to.local);
    if (!last) return new StanzaError('item-not-found');
    const at = Date.parse(last.at);
    if (Number.isNaN(at)) throw new Error(`last activity of an account has an unreadable time: ${last.at}`);
    return query(secondsBetween(at, now().getTime()), last.status);
  };

  return {
    name: 'last',
    serverFeatures: [NS_LAST],
    accountFeatures: [NS_LAST],
    iq: [{ name: 'query', xmlns: NS_LAST, type: 'get', handler: get }],
  };
}
