/**
 * RFC 6121 delivery end to end: separate edge and router processes (2 + 2) with users on different
 * edges, full and bare JIDs, priorities (§8.5.2.1.1), ordering (RFC 6120 §10.1), error bounces
 * (RFC 6120 §10.4, §10.5, RFC 6121 §8.5.2.2.1), own-presence broadcast (§4.2.2, §4.6); then the basic chat
 * again on the all-in-one process.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as connectNats, KvWatchInclude } from 'nats';
import { encodeToken } from '@kxmpp/xmpp-core';
import { startPlatform, Platform } from './platform';
import {
  noStanza,
  registerAndLogin,
  login,
  rawLogin,
  Session,
  sleep,
  stanzaErrorCondition,
  stopAllSessions,
  stopSeeingServerClose,
  uniqueName,
  waitForError,
  waitForStanza,
  xml,
  XEl,
} from './helpers';

const DOMAIN = 'localhost';

const isMsg = (id: string) => (el: XEl) => el.name === 'message' && el.attrs.id === id;
const bodyOf = (el: XEl) => el.getChildText('body');

/** Send available presence and wait for its echo from the server (own-presence broadcast, RFC 6121 §4.2.2). */
async function goAvailable(s: Session, priority?: number): Promise<void> {
  await s.send(xml('presence', {}, priority === undefined ? null : xml('priority', {}, String(priority))));
  await waitForStanza(s, (el) => el.name === 'presence' && el.attrs.from === s.jid && el.attrs.type === undefined, 5000, 'own presence echo');
  // The router reads availability from the session registry (a KV watch): give it a moment.
  await sleep(150);
}

async function chat(from: Session, to: Session | string, id: string, body: string, type = 'chat'): Promise<void> {
  await from.send(xml('message', { to: typeof to === 'string' ? to : to.jid, type, id }, xml('body', {}, body)));
}

