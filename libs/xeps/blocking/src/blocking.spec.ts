/**
 * XEP-0191 blocklist IQs through the kernel, on the real JetStream storage of a real nats-server: the
 * replies, the pushes the kernel is handed, the change notices on the real NATS connection, and the
 * presence side effects queued for the presence service on the real JetStream work queue.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { Element, Jid, NS, parseXml } from '@kxmpp/xmpp-core';
import { Kernel } from '@kxmpp/kernel';
import { openStorage, type Storage } from '@kxmpp/store';
import { BLOCKLIST_CHANGED_SUBJECT, decodeEnvelope, ensureWorkQueue, partitionOf, SERVICE_STREAM, serviceConsumer, serviceOp, serviceQueueSpec } from '@kxmpp/bus';
import { eventually, lazyNatsServer } from '@kxmpp/testing';
import { blockingModule } from './blocking.module';
import { BlocklistChange, decodeBlocklistChange, NS_BLOCKING } from './blocking.protocol';

const server = lazyNatsServer();
let nc: NatsConnection;
let storage: Storage;
let kernel: Kernel;
let pushes: Array<{ bare: string; stanza: Element }> = [];
let notices: BlocklistChange[] = [];
let seq = 0;
/** A fresh user per test (full JID): tests never see each other's lists. */
const fresh = () => Jid.parse(`juliet${++seq}@capulet.example/chamber`);

before(async () => {
  nc = await connect({ servers: await server.url() });
  storage = await openStorage({ kind: 'jetstream', nc });
  kernel = new Kernel([blockingModule({ repo: storage.blocklist, nc, maxItems: 3 })], { push: (bare, stanza) => pushes.push({ bare, stanza }) });
  nc.subscribe(BLOCKLIST_CHANGED_SUBJECT, {
    callback: (err, msg) => {
      const c = err ? null : decodeBlocklistChange(msg.data);
      if (c) notices.push(c);
    },
  });
  await nc.flush();
});
beforeEach(() => {
  pushes = [];
  notices = [];
});
after(async () => {
  await storage?.close();
  await nc?.drain();
  await server.stop();
});

/** No 'to' unless given: the router then addresses the IQ to the sender's bare JID. */
async function ask(from: Jid, type: 'get' | 'set', payload: string, to?: string): Promise<Element> {
  const t = to ? Jid.parse(to) : from.bare();
  const stanza = parseXml(`<iq xmlns="jabber:client" type="${type}" id="b1">${payload}</iq>`);
  const r = await kernel.handleIq({ stanza, from, to: t, target: t.local ? 'account' : 'server' });
  assert.ok(r);
  return r;
}
const condition = (r: Element) => (r.attrs.type === 'error' ? r.getChild('error')?.getChildElements()[0]?.name : 'result');
const items = (el: Element | undefined) => el?.getChildren('item').map((i) => i.attrs.jid as string);
const block = (...jids: string[]) => `<block xmlns="${NS_BLOCKING}">${jids.map((j) => `<item jid="${j}"/>`).join('')}</block>`;
const unblock = (...jids: string[]) => `<unblock xmlns="${NS_BLOCKING}">${jids.map((j) => `<item jid="${j}"/>`).join('')}</unblock>`;
const GET = `<blocklist xmlns="${NS_BLOCKING}"/>`;
const listOf = async (u: Jid) => items((await ask(u, 'get', GET)).getChild('blocklist', NS_BLOCKING));
/** Waits for the notices the test expects, then checks that no more came. */
async function noticesFor(u: Jid, count: number): Promise<BlocklistChange[]> {
  const mine = () => notices.filter((n) => n.username === u.local);
  await eventually(() => mine().length >= count, 5000, `${count} notice(s)`);
  await nc.flush();
  return mine();
}

