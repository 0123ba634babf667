/**
 * RFC 6121 IM core end to end with @xmpp/client, on a split deployment with two replicas of every
 * service (2 edges, 2 routers, 2 presence, 2 roster, 2 offline) and the admin API process: rosters and
 * versioning (§2, XEP-0237) with pushes to interested resources only, the subscription handshake (§3)
 * with pushes exactly once, presence broadcast and probes (§4), directed presence (§4.6),
 * subscription requests and messages kept for an offline user (§3.1.3, XEP-0160 with XEP-0203 stamps,
 * in order, once), blocking (XEP-0191) with its presence side effects, vcard-temp, private storage and
 * last activity, roster changes through the admin API (gRPC and xmppctl), a dead edge's sessions going
 * unavailable, and tenant isolation.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { AdminClient } from '@kxmpp/admin';
import { freePort } from '@kxmpp/testing';
import { ADMIN_MAIN, spawnOnFreePorts, startPlatform, Platform } from './platform';
import {
  iqErrorCondition,
  login,
  noStanza,
  registerAndLogin,
  Session,
  sleep,
  stanzaErrorCondition,
  stopAllSessions,
  uniqueName,
  waitForStanza,
  xml,
  XEl,
} from './helpers';

const DOMAIN = 'localhost';
const ROSTER = 'jabber:iq:roster';
const PW = 'pw-im';

const isPush = (jid: string) => (el: XEl) =>
  el.name === 'iq' && el.attrs.type === 'set' && el.getChild('query', ROSTER)?.getChild('item')?.attrs.jid === jid;
const isPresence = (from: string, type?: string) => (el: XEl) =>
  el.name === 'presence' && (el.attrs.from === from || el.attrs.from?.startsWith(`${from}/`)) && el.attrs.type === type;
const isMsg = (id: string) => (el: XEl) => el.name === 'message' && el.attrs.id === id;

/** The <query/> of a roster result (the iq carries one unless the client's version is current). */
async function rosterGet(s: Session, ver?: string): Promise<XEl> {
  const iq = await s.request(xml('iq', { type: 'get' }, xml('query', { xmlns: ROSTER, ver })));
  const q = iq.getChild('query', ROSTER);
  assert.ok(q, `a roster query in ${iq.toString()}`);
  return q;
}

async function available(s: Session, status?: string, priority?: number): Promise<void> {
  await s.send(xml('presence', {}, status ? xml('status', {}, status) : null, priority === undefined ? null : xml('priority', {}, String(priority))));
  await waitForStanza(s, (el) => el.name === 'presence' && el.attrs.from === s.jid && !el.attrs.type, 5000, 'own presence');
  await sleep(100);
}

/** Ask for the roster, as clients do after login: from then on the resource gets roster pushes (§2.1.6, §2.2). */
async function interested(...sessions: Session[]): Promise<void> {
  for (const s of sessions) await rosterGet(s);
}

/** `watcher` subscribes to `target`'s presence and `target` approves (§3.1): target's item for watcher says from/both. */
async function subscribeTo(watcher: Session, target: Session): Promise<void> {
  await watcher.send(xml('presence', { to: target.bare, type: 'subscribe' }));
  await waitForStanza(target, isPresence(watcher.bare, 'subscribe'), 5000, 'subscribe request');
  await target.send(xml('presence', { to: watcher.bare, type: 'subscribed' }));
  await waitForStanza(watcher, isPresence(target.bare, 'subscribed'), 5000, 'subscription approved');
}

/** Let what is in flight arrive, then forget it: later waits see only what the next step causes. */
async function settle(...sessions: Session[]): Promise<void> {
  await sleep(500);
  for (const s of sessions) s.inbox.length = 0;
}

const withStatus = (from: string, text: string) => (el: XEl) => isPresence(from)(el) && el.getChildText('status') === text;
const fromFull = (jid: string, type?: string) => (el: XEl) => el.name === 'presence' && el.attrs.from === jid && el.attrs.type === type;

/** Count the stanzas matching pred over a quiet period (to assert "exactly once"). */
async function countOver(s: Session, pred: (el: XEl) => boolean, ms = 800): Promise<number> {
  await sleep(ms);
  return s.inbox.filter(pred).length;
}

