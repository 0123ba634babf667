/**
 * The commands of xmppctl, one row each: how it is called, what it sends to the admin API, and how the
 * answer is shown. docs/admin.md lists the same commands.
 */
import type { AdminClient } from './admin.client';
import type { AdminServiceName } from './proto';
import { duration, fields, table } from './cli.output';

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** Must be given (shown without brackets in the usage line). */
  required?: boolean;
  /** Value placeholder shown in help. */
  value?: string;
  help: string;
}

export interface CommandInput {
  args: string[];
  values: Record<string, string | boolean | string[] | undefined>;
  client: AdminClient;
  timeoutMs: number;
  /** The password from --password, XMPPCTL_PASSWORD, stdin or a prompt (password commands only). */
  password(): Promise<string>;
}

export interface CommandOutput {
  /** The API's answer, printed as JSON with --json. */
  json: unknown;
  /** What a human sees otherwise. */
  text: string;
  /** A note for stderr (e.g. a truncated listing), printed in both modes. */
  note?: string;
}

export interface Command {
  group: string;
  name: string;
  aliases?: string[];
  /** Positional arguments: required ones, then optional ones in brackets. */
  args: string[];
  optionalArgs?: string[];
  options?: Record<string, OptionSpec>;
  summary: string;
  /** Longer explanation for `xmppctl <group> <command> --help`. */
  details?: string;
  run(input: CommandInput): Promise<CommandOutput>;
}

export class UsageError extends Error {}

const call = <T = Record<string, unknown>>(i: CommandInput, service: AdminServiceName, method: string, req: object) =>
  i.client.call<T>(service, method, req, i.timeoutMs);

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

interface DomainMsg {
  name: string;
  configured: boolean;
  addedAt: string;
}
interface SessionMsg {
  jid: string;
  edge: string;
  sid: string;
  priority: number;
  available: boolean;
  updatedAt: string;
}
interface RosterItemMsg {
  jid: string;
  name: string;
  groups: string[];
  subscription: string;
  ask: boolean;
  pendingIn: boolean;
  approved: boolean;
}
interface QueueMsg {
  name: string;
  present: boolean;
  messages: number;
  pending: number;
  ackPending: number;
  consumers: number;
}
interface StatsMsg {
  sessions: number;
  domains: Array<{ domain: string; sessions: number; accounts: number; served: boolean }>;
  routing: QueueMsg;
  services: QueueMsg[];
  uptimeSeconds: number;
  startedAt: string;
  natsServerVersion: string;
  storage: string;
}

const sessionsTable = (list: SessionMsg[]) =>
  table(
    ['JID', 'EDGE', 'SID', 'PRIORITY', 'AVAILABLE', 'UPDATED'],
    list.map((s) => [s.jid, s.edge, s.sid, s.priority, s.available ? 'yes' : 'no', s.updatedAt]),
  );

const rosterTable = (items: RosterItemMsg[]) =>
  table(
    ['JID', 'NAME', 'SUBSCRIPTION', 'PENDING', 'GROUPS'],
    items.map((i) => [i.jid, i.name, i.subscription, [i.ask && 'out', i.pendingIn && 'in'].filter(Boolean).join(',') || '-', i.groups.join(', ')]),
  );

