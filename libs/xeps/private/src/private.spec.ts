/** XEP-0049 through the kernel, on the real JetStream storage of a real nats-server. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { Element, Jid, parseXml } from '@kxmpp/xmpp-core';
import { Kernel } from '@kxmpp/kernel';
import { openStorage, type Storage } from '@kxmpp/store';
import { lazyNatsServer } from '@kxmpp/testing';
import { NS_PRIVATE, privateModule } from './private.module';

const server = lazyNatsServer();
let nc: NatsConnection;
let storage: Storage;
let kernel: Kernel;
let seq = 0;
/** A fresh user per test: tests never see each other's data. */
const fresh = () => Jid.parse(`hamlet${++seq}@shakespeare.lit/denmark`);

before(async () => {
  nc = await connect({ servers: await server.url() });
  storage = await openStorage({ kind: 'jetstream', nc });
  kernel = new Kernel([privateModule(storage.privateXml, { maxElementBytes: 1024 })]);
});
after(async () => {
  await storage?.close();
  await nc?.drain();
  await server.stop();
});

/** No 'to' unless given: the router then addresses the IQ to the sender's bare JID. */
async function ask(from: Jid, type: 'get' | 'set', children: string, to?: string): Promise<Element> {
  const t = to ? Jid.parse(to) : from.bare();
  const stanza = parseXml(`<iq xmlns="jabber:client" type="${type}" id="p1"><query xmlns="${NS_PRIVATE}">${children}</query></iq>`);
  const r = await kernel.handleIq({ stanza, from, to: t, target: t.local ? 'account' : 'server' });
  assert.ok(r);
  return r;
}
const condition = (r: Element) => (r.attrs.type === 'error' ? r.getChild('error')?.getChildElements()[0]?.name : 'result');
const stored = (r: Element) => r.getChild('query', NS_PRIVATE)?.getChildElements().map((c) => c.toString());

const PREFS = '<exodus xmlns="exodus:prefs"><defaultnick>Hamlet</defaultnick></exodus>';
const BOOKMARKS = '<storage xmlns="storage:bookmarks"><conference jid="council@chat.example" autojoin="true"><nick>H</nick></conference></storage>';

describe('XEP-0049 private XML storage', () => {
  it('get with nothing stored returns the queried element, empty', async () => {
    const r = await ask(fresh(), 'get', '<exodus xmlns="exodus:prefs"/>');
    assert.equal(condition(r), 'result');
    assert.deepEqual(stored(r), ['<exodus xmlns="exodus:prefs"/>']);
  });

  it('set stores every child; get returns each one as stored', async () => {
    const h = fresh();
    const set = await ask(h, 'set', PREFS + BOOKMARKS);
    assert.equal(set.toString(), `<iq xmlns="jabber:client" type="result" id="p1" from="${h.bare()}" to="${h}"/>`);
    assert.deepEqual(stored(await ask(h, 'get', '<exodus xmlns="exodus:prefs"/>')), [PREFS]);
    assert.deepEqual(stored(await ask(h, 'get', '<storage xmlns="storage:bookmarks"/>')), [BOOKMARKS]);
    // Same name, other namespace: a different slot.
    assert.deepEqual(stored(await ask(h, 'get', '<storage xmlns="storage:rosternotes"/>')), ['<storage xmlns="storage:rosternotes"/>']);
  });

  it('a later set replaces the element; an explicit to of one\'s own bare JID is the same', async () => {
    const h = fresh();
    await ask(h, 'set', PREFS);
    const next = '<exodus xmlns="exodus:prefs"><defaultnick>Prince</defaultnick></exodus>';
    assert.equal(condition(await ask(h, 'set', next, h.bare().toString())), 'result');
    assert.deepEqual(stored(await ask(h, 'get', '<exodus xmlns="exodus:prefs"/>', h.bare().toString())), [next]);
  });

  const errors: Array<[string, 'get' | 'set', string, string | undefined, string]> = [
    // [case, type, children, to (undefined: own), condition]
    ['get naming no element: bad-request', 'get', '', undefined, 'bad-request'],
    ['get naming two elements: bad-request', 'get', '<a xmlns="urn:a"/><b xmlns="urn:b"/>', undefined, 'bad-request'],
    ['set with nothing to store: not-acceptable', 'set', '', undefined, 'not-acceptable'],
    ['get of another user\'s data: forbidden', 'get', '<exodus xmlns="exodus:prefs"/>', 'ophelia@shakespeare.lit', 'forbidden'],
    ['set of another user\'s data: forbidden', 'set', PREFS, 'ophelia@shakespeare.lit', 'forbidden'],
    ['get addressed to the server: forbidden', 'get', '<exodus xmlns="exodus:prefs"/>', 'shakespeare.lit', 'forbidden'],
    ['set addressed to the server: forbidden', 'set', PREFS, 'shakespeare.lit', 'forbidden'],
    ['an element over the size cap: policy-violation', 'set', `<big xmlns="urn:big">${'x'.repeat(1100)}</big>`, undefined, 'policy-violation'],
  ];
  for (const ns of ['jabber:client', 'jabber:server', NS_PRIVATE]) {
    errors.push([`get in reserved ${ns}: not-acceptable`, 'get', `<x xmlns="${ns}"/>`, undefined, 'not-acceptable']);
    errors.push([`set in reserved ${ns}: not-acceptable`, 'set', `<x xmlns="${ns}"/>`, undefined, 'not-acceptable']);
  }
  errors.push(['get with no namespace of its own: not-acceptable', 'get', '<x/>', undefined, 'not-acceptable']);
  errors.push(['set with no namespace of its own: not-acceptable', 'set', '<x>data</x>', undefined, 'not-acceptable']);
  for (const [name, type, children, to, expected] of errors) {
    it(name, async () => assert.equal(condition(await ask(fresh(), type, children, to)), expected));
  }

  it('a refused set writes nothing, not even its acceptable children', async () => {
    const h = fresh();
    for (const bad of [`<big xmlns="urn:big">${'x'.repeat(1100)}</big>`, '<x xmlns="jabber:client"/>']) {
      assert.notEqual(condition(await ask(h, 'set', PREFS + bad)), 'result');
      assert.equal(await storage.privateXml.get('shakespeare.lit', h.local, 'exodus', 'exodus:prefs'), null);
    }
  });

  it('another user\'s get does not see the owner\'s data', async () => {
    const h = fresh();
    await ask(h, 'set', PREFS);
    const r = await ask(Jid.parse('claudius@shakespeare.lit/throne'), 'get', '<exodus xmlns="exodus:prefs"/>', h.bare().toString());
    assert.equal(condition(r), 'forbidden');
    assert.equal(r.toString().includes('Hamlet'), false);
  });

  it('advertises jabber:iq:private on the server and on accounts', () => {
    assert.deepEqual(kernel.disco.features('server', 'shakespeare.lit'), [NS_PRIVATE]);
    assert.deepEqual(kernel.disco.features('account', 'shakespeare.lit'), [NS_PRIVATE]);
  });
});
