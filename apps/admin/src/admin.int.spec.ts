/**
 * The admin API end to end over loopback gRPC, against a real nats-server and the jetstream storage:
 * authentication, reflection, and every RPC's happy path and errors.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { JSONCodec, JsMsg } from 'nats';
import {
  decodeEnvelope,
  EdgeControl,
  edgeControlSubject,
  EDGES_CONTROL_SUBJECT,
  EdgeSessionRegistry,
  openSessionsBucket,
  partitionOf,
  ROUTE_STREAM,
  routeConsumer,
} from '@kxmpp/bus';
import { verifyPassword } from '@kxmpp/store';
import { eventually, lazyNatsServer } from '@kxmpp/testing';
import { parseXml } from '@kxmpp/xmpp-core';
import { AdminClient } from './admin.client';
import { AdminHarness, grpcError, startAdminHarness, TEST_TOKEN } from './admin.harness';

const { status } = grpc;
const P = 4;
const control = JSONCodec<EdgeControl>();
const dec = new TextDecoder();

describe('admin API (gRPC over loopback, real nats-server)', () => {
  const nats = lazyNatsServer();
  let h: AdminHarness;

  before(async () => {
    h = await startAdminHarness(await nats.url(), { ROUTE_PARTITIONS: String(P) }, { rosterWaitMs: 400 });
  });
  after(async () => {
    await h?.stop();
    await nats.stop();
  });

  /** The next stanza the admin API published for a sender (consumed like a router would). */
  async function routed(senderBare: string): Promise<JsMsg> {
    const c = await h.nc.jetstream().consumers.get(ROUTE_STREAM, routeConsumer(partitionOf(senderBare, P)));
    const m = await c.next({ expires: 3000 });
    assert.ok(m, `nothing routed for ${senderBare}`);
    m.ack();
    return m;
  }

  describe('authentication', () => {
    it('refuses a request without a token', async () => {
      const anon = new AdminClient({ server: h.server });
      try {
        await assert.rejects(anon.call('DomainService', 'ListDomains', {}), grpcError(status.UNAUTHENTICATED, /missing token/));
      } finally {
        anon.close();
      }
    });

    it('refuses a wrong token, of any length', async () => {
      for (const token of ['wrong', `${TEST_TOKEN}x`, TEST_TOKEN.slice(0, -1) + 'X', '']) {
        const c = new AdminClient({ server: h.server, token });
        try {
          await assert.rejects(c.call('StatsService', 'GetStats', {}), grpcError(status.UNAUTHENTICATED));
        } finally {
          c.close();
        }
      }
    });

    it('accepts the token, with the scheme in any case', async () => {
      const c = new AdminClient({ server: h.server, token: TEST_TOKEN });
      try {
        const res = await c.call<{ domains: unknown[] }>('DomainService', 'ListDomains', {});
        assert.ok(Array.isArray(res.domains));
      } finally {
        c.close();
      }
      const md = new grpc.Metadata();
      md.set('authorization', `bearer ${TEST_TOKEN}`);
      const Ctor = grpc.makeGenericClientConstructor({}, 'x');
      const raw = new Ctor(h.server, grpc.credentials.createInsecure());
      // An unknown method: authentication passes, then the server says UNIMPLEMENTED (not UNAUTHENTICATED).
      const code = await new Promise<number>((resolve) =>
        raw.makeUnaryRequest('/kxmpp.admin.v1.Nope/Nope', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), md, (err) => resolve(err?.code ?? 0)),
      );
      raw.close();
      assert.equal(code, status.UNIMPLEMENTED);
    });
  });

  describe('reflection', () => {
    function reflectionClient(token?: string) {
      const protoDir = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');
      const def = protoLoader.loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [protoDir], keepCase: true });
      const Ctor = (grpc.loadPackageDefinition(def) as any).grpc.reflection.v1.ServerReflection as grpc.ServiceClientConstructor; // eslint-disable-line @typescript-eslint/no-explicit-any
      const client = new Ctor(h.server, grpc.credentials.createInsecure());
      const md = new grpc.Metadata();
      if (token) md.set('authorization', `Bearer ${token}`);
      return { client, md };
    }

    it('lists every admin service', async () => {
      const { client, md } = reflectionClient(TEST_TOKEN);
      const names = await new Promise<string[]>((resolve, reject) => {
        const call = (client as any).ServerReflectionInfo(md); // eslint-disable-line @typescript-eslint/no-explicit-any
        call.on('data', (res: { list_services_response?: { service: Array<{ name: string }> } }) => {
          resolve((res.list_services_response?.service ?? []).map((s) => s.name));
          call.end();
        });
        call.on('error', reject);
        call.write({ list_services: '' });
      });
      client.close();
      for (const s of ['DomainService', 'AccountService', 'SessionService', 'StanzaService', 'RosterService', 'StatsService']) {
        assert.ok(names.includes(`kxmpp.admin.v1.${s}`), `${s} missing from ${names.join(', ')}`);
      }
    });

    it('requires the token too', async () => {
      const { client, md } = reflectionClient();
      const err = await new Promise<grpc.ServiceError>((resolve) => {
        const call = (client as any).ServerReflectionInfo(md); // eslint-disable-line @typescript-eslint/no-explicit-any
        call.on('data', () => undefined);
        call.on('error', resolve);
        call.write({ list_services: '' });
      });
      client.close();
      assert.equal(err.code, status.UNAUTHENTICATED);
    });
  });

  describe('domains', () => {
    it('lists the configured domain', async () => {
      const res = await h.client.call<{ domains: Array<{ name: string; configured: boolean }> }>('DomainService', 'ListDomains', {});
      assert.deepEqual(res.domains.map((d) => [d.name, d.configured]), [['example.com', true]]);
    });

    it('adds, refuses duplicates and bad names, removes', async () => {
      const added = await h.client.call<{ name: string; configured: boolean; addedAt: string }>('DomainService', 'AddDomain', { name: 'Tenant.Example' });
      assert.equal(added.name, 'tenant.example');
      assert.equal(added.configured, false);
      assert.ok(added.addedAt);
      await assert.rejects(h.client.call('DomainService', 'AddDomain', { name: 'tenant.example' }), grpcError(status.ALREADY_EXISTS));
      await assert.rejects(h.client.call('DomainService', 'AddDomain', { name: 'example.com' }), grpcError(status.ALREADY_EXISTS, /XMPP_DOMAINS/));
      await assert.rejects(h.client.call('DomainService', 'AddDomain', { name: 'not a domain' }), grpcError(status.INVALID_ARGUMENT, /invalid domain/));
      await assert.rejects(h.client.call('DomainService', 'AddDomain', { name: '' }), grpcError(status.INVALID_ARGUMENT, /empty/));
      const list = await h.client.call<{ domains: Array<{ name: string }> }>('DomainService', 'ListDomains', {});
      assert.deepEqual(list.domains.map((d) => d.name), ['example.com', 'tenant.example']);
      await assert.rejects(h.client.call('DomainService', 'RemoveDomain', { name: 'example.com' }), grpcError(status.FAILED_PRECONDITION, /configured/));
      await assert.rejects(h.client.call('DomainService', 'RemoveDomain', { name: 'other.example' }), grpcError(status.NOT_FOUND));
      await h.client.call('DomainService', 'RemoveDomain', { name: 'tenant.example' });
      await assert.rejects(h.client.call('DomainService', 'RemoveDomain', { name: 'tenant.example' }), grpcError(status.NOT_FOUND));
    });
  });

  describe('accounts', () => {
    it('creates an account with SCRAM credentials only', async () => {
      const res = await h.client.call<{ jid: string; createdAt: string }>('AccountService', 'CreateAccount', { jid: 'Alice@Example.com', password: 'pencil' });
      assert.equal(res.jid, 'alice@example.com');
      const rec = await h.storage.accounts.get('example.com', 'alice');
      assert.ok(rec);
      assert.ok(!JSON.stringify(rec).includes('pencil'), 'the password is not stored');
      assert.equal(verifyPassword(rec.scram['SCRAM-SHA-256'], 'SCRAM-SHA-256', 'pencil'), true);
      assert.equal(verifyPassword(rec.scram['SCRAM-SHA-1'], 'SCRAM-SHA-1', 'pencil'), true);
    });

    it('refuses duplicates, bad JIDs, bad passwords and unserved domains', async () => {
      const create = (jid: string, password = 'secret') => h.client.call('AccountService', 'CreateAccount', { jid, password });
      await assert.rejects(create('alice@example.com'), grpcError(status.ALREADY_EXISTS, /already exists/));
      await assert.rejects(create('example.com'), grpcError(status.INVALID_ARGUMENT, /localpart/));
      await assert.rejects(create('bob@example.com/res'), grpcError(status.INVALID_ARGUMENT, /bare JID/));
      await assert.rejects(create('b ob@example.com'), grpcError(status.INVALID_ARGUMENT, /not a valid JID/));
      await assert.rejects(create(''), grpcError(status.INVALID_ARGUMENT, /jid is required/));
      await assert.rejects(create('bob@example.com', ''), grpcError(status.INVALID_ARGUMENT, /password is required/));
      await assert.rejects(create('bob@example.com', 'a\u0000b'), grpcError(status.INVALID_ARGUMENT, /control character/));
      await assert.rejects(create('bob@example.com', 'x'.repeat(1025)), grpcError(status.INVALID_ARGUMENT, /longer than 1024/));
      await assert.rejects(create('bob@elsewhere.example'), grpcError(status.NOT_FOUND, /not served/));
    });

    it('sets a password', async () => {
      await h.client.call('AccountService', 'SetPassword', { jid: 'alice@example.com', password: 'new one' });
      const rec = await h.storage.accounts.get('example.com', 'alice');
      assert.equal(verifyPassword(rec!.scram['SCRAM-SHA-256'], 'SCRAM-SHA-256', 'new one'), true);
      assert.equal(verifyPassword(rec!.scram['SCRAM-SHA-256'], 'SCRAM-SHA-256', 'pencil'), false);
      await assert.rejects(h.client.call('AccountService', 'SetPassword', { jid: 'nobody@example.com', password: 'x' }), grpcError(status.NOT_FOUND, /does not exist/));
      await assert.rejects(h.client.call('AccountService', 'SetPassword', { jid: 'alice@example.com', password: '' }), grpcError(status.INVALID_ARGUMENT));
    });

    it('lists and counts the accounts of a domain', async () => {
      for (const u of ['carol', 'bob', 'dave']) await h.client.call('AccountService', 'CreateAccount', { jid: `${u}@example.com`, password: 'pw' });
      const all = await h.client.call<{ jids: string[]; truncated: boolean }>('AccountService', 'ListAccounts', { domain: 'example.com' });
      assert.deepEqual(all, { jids: ['alice@example.com', 'bob@example.com', 'carol@example.com', 'dave@example.com'], truncated: false });
      const two = await h.client.call<{ jids: string[]; truncated: boolean }>('AccountService', 'ListAccounts', { domain: 'example.com', limit: 2 });
      assert.deepEqual(two, { jids: ['alice@example.com', 'bob@example.com'], truncated: true });
      const count = await h.client.call<{ count: number }>('AccountService', 'CountAccounts', { domain: 'example.com' });
      assert.equal(count.count, 4);
      const none = await h.client.call<{ count: number }>('AccountService', 'CountAccounts', { domain: 'empty.example' });
      assert.equal(none.count, 0);
      await assert.rejects(h.client.call('AccountService', 'ListAccounts', { domain: 'bad domain' }), grpcError(status.INVALID_ARGUMENT));
      await assert.rejects(h.client.call('AccountService', 'ListAccounts', { domain: 'example.com', limit: 100_001 }), grpcError(status.INVALID_ARGUMENT, /limit/));
    });

    it('deletes an account with its data and ends its sessions everywhere', async () => {
      await h.storage.roster.update('example.com', 'dave', 'alice@example.com', () => ({
        jid: 'alice@example.com',
        groups: [],
        subscription: 'both',
        ask: false,
        pendingIn: false,
        approved: false,
      }));
      await h.storage.vcard.set('example.com', 'dave', '<vCard xmlns="vcard-temp"/>');
      const got: EdgeControl[] = [];
      const sub = h.nc.subscribe(EDGES_CONTROL_SUBJECT, { callback: (_e, m) => got.push(control.decode(m.data)) });
      await h.nc.flush();
      await h.client.call('AccountService', 'DeleteAccount', { jid: 'dave@example.com' });
      assert.equal(await h.storage.accounts.get('example.com', 'dave'), null);
      assert.equal((await h.storage.roster.get('example.com', 'dave')).items.length, 0);
      assert.equal(await h.storage.vcard.get('example.com', 'dave'), null);
      await eventually(() => got.length > 0, 3000, 'account-removed control message');
      sub.unsubscribe();
      assert.deepEqual(got[0], { op: 'account-removed', domain: 'example.com', username: 'dave' });
      await assert.rejects(h.client.call('AccountService', 'DeleteAccount', { jid: 'dave@example.com' }), grpcError(status.NOT_FOUND));
    });
  });

  describe('sessions', () => {
    let reg: EdgeSessionRegistry;
    before(async () => {
      await h.client.call('DomainService', 'AddDomain', { name: 'other.example' });
      reg = new EdgeSessionRegistry(await openSessionsBucket(h.nc, h.config.SESSION_TTL_SECONDS), h.config.SESSION_TTL_SECONDS);
      await reg.put({ jid: 'alice@example.com/phone', edge: 'edge-1', sid: 's1', priority: 5, available: true });
      await reg.put({ jid: 'alice@example.com/laptop', edge: 'edge-2', sid: 's2', priority: 0, available: false });
      await reg.put({ jid: 'zed@other.example/x', edge: 'edge-1', sid: 's3', priority: 0, available: true });
    });
    after(async () => {
      await reg.stop();
    });

    type S = { jid: string; edge: string; sid: string; priority: number; available: boolean; updatedAt: string };

    it('lists all, one domain, one user', async () => {
      const all = await h.client.call<{ sessions: S[] }>('SessionService', 'ListSessions', {});
      assert.deepEqual(all.sessions.map((s) => s.jid), ['alice@example.com/laptop', 'alice@example.com/phone', 'zed@other.example/x']);
      const phone = all.sessions.find((s) => s.sid === 's1')!;
      assert.equal(phone.edge, 'edge-1');
      assert.equal(phone.priority, 5);
      assert.equal(phone.available, true);
      assert.ok(Date.parse(phone.updatedAt) > Date.now() - 60_000);
      const other = await h.client.call<{ sessions: S[] }>('SessionService', 'ListSessions', { domain: 'other.example' });
      assert.deepEqual(other.sessions.map((s) => s.jid), ['zed@other.example/x']);
      const alice = await h.client.call<{ sessions: S[] }>('SessionService', 'ListSessions', { jid: 'alice@example.com' });
      assert.equal(alice.sessions.length, 2);
      await assert.rejects(h.client.call('SessionService', 'ListSessions', { jid: 'alice@example.com/phone' }), grpcError(status.INVALID_ARGUMENT));
    });

    it('kicks one session through its edge, with policy-violation by default', async () => {
      const got: Array<{ edge: string; c: EdgeControl }> = [];
      const subs = ['edge-1', 'edge-2'].map((edge) => h.nc.subscribe(edgeControlSubject(edge), { callback: (_e, m) => got.push({ edge, c: control.decode(m.data) }) }));
      await h.nc.flush();
      const res = await h.client.call<{ kicked: S[] }>('SessionService', 'KickSession', { jid: 'alice@example.com/phone' });
      assert.deepEqual(res.kicked.map((s) => s.jid), ['alice@example.com/phone']);
      await eventually(() => got.length === 1, 3000, 'kick');
      assert.deepEqual(got[0], { edge: 'edge-1', c: { op: 'kick', sid: 's1', condition: 'policy-violation' } });

      // A bare JID: every session of the user, with the condition and text asked for.
      got.length = 0;
      const both = await h.client.call<{ kicked: S[] }>('SessionService', 'KickSession', { jid: 'alice@example.com', condition: 'system-shutdown', text: 'maintenance' });
      assert.equal(both.kicked.length, 2);
      await eventually(() => got.length === 2, 3000, 'two kicks');
      assert.deepEqual(
        got.map((g) => [g.edge, g.c]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
        [
          ['edge-1', { op: 'kick', sid: 's1', condition: 'system-shutdown', text: 'maintenance' }],
          ['edge-2', { op: 'kick', sid: 's2', condition: 'system-shutdown', text: 'maintenance' }],
        ],
      );
      for (const s of subs) s.unsubscribe();
    });

    it('refuses unknown sessions, bad JIDs and conditions', async () => {
      await assert.rejects(h.client.call('SessionService', 'KickSession', { jid: 'alice@example.com/tablet' }), grpcError(status.NOT_FOUND, /no live session/));
      await assert.rejects(h.client.call('SessionService', 'KickSession', { jid: 'nobody@example.com' }), grpcError(status.NOT_FOUND));
      await assert.rejects(h.client.call('SessionService', 'KickSession', { jid: 'example.com' }), grpcError(status.INVALID_ARGUMENT, /localpart/));
      await assert.rejects(
        h.client.call('SessionService', 'KickSession', { jid: 'alice@example.com/phone', condition: 'host-unknown' }),
        grpcError(status.INVALID_ARGUMENT, /policy-violation, conflict, not-authorized, system-shutdown/),
      );
    });
  });

  describe('send', () => {
    it('publishes a message into the routing stream exactly as an edge would', async () => {
      const res = await h.client.call<{ id: string; sequence: number }>('StanzaService', 'SendMessage', {
        from: 'alice@example.com/phone',
        to: 'Bob@Example.com',
        type: 'chat',
        body: 'hi <there> & you',
        subject: 'greeting',
      });
      assert.match(res.id, /^admin-/);
      assert.ok(res.sequence > 0);
      const m = await routed('alice@example.com');
      assert.equal(m.seq, res.sequence);
      const env = decodeEnvelope(m.headers)!;
      assert.deepEqual({ ...env, ts: 0 }, { from: 'alice@example.com/phone', to: 'bob@example.com', kind: 'message', type: 'chat', ns: '', edge: '', sid: '', ts: 0 });
      assert.ok(Math.abs(env.ts - Date.now()) < 10_000);
      const el = parseXml(dec.decode(m.data));
      assert.equal(el.name, 'message');
      assert.equal(el.attrs.xmlns, 'jabber:client');
      assert.equal(el.attrs.from, 'alice@example.com/phone');
      assert.equal(el.attrs.to, 'bob@example.com');
      assert.equal(el.attrs.id, res.id);
      assert.equal(el.getChildText('body'), 'hi <there> & you');
      assert.equal(el.getChildText('subject'), 'greeting');
    });

    it('publishes presence: directed, and a broadcast addressed to the sender', async () => {
      await h.client.call('StanzaService', 'SendPresence', { from: 'carol@example.com', to: 'bob@example.com', type: 'subscribe', id: 'sub1' });
      let m = await routed('carol@example.com');
      let env = decodeEnvelope(m.headers)!;
      assert.equal(env.to, 'bob@example.com');
      assert.equal(env.type, 'subscribe');
      assert.equal(env.kind, 'presence');
      assert.equal(parseXml(dec.decode(m.data)).attrs.id, 'sub1');

      await h.client.call('StanzaService', 'SendPresence', { from: 'carol@example.com/desk', show: 'away', status: 'lunch', priority: 0 });
      m = await routed('carol@example.com');
      env = decodeEnvelope(m.headers)!;
      assert.equal(env.to, 'carol@example.com');
      assert.equal(env.type, '');
      const el = parseXml(dec.decode(m.data));
      assert.equal(el.attrs.to, undefined);
      assert.equal(el.getChildText('show'), 'away');
      assert.equal(el.getChildText('status'), 'lunch');
      assert.equal(el.getChildText('priority'), '0');
    });

    it('refuses bad senders, recipients, types and empty messages', async () => {
      const send = (req: object) => h.client.call('StanzaService', 'SendMessage', { from: 'alice@example.com', to: 'bob@example.com', body: 'x', ...req });
      await assert.rejects(send({ from: '' }), grpcError(status.INVALID_ARGUMENT, /from is required/));
      await assert.rejects(send({ to: 'a@@b' }), grpcError(status.INVALID_ARGUMENT, /to .* not a valid JID/));
      await assert.rejects(send({ type: 'error' }), grpcError(status.INVALID_ARGUMENT, /type must be one of/));
      await assert.rejects(send({ body: '' }), grpcError(status.INVALID_ARGUMENT, /body or a subject/));
      await assert.rejects(send({ body: 'x'.repeat(300_000) }), grpcError(status.INVALID_ARGUMENT, /larger than/));
      const presence = (req: object) => h.client.call('StanzaService', 'SendPresence', { from: 'alice@example.com', ...req });
      await assert.rejects(presence({ type: 'available' }), grpcError(status.INVALID_ARGUMENT, /type must be empty/));
      await assert.rejects(presence({ show: 'busy' }), grpcError(status.INVALID_ARGUMENT, /show must be/));
      await assert.rejects(presence({ type: 'unavailable', show: 'away' }), grpcError(status.INVALID_ARGUMENT, /only for available/));
      await assert.rejects(presence({ priority: 200 }), grpcError(status.INVALID_ARGUMENT, /-128\.\.127/));
    });
  });

  describe('roster', () => {
    type Item = { jid: string; name: string; groups: string[]; subscription: string };

    /**
     * Stands in for the roster service behind the router (not part of this app): takes roster sets off
     * the routing stream and applies them to storage, as the service would after routing.
     */
    function rosterStandIn(): { stop(): Promise<void>; seen: string[] } {
      let running = true;
      const seen: string[] = [];
      const loops = Array.from({ length: P }, async (_, p) => {
        const c = await h.nc.jetstream().consumers.get(ROUTE_STREAM, routeConsumer(p));
        while (running) {
          const m = await c.next({ expires: 1000 }).catch(() => null);
          if (!m) continue;
          m.ack();
          const env = decodeEnvelope(m.headers)!;
          if (env.kind !== 'iq' || env.ns !== 'jabber:iq:roster') continue;
          const iq = parseXml(dec.decode(m.data));
          seen.push(iq.toString());
          const item = iq.getChild('query', 'jabber:iq:roster')!.getChild('item')!;
          const [user, domain] = env.from.split('@');
          await h.storage.roster.update(domain, user, item.attrs.jid, (cur) =>
            item.attrs.subscription === 'remove'
              ? null
              : {
                  ...(cur ?? { subscription: 'none', ask: false, pendingIn: false, approved: false }),
                  jid: item.attrs.jid,
                  name: item.attrs.name || undefined,
                  groups: item.getChildren('group').map((g) => g.getText()),
                },
          );
        }
      });
      return {
        seen,
        async stop() {
          running = false;
          await Promise.all(loops);
        },
      };
    }

    it('gets a roster from storage', async () => {
      const r = await h.client.call<{ owner: string; version: number; items: Item[] }>('RosterService', 'GetRoster', { jid: 'alice@example.com' });
      assert.deepEqual(r, { owner: 'alice@example.com', version: 0, items: [] });
      await assert.rejects(h.client.call('RosterService', 'GetRoster', { jid: 'nobody@example.com' }), grpcError(status.NOT_FOUND, /does not exist/));
      await assert.rejects(h.client.call('RosterService', 'GetRoster', { jid: 'alice@example.com/x' }), grpcError(status.INVALID_ARGUMENT));
    });

    it('answers DEADLINE_EXCEEDED when no roster service applies the change', async () => {
      await assert.rejects(
        h.client.call('RosterService', 'AddRosterItem', { owner: 'alice@example.com', jid: 'bob@example.com' }),
        grpcError(status.DEADLINE_EXCEEDED, /roster service did not answer/),
      );
    });

    it('adds, updates and removes items through a roster set from the owner', async () => {
      const svc = rosterStandIn();
      try {
        const item = await h.client.call<Item>('RosterService', 'AddRosterItem', { owner: 'alice@example.com', jid: 'Bob@Example.com', name: 'Bob', groups: ['Friends', 'Work', 'Friends'] });
        assert.deepEqual({ ...item }, { jid: 'bob@example.com', name: 'Bob', groups: ['Friends', 'Work'], subscription: 'none', ask: false, pendingIn: false, approved: false });
        const iq = parseXml(svc.seen.at(-1)!);
        assert.equal(iq.attrs.type, 'set');
        assert.equal(iq.attrs.from, 'alice@example.com');
        const r = await h.client.call<{ version: number; items: Item[] }>('RosterService', 'GetRoster', { jid: 'alice@example.com' });
        assert.deepEqual(r.items.map((i) => i.jid), ['bob@example.com']);
        assert.ok(r.version > 0);

        const renamed = await h.client.call<Item>('RosterService', 'AddRosterItem', { owner: 'alice@example.com', jid: 'bob@example.com', name: 'Robert' });
        assert.equal(renamed.name, 'Robert');
        assert.deepEqual(renamed.groups, []);

        await h.client.call('RosterService', 'RemoveRosterItem', { owner: 'alice@example.com', jid: 'bob@example.com' });
        assert.equal(await h.storage.roster.getItem('example.com', 'alice', 'bob@example.com'), null);
        await assert.rejects(
          h.client.call('RosterService', 'RemoveRosterItem', { owner: 'alice@example.com', jid: 'bob@example.com' }),
          grpcError(status.NOT_FOUND, /not in the roster/),
        );
      } finally {
        await svc.stop();
      }
    });

    it('refuses unknown owners and bad items', async () => {
      const add = (req: object) => h.client.call('RosterService', 'AddRosterItem', { owner: 'alice@example.com', jid: 'bob@example.com', ...req });
      await assert.rejects(add({ owner: 'nobody@example.com' }), grpcError(status.NOT_FOUND));
      await assert.rejects(add({ jid: 'bob@example.com/phone' }), grpcError(status.INVALID_ARGUMENT, /bare JID/));
      await assert.rejects(add({ groups: [' '] }), grpcError(status.INVALID_ARGUMENT, /group/));
    });
  });

  describe('stats', () => {
    it('reports sessions and accounts per domain, queues and uptime', async () => {
      const reg = new EdgeSessionRegistry(await openSessionsBucket(h.nc, h.config.SESSION_TTL_SECONDS), h.config.SESSION_TTL_SECONDS);
      await reg.put({ jid: 'bob@example.com/a', edge: 'e', sid: 'b1', priority: 0, available: true });
      type Q = { name: string; present: boolean; messages: number; consumers: number };
      const s = await h.client.call<{
        sessions: number;
        domains: Array<{ domain: string; sessions: number; accounts: number; served: boolean }>;
        routing: Q;
        services: Q[];
        uptimeSeconds: number;
        startedAt: string;
        natsServerVersion: string;
        storage: string;
      }>('StatsService', 'GetStats', {});
      await reg.stop();
      assert.ok(s.sessions >= 1);
      const ex = s.domains.find((d) => d.domain === 'example.com')!;
      assert.equal(ex.accounts, 3);
      assert.ok(ex.sessions >= 1);
      assert.equal(ex.served, true);
      assert.equal(s.routing.name, 'routing');
      assert.equal(s.routing.present, true);
      assert.equal(s.routing.consumers, P);
      assert.deepEqual(s.services.map((q) => q.name), ['presence', 'roster', 'offline', 'federation']);
      const fed = s.services.find((q) => q.name === 'federation')!;
      assert.equal(fed.consumers, fed.present ? 16 : 0, 'the federation queue: one durable consumer per partition when it exists');
      assert.ok(s.uptimeSeconds > 0);
      assert.ok(Date.parse(s.startedAt) <= Date.now());
      assert.match(s.natsServerVersion, /^\d+\.\d+/);
      assert.equal(s.storage, 'jetstream');
    });
  });
});
