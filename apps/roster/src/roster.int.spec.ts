/**
 * The roster service against a real nats-server and the jetstream storage adapter (RFC 6121 §2,
 * XEP-0237): work items go in as the router hands them over (Deliverer.toService), answers and pushes
 * are read from the edge's delivery subject, presence of a removal from the routing stream.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, NatsConnection } from 'nats';
import {
  decodeEnvelope,
  Deliverer,
  deliveryTargets,
  edgeDeliverySubject,
  EdgeSessionRegistry,
  H,
  openSessionsBucket,
  partitionOf,
  ROSTER_PUSH_KIND,
  ROUTE_STREAM,
  routeConsumer,
} from '@kxmpp/bus';
import { loadConfig, serviceSchema } from '@kxmpp/config';
import { ROSTER_NS } from '@kxmpp/im';
import { openStorage, RosterItem, Storage } from '@kxmpp/store';
import { createLogger, registry } from '@kxmpp/telemetry';
import { eventually, NatsServerHandle, startNatsServer } from '@kxmpp/testing';
import { Element, parseXml } from '@kxmpp/xmpp-core';
import { RunningRoster, startRosterService } from './roster.app';

const P = 4;
const RP = 4;
const JULIET = 'juliet@example.com';
const BALCONY = `${JULIET}/balcony`;
const dec = new TextDecoder();

interface Delivery {
  edge: string;
  sids: string[];
  kind: string;
  el: Element;
}

describe('roster service (integration)', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let storage: Storage;
  let deliverer: Deliverer;
  let reg: EdgeSessionRegistry;
  const running: RunningRoster[] = [];
  const got: Delivery[] = [];
  const config = loadConfig(serviceSchema, {
    XMPP_DOMAINS: 'example.com',
    SERVICE_PARTITIONS: String(P),
    ROUTE_PARTITIONS: String(RP),
    ROUTE_STORAGE: 'memory',
    SERVICE_ID: 'r1',
    LOG_LEVEL: 'silent',
  });
  const log = createLogger('roster', 'silent');

  before(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    storage = await openStorage({ kind: 'jetstream', nc });
    deliverer = new Deliverer(nc, P);
    reg = new EdgeSessionRegistry(await openSessionsBucket(nc, 30), 30);
    await reg.claim({ jid: BALCONY, edge: 'e1', sid: 's1', priority: 1, available: true });
    // Bound, never sent presence: still addressed by pushes (every bound session; its edge decides, §2.1.6).
    await reg.claim({ jid: `${JULIET}/chamber`, edge: 'e2', sid: 's2', priority: 0, available: false });
    for (const edge of ['e1', 'e2']) {
      nc.subscribe(edgeDeliverySubject(edge), {
        callback: (_e, m) => got.push({ edge, sids: deliveryTargets(m.headers), kind: m.headers?.get(H.KIND) ?? '', el: parseXml(dec.decode(m.data)) }),
      });
    }
    running.push(await startRosterService(config, { nc, storage, log, serveHealth: false }));
  });

  after(async () => {
    for (const r of running) await r.stop();
    await storage?.close();
    await nc?.close();
    await nats?.stop();
  });

  let n = 0;
  /** A roster iq from `from` (default juliet/balcony on e1/s1), handed over as the router does. */
  async function send(type: 'get' | 'set', inner: string, o: { from?: string; to?: string; sid?: string; ver?: string; raw?: string } = {}): Promise<string> {
    const id = `q${++n}`;
    const from = o.from ?? BALCONY;
    const bare = from.split('/')[0];
    const toAttr = o.to ? ` to="${o.to}"` : '';
    const ver = o.ver !== undefined ? ` ver="${o.ver}"` : '';
    const stanza = o.raw ?? `<iq xmlns="jabber:client" id="${id}" type="${type}" from="${from}"${toAttr}><query xmlns="${ROSTER_NS}"${ver}>${inner}</query></iq>`;
    await deliverer.toService('roster', bare, { from, to: o.to ?? bare, kind: 'iq', type, ns: ROSTER_NS, edge: 'e1', sid: o.sid ?? 's1', ts: Date.now() }, stanza);
    return id;
  }
  const answersTo = (id: string) => got.filter((d) => d.el.attrs.id === id);
  async function reply(id: string): Promise<Element> {
    const d = await eventually(() => answersTo(id)[0], 10_000, `reply to ${id}`);
    assert.deepEqual([d.edge, d.sids], ['e1', ['s1']]);
    return d.el;
  }
  const condition = (el: Element) => el.getChild('error')?.getChildElements()[0]?.name;
  const pushes = (ver: string) => got.filter((d) => d.el.attrs.type === 'set' && d.el.getChild('query', ROSTER_NS)?.attrs.ver === ver);
  const itemOf = (el: Element) => el.getChild('query', ROSTER_NS)?.getChild('item');
  const lastVer = () => {
    const vers = got.filter((d) => d.el.attrs.type === 'set').map((d) => Number(d.el.getChild('query', ROSTER_NS)?.attrs.ver));
    return Math.max(0, ...vers);
  };
  async function seed(jid: string, over: Partial<RosterItem>, owner = 'juliet'): Promise<void> {
    await storage.roster.update('example.com', owner, jid, () => ({ jid, groups: [], subscription: 'none', ask: false, pendingIn: false, approved: false, ...over }));
  }

  /** Presence the service published into the routing stream (juliet's partition), in order. */
  async function routed(expect: number): Promise<Array<{ type: string; from: string; to: string; xml: Element }>> {
    const c = await nc.jetstream().consumers.get(ROUTE_STREAM, routeConsumer(partitionOf(JULIET, RP)));
    const out: Array<{ type: string; from: string; to: string; xml: Element }> = [];
    // One more fetch than expected, short, to see that nothing else came.
    for (let i = 0; i <= expect; i++) {
      const batch = await c.fetch({ max_messages: 1, expires: i < expect ? 5000 : 1000 });
      for await (const m of batch) {
        const env = decodeEnvelope(m.headers)!;
        out.push({ type: env.type, from: env.from, to: env.to, xml: parseXml(dec.decode(m.data)) });
        m.ack();
      }
    }
    return out;
  }

  it('answers a get on an empty roster with an empty query and a ver', async () => {
    const r = await reply(await send('get', ''));
    assert.equal(r.attrs.type, 'result');
    assert.equal(r.attrs.to, BALCONY);
    assert.equal(r.attrs.from, undefined, 'no from when the request had no to');
    const q = r.getChild('query', ROSTER_NS);
    assert.ok(q);
    assert.equal(q.getChildElements().length, 0);
    assert.match(q.attrs.ver, /^[0-9]+$/);
  });

  it('adds an item: result, then a push with the new ver to every bound session (§2.3.2)', async () => {
    const id = await send('set', `<item jid="Nurse@Example.com" name="Nurse"><group>Servants</group></item>`);
    const r = await reply(id);
    assert.equal(r.attrs.type, 'result');
    assert.equal(answersTo(id)[0].kind, 'iq', 'the result is an iq for the requester whatever its interest');
    assert.equal(r.getChildElements().length, 0);
    const ver = String(lastVer() || (await eventually(() => lastVer(), 5000, 'a push')));
    await eventually(() => pushes(ver).length === 2, 5000, 'two pushes');
    const ps = pushes(ver);
    assert.deepEqual(ps.map((p) => [p.edge, p.sids[0], p.el.attrs.to, p.el.attrs.from]).sort(), [
      ['e1', 's1', BALCONY, JULIET],
      ['e2', 's2', `${JULIET}/chamber`, JULIET],
    ]);
    assert.equal(itemOf(ps[0].el)?.toString(), `<item jid="nurse@example.com" name="Nurse" subscription="none"><group>Servants</group></item>`);
    // Pushes carry their own kind: each edge writes them only to sessions that requested the roster.
    assert.deepEqual(ps.map((p) => p.kind), [ROSTER_PUSH_KIND, ROSTER_PUSH_KIND]);
    // The result comes before the push on the requester's session.
    const order = got.filter((d) => d.edge === 'e1').map((d) => d.el.attrs.id);
    assert.ok(order.indexOf(id) < order.indexOf(ps.find((p) => p.edge === 'e1')!.el.attrs.id));
  });

  it('ignores a subscription attribute other than remove (§2.1.2.5)', async () => {
    await reply(await send('set', `<item jid="tybalt@example.com" subscription="both" ask="subscribe" approved="true"/>`));
    const item = await storage.roster.getItem('example.com', 'juliet', 'tybalt@example.com');
    assert.deepEqual([item?.subscription, item?.ask, item?.approved], ['none', false, false]);
  });

  it('updates name and groups and keeps the subscription state (§2.4)', async () => {
    await seed('romeo@example.net', { subscription: 'both', name: 'R', groups: ['Old'], approved: false });
    const before = lastVer();
    await reply(await send('set', `<item jid="romeo@example.net" name="Romeo"><group>Friends</group><group>Lovers</group></item>`));
    const ver = await eventually(() => (lastVer() > before ? String(lastVer()) : null), 5000, 'a push');
    await eventually(() => pushes(ver).length === 2, 5000, 'two pushes');
    assert.equal(itemOf(pushes(ver)[0].el)?.toString(), `<item jid="romeo@example.net" name="Romeo" subscription="both"><group>Friends</group><group>Lovers</group></item>`);
    const stored = await storage.roster.getItem('example.com', 'juliet', 'romeo@example.net');
    assert.deepEqual([stored?.subscription, stored?.name, stored?.groups], ['both', 'Romeo', ['Friends', 'Lovers']]);
  });

  it('answers a set that changes nothing with a result and no push', async () => {
    const before = (await storage.roster.get('example.com', 'juliet')).version;
    const pushCount = got.filter((d) => d.el.attrs.type === 'set').length;
    const r = await reply(await send('set', `<item jid="romeo@example.net" name="Romeo"><group>Friends</group><group>Lovers</group></item>`));
    assert.equal(r.attrs.type, 'result');
    assert.equal((await storage.roster.get('example.com', 'juliet')).version, before);
    // A later request's answer proves the first one's effects are all out.
    await reply(await send('get', '', { ver: String(before) }));
    assert.equal(got.filter((d) => d.el.attrs.type === 'set').length, pushCount);
  });

  it('versioning: an empty result for the current ver, the whole roster for any other (§2.6.3)', async () => {
    const cur = (await storage.roster.get('example.com', 'juliet')).version;
    const same = await reply(await send('get', '', { ver: String(cur) }));
    assert.equal(same.attrs.type, 'result');
    assert.equal(same.getChildElements().length, 0);
    for (const ver of [String(cur - 1), '', undefined]) {
      const full = await reply(await send('get', '', { ver }));
      const q = full.getChild('query', ROSTER_NS)!;
      assert.equal(q.attrs.ver, String(cur));
      assert.deepEqual(q.getChildren('item').map((i: Element) => i.attrs.jid).sort(), ['nurse@example.com', 'romeo@example.net', 'tybalt@example.com']);
    }
  });

  it('hides a stranger’s pending subscription request from the roster until the user adds them', async () => {
    await seed('stranger@example.org', { pendingIn: true });
    const q = (await reply(await send('get', ''))).getChild('query', ROSTER_NS)!;
    assert.ok(!q.getChildren('item').some((i: Element) => i.attrs.jid === 'stranger@example.org'));
    await reply(await send('set', `<item jid="stranger@example.org" name="Who?"/>`));
    const q2 = (await reply(await send('get', ''))).getChild('query', ROSTER_NS)!;
    const item = q2.getChildren('item').find((i: Element) => i.attrs.jid === 'stranger@example.org');
    assert.equal(item?.toString(), `<item jid="stranger@example.org" name="Who?" subscription="none"/>`);
    assert.equal((await storage.roster.getItem('example.com', 'juliet', 'stranger@example.org'))?.pendingIn, true, 'the request stays pending');
  });

  describe('remove (§2.5.2): push, and presence to the contact through routing', () => {
    const rows: Array<[string, Partial<RosterItem>, string[]]> = [
      ['none', {}, []],
      ['none + pending out', { ask: true }, ['unsubscribe']],
      ['none + pending in', { pendingIn: true, name: 'x' }, ['unsubscribed']],
      ['none + pending out + in', { pendingIn: true, ask: true }, ['unsubscribed', 'unsubscribe']],
      ['to', { subscription: 'to' }, ['unsubscribe']],
      ['to + pending in', { subscription: 'to', pendingIn: true }, ['unsubscribed', 'unsubscribe']],
      ['from', { subscription: 'from' }, ['unsubscribed']],
      ['from + pending out', { subscription: 'from', ask: true }, ['unsubscribed', 'unsubscribe']],
      ['both', { subscription: 'both' }, ['unsubscribed', 'unsubscribe']],
    ];
    let i = 0;
    for (const [state, over, want] of rows) {
      it(`${state} -> ${want.join(', ') || 'no presence'}`, async () => {
        const contact = `c${++i}@example.net`;
        await seed(contact, over);
        const id = await send('set', `<item jid="${contact}" subscription="remove"/>`);
        assert.equal((await reply(id)).attrs.type, 'result');
        assert.equal(await storage.roster.getItem('example.com', 'juliet', contact), null);
        const ps = await eventually(() => {
          const list = got.filter((d) => d.el.attrs.type === 'set' && itemOf(d.el)?.attrs.jid === contact);
          return list.length === 2 ? list : null;
        }, 5000, 'removal pushes');
        assert.equal(itemOf(ps[0].el)?.toString(), `<item jid="${contact}" subscription="remove"/>`);
        assert.equal(ps[0].el.getChild('query', ROSTER_NS)?.attrs.ver, String((await storage.roster.get('example.com', 'juliet')).version));
        const out = await routed(want.length);
        assert.deepEqual(out.map((p) => p.type), want);
        for (const p of out) {
          assert.deepEqual([p.from, p.to, p.xml.attrs.from, p.xml.attrs.to, p.xml.attrs.type, p.xml.name], [JULIET, contact, JULIET, contact, p.type, 'presence']);
        }
      });
    }

    it('refuses to remove an item that does not exist with item-not-found', async () => {
      const r = await reply(await send('set', `<item jid="ghost@example.net" subscription="remove"/>`));
      assert.equal(condition(r), 'item-not-found');
      assert.deepEqual(await routed(0), []);
    });
  });

  describe('errors (§2.3.3, §2.5.3, §2.1.5)', () => {
    const rows: Array<[string, 'get' | 'set', string, Record<string, string>, string]> = [
      ['a get of another account’s roster', 'get', '', { to: 'romeo@example.com' }, 'forbidden'],
      ['a set of another account’s roster', 'set', `<item jid="a@example.net"/>`, { to: 'romeo@example.com' }, 'forbidden'],
      ['a get addressed to the server', 'get', '', { to: 'example.com' }, 'forbidden'],
      ['no item', 'set', '', {}, 'bad-request'],
      ['two items', 'set', `<item jid="a@example.net"/><item jid="b@example.net"/>`, {}, 'bad-request'],
      ['an item without jid', 'set', `<item name="x"/>`, {}, 'bad-request'],
      ['a malformed jid', 'set', `<item jid="a@b@example.net"/>`, {}, 'jid-malformed'],
      ['a full JID', 'set', `<item jid="a@example.net/res"/>`, {}, 'bad-request'],
      ['duplicate groups', 'set', `<item jid="a@example.net"><group>G</group><group>G</group></item>`, {}, 'bad-request'],
      ['an empty group', 'set', `<item jid="a@example.net"><group></group></item>`, {}, 'not-acceptable'],
      ['a name over 1023 bytes', 'set', `<item jid="a@example.net" name="${'n'.repeat(1024)}"/>`, {}, 'not-acceptable'],
      ['a group over 1023 bytes', 'set', `<item jid="a@example.net"><group>${'g'.repeat(1024)}</group></item>`, {}, 'not-acceptable'],
      ['the account itself', 'set', `<item jid="juliet@example.com"/>`, {}, 'not-allowed'],
    ];
    for (const [what, type, inner, o, cond] of rows) {
      it(`${what} -> ${cond}`, async () => {
        const id = await send(type, inner, o);
        const r = await reply(id);
        assert.deepEqual([r.attrs.type, r.attrs.to, condition(r)], ['error', BALCONY, cond]);
        assert.equal(r.attrs.from, o.to, 'from is the request’s to');
        assert.ok(r.getChild('query', ROSTER_NS), 'the request payload comes back');
      });
    }

    it('changed nothing while refusing', async () => {
      assert.equal(await storage.roster.getItem('example.com', 'juliet', 'a@example.net'), null);
      assert.equal(await storage.roster.getItem('example.com', 'romeo', 'a@example.net'), null);
    });

    it('drops iq results and errors (answers to pushes) without answering', async () => {
      const id = await send('get', '', { raw: `<iq xmlns="jabber:client" id="push-abc" type="result" from="${BALCONY}"/>` });
      const next = await send('get', '');
      await reply(next);
      assert.equal(answersTo(id).length, 0);
      assert.equal(answersTo('push-abc').length, 0);
    });
  });

  it('lands concurrent changes of different items: its own sets and another writer’s', async () => {
    const ids: string[] = [];
    const other: Promise<unknown>[] = [];
    for (let k = 0; k < 10; k++) {
      ids.push(await send('set', `<item jid="set${k}@example.net"/>`));
      // The presence service writing the same roster at the same time.
      other.push(storage.roster.update('example.com', 'juliet', `presence${k}@example.net`, () => ({ jid: `presence${k}@example.net`, groups: [], subscription: 'to', ask: false, pendingIn: false, approved: false })));
    }
    await Promise.all(other);
    for (const id of ids) assert.equal((await reply(id)).attrs.type, 'result');
    const snap = await storage.roster.get('example.com', 'juliet');
    const jids = new Set(snap.items.map((i) => i.jid));
    for (let k = 0; k < 10; k++) {
      assert.ok(jids.has(`set${k}@example.net`), `set${k}`);
      assert.ok(jids.has(`presence${k}@example.net`), `presence${k}`);
    }
    const vers = new Set(ids.map((_, k) => got.find((d) => d.el.attrs.type === 'set' && itemOf(d.el)?.attrs.jid === `set${k}@example.net`)?.el.getChild('query', ROSTER_NS)?.attrs.ver));
    assert.equal(vers.size, 10, 'each change has its own version');
  });

  it('with two replicas on the queue, handles each request exactly once', async () => {
    running.push(await startRosterService({ ...config, SERVICE_ID: 'r2' }, { nc, storage, log, serveHealth: false }));
    const before = running.reduce((s, r) => s + r.service.processed, 0);
    const ids: string[] = [];
    const owners = Array.from({ length: 8 }, (_, k) => `user${k}@example.com`);
    for (let k = 0; k < 40; k++) {
      const owner = owners[k % owners.length];
      ids.push(await send('set', `<item jid="contact${k}@example.net"/>`, { from: `${owner}/phone` }));
    }
    for (const id of ids) await eventually(() => answersTo(id).length > 0, 10_000, `answer to ${id}`);
    await eventually(() => running.reduce((s, r) => s + r.service.processed, 0) - before === 40, 10_000, 'all acked');
    for (const id of ids) assert.equal(answersTo(id).length, 1, `one answer to ${id}`);
    for (const [k, owner] of owners.entries()) {
      const snap = await storage.roster.get('example.com', owner.split('@')[0]);
      assert.equal(snap.items.length, 5, owner);
      assert.ok(snap.items.every((it) => Number(it.jid.slice(7).split('@')[0]) % owners.length === k));
    }
    assert.equal(running.reduce((s, r) => s + r.service.processed, 0) - before, 40);
  });

  it('counts requests in the served registry', async () => {
    const text = await registry.metrics();
    assert.match(text, /xmpp_roster_requests_total\{type="set",outcome="result"\} \d+/);
    assert.match(text, /xmpp_roster_errors_total\{condition="forbidden"\} \d+/);
  });
});
