/**
 * The whole platform on the mongo storage adapter (STORAGE=mongo): split deployment (edge, router, every
 * service as its own process) against the MongoDB wire-protocol test server (jongodb, ARCHITECTURE.md
 * Storage), or against a real MongoDB when MONGODB_URI is set. Registration, login, roster with a
 * subscription, offline storage and flush, blocking and vcard all go through the mongoose adapter.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JongodbHandle, startJongodb } from '@kxmpp/testing';
import { startPlatform, Platform } from './platform';
import { login, registerAndLogin, Session, stopAllSessions, uniqueName, waitForStanza, xml, XEl } from './helpers';

const DOMAIN = 'localhost';
const ROSTER = 'jabber:iq:roster';
const isMsg = (id: string) => (el: XEl) => el.name === 'message' && el.attrs.id === id;

describe('the platform on the mongo storage adapter', () => {
  let db: JongodbHandle | undefined;
  let p: Platform;
  let alice: Session;
  let bob: Session;
  const svc = () => `xmpp://127.0.0.1:${p.edges[0].c2s}`;

  before(async () => {
    let uri = process.env.MONGODB_URI;
    if (!uri) {
      db = await startJongodb();
      uri = db.uri;
    }
    p = await startPlatform({ mode: 'split', env: { STORAGE: 'mongo', MONGODB_URI: uri } });
    alice = await registerAndLogin({ service: svc(), domain: DOMAIN, username: uniqueName('alice'), password: 'pw', resource: 'a' });
    bob = await registerAndLogin({ service: svc(), domain: DOMAIN, username: uniqueName('bob'), password: 'pw', resource: 'b' });
  });

  after(async () => {
    await stopAllSessions();
    if (process.env.E2E_DUMP) for (const x of p?.procs ?? []) console.log(x.name, x.output());
    await p?.stop();
    await db?.stop();
  });

  it('accounts live in mongo: a wrong password is refused, the right one logs in again', async () => {
    await assert.rejects(login({ service: svc(), domain: DOMAIN, username: alice.bare.split('@')[0], password: 'nope', resource: 'x' }));
    const again = await login({ service: svc(), domain: DOMAIN, username: alice.bare.split('@')[0], password: 'pw', resource: 'again' });
    await again.stop();
  });

  it('roster set and a mutual subscription, then a roster get shows both=both with a version', async () => {
    for (const s of [alice, bob]) await s.request(xml('iq', { type: 'get' }, xml('query', { xmlns: ROSTER })));
    await alice.send(xml('presence'));
    await bob.send(xml('presence'));
    await alice.request(xml('iq', { type: 'set' }, xml('query', { xmlns: ROSTER }, xml('item', { jid: bob.bare, name: 'Bob' }, xml('group', {}, 'Friends')))));
    await alice.send(xml('presence', { to: bob.bare, type: 'subscribe' }));
    await waitForStanza(bob, (el) => el.name === 'presence' && el.attrs.type === 'subscribe', 10_000, 'subscribe');
    await bob.send(xml('presence', { to: alice.bare, type: 'subscribed' }));
    await bob.send(xml('presence', { to: alice.bare, type: 'subscribe' }));
    await waitForStanza(alice, (el) => el.name === 'presence' && el.attrs.type === 'subscribe', 10_000, 'subscribe back');
    await alice.send(xml('presence', { to: bob.bare, type: 'subscribed' }));
    // The roster service and the presence service both write alice's item: both writes land.
    const deadline = Date.now() + 10_000;
    let item: XEl | undefined;
    let ver: string | undefined;
    while (Date.now() < deadline) {
      const q = (await alice.request(xml('iq', { type: 'get' }, xml('query', { xmlns: ROSTER })))).getChild('query', ROSTER);
      ver = q?.attrs.ver;
      item = q?.getChildren('item').find((i: XEl) => i.attrs.jid === bob.bare);
      if (item?.attrs.subscription === 'both') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(item?.attrs.subscription, 'both');
    assert.equal(item?.attrs.name, 'Bob');
    assert.equal(item?.getChildText('group'), 'Friends');
    assert.ok(ver, 'roster versioning (XEP-0237) on the mongo adapter');
  });

  it('a message to an offline user is stored in mongo and flushed once at the next login', async () => {
    const name = uniqueName('carol');
    const first = await registerAndLogin({ service: svc(), domain: DOMAIN, username: name, password: 'pw', resource: 'c' });
    await first.stop();
    await alice.send(xml('message', { to: `${name}@${DOMAIN}`, type: 'chat', id: 'off-m' }, xml('body', {}, 'kept in mongo')));
    await new Promise((r) => setTimeout(r, 1500));
    const carol = await login({ service: svc(), domain: DOMAIN, username: name, password: 'pw', resource: 'c2' });
    await carol.send(xml('presence'));
    const m = await waitForStanza(carol, isMsg('off-m'), 10_000, 'the stored message');
    assert.equal(m.getChildText('body'), 'kept in mongo');
    assert.ok(m.getChild('delay', 'urn:xmpp:delay'));
  });

  it('blocklist and vcard-temp are kept in mongo', async () => {
    await alice.request(xml('iq', { type: 'set' }, xml('block', { xmlns: 'urn:xmpp:blocking' }, xml('item', { jid: 'spam@example.net' }))));
    const list = await alice.request(xml('iq', { type: 'get' }, xml('blocklist', { xmlns: 'urn:xmpp:blocking' })));
    assert.deepEqual(list.getChild('blocklist')?.getChildren('item').map((i: XEl) => i.attrs.jid), ['spam@example.net']);
    await alice.request(xml('iq', { type: 'set' }, xml('vCard', { xmlns: 'vcard-temp' }, xml('FN', {}, 'Alice Mongo'))));
    const v = await bob.request(xml('iq', { type: 'get', to: alice.bare }, xml('vCard', { xmlns: 'vcard-temp' })));
    assert.equal(v.getChild('vCard')?.getChildText('FN'), 'Alice Mongo');
  });
});
