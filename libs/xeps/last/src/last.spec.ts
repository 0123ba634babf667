/** XEP-0012 through the kernel, on the real JetStream storage of a real nats-server. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { Element, Jid, parseXml } from '@kxmpp/xmpp-core';
import { Kernel, type SessionInfo } from '@kxmpp/kernel';
import { openStorage, type Storage, type Subscription } from '@kxmpp/store';
import { lazyNatsServer } from '@kxmpp/testing';
import { lastModule, NS_LAST } from './last.module';

const server = lazyNatsServer();
let nc: NatsConnection;
let storage: Storage;
let kernel: Kernel;
const NOW = new Date('2025-03-01T12:00:00.000Z');
const STARTED = new Date('2025-03-01T10:00:00.000Z');
/** Live sessions by bare JID, as the session registry would report them. */
const sessions = new Map<string, SessionInfo[]>();
let seq = 0;
const fresh = () => Jid.parse(`juliet${++seq}@capulet.example`);

before(async () => {
  nc = await connect({ servers: await server.url() });
  storage = await openStorage({ kind: 'jetstream', nc });
  kernel = new Kernel([lastModule({ repo: storage.lastActivity, roster: storage.roster, startedAt: STARTED, now: () => NOW })], {
    sessions: async (bare) => sessions.get(bare.toString()) ?? [],
  });
});
after(async () => {
  await storage?.close();
  await nc?.drain();
  await server.stop();
});

async function ask(from: string, to: Jid | string, type: 'get' | 'set' = 'get'): Promise<Element> {
  const t = typeof to === 'string' ? Jid.parse(to) : to;
  const stanza = parseXml(`<iq xmlns="jabber:client" type="${type}" id="l1"><query xmlns="${NS_LAST}"/></iq>`);
  const r = await kernel.handleIq({ stanza, from: Jid.parse(from), to: t, target: t.local ? 'account' : 'server' });
  assert.ok(r);
  return r;
}
const condition = (r: Element) => (r.attrs.type === 'error' ? r.getChild('error')?.getChildElements()[0]?.name : 'result');
const answer = (r: Element) => {
  const q = r.getChild('query', NS_LAST);
  return { seconds: q?.attrs.seconds, text: q?.getText() };
};

async function befriend(owner: Jid, contact: string, subscription: Subscription): Promise<void> {
  await storage.roster.update(owner.domain, owner.local, contact, () => ({ jid: contact, groups: [], subscription, ask: false, pendingIn: false, approved: false }));
}

describe('XEP-0012 last activity', () => {
  it('the server answers its uptime (§5), with no text', async () => {
    const r = await ask('romeo@montague.example/orchard', 'capulet.example');
    assert.equal(condition(r), 'result');
    assert.deepEqual(answer(r), { seconds: '7200', text: '' });
  });

  it('a user asking about itself gets the time since its last logout and its status', async () => {
    const j = fresh();
    await storage.lastActivity.set(j.domain, j.local, { at: '2025-03-01T11:44:57.000Z', status: 'Heading Home' });
    const r = await ask(`${j}/balcony`, j);
    assert.deepEqual(answer(r), { seconds: '903', text: 'Heading Home' });
    assert.equal(r.getChild('query')?.toString(), `<query xmlns="${NS_LAST}" seconds="903">Heading Home</query>`);
  });

  const subscriptions: Array<[Subscription | 'no roster item', string]> = [
    ['from', 'result'],
    ['both', 'result'],
    ['to', 'forbidden'],
    ['none', 'forbidden'],
    ['no roster item', 'forbidden'],
  ];
  for (const [sub, expected] of subscriptions) {
    it(`a contact with subscription "${sub}" in the user's roster: ${expected} (§3, §8)`, async () => {
      const j = fresh();
      await storage.lastActivity.set(j.domain, j.local, { at: '2025-03-01T11:59:00.000Z', status: '' });
      if (sub !== 'no roster item') await befriend(j, 'romeo@montague.example', sub);
      const r = await ask('romeo@montague.example/orchard', j);
      assert.equal(condition(r), expected);
      if (expected === 'result') assert.deepEqual(answer(r), { seconds: '60', text: '' });
    });
  }

  it('the contact\'s own roster does not count, only the queried user\'s', async () => {
    const j = fresh();
    await storage.lastActivity.set(j.domain, j.local, { at: '2025-03-01T11:59:00.000Z', status: '' });
    await befriend(Jid.parse('romeo@montague.example'), j.toString(), 'both');
    assert.equal(condition(await ask('romeo@montague.example/orchard', j)), 'forbidden');
  });

  it('a user with an available session: seconds 0 and no text (§3)', async () => {
    const j = fresh();
    await storage.lastActivity.set(j.domain, j.local, { at: '2025-02-01T00:00:00.000Z', status: 'gone' });
    await befriend(j, 'romeo@montague.example', 'from');
    sessions.set(j.toString(), [{ jid: `${j}/balcony`, available: true, priority: 0 }]);
    assert.deepEqual(answer(await ask('romeo@montague.example/orchard', j)), { seconds: '0', text: '' });
  });

  it('a session without available presence does not count as online', async () => {
    const j = fresh();
    await storage.lastActivity.set(j.domain, j.local, { at: '2025-03-01T11:00:00.000Z', status: 'bbl' });
    sessions.set(j.toString(), [{ jid: `${j}/balcony`, available: false, priority: 0 }]);
    assert.deepEqual(answer(await ask(`${j}/balcony`, j)), { seconds: '3600', text: 'bbl' });
  });

  it('an authorized request for a user with no record: item-not-found', async () => {
    const j = fresh();
    await befriend(j, 'romeo@montague.example', 'both');
    assert.equal(condition(await ask('romeo@montague.example/orchard', j)), 'item-not-found');
  });

  it('an unauthorized request is forbidden before anything is read, record or not', async () => {
    assert.equal(condition(await ask('romeo@montague.example/orchard', fresh())), 'forbidden');
  });

  it('a logout time in the future (clock skew between pods) reads as 0, never negative', async () => {
    const j = fresh();
    await storage.lastActivity.set(j.domain, j.local, { at: '2025-03-01T12:00:05.000Z', status: '' });
    assert.equal(answer(await ask(`${j}/x`, j)).seconds, '0');
  });

  it('set is not a thing: service-unavailable', async () => {
    const j = fresh();
    assert.equal(condition(await ask(`${j}/x`, j, 'set')), 'service-unavailable');
  });

  it('advertises jabber:iq:last on the server (§6) and on accounts', () => {
    assert.deepEqual(kernel.disco.features('server', 'capulet.example'), [NS_LAST]);
    assert.deepEqual(kernel.disco.features('account', 'capulet.example'), [NS_LAST]);
  });
});