describe('XEP-0191 blocking command', () => {
  it('an empty blocklist is an empty <blocklist/> (§3.2)', async () => {
    const r = await ask(fresh(), 'get', GET);
    assert.equal(condition(r), 'result');
    assert.equal(r.getChild('blocklist', NS_BLOCKING)?.toString(), `<blocklist xmlns="${NS_BLOCKING}"/>`);
  });

  it('block: result, normalized JIDs in the list, a push to the user, a notice (§3.3)', async () => {
    const u = fresh();
    const r = await ask(u, 'set', block('Romeo@Montague.example', 'iago@shakespeare.example/lurk'));
    assert.equal(r.toString(), `<iq xmlns="jabber:client" type="result" id="b1" from="${u.bare()}" to="${u}"/>`);
    assert.deepEqual(await listOf(u), ['romeo@montague.example', 'iago@shakespeare.example/lurk']);

    assert.equal(pushes.length, 1);
    const { bare, stanza } = pushes[0];
    assert.equal(bare, u.bare().toString());
    assert.equal(stanza.attrs.type, 'set');
    assert.equal(stanza.attrs.xmlns, NS.CLIENT);
    assert.equal(stanza.attrs.from, undefined);
    assert.match(stanza.attrs.id, /^push-/);
    assert.deepEqual(items(stanza.getChild('block', NS_BLOCKING)), ['romeo@montague.example', 'iago@shakespeare.example/lurk']);

    const [n] = await noticesFor(u, 1);
    assert.deepEqual(n, { domain: 'capulet.example', username: u.local, blocked: ['romeo@montague.example', 'iago@shakespeare.example/lurk'], unblocked: [] });
  });

  it('every push has its own id; blocking a JID again keeps it once and notices no new JID', async () => {
    const u = fresh();
    await ask(u, 'set', block('romeo@montague.example'));
    await ask(u, 'set', block('romeo@montague.example', 'tybalt@capulet.example'));
    assert.equal(pushes.length, 2);
    assert.notEqual(pushes[0].stanza.attrs.id, pushes[1].stanza.attrs.id);
    assert.notEqual(pushes[0].stanza.attrs.id, 'b1');
    assert.deepEqual(await listOf(u), ['romeo@montague.example', 'tybalt@capulet.example']);
    const ns = await noticesFor(u, 2);
    assert.deepEqual(ns.map((n) => n.blocked), [['romeo@montague.example'], ['tybalt@capulet.example']]);
  });

  it('unblock some: removed from the list, pushed, noticed with what was really blocked (§3.4)', async () => {
    const u = fresh();
    await ask(u, 'set', block('romeo@montague.example', 'capulet.example', 'nurse@capulet.example'));
    pushes = [];
    const r = await ask(u, 'set', unblock('romeo@montague.example', 'CAPULET.example', 'never@blocked.example'));
    assert.equal(condition(r), 'result');
    assert.deepEqual(await listOf(u), ['nurse@capulet.example']);
    assert.equal(pushes.length, 1);
    assert.deepEqual(items(pushes[0].stanza.getChild('unblock', NS_BLOCKING)), ['romeo@montague.example', 'capulet.example', 'never@blocked.example']);
    const ns = await noticesFor(u, 2);
    assert.deepEqual(ns[1].unblocked, ['romeo@montague.example', 'capulet.example']);
  });

  it('unblock with no items unblocks all: an empty <unblock/> push, the old list in the notice (§3.5)', async () => {
    const u = fresh();
    await ask(u, 'set', block('romeo@montague.example', 'iago@shakespeare.example'));
    pushes = [];
    assert.equal(condition(await ask(u, 'set', unblock())), 'result');
    assert.deepEqual(await listOf(u), []);
    assert.equal(pushes.length, 1);
    assert.equal(pushes[0].stanza.getChild('unblock', NS_BLOCKING)?.toString(), `<unblock xmlns="${NS_BLOCKING}"/>`);
    const ns = await noticesFor(u, 2);
    assert.deepEqual(ns[1], { domain: 'capulet.example', username: u.local, blocked: [], unblocked: ['romeo@montague.example', 'iago@shakespeare.example'] });
  });

  const errors: Array<[string, 'get' | 'set', string, string | undefined, string]> = [
    // [case, type, payload, to (undefined: own account), condition]
    ['block with no item: bad-request (§3.3)', 'set', block(), undefined, 'bad-request'],
    ['block of a malformed JID: jid-malformed', 'set', block('romeo@montague.example', 'bad@@jid'), undefined, 'jid-malformed'],
    ['block of a JID with an empty resource: jid-malformed', 'set', block('romeo@montague.example/'), undefined, 'jid-malformed'],
    ['unblock of a malformed JID: jid-malformed', 'set', unblock('a b@c.example'), undefined, 'jid-malformed'],
    ['an item without jid: bad-request', 'set', `<block xmlns="${NS_BLOCKING}"><item/></block>`, undefined, 'bad-request'],
    ['blocking oneself: not-acceptable', 'set', block('romeo@montague.example', 'SELF'), undefined, 'not-acceptable'],
    ['blocking one of one\'s own resources: not-acceptable', 'set', block('SELF/other'), undefined, 'not-acceptable'],
    ['more JIDs than the list may hold: policy-violation', 'set', block('a@x.example', 'b@x.example', 'c@x.example', 'd@x.example'), undefined, 'policy-violation'],
    ['the blocklist of another account: forbidden', 'get', GET, 'romeo@montague.example', 'forbidden'],
    ['block on another account: forbidden', 'set', block('tybalt@capulet.example'), 'romeo@montague.example', 'forbidden'],
    ['unblock on another account: forbidden', 'set', unblock(), 'romeo@montague.example', 'forbidden'],
    ['a blocklist get to the server: service-unavailable (the account answers)', 'get', GET, 'capulet.example', 'service-unavailable'],
  ];
  for (const [name, type, payload, to, expected] of errors) {
    it(`${name}; nothing stored, pushed or noticed`, async () => {
      const u = fresh();
      const r = await ask(u, type, payload.replaceAll('SELF', u.bare().toString()), to);
      assert.equal(condition(r), expected);
      assert.deepEqual(await listOf(u), []);
      assert.equal(pushes.length, 0);
      // A notice for u published before the get above would have arrived by now (one connection, in order).
      await nc.flush();
      assert.equal(notices.filter((n) => n.username === u.local).length, 0);
    });
  }

  it('the list limit counts JIDs already blocked', async () => {
    const u = fresh();
    assert.equal(condition(await ask(u, 'set', block('a@x.example', 'b@x.example'))), 'result');
    assert.equal(condition(await ask(u, 'set', block('a@x.example', 'c@x.example'))), 'result');
    assert.equal(condition(await ask(u, 'set', block('d@x.example'))), 'policy-violation');
    assert.deepEqual(await listOf(u), ['a@x.example', 'b@x.example', 'c@x.example']);
  });

  it('advertises urn:xmpp:blocking on the server (§3.1)', () => {
    assert.deepEqual(kernel.disco.features('server', 'capulet.example'), [NS_BLOCKING]);
  });
});

