/**
 * The offline service against a real nats-server and the jetstream storage adapter (XEP-0160, RFC 6121
 * §8.5.2.2, XEP-0203): messages go in as the router hands them over, flushes as the presence service
 * asks for them; deliveries and bounces are read from the edges' delivery subjects.
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
  openSessionsBucket,
  partitionOf,
  ROUTE_STREAM,
  routeConsumer,
  ServiceOp,
} from '@kxmpp/bus';
import { loadConfig, serviceSchema } from '@kxmpp/config';
import { openStorage, Storage } from '@kxmpp/store';
import { createLogger, registry } from '@kxmpp/telemetry';
import { eventually, NatsServerHandle, startNatsServer } from '@kxmpp/testing';
import { Element, NS, parseXml } from '@kxmpp/xmpp-core';
import { RunningOffline, startOfflineService } from './offline.app';
import { notWorthStoring } from './offline.service';

const P = 4;
const RP = 4;
const ROMEO = 'romeo@example.com/orchard';
const dec = new TextDecoder();
const log = createLogger('offline', 'silent');

interface Delivery {
  edge: string;
  sids: string[];
  el: Element;
}

/** A nats-server, storage, an edge registry, the deliveries of edges e1/e2, and helpers to hand work over. */
async function rig() {
  const nats = await startNatsServer();
  const nc = await connect({ servers: nats.url });
  const storage = await openStorage({ kind: 'jetstream', nc });
  const deliverer = new Deliverer(nc, P);
  const reg = new EdgeSessionRegistry(await openSessionsBucket(nc, 30), 30);
  const got: Delivery[] = [];
  for (const edge of ['e1', 'e2']) {
    nc.subscribe(edgeDeliverySubject(edge), { callback: (_e, m) => got.push({ edge, sids: deliveryTargets(m.headers), el: parseXml(dec.decode(m.data)) }) });
  }
  let n = 0;
  const bareOf = (j: string) => j.split('/')[0];
  /** A chat message from romeo (on e1/r1 unless told) to `to`, as the router hands it to the offline service. */
  async function send(to: string, body: string, o: { edge?: string; sid?: string; raw?: string; type?: string } = {}): Promise<string> {
    const id = `m${++n}`;
    const type = o.type ?? 'chat';
    const stanza = o.raw ?? `<message xmlns="jabber:client" id="${id}" type="${type}" from="${ROMEO}" to="${to}"><body>${body}</body></message>`;
    await deliverer.toService('offline', bareOf(to), { from: ROMEO, to, kind: 'message', type, ns: '', edge: o.edge ?? 'e1', sid: o.sid ?? 'r1', ts: Date.now() }, stanza);
    return id;
  }
  /** What the presence service sends on initial presence with priority >= 0. */
  async function flush(full: string, edge: string, sid: string): Promise<void> {
    const op: ServiceOp = 'flush';
    await deliverer.toService('offline', bareOf(full), { from: full, to: bareOf(full), kind: 'presence', type: '', ns: '', edge, sid, ts: Date.now() }, '', op);
  }
  const to = (edge: string, sid: string) => got.filter((d) => d.edge === edge && d.sids.includes(sid));
  const count = (user: string) => storage.offline.count('example.com', user);
  return {
    nats,
    nc,
    storage,
    reg,
    got,
    send,
    flush,
    to,
    count,
    async close() {
      await storage.close();
      await nc.close();
      await nats.stop();
    },
  };
}

const condition = (el: Element) => el.getChild('error')?.getChildElements()[0]?.name;
const body = (el: Element) => el.getChildText('body');