export const COMMANDS: Command[] = [
  // ---- domain ----
  {
    group: 'domain',
    name: 'list',
    aliases: ['ls'],
    args: [],
    summary: 'List served domains (configured and added at run time)',
    async run(i) {
      const res = await call<{ domains: DomainMsg[] }>(i, 'DomainService', 'ListDomains', {});
      return {
        json: res,
        text: table(['DOMAIN', 'SOURCE', 'ADDED'], res.domains.map((d) => [d.name, d.configured ? 'config' : 'runtime', d.addedAt || '-'])),
      };
    },
  },
  {
    group: 'domain',
    name: 'add',
    args: ['domain'],
    summary: 'Serve a new domain on every edge, without a restart',
    async run(i) {
      const res = await call<DomainMsg>(i, 'DomainService', 'AddDomain', { name: i.args[0] });
      return { json: res, text: `added ${res.name}\n` };
    },
  },
  {
    group: 'domain',
    name: 'remove',
    aliases: ['rm'],
    args: ['domain'],
    summary: 'Stop serving a domain added at run time (its sessions end; its data stays)',
    details: 'Domains from XMPP_DOMAINS cannot be removed (FAILED_PRECONDITION, exit 1).',
    async run(i) {
      const res = await call(i, 'DomainService', 'RemoveDomain', { name: i.args[0] });
      return { json: res, text: `removed ${i.args[0]}\n` };
    },
  },

  // ---- account ----
  {
    group: 'account',
    name: 'create',
    args: ['jid'],
    options: { password: { type: 'string', value: 'PASSWORD', help: 'the password (visible to other local users in ps: prefer XMPPCTL_PASSWORD or stdin)' } },
    summary: 'Create an account',
    details: 'The password comes from --password, else XMPPCTL_PASSWORD, else the first line of stdin, else a prompt on the terminal.',
    async run(i) {
      const res = await call<{ jid: string; createdAt: string }>(i, 'AccountService', 'CreateAccount', { jid: i.args[0], password: await i.password() });
      return { json: res, text: `created ${res.jid}\n` };
    },
  },
  {
    group: 'account',
    name: 'delete',
    aliases: ['rm'],
    args: ['jid'],
    summary: 'Delete an account and all its data; its sessions end',
    async run(i) {
      const res = await call(i, 'AccountService', 'DeleteAccount', { jid: i.args[0] });
      return { json: res, text: `deleted ${i.args[0]}\n` };
    },
  },
  {
    group: 'account',
    name: 'passwd',
    aliases: ['set-password'],
    args: ['jid'],
    options: { password: { type: 'string', value: 'PASSWORD', help: 'the new password (prefer XMPPCTL_PASSWORD or stdin)' } },
    summary: "Set an account's password",
    details: 'The password comes from --password, else XMPPCTL_PASSWORD, else the first line of stdin, else a prompt on the terminal. Open sessions stay.',
    async run(i) {
      const res = await call(i, 'AccountService', 'SetPassword', { jid: i.args[0], password: await i.password() });
      return { json: res, text: `password set for ${i.args[0]}\n` };
    },
  },
  {
    group: 'account',
    name: 'list',
    aliases: ['ls'],
    args: ['domain'],
    options: { limit: { type: 'string', value: 'N', help: 'at most N accounts (default 1000, at most 100000)' } },
    summary: 'List the accounts of a domain',
    async run(i) {
      let limit = 0;
      if (i.values.limit !== undefined) {
        limit = Number(i.values.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive integer');
      }
      const res = await call<{ jids: string[]; truncated: boolean }>(i, 'AccountService', 'ListAccounts', { domain: i.args[0], limit });
      return {
        json: res,
        text: res.jids.map((j) => `${j}\n`).join(''),
        note: res.truncated ? `(more accounts exist: raise --limit)` : undefined,
      };
    },
  },
  {
    group: 'account',
    name: 'count',
    args: ['domain'],
    summary: 'Count the accounts of a domain',
    async run(i) {
      const res = await call<{ count: number }>(i, 'AccountService', 'CountAccounts', { domain: i.args[0] });
      return { json: res, text: `${res.count}\n` };
    },
  },

  // ---- session ----
  {
    group: 'session',
    name: 'list',
    aliases: ['ls'],
    args: [],
    optionalArgs: ['domain'],
    options: { jid: { type: 'string', value: 'JID', help: 'only the sessions of this bare JID' } },
    summary: 'List live sessions (all, of one domain, or of one user)',
    async run(i) {
      const res = await call<{ sessions: SessionMsg[] }>(i, 'SessionService', 'ListSessions', { domain: i.args[0] ?? '', jid: str(i.values.jid) });
      return { json: res, text: sessionsTable(res.sessions) };
    },
  },
  {
    group: 'session',
    name: 'kick',
    args: ['jid'],
    options: {
      condition: { type: 'string', value: 'COND', help: 'stream error: policy-violation (default), conflict, not-authorized, system-shutdown' },
      text: { type: 'string', value: 'TEXT', help: 'text sent with the stream error' },
    },
    summary: 'End a session (full JID) or all sessions of a user (bare JID) with a stream error',
    async run(i) {
      const res = await call<{ kicked: SessionMsg[] }>(i, 'SessionService', 'KickSession', { jid: i.args[0], condition: str(i.values.condition), text: str(i.values.text) });
      return { json: res, text: res.kicked.map((s) => `kicked ${s.jid} (edge ${s.edge})\n`).join('') };
    },
  },

  // ---- send ----
  {
    group: 'send',
    name: 'message',
    aliases: ['msg'],
    args: [],
    options: {
      from: { type: 'string', value: 'JID', required: true, help: 'sender (any JID, bare or full)' },
      to: { type: 'string', value: 'JID', required: true, help: 'recipient' },
      body: { type: 'string', value: 'TEXT', help: 'message body' },
      subject: { type: 'string', value: 'TEXT', help: 'message subject' },
      thread: { type: 'string', value: 'ID', help: 'thread id' },
      type: { type: 'string', value: 'TYPE', help: 'normal (default), chat, groupchat, headline' },
      id: { type: 'string', value: 'ID', help: 'stanza id (default: generated)' },
    },
    summary: 'Send a message as any JID, routed like a client\'s',
    async run(i) {
      const res = await call<{ id: string; sequence: number }>(i, 'StanzaService', 'SendMessage', {
        from: i.values.from,
        to: i.values.to,
        body: str(i.values.body),
        subject: str(i.values.subject),
        thread: str(i.values.thread),
        type: str(i.values.type),
        id: str(i.values.id),
      });
      return { json: res, text: `sent message ${res.id}\n` };
    },
  },
  {
    group: 'send',
    name: 'presence',
    args: [],
    options: {
      from: { type: 'string', value: 'JID', required: true, help: 'sender (any JID, bare or full)' },
      to: { type: 'string', value: 'JID', help: 'recipient (default: a broadcast from the sender)' },
      type: { type: 'string', value: 'TYPE', help: 'unavailable, subscribe, subscribed, unsubscribe, unsubscribed, probe (default: available)' },
      show: { type: 'string', value: 'SHOW', help: 'away, chat, dnd, xa' },
      status: { type: 'string', value: 'TEXT', help: 'status text' },
      priority: { type: 'string', value: 'N', help: 'priority, -128..127' },
      id: { type: 'string', value: 'ID', help: 'stanza id (default: generated)' },
    },
    summary: 'Send a presence as any JID, routed like a client\'s',
    async run(i) {
      const req: Record<string, unknown> = {
        from: i.values.from,
        to: str(i.values.to),
        type: str(i.values.type),
        show: str(i.values.show),
        status: str(i.values.status),
        id: str(i.values.id),
      };
      if (i.values.priority !== undefined) {
        const p = Number(i.values.priority);
        if (!Number.isInteger(p)) throw new UsageError('--priority must be an integer');
        req.priority = p;
      }
      const res = await call<{ id: string; sequence: number }>(i, 'StanzaService', 'SendPresence', req);
      return { json: res, text: `sent presence ${res.id}\n` };
    },
  },

  // ---- roster ----
  {
    group: 'roster',
    name: 'get',
    aliases: ['show'],
    args: ['jid'],
    summary: "Show a user's roster",
    async run(i) {
      const res = await call<{ owner: string; version: number; items: RosterItemMsg[] }>(i, 'RosterService', 'GetRoster', { jid: i.args[0] });
      return { json: res, text: rosterTable(res.items), note: `roster of ${res.owner}, version ${res.version}, ${res.items.length} item(s)` };
    },
  },
  {
    group: 'roster',
    name: 'add',
    aliases: ['set'],
    args: ['owner', 'contact'],
    options: {
      name: { type: 'string', value: 'NAME', help: 'name of the contact' },
      group: { type: 'string', multiple: true, value: 'GROUP', help: 'a group (repeat for several)' },
    },
    summary: "Add a contact to a user's roster (or change its name and groups); pushed to the user's clients",
    details: 'Applied by the roster service like a client\'s roster set; does not subscribe to the contact\'s presence.',
    async run(i) {
      const groups = (i.values.group as string[] | undefined) ?? [];
      const res = await call<RosterItemMsg>(i, 'RosterService', 'AddRosterItem', { owner: i.args[0], jid: i.args[1], name: str(i.values.name), groups });
      return { json: res, text: rosterTable([res]) };
    },
  },
  {
    group: 'roster',
    name: 'remove',
    aliases: ['rm'],
    args: ['owner', 'contact'],
    summary: "Remove a contact from a user's roster (ends subscriptions both ways)",
    async run(i) {
      const res = await call(i, 'RosterService', 'RemoveRosterItem', { owner: i.args[0], jid: i.args[1] });
      return { json: res, text: `removed ${i.args[1]} from the roster of ${i.args[0]}\n` };
    },
  },

  // ---- stats ----
  {
    group: 'stats',
    name: '',
    args: [],
    summary: 'Sessions, accounts per domain, queue backlogs, uptime',
    async run(i) {
      const s = await call<StatsMsg>(i, 'StatsService', 'GetStats', {});
      const queues = [s.routing, ...s.services];
      const text =
        fields([
          ['sessions', s.sessions],
          ['storage', s.storage],
          ['nats-server', s.natsServerVersion || '-'],
          ['admin uptime', `${duration(s.uptimeSeconds)} (since ${s.startedAt})`],
        ]) +
        '\n' +
        table(['DOMAIN', 'SESSIONS', 'ACCOUNTS', 'SERVED'], s.domains.map((d) => [d.domain, d.sessions, d.accounts, d.served ? 'yes' : 'no'])) +
        '\n' +
        table(
          ['QUEUE', 'MESSAGES', 'PENDING', 'ACK-PENDING', 'CONSUMERS'],
          queues.map((q) => (q.present ? [q.name, q.messages, q.pending, q.ackPending, q.consumers] : [q.name, '-', '-', '-', 'no stream'])),
        );
      return { json: s, text };
    },
  },
];

export function findCommand(group: string, name: string | undefined): Command | undefined {
  return COMMANDS.find((c) => c.group === group && (c.name === (name ?? '') || (name !== undefined && c.aliases?.includes(name))));
}

export const GROUPS: Array<{ name: string; summary: string }> = [
  { name: 'domain', summary: 'served domains (tenants)' },
  { name: 'account', summary: 'accounts and passwords' },
  { name: 'session', summary: 'live sessions' },
  { name: 'send', summary: 'send a message or presence as any JID' },
  { name: 'roster', summary: 'rosters (contact lists)' },
  { name: 'stats', summary: 'server statistics' },
];
