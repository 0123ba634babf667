/**
 * AccountService: accounts with SCRAM credentials only (RFC 5802 §5.1), like XEP-0077 registration on
 * the edge (apps/edge/src/registration.ts). Deleting an account removes what it owns and ends its
 * sessions on every edge, as an in-band cancel does (XEP-0077 §3.2).
 */
import type * as grpc from '@grpc/grpc-js';
import { JSONCodec } from 'nats';
import { EdgeControl, EDGES_CONTROL_SUBJECT } from '@kxmpp/bus';
import { deleteAccountData, deriveAllCredentialsAsync } from '@kxmpp/store';
import type { AdminContext } from './admin.context';
import { unary } from './admin.context';
import { exists, invalid, notFound } from './admin.errors';
import { checkPassword, parseAccountJid, parseDomain } from './admin.validate';

const controlCodec = JSONCodec<EdgeControl>();
export const DEFAULT_LIST_LIMIT = 1000;
export const MAX_LIST_LIMIT = 100_000;

export function accountHandlers(ctx: AdminContext): grpc.UntypedServiceImplementation {
  const { storage, log } = ctx;
  return {
    CreateAccount: unary('CreateAccount', log, async (req: { jid: string; password: string }) => {
      const jid = parseAccountJid(req.jid);
      const password = checkPassword(req.password);
      if (!ctx.domains.has(jid.domain)) throw notFound(`domain ${jid.domain} is not served (add it first: xmppctl domain add ${jid.domain})`);
      const createdAt = new Date().toISOString();
      const scram = await deriveAllCredentialsAsync(password);
      const created = await storage.accounts.create({ domain: jid.domain, username: jid.local, scram, createdAt });
      if (!created) throw exists(`account ${jid.toBareString()} already exists`);
      log.info({ domain: jid.domain }, 'account created (admin)');
      return { jid: jid.toBareString(), createdAt };
    }),

    DeleteAccount: unary('DeleteAccount', log, async (req: { jid: string }) => {
      const jid = parseAccountJid(req.jid);
      if (!(await storage.accounts.delete(jid.domain, jid.local))) throw notFound(`account ${jid.toBareString()} does not exist`);
      // The record goes first: no new login can start while the sessions end and the data goes.
      ctx.nc.publish(EDGES_CONTROL_SUBJECT, controlCodec.encode({ op: 'account-removed', domain: jid.domain, username: jid.local }));
      await deleteAccountData(storage, jid.domain, jid.local);
      await ctx.nc.flush();
      log.info({ domain: jid.domain }, 'account deleted (admin)');
      return {};
    }),

    SetPassword: unary('SetPassword', log, async (req: { jid: string; password: string }) => {
      const jid = parseAccountJid(req.jid);
      const password = checkPassword(req.password);
      // Cheap existence check first: PBKDF2 costs milliseconds of CPU for nothing otherwise.
      if (!(await storage.accounts.get(jid.domain, jid.local))) throw notFound(`account ${jid.toBareString()} does not exist`);
      const scram = await deriveAllCredentialsAsync(password);
      if (!(await storage.accounts.setCredentials(jid.domain, jid.local, scram))) throw notFound(`account ${jid.toBareString()} does not exist`);
      log.info({ domain: jid.domain }, 'password set (admin)');
      return {};
    }),

    ListAccounts: unary('ListAccounts', log, async (req: { domain: string; limit: number }) => {
      const domain = parseDomain(req.domain);
      const limit = req.limit || DEFAULT_LIST_LIMIT;
      if (limit > MAX_LIST_LIMIT) throw invalid(`limit must be at most ${MAX_LIST_LIMIT}`);
      const names = await storage.accounts.list(domain, limit + 1);
      const truncated = names.length > limit;
      return { jids: names.slice(0, limit).map((u) => `${u}@${domain}`), truncated };
    }),

    CountAccounts: unary('CountAccounts', log, async (req: { domain: string }) => {
      const domain = parseDomain(req.domain);
      return { count: await storage.accounts.count(domain) };
    }),
  };
}