describe('offline service (integration)', () => {
  let r: Awaited<ReturnType<typeof rig>>;
  const running: RunningOffline[] = [];
  const config = loadConfig(serviceSchema, {
    XMPP_DOMAINS: 'example.com',
    SERVICE_PARTITIONS: String(P),
    ROUTE_PARTITIONS: String(RP),
    ROUTE_STORAGE: 'memory',
    SERVICE_ID: 'o1',
    OFFLINE_MAX_MESSAGES: '5',
    LOG_LEVEL: 'silent',
  });
  const processed = () => running.reduce((s, x) => s + x.service.processed, 0);
  /** Resolves once `k` more work items than `from` have been acked. */
  const settled = (from: number, k: number) => eventually(() => processed() - from >= k, 10_000, `${k} work items`);

  before(async () => {
    r = await rig();
    // Two sessions on romeo's side so bounces have somewhere to go.
    await r.reg.claim({ jid: ROMEO, edge: 'e1', sid: 'r1', priority: 0, available: true });
    running.push(await startOfflineService(config, { nc: r.nc, storage: r.storage, log, serveHealth: false, flushBatch: 2 }));
  });

  after(async () => {
    for (const x of running) await x.stop();
    await r?.close();
  });

  it('stores a message for a user with no available session, and bounces nothing', async () => {
    const before = processed();
    await r.send('bob@example.com', 'one');
    await settled(before, 1);
    assert.equal(await r.count('bob'), 1);
    assert.equal(await running[0].service.count('bob@example.com'), 1);
    assert.equal(r.to('e1', 'r1').length, 0);
  });

  it('stores a message to a full JID without a session as to the bare JID', async () => {
    await r.send('bob@example.com/gone', 'two');
    await eventually(async () => (await r.count('bob')) === 2, 5000, 'stored');
  });

  it('does not store what only matters live (chat state alone, no-store hint, empty)', async () => {
    const before = processed();
    await r.send('bob@example.com', '', { raw: `<message xmlns="jabber:client" type="chat" from="${ROMEO}" to="bob@example.com"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>` });
    await r.send('bob@example.com', '', { raw: `<message xmlns="jabber:client" type="chat" from="${ROMEO}" to="bob@example.com"><body>x</body><no-store xmlns="urn:xmpp:hints"/></message>` });
    await r.send('bob@example.com', '', { raw: `<message xmlns="jabber:client" type="chat" from="${ROMEO}" to="bob@example.com"/>` });
    await settled(before, 3);
    assert.equal(await r.count('bob'), 2);
    assert.equal(r.to('e1', 'r1').length, 0, 'no bounce');
  });

  it('keeps chat states that come with a body, and anything with a store hint', () => {
    const rows: Array<[string, string | null]> = [
      [`<message><body>hi</body><active xmlns="http://jabber.org/protocol/chatstates"/></message>`, null],
      [`<message><paused xmlns="http://jabber.org/protocol/chatstates"/><store xmlns="urn:xmpp:hints"/></message>`, null],
      [`<message><received xmlns="urn:xmpp:receipts" id="x"/></message>`, null],
      [`<message><gone xmlns="http://jabber.org/protocol/chatstates"/></message>`, 'chat state only'],
    ];
    for (const [x, want] of rows) assert.equal(notWorthStoring(parseXml(x)), want, x);
  });

  it('bounces resource-constraint to the sender once the user has OFFLINE_MAX_MESSAGES stored', async () => {
    for (const b of ['three', 'four', 'five']) await r.send('bob@example.com', b);
    const id = await r.send('bob@example.com', 'six');
    const bounce = await eventually(() => r.to('e1', 'r1').find((d) => d.el.attrs.id === id), 10_000, 'bounce');
    assert.deepEqual([bounce.el.name, bounce.el.attrs.type, bounce.el.attrs.from, bounce.el.attrs.to, condition(bounce.el)], ['message', 'error', 'bob@example.com', ROMEO, 'resource-constraint']);
    assert.equal(body(bounce.el), 'six', 'the original payload comes back');
    assert.equal(await r.count('bob'), 5);
  });

  it('routes the bounce when the sender has no session to answer on', async () => {
    const id = await r.send('bob@example.com', 'seven', { edge: '', sid: '' });
    const c = await r.nc.jetstream().consumers.get(ROUTE_STREAM, routeConsumer(partitionOf('bob@example.com', RP)));
    const batch = await c.fetch({ max_messages: 1, expires: 5000 });
    let seen: { env: ReturnType<typeof decodeEnvelope>; el: Element } | undefined;
    for await (const m of batch) {
      seen = { env: decodeEnvelope(m.headers), el: parseXml(dec.decode(m.data)) };
      m.ack();
    }
    assert.ok(seen, 'a bounce in the routing stream');
    assert.deepEqual([seen.env?.from, seen.env?.to, seen.env?.kind, seen.env?.type], ['bob@example.com', ROMEO, 'message', 'error']);
    assert.deepEqual([seen.el.attrs.id, condition(seen.el)], [id, 'resource-constraint']);
  });

  it('keeps the messages when the flush names a session that has ended', async () => {
    const before = processed();
    await r.flush('bob@example.com/phone', 'e2', 'gone');
    await settled(before, 1);
    assert.equal(await r.count('bob'), 5);
    assert.equal(r.to('e2', 'gone').length, 0);
  });

  it('flushes in stored order with XEP-0203 delay stamps, original from/to kept, then deletes them', async () => {
    const stored = await r.storage.offline.list('example.com', 'bob');
    await r.reg.claim({ jid: 'bob@example.com/phone', edge: 'e2', sid: 'b1', priority: 0, available: true });
    await r.flush('bob@example.com/phone', 'e2', 'b1');
    const out = await eventually(() => (r.to('e2', 'b1').length === 5 ? r.to('e2', 'b1') : null), 10_000, 'five deliveries');
    assert.deepEqual(out.map((d) => body(d.el)), ['one', 'two', 'three', 'four', 'five']);
    for (const [i, d] of out.entries()) {
      const delay = d.el.getChild('delay', NS.DELAY);
      assert.deepEqual([delay?.attrs.from, delay?.attrs.stamp], ['example.com', stored[i].storedAt]);
      assert.match(delay?.attrs.stamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      assert.deepEqual([d.el.attrs.from, d.el.attrs.type], [ROMEO, 'chat']);
    }
    assert.equal(out[1].el.attrs.to, 'bob@example.com/gone', 'to as the sender addressed it');
    await eventually(async () => (await r.count('bob')) === 0, 5000, 'storage emptied');
  });

  it('delivers a message that arrives after the flush directly when the registry shows the session available', async () => {
    const before = processed();
    // The router decided "offline" from a registry that had not seen bob's presence yet.
    await r.send('bob@example.com', 'late');
    await settled(before, 1);
    const late = await eventually(() => r.to('e2', 'b1').find((d) => body(d.el) === 'late'), 5000, 'direct delivery');
    assert.equal(late.el.getChild('delay', NS.DELAY), undefined, 'no delay stamp: it was never stored');
    assert.equal(await r.count('bob'), 0);
  });

  it('delivers what is stored first, then the new message, when a session appeared with no flush yet', async () => {
    await r.send('carol@example.com', 'c1');
    await r.send('carol@example.com', 'c2');
    await eventually(async () => (await r.count('carol')) === 2, 5000, 'two stored');
    await r.reg.claim({ jid: 'carol@example.com/pc', edge: 'e2', sid: 'c1', priority: 0, available: true });
    await r.send('carol@example.com', 'c3');
    const out = await eventually(() => (r.to('e2', 'c1').length === 3 ? r.to('e2', 'c1') : null), 5000, 'three deliveries');
    assert.deepEqual(out.map((d) => body(d.el)), ['c1', 'c2', 'c3']);
    assert.deepEqual(out.map((d) => !!d.el.getChild('delay', NS.DELAY)), [true, true, false]);
    assert.equal(await r.count('carol'), 0);
    // The presence service's flush, now behind, finds nothing.
    const before = processed();
    await r.flush('carol@example.com/pc', 'e2', 'c1');
    await settled(before, 1);
    assert.equal(r.to('e2', 'c1').length, 3);
  });

  // SessionRegistryView.fetch (libs/bus) returns only the first key of a bare JID while it awaits a get
  // inside its `for await` over kv.keys(): with several sessions it misses all but one. Fixed there, this passes.
  it('delivers directly to the highest non-negative priority only (RFC 6121 §8.5.2.1.1)', async () => {
    await r.reg.claim({ jid: 'dave@example.com/a', edge: 'e1', sid: 'd1', priority: 5, available: true });
    await r.reg.claim({ jid: 'dave@example.com/b', edge: 'e2', sid: 'd2', priority: 5, available: true });
    await r.reg.claim({ jid: 'dave@example.com/c', edge: 'e2', sid: 'd3', priority: 1, available: true });
    await r.reg.claim({ jid: 'dave@example.com/d', edge: 'e2', sid: 'd4', priority: 9, available: false });
    const before = processed();
    await r.send('dave@example.com', 'hi dave');
    await settled(before, 1);
    await eventually(() => r.to('e1', 'd1').length === 1 && r.to('e2', 'd2').length === 1, 5000, 'two deliveries');
    assert.equal(r.to('e2', 'd3').length + r.to('e2', 'd4').length, 0);
  });

  it('only stores when every session is negative-priority', async () => {
    await r.reg.claim({ jid: 'erin@example.com/hidden', edge: 'e2', sid: 'x1', priority: -1, available: true });
    await r.send('erin@example.com', 'for later');
    await eventually(async () => (await r.count('erin')) === 1, 5000, 'stored');
    assert.equal(r.to('e2', 'x1').length, 0);
  });

  it('with two replicas on the queue, stores each message exactly once', async () => {
    running.push(await startOfflineService({ ...config, SERVICE_ID: 'o2' }, { nc: r.nc, storage: r.storage, log, serveHealth: false, flushBatch: 2 }));
    const before = processed();
    const users = Array.from({ length: 6 }, (_, k) => `u${k}`);
    for (let i = 0; i < 5; i++) for (const u of users) await r.send(`${u}@example.com`, `${u}-${i}`);
    await settled(before, 30);
    for (const u of users) {
      const msgs = await r.storage.offline.list('example.com', u);
      assert.deepEqual(msgs.map((m) => body(parseXml(m.stanza))), [0, 1, 2, 3, 4].map((i) => `${u}-${i}`), u);
    }
    assert.equal(processed() - before, 30);
    assert.equal(r.to('e1', 'r1').filter((d) => d.el.attrs.type === 'error' && body(d.el)?.startsWith('u')).length, 0, 'nothing bounced');
  });

  it('counts outcomes in the served registry', async () => {
    const text = await registry.metrics();
    for (const outcome of ['stored', 'direct', 'bounced', 'dropped']) assert.match(text, new RegExp(`xmpp_offline_messages_total\\{outcome="${outcome}"\\} \\d+`));
    assert.match(text, /xmpp_offline_flushes_total\{outcome="session_gone"\} 1/);
  });
});

describe('offline service with storage disabled (OFFLINE_MAX_MESSAGES=0)', () => {
  let r: Awaited<ReturnType<typeof rig>>;
  let svc: RunningOffline;

  before(async () => {
    r = await rig();
    const config = loadConfig(serviceSchema, { XMPP_DOMAINS: 'example.com', SERVICE_PARTITIONS: String(P), ROUTE_PARTITIONS: String(RP), SERVICE_ID: 'z', OFFLINE_MAX_MESSAGES: '0', LOG_LEVEL: 'silent' });
    svc = await startOfflineService(config, { nc: r.nc, storage: r.storage, log, serveHealth: false });
  });

  after(async () => {
    await svc?.stop();
    await r?.close();
  });

  it('bounces service-unavailable and stores nothing', async () => {
    const id = await r.send('bob@example.com', 'anyone?');
    const bounce = await eventually(() => r.to('e1', 'r1').find((d) => d.el.attrs.id === id), 10_000, 'bounce');
    assert.deepEqual([bounce.el.attrs.type, condition(bounce.el)], ['error', 'service-unavailable']);
    assert.equal(await r.count('bob'), 0);
  });
});