describe('RFC 6121 messaging, split deployment: 2 edges + 2 routers', () => {
  let p: Platform;
  let alice: Session;
  let bob: Session;
  const svc = (edge: number) => `xmpp://127.0.0.1:${p.edges[edge].c2s}`;

  before(async () => {
    p = await startPlatform({ mode: 'split', edges: 2, routers: 2, env: { SESSION_TTL_SECONDS: '3' } });
    assert.equal(p.procs.filter((x) => /^(edge|router)-/.test(x.name)).length, 4);
    assert.notEqual(p.edges[0].c2s, p.edges[1].c2s);
    alice = await registerAndLogin({ service: svc(0), domain: DOMAIN, username: uniqueName('alice'), password: 'pw', resource: 'a0' });
    bob = await registerAndLogin({ service: svc(1), domain: DOMAIN, username: uniqueName('bob'), password: 'pw', resource: 'b1' });
  });

  after(async () => {
    await stopAllSessions();
    await p?.stop();
  });

  it('chat to full JIDs both ways across edges; from is the sender full JID, body intact', async () => {
    await chat(alice, bob, 'ab1', 'hello bob <&> ünïcödé 🎉');
    const m1 = await waitForStanza(bob, isMsg('ab1'));
    assert.equal(m1.attrs.from, alice.jid);
    assert.equal(m1.attrs.to, bob.jid);
    assert.equal(m1.attrs.type, 'chat');
    assert.equal(bodyOf(m1), 'hello bob <&> ünïcödé 🎉');
    await chat(bob, alice, 'ba1', 'hi alice');
    const m2 = await waitForStanza(alice, isMsg('ba1'));
    assert.equal(m2.attrs.from, bob.jid);
    assert.equal(bodyOf(m2), 'hi alice');
  });

  it('a full-JID message reaches a bound resource that has sent no presence (RFC 6121 §8.5.3.1)', async () => {
    // alice and bob have not sent presence at this point.
    await chat(alice, bob, 'nopres', 'are you there?', 'normal');
    assert.equal(bodyOf(await waitForStanza(bob, isMsg('nopres'))), 'are you there?');
  });

  it('iq between users on different edges: get to a full JID, the result comes back', async () => {
    const res = await alice.request(xml('iq', { type: 'get', to: bob.jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.equal(res.attrs.type, 'result');
    assert.equal(res.attrs.from, bob.jid);
  });

  it('chat to bare JIDs both ways after initial presence', async () => {
    await goAvailable(alice);
    await goAvailable(bob);
    await chat(alice, bob.bare, 'bare-ab', 'to your bare JID');
    const m1 = await waitForStanza(bob, isMsg('bare-ab'));
    assert.equal(m1.attrs.from, alice.jid);
    assert.equal(m1.attrs.to, bob.bare);
    await chat(bob, alice.bare, 'bare-ba', 'and back');
    const m2 = await waitForStanza(alice, isMsg('bare-ba'));
    assert.equal(m2.attrs.from, bob.jid);
  });

  it('20 messages each way, sent back to back concurrently, arrive complete and in order (RFC 6120 §10.1)', async () => {
    const N = 20;
    const sends: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      sends.push(chat(alice, bob, `ord-ab-${i}`, `ab ${i}`));
      sends.push(chat(bob, alice, `ord-ba-${i}`, `ba ${i}`));
    }
    await Promise.all(sends);
    const collect = async (s: Session, prefix: string) => {
      const got: string[] = [];
      for (let i = 0; i < N; i++) {
        const m = await waitForStanza(s, (el) => el.name === 'message' && String(el.attrs.id).startsWith(prefix), 5000, `${prefix} #${i}`);
        got.push(String(bodyOf(m)));
      }
      return got;
    };
    const [atBob, atAlice] = await Promise.all([collect(bob, 'ord-ab-'), collect(alice, 'ord-ba-')]);
    assert.deepEqual(atBob, Array.from({ length: N }, (_, i) => `ab ${i}`));
    assert.deepEqual(atAlice, Array.from({ length: N }, (_, i) => `ba ${i}`));
    assert.equal(await noStanza(bob, (el) => String(el.attrs.id).startsWith('ord-ab-'), 300), null, 'duplicate delivery');
  });

  it('bare-JID chat goes only to the highest-priority resource; headline to all non-negative ones (RFC 6121 §8.5.2.1.1)', async () => {
    const u = uniqueName('carol');
    const hi = await registerAndLogin({ service: svc(1), domain: DOMAIN, username: u, password: 'pw', resource: 'hi' });
    const lo = await login({ service: svc(0), domain: DOMAIN, username: u, password: 'pw', resource: 'lo' });
    const neg = await login({ service: svc(1), domain: DOMAIN, username: u, password: 'pw', resource: 'neg' });
    await goAvailable(lo, 1);
    await goAvailable(hi, 5);
    await goAvailable(neg, -1);

    await chat(alice, hi.bare, 'prio-chat', 'only for the top one');
    const got = await waitForStanza(hi, isMsg('prio-chat'));
    assert.equal(got.attrs.from, alice.jid);
    assert.equal(await noStanza(lo, isMsg('prio-chat'), 600), null, 'priority-1 resource got a bare-JID chat');
    assert.equal(await noStanza(neg, isMsg('prio-chat'), 10), null, 'negative-priority resource got a bare-JID chat');

    await chat(alice, hi.bare, 'prio-normal', 'normal type too', 'normal');
    await waitForStanza(hi, isMsg('prio-normal'));
    assert.equal(await noStanza(lo, isMsg('prio-normal'), 500), null);

    await chat(alice, hi.bare, 'prio-headline', 'for everyone', 'headline');
    await waitForStanza(hi, isMsg('prio-headline'));
    await waitForStanza(lo, isMsg('prio-headline'));
    assert.equal(await noStanza(neg, isMsg('prio-headline'), 500), null, 'negative-priority resource got a headline');

    // A full-JID message still reaches the lower-priority resource.
    await chat(alice, lo.jid, 'to-lo', 'just you');
    await waitForStanza(lo, isMsg('to-lo'));
    assert.equal(await noStanza(hi, isMsg('to-lo'), 300), null);

    // Priorities follow later presence (RFC 6121 §4.7.2.3): hi drops to 0, lo (1) is now the top.
    await goAvailable(hi, 0);
    await chat(alice, hi.bare, 'prio-after', 'now lo');
    await waitForStanza(lo, isMsg('prio-after'));
    assert.equal(await noStanza(hi, isMsg('prio-after'), 500), null, 'bare-JID chat still went to the resource that lowered its priority');

    // Unavailable presence (§4.5): lo gets no more bare-JID chats, but full-JID ones still reach it.
    await lo.send(xml('presence', { type: 'unavailable' }));
    await waitForStanza(hi, (el) => el.name === 'presence' && el.attrs.from === lo.jid && el.attrs.type === 'unavailable');
    await sleep(150);
    await chat(alice, hi.bare, 'prio-unavail', 'to whoever is available');
    await waitForStanza(hi, isMsg('prio-unavail'));
    assert.equal(await noStanza(lo, isMsg('prio-unavail'), 500), null, 'an unavailable resource got a bare-JID chat');
    await chat(alice, lo.jid, 'full-unavail', 'directly');
    await waitForStanza(lo, isMsg('full-unavail'));
    await Promise.all([hi.stop(), lo.stop(), neg.stop()]);
  });

  it('same top priority on two resources: a bare-JID chat goes to both (RFC 6121 §8.5.2.1.1)', async () => {
    const u = uniqueName('tie');
    const t1 = await registerAndLogin({ service: svc(0), domain: DOMAIN, username: u, password: 'pw', resource: 't1' });
    const t2 = await login({ service: svc(1), domain: DOMAIN, username: u, password: 'pw', resource: 't2' });
    await goAvailable(t1, 3);
    await goAvailable(t2, 3);
    await chat(bob, t1.bare, 'tie', 'both');
    await Promise.all([waitForStanza(t1, isMsg('tie')), waitForStanza(t2, isMsg('tie'))]);
    await Promise.all([t1.stop(), t2.stop()]);
  });

  it('a message to a full JID whose resource is gone is delivered as to the bare JID (RFC 6121 §8.5.3.2.1)', async () => {
    await chat(alice, `${bob.bare}/no-such-resource`, 'gone-res', 'redirected');
    const m = await waitForStanza(bob, isMsg('gone-res'));
    assert.equal(bodyOf(m), 'redirected');
  });

  it('only negative-priority resources: a bare-JID chat is kept offline, not delivered (RFC 6121 §8.5.2.1.1, XEP-0160)', async () => {
    const u = uniqueName('shy');
    const shy = await registerAndLogin({ service: svc(1), domain: DOMAIN, username: u, password: 'pw', resource: 's' });
    await goAvailable(shy, -5);
    await chat(alice, shy.bare, 'to-shy', 'anyone?');
    assert.equal(await noStanza(shy, isMsg('to-shy'), 500), null);
    assert.equal(await noStanza(alice, isMsg('to-shy'), 10), null, 'no bounce: stored');
    // a session with a non-negative priority gets it
    const bold = await login({ service: svc(0), domain: DOMAIN, username: u, password: 'pw', resource: 'bold' });
    await bold.send(xml('presence'));
    assert.equal(bodyOf(await waitForStanza(bold, isMsg('to-shy'))), 'anyone?');
    await shy.stop();
    await bold.stop();
  });

  it('a message to an unknown user bounces: type error, service-unavailable, from the addressed JID (RFC 6121 §8.5.2.2.1)', async () => {
    const ghost = `${uniqueName('ghost')}@${DOMAIN}`;
    await chat(alice, ghost, 'to-ghost', 'boo');
    const err = await waitForStanza(alice, isMsg('to-ghost'));
    assert.equal(err.attrs.type, 'error');
    assert.equal(err.attrs.from, ghost);
    assert.equal(err.attrs.to, alice.jid);
    assert.equal(stanzaErrorCondition(err), 'service-unavailable');
    assert.equal(err.getChild('error')?.attrs.type, 'cancel');
    // Same for a full JID of an unknown user.
    await chat(alice, `${ghost}/res`, 'to-ghost-full', 'boo');
    const err2 = await waitForStanza(alice, isMsg('to-ghost-full'));
    assert.equal(stanzaErrorCondition(err2), 'service-unavailable');
  });

  it('a message to a domain not served here bounces with remote-server-not-found (RFC 6120 §10.4.3)', async () => {
    await chat(alice, 'someone@elsewhere.example', 'to-remote', 'hello?');
    const err = await waitForStanza(alice, isMsg('to-remote'));
    assert.equal(err.attrs.type, 'error');
    assert.equal(err.attrs.from, 'someone@elsewhere.example');
    assert.equal(stanzaErrorCondition(err), 'remote-server-not-found');
  });

  it('an error message is never answered with an error (RFC 6120 §8.3.1)', async () => {
    await alice.send(xml('message', { to: `${uniqueName('ghost')}@${DOMAIN}`, type: 'error', id: 'err-to-ghost' }, xml('error', { type: 'cancel' }, xml('item-not-found', { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' }))));
    assert.equal(await noStanza(alice, isMsg('err-to-ghost'), 600), null);
  });

  it("initial presence is broadcast to the user's own available resources, the sender included (RFC 6121 §4.2.2)", async () => {
    const u = uniqueName('dave');
    const d1 = await registerAndLogin({ service: svc(0), domain: DOMAIN, username: u, password: 'pw', resource: 'd1' });
    const d2 = await login({ service: svc(1), domain: DOMAIN, username: u, password: 'pw', resource: 'd2' });
    await goAvailable(d1, 2);
    await d2.send(xml('presence', {}, xml('status', {}, 'here'), xml('priority', {}, '1')));
    const echo = await waitForStanza(d2, (el) => el.name === 'presence' && el.attrs.from === d2.jid);
    assert.equal(echo.getChildText('status'), 'here');
    const atD1 = await waitForStanza(d1, (el) => el.name === 'presence' && el.attrs.from === d2.jid);
    assert.equal(atD1.getChildText('status'), 'here');
    // Other users have no subscription: they see nothing.
    assert.equal(await noStanza(alice, (el) => el.name === 'presence' && el.attrs.from === d2.jid, 300), null);

    // A resource that disconnects without unavailable presence: the others get it on its behalf (§4.6).
    await d2.c.socket.socket.destroy();
    const gone = await waitForStanza(d1, (el) => el.name === 'presence' && el.attrs.from === d2.jid && el.attrs.type === 'unavailable', 5000);
    assert.equal(gone.attrs.type, 'unavailable');
    await d1.stop();
    await d2.stop();
  });

  it('resource conflict across edges: the session on the other edge gets <conflict/>, the new one gets the traffic (RFC 6120 §7.7.2.2)', async () => {
    const u = uniqueName('roam');
    const old = await registerAndLogin({ service: svc(0), domain: DOMAIN, username: u, password: 'pw', resource: 'phone' });
    const neu = await login({ service: svc(1), domain: DOMAIN, username: u, password: 'pw', resource: 'phone' });
    const err = await waitForError(old);
    assert.equal(err.condition, 'conflict', err.message);
    await sleep(200);
    await chat(alice, neu.jid, 'after-roam', 'where are you');
    const m = await waitForStanza(neu, isMsg('after-roam'), 3000);
    assert.equal(m.attrs.from, alice.jid);
    await old.stop();
    // The old session's teardown must not withdraw the new session's registry entry.
    await sleep(500);
    await chat(alice, neu.jid, 'after-roam-2', 'still there?');
    await waitForStanza(neu, isMsg('after-roam-2'), 3000);
    await neu.stop();
  });

  it("a session kicked by a conflict on another edge never overwrites or withdraws the new session's registry entry", async () => {
    // The old session is a raw client on edge 0 that does not even answer the server's FIN (allowHalfOpen),
    // so edge 0 holds it until its 2 s close timer. Neither edge 0's registry refresh (every ttl/3 = 1 s
    // here) nor its teardown may touch the key once edge 1 owns it.
    const u = uniqueName('slowkick');
    const resource = 'dup';
    const old = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: u, password: 'pw', register: true, resource, allowHalfOpen: true });
    const bare = `${u}@${DOMAIN}`;
    const nc = await connectNats({ servers: p.nats.url });
    const ops: Array<{ op: string; edge?: string; sid?: string; at: number }> = [];
    try {
      const kv = await nc.jetstream().views.kv('xmpp_sessions');
      const watch = await kv.watch({ key: `${encodeToken(bare)}.${encodeToken(resource)}`, include: KvWatchInclude.UpdatesOnly });
      void (async () => {
        for await (const e of watch) {
          const v = e.operation === 'PUT' && e.value.length ? (JSON.parse(new TextDecoder().decode(e.value)) as { edge: string; sid: string }) : undefined;
          ops.push({ op: e.operation, edge: v?.edge, sid: v?.sid, at: Date.now() });
        }
      })();
      const neu = await login({ service: svc(1), domain: DOMAIN, username: u, password: 'pw', resource });
      await old.waitFor(/<conflict /);
      const kickedAt = Date.now();
      // Edge 0 destroys the half-open socket after 2 s; give its teardown time to finish.
      await old.waitClose(5000);
      await sleep(1200);
      watch.stop();
      const newPut = ops.findIndex((o) => o.op === 'PUT' && o.edge === 'e1');
      assert.ok(newPut >= 0, `no PUT from edge 1: ${JSON.stringify(ops)}`);
      const after = ops.slice(newPut + 1);
      const bad = after.filter((o) => o.op !== 'PUT' || o.edge !== 'e1');
      assert.deepEqual(bad, [], `after the new bind (t0=${kickedAt}), the key was changed by someone else: ${JSON.stringify(ops)}`);
      await chat(alice, neu.jid, 'slowkick', 'still reachable');
      await waitForStanza(neu, isMsg('slowkick'));
      await neu.stop();
    } finally {
      old.destroy();
      await nc.close();
    }
  });

  it('a clean logout (</stream:stream> without unavailable presence) is broadcast as unavailable to the other resources (RFC 6121 §4.6)', async () => {
    const u = uniqueName('leaving');
    const stay = await registerAndLogin({ service: svc(0), domain: DOMAIN, username: u, password: 'pw', resource: 'stay' });
    const go = await login({ service: svc(1), domain: DOMAIN, username: u, password: 'pw', resource: 'go' });
    await goAvailable(stay);
    await goAvailable(go);
    const closed = await stopSeeingServerClose(go.c);
    assert.ok(closed, 'the server did not answer the close');
    const un = await waitForStanza(stay, (el) => el.name === 'presence' && el.attrs.from === go.jid && el.attrs.type === 'unavailable', 3000, 'unavailable presence of the closed resource');
    assert.equal(un.attrs.type, 'unavailable');
    await stay.stop();
  });

  it('after its only resource logged out cleanly, bare-JID chats to the account are kept for its next login; IQs to the gone resource bounce', async () => {
    const u = uniqueName('gone');
    const s = await registerAndLogin({ service: svc(1), domain: DOMAIN, username: u, password: 'pw', resource: 'only' });
    await goAvailable(s);
    const jid = s.jid;
    await s.c.stop();
    await sleep(300);
    await chat(alice, `${u}@${DOMAIN}`, 'to-gone', 'hello?');
    // An IQ to the gone full JID bounces too (RFC 6121 §8.5.3.2.2).
    await alice.send(xml('iq', { type: 'get', to: jid, id: 'iq-to-gone' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    const iqErr = await waitForStanza(alice, (el) => el.name === 'iq' && el.attrs.id === 'iq-to-gone', 3000, 'iq bounce');
    assert.equal(stanzaErrorCondition(iqErr), 'service-unavailable');
    assert.equal(await noStanza(alice, isMsg('to-gone'), 10), null, 'the chat was not bounced');
    const back = await login({ service: svc(0), domain: DOMAIN, username: u, password: 'pw', resource: 'back' });
    await back.send(xml('presence'));
    const kept = await waitForStanza(back, isMsg('to-gone'), 5000, 'the kept chat');
    assert.ok(kept.getChild('delay', 'urn:xmpp:delay'));
    await back.stop();
  });

  it('account removal (XEP-0077 §3.2) ends the sessions of the account on every edge', async () => {
    const u = uniqueName('leaver');
    const here = await registerAndLogin({ service: svc(0), domain: DOMAIN, username: u, password: 'pw', resource: 'here' });
    const there = await login({ service: svc(1), domain: DOMAIN, username: u, password: 'pw', resource: 'there' });
    const res = await here.request(xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:register' }, xml('remove'))));
    assert.equal(res.attrs.type, 'result');
    const err = await waitForError(there, 3000);
    assert.equal(err.condition, 'not-authorized', err.message);
    await here.stop();
    await there.stop();
  });

  it('a message to own bare JID reaches the available resources of the account', async () => {
    await chat(alice, alice.bare, 'self-bare', 'note to self');
    const m = await waitForStanza(alice, isMsg('self-bare'));
    assert.equal(m.attrs.from, alice.jid);
  });

  it('an edge that dies: its sessions leave the registry within SESSION_TTL_SECONDS, later messages are kept offline; users reconnect on the other edge and get them', async () => {
    // Runs last: it kills edge 1 (bob's).
    const edge1 = p.procs.find((x) => x.name === 'edge-1');
    assert.ok(edge1);
    await goAvailable(bob).catch(() => undefined);
    edge1.child.kill('SIGKILL');
    await edge1.exited;
    // Once the registry entry expired (SESSION_TTL_SECONDS=3), a chat to bob is kept offline, not sent into the void.
    await sleep(4500);
    await chat(alice, bob.bare, 'dead-1', 'are you back?');
    assert.equal(await noStanza(alice, isMsg('dead-1'), 300), null, 'kept, not bounced');
    // bob comes back through edge 0 with the same resource.
    const again = await login({ service: svc(0), domain: DOMAIN, username: bob.bare.split('@')[0], password: 'pw', resource: 'b1' });
    await goAvailable(again);
    assert.equal(bodyOf(await waitForStanza(again, isMsg('dead-1'), 5000, 'the chat kept while bob was gone')), 'are you back?');
    await chat(alice, again.bare, 'back', 'welcome back');
    await waitForStanza(again, isMsg('back'));
    await again.stop();
  });
});

describe('RFC 6121 basic chat, all-in-one', () => {
  let p: Platform;
  const svc = () => `xmpp://127.0.0.1:${p.edges[0].c2s}`;

  before(async () => {
    p = await startPlatform({ mode: 'all-in-one' });
  });

  after(async () => {
    await stopAllSessions();
    await p?.stop();
  });

  it('full and bare JID chat both ways, errors for unknown users', async () => {
    const a = await registerAndLogin({ service: svc(), domain: DOMAIN, username: uniqueName('aioa'), password: 'pw', resource: 'a' });
    const b = await registerAndLogin({ service: `xmpps://127.0.0.1:${p.edges[0].c2sTls}`, domain: DOMAIN, username: uniqueName('aiob'), password: 'pw', resource: 'b' });
    await chat(a, b, 'f1', 'full');
    assert.equal((await waitForStanza(b, isMsg('f1'))).attrs.from, a.jid);
    await chat(b, a, 'f2', 'full back');
    assert.equal((await waitForStanza(a, isMsg('f2'))).attrs.from, b.jid);
    await goAvailable(a);
    await goAvailable(b);
    await chat(a, b.bare, 'b1', 'bare');
    assert.equal(bodyOf(await waitForStanza(b, isMsg('b1'))), 'bare');
    await chat(b, a.bare, 'b2', 'bare back');
    assert.equal(bodyOf(await waitForStanza(a, isMsg('b2'))), 'bare back');
    for (let i = 0; i < 20; i++) await chat(a, b, `o${i}`, `m${i}`);
    const got: string[] = [];
    for (let i = 0; i < 20; i++) got.push(String(bodyOf(await waitForStanza(b, (el) => el.name === 'message' && /^o\d+$/.test(el.attrs.id ?? '')))));
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => `m${i}`));
    await chat(a, `${uniqueName('nobody')}@${DOMAIN}`, 'nb', 'x');
    assert.equal(stanzaErrorCondition(await waitForStanza(a, isMsg('nb'))), 'service-unavailable');
    await a.stop();
    await b.stop();
  });
});
