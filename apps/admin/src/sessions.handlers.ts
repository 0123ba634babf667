/** SessionService: live sessions from the registry, and kicks through the owning edge's control subject. */
import type * as grpc from '@grpc/grpc-js';
import { JSONCodec } from 'nats';
import { EdgeControl, edgeControlSubject, sessionKeyFilter } from '@kxmpp/bus';
import type { AdminContext } from './admin.context';
import { unary } from './admin.context';
import { invalid, notFound } from './admin.errors';
import { parseAccountJid, parseDomain, parseJid } from './admin.validate';
import { domainOf, LiveSession, readSessions } from './sessions.reader';

type KickCondition = Extract<EdgeControl, { op: 'kick' }>['condition'];
/** The stream error conditions an edge accepts in a kick (EdgeControl); the first is the default. */
export const KICK_CONDITIONS: readonly KickCondition[] = ['policy-violation', 'conflict', 'not-authorized', 'system-shutdown'];
const MAX_TEXT = 1024;

const controlCodec = JSONCodec<EdgeControl>();

export interface SessionMsg {
  jid: string;
  edge: string;
  sid: string;
  priority: number;
  available: boolean;
  updatedAt: string;
}

export const toSessionMsg = (s: LiveSession): SessionMsg => ({
  jid: s.jid,
  edge: s.edge,
  sid: s.sid,
  priority: s.priority,
  available: s.available,
  updatedAt: s.updatedAt.toISOString(),
});

export function sessionHandlers(ctx: AdminContext): grpc.UntypedServiceImplementation {
  const ttl = ctx.config.SESSION_TTL_SECONDS;
  return {
    ListSessions: unary('ListSessions', ctx.log, async (req: { domain: string; jid: string }) => {
      const domain = req.domain ? parseDomain(req.domain) : '';
      const bare = req.jid ? parseAccountJid(req.jid).toBareString() : '';
      let sessions = await readSessions(ctx.sessions, ttl, bare ? sessionKeyFilter(bare) : '>');
      if (domain) sessions = sessions.filter((s) => domainOf(s.jid) === domain);
      return { sessions: sessions.map(toSessionMsg) };
    }),

    KickSession: unary('KickSession', ctx.log, async (req: { jid: string; condition: string; text: string }) => {
      const jid = parseJid(req.jid, 'jid');
      if (!jid.local) throw invalid(`jid ${JSON.stringify(req.jid)} needs a localpart (user@domain or user@domain/resource)`);
      const condition = (req.condition || KICK_CONDITIONS[0]) as KickCondition;
      if (!KICK_CONDITIONS.includes(condition)) throw invalid(`condition must be one of ${KICK_CONDITIONS.join(', ')}`);
      if ((req.text ?? '').length > MAX_TEXT) throw invalid(`text is longer than ${MAX_TEXT} characters`);
      const bare = jid.toBareString();
      let targets = await readSessions(ctx.sessions, ttl, sessionKeyFilter(bare));
      if (jid.resource) targets = targets.filter((s) => s.jid === jid.toString());
      if (targets.length === 0) throw notFound(`no live session for ${jid.toString()}`);
      for (const s of targets) {
        ctx.nc.publish(edgeControlSubject(s.edge), controlCodec.encode({ op: 'kick', sid: s.sid, condition, text: req.text || undefined }));
      }
      await ctx.nc.flush();
      ctx.log.info({ domain: jid.domain, sessions: targets.length, condition }, 'sessions kicked (admin)');
      return { kicked: targets.map(toSessionMsg) };
    }),
  };
}
