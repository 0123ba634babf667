/** The router against a real nats-server: deliveries, priorities, bounces and kernel answers end to end on the bus. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, NatsConnection } from 'nats';
import {
  batchHeaders,
  deliveriesOf as deliveriesIn,
  edgeDeliverySubject,
  encodeBatch,
  headerBlock,
  EdgeSessionRegistry,
  encodeEnvelope,
  H,
  openSessionsBucket,
  partitionOf,
  routeSubject,
  SERVICE_STREAM,
  serviceSubject,
  H_REMOTE,
  S2S_OUT_STREAM,
  s2sOutSubject,
} from '@kxmpp/bus';
import { loadConfig, routerSchema } from '@kxmpp/config';
import { deriveAllCredentials, JetStreamAccountsRepository } from '@kxmpp/store';
import { createLogger } from '@kxmpp/telemetry';
import { eventually, NatsServerHandle, startNatsServer } from '@kxmpp/testing';
import { Element, NS, parseXml } from '@kxmpp/xmpp-core';
import { RunningRouter, startRouter } from './router.module';

const P = 4;
const enc = new TextEncoder();
const dec = new TextDecoder();

interface Delivery {
  edge: string;
  sids: string[];
  kind: string;
  data: string;
}

describe('router (integration)', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let router: RunningRouter;
  let regs: Record<string, EdgeSessionRegistry>;
  const got: Delivery[] = [];

  before(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    const accounts = await JetStreamAccountsRepository.open(nc);
    const scram = deriveAllCredentials('secret', 64);
    for (const u of ['romeo', 'juliet', 'bob']) await accounts.create({ domain: 'example.com', username: u, scram, createdAt: new Date().toISOString() });
    const kv = await openSessionsBucket(nc, 30);
    regs = { e1: new EdgeSessionRegistry(kv, 30), e2: new EdgeSessionRegistry(kv, 30) };
    await regs.e1.put({ jid: 'romeo@example.com/orchard', edge: 'e1', sid: 'r1', priority: 0, available: true });
    await regs.e2.put({ jid: 'juliet@example.com/balcony', edge: 'e2', sid: 'j1', priority: 5, available: true });
    await regs.e2.put({ jid: 'juliet@example.com/chamber', edge: 'e2', sid: 'j2', priority: 1, available: true });
    await regs.e1.put({ jid: 'juliet@example.com/garden', edge: 'e1', sid: 'j3', priority: 5, available: true });
    for (const edge of ['e1', 'e2']) {
      nc.subscribe(edgeDeliverySubject(edge), {
        callback: (_e, m) => {
          for (const d of deliveriesIn(m)) got.push({ edge, sids: d.targets, kind: d.kind, data: dec.decode(d.data) });
        },
      });
    }
    const config = loadConfig(routerSchema, { XMPP_DOMAINS: 'example.com', ROUTE_PARTITIONS: String(P), ROUTE_STORAGE: 'memory', ROUTER_ID: 'int', LOG_LEVEL: 'silent' });
    router = await startRouter({ ...config, NATS_URL: nats.url }, { serveHealth: false, logger: createLogger('router', 'silent') });
  });

  after(async () => {
    await router?.close();
    await nc?.close();
    await nats?.stop();
  });

  let n = 0;
  /** Publish as edge e1 would for romeo/orchard and return the stanza's id. */
  async function send(kind: string, type: string, to: string, inner = '', ns = '', headers = true): Promise<string> {
    const id = `t${++n}`;
    const xml = `<${kind} xmlns="jabber:client" id="${id}" from="romeo@example.com/orchard" to="${to}"${type ? ` type="${type}"` : ''}>${inner}</${kind}>`;
    const h = headers ? encodeEnvelope({ from: 'romeo@example.com/orchard', to, kind, type, ns, edge: 'e1', sid: 'r1', ts: Date.now() }) : undefined;
    await nc.jetstream().publish(routeSubject(partitionOf('romeo@example.com', P)), enc.encode(xml), { headers: h });
    return id;
  }
  const deliveriesOf = (id: string) => got.filter((d) => d.data.includes(`id="${id}"`));
  async function reply(id: string): Promise<Element> {
    const d = await eventually(() => deliveriesOf(id)[0], 10_000, `reply to ${id}`);
    assert.equal(d.edge, 'e1');
    assert.deepEqual(d.sids, ['r1']);
    return parseXml(d.data);
  }
  const condition = (el: Element) => el.getChild('error')?.getChildElements()[0]?.name;

  it('delivers to a full JID, bytes untouched', async () => {
    const id = await send('message', 'chat', 'juliet@example.com/chamber', '<body>hi &amp; bye</body>');
    const d = await eventually(() => deliveriesOf(id)[0], 10_000, 'delivery');
    assert.deepEqual([d.edge, d.sids, d.kind], ['e2', ['j2'], 'message']);
    assert.ok(d.data.includes('<body>hi &amp; bye</body>'));
  });

  it('delivers a chat to a bare JID to the highest priority on every edge, one publish per edge', async () => {
    await regs.e2.put({ jid: 'juliet@example.com/tower', edge: 'e2', sid: 'j4', priority: 5, available: true });
    const id = await send('message', 'chat', 'juliet@example.com', '<body>hello</body>');
    await eventually(() => deliveriesOf(id).length === 2, 10_000, 'two deliveries');
    const byEdge = Object.fromEntries(deliveriesOf(id).map((d) => [d.edge, [...d.sids].sort()]));
    assert.deepEqual(byEdge, { e1: ['j3'], e2: ['j1', 'j4'] });
  });

  it('bounces a message to an unknown user with service-unavailable', async () => {
    const id = await send('message', 'chat', 'nobody@example.com', '<body>anyone?</body>');
    const r = await reply(id);
    assert.equal(r.attrs.type, 'error');
    assert.equal(r.attrs.from, 'nobody@example.com');
    assert.equal(r.attrs.to, 'romeo@example.com/orchard');
    assert.equal(condition(r), 'service-unavailable');
  });

  it("hands a chat to an existing account without sessions to the offline service's partition of that account", async () => {
    const id = await send('message', 'chat', 'bob@example.com', '<body>hi bob</body>');
    const jsm = await nc.jetstreamManager();
    const subject = serviceSubject('offline', partitionOf('bob@example.com', 16));
    const m = await eventually(() => jsm.streams.getMessage(SERVICE_STREAM, { last_by_subj: subject }).catch(() => undefined), 10_000, 'work item for the offline service');
    assert.match(dec.decode(m.data), new RegExp(`id="${id}"|id='${id}'`));
    assert.equal(m.header.get(H.FROM), 'romeo@example.com/orchard');
    assert.equal(m.header.get(H.TO), 'bob@example.com');
    assert.equal(deliveriesOf(id).length, 0);
  });

  it('delivers to a session bound a moment ago (registry read-through)', async () => {
    await regs.e2.put({ jid: 'bob@example.com/new', edge: 'e2', sid: 'b1', priority: 0, available: true });
    const id = await send('message', 'chat', 'bob@example.com/new', '<body>welcome</body>');
    const d = await eventually(() => deliveriesOf(id)[0], 10_000, 'delivery to bob');
    assert.deepEqual(d.sids, ['b1']);
  });

  /** The last stanza queued for the federation service for a remote domain. */
  async function queuedForRemote(domain: string, id: string) {
    const jsm = await nc.jetstreamManager();
    const subject = s2sOutSubject(partitionOf(domain, 16));
    return eventually(
      async () => {
        const m = await jsm.streams.getMessage(S2S_OUT_STREAM, { last_by_subj: subject }).catch(() => undefined);
        return m && dec.decode(m.data).includes(id) ? m : undefined;
      },
      10_000,
      `federation queue item for ${domain}`,
    );
  }

  it('hands a stanza for a domain it does not serve to the federation queue of that domain', async () => {
    const id = await send('message', 'chat', 'someone@elsewhere.example', '<body>hi</body>');
    const m = await queuedForRemote('elsewhere.example', id);
    assert.equal(m.header.get(H_REMOTE), 'elsewhere.example');
    assert.equal(m.header.get(H.FROM), 'romeo@example.com/orchard');
    assert.equal(deliveriesOf(id).length, 0);
  });

  it('answers a remote sender through the federation queue (an inbound S2S stream is one-way)', async () => {
    const id = `t${++n}`;
    const from = 'alice@remote.example/laptop';
    const xml = `<iq xmlns="jabber:client" id="${id}" type="get" from="${from}" to="example.com"><ping xmlns="${NS.PING}"/></iq>`;
    const h = encodeEnvelope({ from, to: 'example.com', kind: 'iq', type: 'get', ns: NS.PING, edge: 'e1', sid: 's2s-in-1', ts: Date.now() });
    await nc.jetstream().publish(routeSubject(partitionOf('alice@remote.example', P)), enc.encode(xml), { headers: h });
    const m = await queuedForRemote('remote.example', id);
    const r = parseXml(dec.decode(m.data));
    assert.deepEqual([r.name, r.attrs.type, r.attrs.from, r.attrs.to], ['iq', 'result', 'example.com', from]);
    assert.equal(deliveriesOf(id).length, 0, 'nothing goes to the inbound stream');
  });

  it('answers a ping to the server', async () => {
    const id = await send('iq', 'get', 'example.com', `<ping xmlns="${NS.PING}"/>`, NS.PING);
    const r = await reply(id);
    assert.deepEqual([r.attrs.type, r.attrs.from, r.attrs.to], ['result', 'example.com', 'romeo@example.com/orchard']);
  });

  it('lists the server features in disco#info', async () => {
    const r = await reply(await send('iq', 'get', 'example.com', `<query xmlns="${NS.DISCO_INFO}"/>`, NS.DISCO_INFO));
    const q = r.getChild('query', NS.DISCO_INFO);
    const features = q?.getChildren('feature').map((f: Element) => f.attrs.var);
    for (const f of [NS.DISCO_INFO, NS.DISCO_ITEMS, NS.PING, NS.VERSION, NS.TIME]) assert.ok(features?.includes(f), f);
    assert.ok(!features?.includes(NS.REGISTER), 'registration is closed by default');
    assert.equal(q?.getChild('identity')?.attrs.category, 'server');
  });

  it('answers disco#info for an account, and not for a missing one', async () => {
    const r = await reply(await send('iq', 'get', 'juliet@example.com', `<query xmlns="${NS.DISCO_INFO}"/>`, NS.DISCO_INFO));
    assert.equal(r.getChild('query', NS.DISCO_INFO)?.getChild('identity')?.attrs.type, 'registered');
    const missing = await reply(await send('iq', 'get', 'nobody@example.com', `<query xmlns="${NS.DISCO_INFO}"/>`, NS.DISCO_INFO));
    assert.equal(condition(missing), 'service-unavailable');
  });

  it('drops a malformed envelope and keeps routing the partition', async () => {
    const bad = await send('message', 'chat', 'juliet@example.com/chamber', '<body>no headers</body>', '', false);
    const good = await send('message', 'chat', 'juliet@example.com/chamber', '<body>after</body>');
    await eventually(() => deliveriesOf(good).length, 10_000, 'delivery after a malformed one');
    assert.equal(deliveriesOf(bad).length, 0);
  });

  /** The stanza of send() as a batch item (headers and bytes), without publishing it. */
  function item(kind: string, type: string, to: string, inner = '', ns = ''): { id: string; header: Uint8Array | string; data: Uint8Array } {
    const id = `t${++n}`;
    const xml = `<${kind} xmlns="jabber:client" id="${id}" from="romeo@example.com/orchard" to="${to}"${type ? ` type="${type}"` : ''}>${inner}</${kind}>`;
    const h = encodeEnvelope({ from: 'romeo@example.com/orchard', to, kind, type, ns, edge: 'e1', sid: 'r1', ts: Date.now() });
    return { id, header: headerBlock(h), data: enc.encode(xml) };
  }
  const romeoPartition = () => routeSubject(partitionOf('romeo@example.com', P));

  it('routes every stanza of a batch in order, and sends one delivery message per edge', async () => {
    const items = [
      item('message', 'chat', 'juliet@example.com/chamber', '<body>b1</body>'),
      item('message', 'chat', 'nobody@example.com', '<body>bounce me</body>'),
      item('iq', 'get', 'example.com', `<ping xmlns="${NS.PING}"/>`, NS.PING),
      item('message', 'chat', 'juliet@example.com/balcony', '<body>b2</body>'),
      item('message', 'chat', 'juliet@example.com/garden', '<body>b3</body>'),
    ];
    const before = got.length;
    await nc.jetstream().publish(romeoPartition(), encodeBatch(items), { headers: batchHeaders(items.length) });
    await eventually(() => items.every((it) => deliveriesOf(it.id).length === 1), 10_000, 'every item routed');
    const mine = got.slice(before).filter((d) => items.some((it) => d.data.includes(`id="${it.id}"`)));
    // e2 gets b1 and b2 (j2, j1) in order; e1 gets the bounce, the ping result and b3, in order.
    const order = (edge: string) => mine.filter((d) => d.edge === edge).map((d) => items.findIndex((it) => d.data.includes(`id="${it.id}"`)));
    assert.deepEqual(order('e2'), [0, 3]);
    assert.deepEqual(order('e1'), [1, 2, 4]);
    assert.equal(condition(parseXml(mine.find((d) => d.data.includes(`id="${items[1].id}"`))!.data)), 'service-unavailable');
    assert.equal(parseXml(mine.find((d) => d.data.includes(`id="${items[2].id}"`))!.data).attrs.type, 'result');
  });

  it('drops a malformed batch (bad count, truncated) and keeps routing the partition', async () => {
    const a = item('message', 'chat', 'juliet@example.com/chamber', '<body>lost</body>');
    const b = item('message', 'chat', 'juliet@example.com/chamber', '<body>lost too</body>');
    const payload = encodeBatch([a, b]);
    await nc.jetstream().publish(romeoPartition(), payload, { headers: batchHeaders(3) });
    await nc.jetstream().publish(romeoPartition(), payload.subarray(0, payload.length - 3), { headers: batchHeaders(2) });
    await nc.jetstream().publish(romeoPartition(), payload, { headers: batchHeaders(0) });
    const good = await send('message', 'chat', 'juliet@example.com/chamber', '<body>after</body>');
    await eventually(() => deliveriesOf(good).length, 10_000, 'delivery after malformed batches');
    assert.equal(deliveriesOf(a.id).length, 0);
    assert.equal(deliveriesOf(b.id).length, 0);
  });

  it('counts what it routed', () => assert.ok(router.service.processed >= 10));
});
