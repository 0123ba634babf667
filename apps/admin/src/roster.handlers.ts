/**
 * RosterService. Reads come from storage. Changes are roster sets (RFC 6121 §2.3 add/update, §2.5
 * delete) from the owner's bare JID into the routing stream, so the roster service applies them as a
 * client's, with versioning and pushes to every interested resource; the call then waits until storage shows it.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type * as grpc from '@grpc/grpc-js';
import type { RosterItem } from '@kxmpp/store';
import { Jid, NS, xml } from '@kxmpp/xmpp-core';
import type { AdminContext } from './admin.context';
import { publishToRoute, unary } from './admin.context';
import { deadline, invalid, notFound } from './admin.errors';
import { parseAccountJid, parseJid } from './admin.validate';

export const NS_ROSTER = 'jabber:iq:roster';
const MAX_NAME = 1024;
const MAX_GROUPS = 100;
const POLL_MS = 25;

export interface RosterItemMsg {
  jid: string;
  name: string;
  groups: string[];
  subscription: string;
  ask: boolean;
  pendingIn: boolean;
  approved: boolean;
}

const toItemMsg = (i: RosterItem): RosterItemMsg => ({
  jid: i.jid,
  name: i.name ?? '',
  groups: i.groups,
  subscription: i.subscription,
  ask: i.ask,
  pendingIn: i.pendingIn,
  approved: i.approved,
});

function contactJid(input: string): Jid {
  const j = parseJid(input, 'jid');
  if (j.resource) throw invalid(`jid ${JSON.stringify(input)} must be a bare JID (no /resource)`);
  return j;
}

function cleanGroups(groups: string[] | undefined): string[] {
  const out: string[] = [];
  for (const g of groups ?? []) {
    const t = g.trim();
    if (!t) throw invalid('a group name cannot be empty');
    if (t.length > MAX_NAME) throw invalid(`group name longer than ${MAX_NAME} characters`);
    if (!out.includes(t)) out.push(t);
  }
  if (out.length > MAX_GROUPS) throw invalid(`at most ${MAX_GROUPS} groups`);
  return out;
}

const sameGroups = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

export function rosterHandlers(ctx: AdminContext): grpc.UntypedServiceImplementation {
  const { storage, log } = ctx;

  async function owner(input: string): Promise<Jid> {
    const j = parseAccountJid(input, 'owner');
    if (!(await storage.accounts.get(j.domain, j.local))) throw notFound(`account ${j.toBareString()} does not exist`);
    return j;
  }

  /** Publish the roster set as the owner's client would, and poll storage until `applied` holds. */
  async function rosterSet(
    who: Jid,
    item: ReturnType<typeof xml>,
    callDeadline: number,
    applied: () => Promise<RosterItem | null | false>,
  ): Promise<RosterItem | null> {
    const bare = who.toBareString();
    const iq = xml('iq', { xmlns: NS.CLIENT, type: 'set', id: `admin-${randomUUID()}`, from: bare }, xml('query', { xmlns: NS_ROSTER }, item));
    await publishToRoute(ctx, who.bare(), iq, { to: bare, kind: 'iq', type: 'set', ns: NS_ROSTER });
    // Within the caller's deadline too, so the caller hears why rather than a bare timeout.
    const start = Date.now();
    const until = Math.min(start + ctx.rosterWaitMs, callDeadline - 200);
    for (;;) {
      const r = await applied();
      if (r !== false) return r;
      if (Date.now() >= until) {
        throw deadline(`the roster service did not answer within ${Date.now() - start} ms (is it running?); the change may still be applied later`);
      }
      await sleep(POLL_MS);
    }
  }

  return {
    GetRoster: unary('GetRoster', log, async (req: { jid: string }) => {
      const j = parseAccountJid(req.jid);
      if (!(await storage.accounts.get(j.domain, j.local))) throw notFound(`account ${j.toBareString()} does not exist`);
      const snap = await storage.roster.get(j.domain, j.local);
      return { owner: j.toBareString(), version: snap.version, items: snap.items.map(toItemMsg) };
    }),

    AddRosterItem: unary('AddRosterItem', log, async (req: { owner: string; jid: string; name: string; groups: string[] }, callDeadline) => {
      const who = await owner(req.owner);
      if (!ctx.domains.has(who.domain)) throw notFound(`domain ${who.domain} is not served`);
      const contact = contactJid(req.jid).toString();
      const name = (req.name ?? '').trim();
      if (name.length > MAX_NAME) throw invalid(`name longer than ${MAX_NAME} characters`);
      const groups = cleanGroups(req.groups);
      const matches = (i: RosterItem | null): i is RosterItem => !!i && (i.name ?? '') === name && sameGroups(i.groups, groups);
      const current = await storage.roster.getItem(who.domain, who.local, contact);
      if (matches(current)) return toItemMsg(current);
      const item = xml('item', { jid: contact, name: name || undefined }, ...groups.map((g) => xml('group', null, g)));
      const done = await rosterSet(who, item, callDeadline, async () => {
        const i = await storage.roster.getItem(who.domain, who.local, contact);
        return matches(i) ? i : false;
      });
      log.info({ domain: who.domain }, 'roster item set (admin)');
      return toItemMsg(done!);
    }),

    RemoveRosterItem: unary('RemoveRosterItem', log, async (req: { owner: string; jid: string }, callDeadline) => {
      const who = await owner(req.owner);
      if (!ctx.domains.has(who.domain)) throw notFound(`domain ${who.domain} is not served`);
      const contact = contactJid(req.jid).toString();
      if (!(await storage.roster.getItem(who.domain, who.local, contact))) throw notFound(`${contact} is not in the roster of ${who.toBareString()}`);
      await rosterSet(who, xml('item', { jid: contact, subscription: 'remove' }), callDeadline, async () =>
        (await storage.roster.getItem(who.domain, who.local, contact)) ? false : null,
      );
      log.info({ domain: who.domain }, 'roster item removed (admin)');
      return {};
    }),
  };
}