describe('RFC 6121 IM core, split deployment with two replicas of every service', () => {
  let p: Platform;
  const svc = (i: number) => `xmpp://127.0.0.1:${p.edges[i % p.edges.length].c2s}`;
  const user = async (prefix: string, edge = 0, resource = 'r1', domain = DOMAIN) =>
    registerAndLogin({ service: svc(edge), domain, username: uniqueName(prefix), password: PW, resource });
  const again = (s: Session, resource: string, edge = 1, domain = DOMAIN) =>
    login({ service: svc(edge), domain, username: s.bare.split('@')[0], password: PW, resource });

  /** The admin API process of the deployment (host:port) and its token. */
  const admin = { server: '', token: 'e2e-admin-token-0123456789' };

  before(async () => {
    p = await startPlatform({ mode: 'split', edges: 2, routers: 2, services: 2, env: { SESSION_TTL_SECONDS: '3', OFFLINE_MAX_MESSAGES: '5' } });
    const { proc, ports: grpcPort } = await spawnOnFreePorts('admin', ADMIN_MAIN, p.env, async () => {
      const [grpc, metrics] = [await freePort(), await freePort()];
      return {
        ports: grpc,
        metrics,
        env: { ADMIN_TOKEN: admin.token, ADMIN_GRPC_PORT: String(grpc), ADMIN_GRPC_HOST: '127.0.0.1', METRICS_PORT: String(metrics), METRICS_HOST: '127.0.0.1' },
      };
    });
    p.procs.push(proc); // stopped with the platform
    admin.server = `127.0.0.1:${grpcPort}`;
  });

  after(async () => {
    await stopAllSessions();
    // E2E_DUMP=1: the warnings and errors of every process, to debug a failure.
    if (process.env.E2E_DUMP) for (const x of p?.procs ?? []) console.log(x.name, x.output().split('\n').filter((l) => /"level":(40|50|60)/.test(l)).join('\n'));
    await p?.stop();
  });

  it('roster get/set/remove with versions and a push to every resource, exactly once (§2, XEP-0237)', async () => {
    const a1 = await user('ros');
    const a2 = await again(a1, 'r2');
    await interested(a2);
    const empty = await rosterGet(a1, '');
    assert.equal(empty.getChildren('item').length, 0);
    const ver0 = empty.attrs.ver;
    assert.ok(ver0 !== undefined, 'a ver attribute (roster versioning)');

    const contact = `${uniqueName('friend')}@${DOMAIN}`;
    await a1.request(xml('iq', { type: 'set' }, xml('query', { xmlns: ROSTER }, xml('item', { jid: contact, name: 'Friend' }, xml('group', {}, 'Work'), xml('group', {}, 'Ünï')))));
    for (const s of [a1, a2]) {
      const push = await waitForStanza(s, isPush(contact), 5000, 'roster push');
      const item = push.getChild('query', ROSTER)!.getChild('item')!;
      assert.equal(item.attrs.name, 'Friend');
      assert.equal(item.attrs.subscription, 'none');
      assert.deepEqual(item.getChildren('group').map((g: XEl) => g.text()), ['Work', 'Ünï']);
      assert.ok(push.getChild('query', ROSTER)!.attrs.ver);
      assert.equal(await countOver(s, isPush(contact), 300), 0, 'one push per resource');
    }
    const full = await rosterGet(a2, ver0);
    assert.deepEqual(full.getChildren('item').map((i: XEl) => i.attrs.jid), [contact]);
    const unchanged = await a2.request(xml('iq', { type: 'get' }, xml('query', { xmlns: ROSTER, ver: full.attrs.ver })));
    assert.equal(unchanged.getChild('query'), undefined, 'empty result when the version is current');

    // errors (§2.3.3, §2.5.3)
    assert.equal((await iqErrorCondition(a1.request(xml('iq', { type: 'set' }, xml('query', { xmlns: ROSTER }, xml('item', { jid: 'x@localhost' }), xml('item', { jid: 'y@localhost' })))))).condition, 'bad-request');
    assert.equal((await iqErrorCondition(a1.request(xml('iq', { type: 'set' }, xml('query', { xmlns: ROSTER }, xml('item', { jid: 'x@localhost', name: 'n'.repeat(2000) })))))).condition, 'not-acceptable');
    assert.equal((await iqErrorCondition(a1.request(xml('iq', { type: 'set', to: contact }, xml('query', { xmlns: ROSTER }, xml('item', { jid: 'x@localhost' })))))).condition, 'forbidden');

    await a1.request(xml('iq', { type: 'set' }, xml('query', { xmlns: ROSTER }, xml('item', { jid: contact, subscription: 'remove' }))));
    const removed = await waitForStanza(a2, isPush(contact));
    assert.equal(removed.getChild('query', ROSTER)!.getChild('item')!.attrs.subscription, 'remove');
    assert.equal((await rosterGet(a1)).getChildren('item').length, 0);
  });

  it('concurrent roster sets from two resources both land', async () => {
    const a1 = await user('conc');
    const a2 = await again(a1, 'r2');
    const jids = Array.from({ length: 6 }, (_, i) => `c${i}-${uniqueName('x')}@${DOMAIN}`);
    await Promise.all(jids.map((jid, i) => (i % 2 ? a1 : a2).request(xml('iq', { type: 'set' }, xml('query', { xmlns: ROSTER }, xml('item', { jid }))))));
    const got = (await rosterGet(a1)).getChildren('item').map((i: XEl) => i.attrs.jid).sort();
    assert.deepEqual(got, [...jids].sort());
  });

  it('roster pushes go to interested resources only: those that requested the roster (§2.1.6, §2.2)', async () => {
    const asked = await user('intr', 0, 'asked');
    const silent = await again(asked, 'silent', 1);
    await interested(asked);
    const c1 = `${uniqueName('ic')}@${DOMAIN}`;
    await asked.request(xml('iq', { type: 'set' }, xml('query', { xmlns: ROSTER }, xml('item', { jid: c1 }))));
    await waitForStanza(asked, isPush(c1), 5000, 'push to the interested resource');
    assert.equal(await countOver(asked, isPush(c1), 300), 0, 'exactly one push');
    assert.equal(await noStanza(silent, isPush(c1), 300), null, 'no push to a resource that never requested the roster');

    // A push the presence service makes (the pending-out state of a subscription request) obeys the same rule.
    const contact = await user('ictc', 1);
    await asked.send(xml('presence', { to: contact.bare, type: 'subscribe' }));
    const ask = await waitForStanza(asked, isPush(contact.bare), 5000, 'ask push');
    assert.equal(ask.getChild('query', ROSTER)!.getChild('item')!.attrs.ask, 'subscribe');
    assert.equal(await countOver(asked, isPush(contact.bare), 300), 0, 'exactly one push');
    assert.equal(await noStanza(silent, isPush(contact.bare), 300), null);

    // Once the other resource asks for the roster it is interested too: the next change reaches both, once each.
    await interested(silent);
    const c2 = `${uniqueName('ic')}@${DOMAIN}`;
    await silent.request(xml('iq', { type: 'set' }, xml('query', { xmlns: ROSTER }, xml('item', { jid: c2 }))));
    for (const s of [asked, silent]) {
      await waitForStanza(s, isPush(c2), 5000, `push to ${s.jid}`);
      assert.equal(await countOver(s, isPush(c2), 300), 0, `exactly one push to ${s.jid}`);
    }
  });

  it('the subscription handshake: requests, approvals, roster pushes and presence, each exactly once (§3.1, §4)', async () => {
    const alice = await user('alice', 0);
    const bob = await user('bob', 1);
    await interested(alice, bob);
    await available(alice, 'alice here');
    await available(bob, 'bob here');

    await alice.send(xml('presence', { to: bob.bare, type: 'subscribe' }));
    const req = await waitForStanza(bob, isPresence(alice.bare, 'subscribe'), 5000, 'subscribe request');
    assert.equal(req.attrs.from, alice.bare, 'stamped with the bare JID (§3.1.2)');
    const ask = await waitForStanza(alice, isPush(bob.bare), 5000, 'ask push');
    assert.equal(ask.getChild('query')!.getChild('item')!.attrs.ask, 'subscribe');

    await bob.send(xml('presence', { to: alice.bare, type: 'subscribed' }));
    const approved = await waitForStanza(alice, isPresence(bob.bare, 'subscribed'), 5000, 'subscribed');
    assert.equal(approved.attrs.from, bob.bare);
    const pushTo = await waitForStanza(alice, isPush(bob.bare), 5000, 'push to');
    assert.equal(pushTo.getChild('query')!.getChild('item')!.attrs.subscription, 'to');
    const pushFrom = await waitForStanza(bob, isPush(alice.bare), 5000, 'push from');
    assert.equal(pushFrom.getChild('query')!.getChild('item')!.attrs.subscription, 'from');
    // §3.1.6: alice now gets bob's current presence
    const bobsPresence = await waitForStanza(alice, isPresence(bob.bare), 5000, "bob's presence after approval");
    assert.equal(bobsPresence.getChildText('status'), 'bob here');

    // alice is subscribed to bob (to), not bob to alice: bob's changes reach alice exactly once, alice's do not reach bob
    await bob.send(xml('presence', {}, xml('status', {}, 'busy bob')));
    const seen = await waitForStanza(alice, (el) => isPresence(bob.bare)(el) && el.getChildText('status') === 'busy bob', 5000, 'busy bob');
    assert.equal(seen.attrs.from, bob.jid);
    assert.equal(await countOver(alice, (el) => isPresence(bob.bare)(el) && el.getChildText('status') === 'busy bob'), 0, 'exactly once');
    await alice.send(xml('presence', {}, xml('status', {}, 'busy alice')));
    assert.equal(await noStanza(bob, (el) => isPresence(alice.bare)(el) && el.getChildText('status') === 'busy alice', 500), null);

    // and back: bob subscribes to alice, alice approves: now both (§3.1), and alice's changes reach bob
    await bob.send(xml('presence', { to: alice.bare, type: 'subscribe' }));
    await waitForStanza(alice, isPresence(bob.bare, 'subscribe'), 5000, 'subscribe back');
    await alice.send(xml('presence', { to: bob.bare, type: 'subscribed' }));
    const both = await waitForStanza(alice, (el) => isPush(bob.bare)(el) && el.getChild('query')!.getChild('item')!.attrs.subscription === 'both', 5000, 'both');
    assert.ok(both);
    await waitForStanza(bob, (el) => isPresence(alice.bare)(el) && el.getChildText('status') === 'busy alice', 5000, "alice's current presence after approval");
    await alice.send(xml('presence', {}, xml('status', {}, 'back alice')));
    await waitForStanza(bob, (el) => isPresence(alice.bare)(el) && el.getChildText('status') === 'back alice', 5000, 'back alice');
    assert.equal(await countOver(bob, (el) => isPresence(alice.bare)(el) && el.getChildText('status') === 'back alice'), 0, 'exactly once');

    // a second login of alice gets bob's presence at once (the probe, §4.3)
    const alice2 = await again(alice, 'r2', 0);
    await available(alice2);
    const probed = await waitForStanza(alice2, isPresence(bob.bare), 5000, 'presence of a contact at login');
    assert.equal(probed.getChildText('status'), 'busy bob');

    // alice unsubscribes from bob: both -> from at alice, both -> to at bob; alice sees bob go unavailable
    await alice.send(xml('presence', { to: bob.bare, type: 'unsubscribe' }));
    const dropped = await waitForStanza(bob, (el) => isPush(alice.bare)(el) && el.getChild('query')!.getChild('item')!.attrs.subscription === 'to', 5000, 'push after unsubscribe');
    assert.ok(dropped);
    await waitForStanza(alice, isPresence(bob.bare, 'unavailable'), 5000, 'unavailable from the contact after unsubscribing (§3.3.3)');
  });

  it('directed presence (§4.6): delivered without a subscription, then unavailable at logout and when the connection dies', async () => {
    const alice = await user('dira', 0);
    const bob = await user('dirb', 1);
    await available(alice, 'alice around');
    await available(bob);
    await alice.send(xml('presence', { to: bob.jid }, xml('status', {}, 'just for bob')));
    const got = await waitForStanza(bob, withStatus(alice.bare, 'just for bob'), 5000, 'directed presence');
    assert.equal(got.attrs.from, alice.jid);
    // Not a subscriber: alice's broadcasts do not reach bob.
    await alice.send(xml('presence', {}, xml('status', {}, 'for subscribers')));
    assert.equal(await noStanza(bob, withStatus(alice.bare, 'for subscribers'), 500), null);
    // Logout (§4.5.2): unavailable from alice's full JID, once.
    await alice.send(xml('presence', { type: 'unavailable' }));
    const gone = await waitForStanza(bob, isPresence(alice.bare, 'unavailable'), 5000, 'unavailable at logout');
    assert.equal(gone.attrs.from, alice.jid);
    await alice.stop();
    assert.equal(await countOver(bob, isPresence(alice.bare, 'unavailable')), 0, 'exactly one unavailable');

    // The connection dies without unavailable presence: the server sends it for the session (§4.6.3).
    const carol = await user('dirc', 1);
    await available(carol);
    await carol.send(xml('presence', { to: bob.bare }, xml('status', {}, 'carol for bob')));
    await waitForStanza(bob, withStatus(carol.bare, 'carol for bob'), 5000, 'directed presence to the bare JID');
    carol.c.socket.socket.destroy();
    const dead = await waitForStanza(bob, isPresence(carol.bare, 'unavailable'), 10_000, 'unavailable of a dead connection');
    assert.equal(dead.attrs.from, carol.jid);
    assert.equal(await countOver(bob, isPresence(carol.bare, 'unavailable')), 0, 'exactly one unavailable');
  });

  it('directed presence (§4.6): directed unavailable ends it; to a subscriber it is never doubled', async () => {
    const alice = await user('dird', 0);
    const bob = await user('dire', 1);
    const sub = await user('dirf', 1);
    await available(alice, 'here');
    await available(bob);
    await available(sub);
    await subscribeTo(sub, alice);
    await settle(alice, bob, sub);

    // Directed unavailable (§4.6.4): bob hears it now and nothing more at logout.
    await alice.send(xml('presence', { to: bob.jid }, xml('status', {}, 'hello bob')));
    await waitForStanza(bob, withStatus(alice.bare, 'hello bob'), 5000, 'directed presence');
    await alice.send(xml('presence', { to: bob.jid, type: 'unavailable' }));
    await waitForStanza(bob, fromFull(alice.jid, 'unavailable'), 5000, 'directed unavailable');

    // Directed presence to a subscriber: the broadcast and the logout reach it once each.
    await alice.send(xml('presence', { to: sub.jid }, xml('status', {}, 'hello sub')));
    await waitForStanza(sub, withStatus(alice.bare, 'hello sub'), 5000, 'directed presence to a subscriber');
    await alice.send(xml('presence', {}, xml('status', {}, 'broadcast')));
    await waitForStanza(sub, withStatus(alice.bare, 'broadcast'), 5000, 'broadcast to the subscriber');
    assert.equal(await countOver(sub, withStatus(alice.bare, 'broadcast'), 500), 0, 'the broadcast once');
    await alice.stop();
    await waitForStanza(sub, fromFull(alice.jid, 'unavailable'), 5000, 'unavailable to the subscriber');
    assert.equal(await countOver(sub, isPresence(alice.bare, 'unavailable')), 0, 'one unavailable to the subscriber');
    assert.equal(await countOver(bob, isPresence(alice.bare, 'unavailable'), 300), 0, 'none to whom the directed presence was withdrawn');
  });

  it('a subscription request to an offline user is shown at the next login (§3.1.3), and pre-approval (§3.4)', async () => {
    const carol = await user('carol', 0);
    const carolName = carol.bare.split('@')[0];
    await carol.stop();
    const dave = await user('dave', 1);
    await interested(dave);
    await available(dave);
    await dave.send(xml('presence', { to: carol.bare, type: 'subscribe' }, xml('status', {}, 'it is dave')));
    await waitForStanza(dave, isPush(carol.bare));
    await sleep(300);
    const back = await login({ service: svc(0), domain: DOMAIN, username: carolName, password: PW, resource: 'back' });
    await back.send(xml('presence'));
    const req = await waitForStanza(back, isPresence(dave.bare, 'subscribe'), 5000, 'pending subscription request');
    assert.equal(req.getChildText('status'), 'it is dave');

    // pre-approval: erin approves frank before frank asks; frank's request is approved without erin seeing it
    const erin = await user('erin', 0);
    const frank = await user('frank', 1);
    await interested(erin);
    await available(erin);
    await available(frank);
    await erin.send(xml('presence', { to: frank.bare, type: 'subscribed' }));
    const pre = await waitForStanza(erin, isPush(frank.bare));
    assert.equal(pre.getChild('query')!.getChild('item')!.attrs.approved, 'true');
    await frank.send(xml('presence', { to: erin.bare, type: 'subscribe' }));
    await waitForStanza(frank, isPresence(erin.bare, 'subscribed'), 5000, 'automatic approval');
    assert.equal(await noStanza(erin, isPresence(frank.bare, 'subscribe'), 500), null);
  });

  it('messages to an offline user are kept, flushed once in order with delay stamps at the next available presence (XEP-0160)', async () => {
    const sender = await user('snd', 0);
    const rcpt = await user('rcpt', 1);
    const name = rcpt.bare.split('@')[0];
    await rcpt.stop();
    for (let i = 0; i < 5; i++) await sender.send(xml('message', { to: rcpt.bare, type: 'chat', id: `off${i}` }, xml('body', {}, `offline ${i}`)));
    // over the limit (OFFLINE_MAX_MESSAGES=5): resource-constraint
    await sender.send(xml('message', { to: rcpt.bare, type: 'chat', id: 'off-over' }, xml('body', {}, 'too many')));
    assert.equal(stanzaErrorCondition(await waitForStanza(sender, isMsg('off-over'))), 'resource-constraint');
    // headline and groupchat are not stored
    await sender.send(xml('message', { to: rcpt.bare, type: 'headline', id: 'hl' }, xml('body', {}, 'news')));

    const back = await login({ service: svc(1), domain: DOMAIN, username: name, password: PW, resource: 'back' });
    await sleep(300);
    assert.equal(back.inbox.filter((el) => el.name === 'message').length, 0, 'nothing before initial presence');
    await back.send(xml('presence'));
    const got: XEl[] = [];
    for (let i = 0; i < 5; i++) got.push(await waitForStanza(back, isMsg(`off${i}`), 5000, `offline message ${i}`));
    got.forEach((m, i) => {
      assert.equal(m.getChildText('body'), `offline ${i}`);
      assert.equal(m.attrs.from, sender.jid);
      const delay = m.getChild('delay', 'urn:xmpp:delay');
      assert.ok(delay, 'XEP-0203 delay');
      assert.equal(delay.attrs.from, DOMAIN);
      assert.ok(!Number.isNaN(Date.parse(delay.attrs.stamp)));
    });
    assert.equal(await countOver(back, (el) => el.name === 'message'), 0, 'each once, and no headline');
    await back.stop();
    const again2 = await login({ service: svc(0), domain: DOMAIN, username: name, password: PW, resource: 'again' });
    await again2.send(xml('presence'));
    assert.equal(await noStanza(again2, (el) => el.name === 'message', 800), null, 'deleted after delivery');
  });

  it('blocking (XEP-0191): blocked messages bounce, presence stops, unblock restores', async () => {
    const a = await user('blka', 0);
    const b = await user('blkb', 1);
    await b.request(xml('iq', { type: 'set' }, xml('block', { xmlns: 'urn:xmpp:blocking' }, xml('item', { jid: a.bare }))));
    await waitForStanza(b, (el) => el.name === 'iq' && el.attrs.type === 'set' && !!el.getChild('block', 'urn:xmpp:blocking'), 5000, 'block push');
    const list = await b.request(xml('iq', { type: 'get' }, xml('blocklist', { xmlns: 'urn:xmpp:blocking' })));
    assert.deepEqual(list.getChild('blocklist')!.getChildren('item').map((i: XEl) => i.attrs.jid), [a.bare]);
    await a.send(xml('message', { to: b.jid, type: 'chat', id: 'blk1' }, xml('body', {}, 'hi')));
    assert.equal(stanzaErrorCondition(await waitForStanza(a, isMsg('blk1'))), 'service-unavailable');
    await b.send(xml('message', { to: a.jid, type: 'chat', id: 'blk2' }, xml('body', {}, 'hi')));
    const err = await waitForStanza(b, isMsg('blk2'));
    assert.equal(stanzaErrorCondition(err), 'not-acceptable');
    assert.ok(err.getChild('error')!.getChild('blocked', 'urn:xmpp:blocking:errors'));
    assert.equal(await noStanza(b, isMsg('blk1'), 300), null);
    await b.request(xml('iq', { type: 'set' }, xml('unblock', { xmlns: 'urn:xmpp:blocking' })));
    await sleep(200);
    await a.send(xml('message', { to: b.jid, type: 'chat', id: 'blk3' }, xml('body', {}, 'again')));
    assert.equal((await waitForStanza(b, isMsg('blk3'))).getChildText('body'), 'again');
  });

  it('blocking (XEP-0191 §3.3-3.4): a blocked contact sees every resource go unavailable, an unblocked subscriber the current presence', async () => {
    const bob = await user('bpb', 0, 'home');
    const bob2 = await again(bob, 'work', 1);
    const alice = await user('bpa', 1); // subscribed to bob
    const dave = await user('bpd', 0); // got directed presence from bob/home
    const erin = await user('bpe', 1); // neither
    for (const s of [alice, dave, erin]) await available(s);
    await available(bob, 'bob at home');
    await available(bob2, 'bob at work');
    await subscribeTo(alice, bob);
    await bob.send(xml('presence', { to: dave.bare }, xml('status', {}, 'for dave')));
    await waitForStanza(dave, withStatus(bob.bare, 'for dave'), 5000, 'directed presence');
    await settle(alice, bob, bob2, dave, erin);

    await bob.request(xml('iq', { type: 'set' }, xml('block', { xmlns: 'urn:xmpp:blocking' }, ...[alice, dave, erin].map((s) => xml('item', { jid: s.bare })))));
    // alice: unavailable from each of bob's resources, once each.
    for (const r of [bob, bob2]) await waitForStanza(alice, fromFull(r.jid, 'unavailable'), 5000, `unavailable from ${r.jid}`);
    assert.equal(await countOver(alice, isPresence(bob.bare, 'unavailable')), 0, 'one unavailable per resource');
    // dave: from the resource that sent it directed presence only.
    await waitForStanza(dave, fromFull(bob.jid, 'unavailable'), 5000, 'unavailable to a directed-presence recipient');
    assert.equal(await countOver(dave, isPresence(bob.bare, 'unavailable'), 300), 0);
    assert.equal(await noStanza(erin, isPresence(bob.bare, 'unavailable'), 300), null, 'nothing to a contact that could not see bob');

    // While blocked, bob's presence does not reach alice.
    await bob2.send(xml('presence', {}, xml('status', {}, 'still at work')));
    assert.equal(await noStanza(alice, withStatus(bob.bare, 'still at work'), 500), null);

    await bob.request(xml('iq', { type: 'set' }, xml('unblock', { xmlns: 'urn:xmpp:blocking' }, ...[alice, dave, erin].map((s) => xml('item', { jid: s.bare })))));
    // alice: the current presence of each resource, once each.
    const home = await waitForStanza(alice, fromFull(bob.jid), 5000, 'presence of bob/home after unblock');
    assert.equal(home.getChildText('status'), 'bob at home');
    const work = await waitForStanza(alice, fromFull(bob2.jid), 5000, 'presence of bob/work after unblock');
    assert.equal(work.getChildText('status'), 'still at work');
    assert.equal(await countOver(alice, isPresence(bob.bare)), 0, 'once per resource');
    // dave is no subscriber and his directed presence ended with the block; erin never saw bob.
    assert.equal(await noStanza(dave, isPresence(bob.bare), 300), null);
    assert.equal(await noStanza(erin, isPresence(bob.bare), 300), null);
    // And bob's logout is owed to alice only.
    await bob.stop();
    await waitForStanza(alice, fromFull(bob.jid, 'unavailable'), 5000, 'unavailable at logout');
    assert.equal(await noStanza(dave, isPresence(bob.bare, 'unavailable'), 500), null);
  });

  it('admin API roster add/remove (gRPC and xmppctl): the user gets the pushes and sees the item; no token, no call', async () => {
    const owner = await user('adm', 0);
    await interested(owner);
    const contact = `${uniqueName('admc')}@${DOMAIN}`;
    const client = new AdminClient({ server: admin.server, token: admin.token });
    try {
      const item = await client.call<{ jid: string; name: string; groups: string[]; subscription: string }>('RosterService', 'AddRosterItem', {
        owner: owner.bare,
        jid: contact,
        name: 'Via Admin',
        groups: ['Ops'],
      });
      assert.deepEqual([item.jid, item.name, item.groups, item.subscription], [contact, 'Via Admin', ['Ops'], 'none']);
      const push = await waitForStanza(owner, isPush(contact), 5000, 'push of the admin add');
      const pushed = push.getChild('query', ROSTER)!.getChild('item')!;
      assert.deepEqual([pushed.attrs.name, pushed.attrs.subscription, pushed.getChildren('group').map((g: XEl) => g.text())], ['Via Admin', 'none', ['Ops']]);
      assert.equal(await countOver(owner, isPush(contact), 300), 0, 'one push');
      const listed = (await rosterGet(owner)).getChildren('item').find((i: XEl) => i.attrs.jid === contact);
      assert.equal(listed?.attrs.name, 'Via Admin');

      await client.call('RosterService', 'RemoveRosterItem', { owner: owner.bare, jid: contact });
      const removed = await waitForStanza(owner, isPush(contact), 5000, 'push of the admin remove');
      assert.equal(removed.getChild('query', ROSTER)!.getChild('item')!.attrs.subscription, 'remove');
      assert.equal((await rosterGet(owner)).getChildren('item').some((i: XEl) => i.attrs.jid === contact), false);

      // xmppctl over the same API.
      const viaCli = `${uniqueName('cli')}@${DOMAIN}`;
      const added = await xmppctl(['roster', 'add', owner.bare, viaCli, '--name', 'Via CLI', '--json', '--server', admin.server, '--token', admin.token]);
      assert.equal(added.code, 0, added.stderr);
      assert.equal(JSON.parse(added.stdout).jid, viaCli);
      const cliPush = await waitForStanza(owner, isPush(viaCli), 5000, 'push of the xmppctl add');
      assert.equal(cliPush.getChild('query', ROSTER)!.getChild('item')!.attrs.name, 'Via CLI');

      // Without the token (gRPC: no authorization at all; xmppctl: an empty one): refused, nothing changes.
      const anon = new AdminClient({ server: admin.server });
      try {
        await assert.rejects(anon.call('RosterService', 'AddRosterItem', { owner: owner.bare, jid: `x-${contact}`, name: '', groups: [] }), (e: { code?: number }) => e.code === status.UNAUTHENTICATED);
      } finally {
        anon.close();
      }
      const refused = await xmppctl(['roster', 'remove', owner.bare, viaCli, '--server', admin.server, '--token', '']);
      assert.equal(refused.code, 3, `exit 3 (authentication refused): ${refused.stderr}`);
      assert.match(refused.stderr, /UNAUTHENTICATED/);
      assert.equal(await noStanza(owner, (el) => isPush(`x-${contact}`)(el) || isPush(viaCli)(el), 500), null, 'no push after refused calls');
      assert.deepEqual(
        (await rosterGet(owner)).getChildren('item').map((i: XEl) => i.attrs.jid),
        [viaCli],
      );
    } finally {
      client.close();
    }
  });

  it('vcard-temp, private XML storage and last activity are per account and advertised', async () => {
    const a = await user('card', 0);
    const b = await user('peer', 1);
    await a.request(xml('iq', { type: 'set' }, xml('vCard', { xmlns: 'vcard-temp' }, xml('FN', {}, 'Card Holder'))));
    const card = await b.request(xml('iq', { type: 'get', to: a.bare }, xml('vCard', { xmlns: 'vcard-temp' })));
    assert.equal(card.getChild('vCard', 'vcard-temp')!.getChildText('FN'), 'Card Holder');
    await a.request(xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:private' }, xml('prefs', { xmlns: 'x:prefs' }, 'dark'))));
    const priv = await a.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:private' }, xml('prefs', { xmlns: 'x:prefs' }))));
    assert.equal(priv.getChild('query')!.getChild('prefs', 'x:prefs')!.text(), 'dark');
    assert.equal((await iqErrorCondition(b.request(xml('iq', { type: 'get', to: a.bare }, xml('query', { xmlns: 'jabber:iq:private' }, xml('prefs', { xmlns: 'x:prefs' })))))).condition, 'forbidden');
    const info = await a.request(xml('iq', { type: 'get', to: a.bare }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
    const features = info.getChild('query')!.getChildren('feature').map((f: XEl) => f.attrs.var);
    for (const f of ['vcard-temp', 'jabber:iq:last', 'jabber:iq:private', 'jabber:iq:roster']) assert.ok(features.includes(f), `account feature ${f}`);
    const server = await a.request(xml('iq', { type: 'get', to: DOMAIN }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
    const serverFeatures = server.getChild('query')!.getChildren('feature').map((f: XEl) => f.attrs.var);
    for (const f of ['urn:xmpp:blocking', 'jabber:iq:private', 'jabber:iq:last', 'vcard-temp']) assert.ok(serverFeatures.includes(f), `server feature ${f}`);
    // last activity: a stranger may not see it
    assert.equal((await iqErrorCondition(b.request(xml('iq', { type: 'get', to: a.bare }, xml('query', { xmlns: 'jabber:iq:last' }))))).condition, 'forbidden');
  });

  it("a dead edge's sessions go unavailable for their contacts (registry expiry)", async () => {
    const watcher = await user('watch', 0);
    const doomed = await user('doomed', 1);
    await available(watcher);
    await available(doomed);
    await watcher.send(xml('presence', { to: doomed.bare, type: 'subscribe' }));
    await waitForStanza(doomed, isPresence(watcher.bare, 'subscribe'));
    await doomed.send(xml('presence', { to: watcher.bare, type: 'subscribed' }));
    await waitForStanza(watcher, isPresence(doomed.bare), 5000, 'presence after approval');
    const edge1 = p.procs.find((x) => x.name === 'edge-1')!;
    edge1.child.kill('SIGKILL');
    await edge1.exited;
    const gone = await waitForStanza(watcher, isPresence(doomed.bare, 'unavailable'), 15_000, 'unavailable of a session whose edge died');
    assert.equal(gone.attrs.from, doomed.jid);
  });
});

/** Run xmppctl (the compiled CLI) as an operator would; resolves with its exit code and output. */
function xmppctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const cli = join(__dirname, '..', '..', 'apps', 'admin', 'dist', 'cli.js');
  // No XMPPCTL_* from the caller's environment: the test says exactly which server and token.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('XMPPCTL_')));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('IM tenants: rosters and offline queues never cross domains (all-in-one)', () => {
  let p: Platform;
  before(async () => {
    p = await startPlatform({ mode: 'all-in-one' });
  });
  after(async () => {
    await stopAllSessions();
    await p?.stop();
  });

  it('the same username on two domains has its own roster and offline queue', async () => {
    const name = uniqueName('twin');
    const svc = `xmpp://127.0.0.1:${p.edges[0].c2s}`;
    const a = await registerAndLogin({ service: svc, domain: 'localhost', username: name, password: PW, resource: 'a' });
    const b = await registerAndLogin({ service: svc, domain: 'example.test', username: name, password: PW, resource: 'b' });
    await a.request(xml('iq', { type: 'set' }, xml('query', { xmlns: ROSTER }, xml('item', { jid: 'only-here@localhost' }))));
    assert.equal((await rosterGet(b)).getChildren('item').length, 0);
    assert.equal((await rosterGet(a)).getChildren('item').length, 1);
    // a message to twin@example.test while offline is not flushed to twin@localhost
    await b.stop();
    await a.send(xml('message', { to: `${name}@example.test`, type: 'chat', id: 'x-tenant' }, xml('body', {}, 'for b')));
    await a.send(xml('presence'));
    assert.equal(await noStanza(a, isMsg('x-tenant'), 800), null);
    const b2 = await login({ service: svc, domain: 'example.test', username: name, password: PW, resource: 'b2' });
    await b2.send(xml('presence'));
    assert.equal((await waitForStanza(b2, isMsg('x-tenant'))).getChildText('body'), 'for b');
  });
});