describe('XEP-0191 presence side effects: handed to the presence service queue', () => {
  const P = 4;
  let queued: Kernel;

  before(async () => {
    await ensureWorkQueue(await nc.jetstreamManager(), serviceQueueSpec('presence', P, 'memory'));
    queued = new Kernel([blockingModule({ repo: storage.blocklist, nc, servicePartitions: P })], { push: () => undefined });
  });

  /** The work items queued for the presence service in `u`'s partition since the last call. */
  async function workFor(u: Jid): Promise<Array<{ op: string; from: string; to: string; change: BlocklistChange | null }>> {
    const c = await nc.jetstream().consumers.get(SERVICE_STREAM, serviceConsumer('presence', partitionOf(u.bare().toString(), P)));
    const out: Array<{ op: string; from: string; to: string; change: BlocklistChange | null }> = [];
    for (;;) {
      const m = await c.next({ expires: 1000 });
      if (!m) return out;
      const env = decodeEnvelope(m.headers)!;
      out.push({ op: serviceOp(m.headers), from: env.from, to: env.to, change: decodeBlocklistChange(m.data) });
      m.ack();
    }
  }
  const run = async (u: Jid, payload: string) => {
    const stanza = parseXml(`<iq xmlns="jabber:client" type="set" id="q1">${payload}</iq>`);
    assert.equal((await queued.handleIq({ stanza, from: u, to: u.bare(), target: 'account' }))?.attrs.type, 'result');
  };

  it('a block, an unblock and unblock-all each queue one blocklist item with the delta, in the user\'s partition', async () => {
    const u = fresh();
    const bare = u.bare().toString();
    await run(u, block('romeo@montague.example', 'verona.example'));
    await run(u, unblock('verona.example'));
    await run(u, unblock());
    const got = await workFor(u);
    assert.deepEqual(got, [
      { op: 'blocklist', from: bare, to: bare, change: { domain: 'capulet.example', username: u.local, blocked: ['romeo@montague.example', 'verona.example'], unblocked: [] } },
      { op: 'blocklist', from: bare, to: bare, change: { domain: 'capulet.example', username: u.local, blocked: [], unblocked: ['verona.example'] } },
      { op: 'blocklist', from: bare, to: bare, change: { domain: 'capulet.example', username: u.local, blocked: [], unblocked: ['romeo@montague.example'] } },
    ]);
  });

  it('a change that changes nothing (blocking again, unblocking what was never blocked) queues nothing', async () => {
    const u = fresh();
    await run(u, block('romeo@montague.example'));
    assert.equal((await workFor(u)).length, 1);
    await run(u, block('romeo@montague.example'));
    await run(u, unblock('tybalt@capulet.example'));
    assert.deepEqual(await workFor(u), []);
  });
});
