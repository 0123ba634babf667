/**
 * XEP-0114 Jabber Component Protocol end to end: a real component library (@xmpp/component) and real
 * clients (@xmpp/client) against the running platform. The handshake (right and wrong secret), stanzas
 * both ways (messages, IQs answered by the component and by the server, presence), the stream errors
 * XEP-0114 §3 and RFC 6120 §4.9 ask for (conflict, invalid-from, host-unknown, invalid-namespace), and
 * service-unavailable for a component that is configured but not connected. Then the same across two
 * edges of a split deployment (conflict through the registry, routing to the edge that holds it).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { component as makeComponent, xml as cxml } from '@xmpp/component';
import { startPlatform, Platform } from './platform';
import {
  iqErrorCondition,
  noStanza,
  RawClient,
  registerAndLogin,
  Session,
  sleep,
  stanzaErrorCondition,
  stopAllSessions,
  streamErrorRe,
  uniqueName,
  waitForStanza,
  withTimeout,
  xml,
  XEl,
} from './helpers';

const DOMAIN = 'localhost';
const GW = 'gw.localhost';
const SMS = 'sms.localhost';
const SECRETS = { [GW]: 'gw-s3cret', [SMS]: 'sms-s3cret' };
const NS_COMPONENT = 'jabber:component:accept';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';

interface Comp {
  c: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  inbox: XEl[];
  errors: Array<Error & { condition?: string }>;
  waitFor(pred: (el: XEl) => boolean, what: string, ms?: number): Promise<XEl>;
  waitForError(ms?: number): Promise<Error & { condition?: string }>;
  stop(): Promise<void>;
}

const comps = new Set<Comp>();

/** A @xmpp/component entity (no reconnect), its stanzas and errors collected; rejects when start() fails. */
async function connectComponent(port: number, domain: string, password: string): Promise<Comp> {
  const c = makeComponent({ service: `xmpp://127.0.0.1:${port}`, domain, password });
  c.reconnect.stop();
  // The library's 2 s are short on a loaded 2-core machine (see helpers.makeClient).
  c.timeout = 8000;
  const inbox: XEl[] = [];
  const errors: Array<Error & { condition?: string }> = [];
  const wake = new Set<() => void>();
  c.on('error', (e: Error) => {
    errors.push(e);
    for (const w of [...wake]) w();
  });
  c.on('stanza', (el: XEl) => {
    inbox.push(el);
    for (const w of [...wake]) w();
  });
  const until = <T>(get: () => T | undefined, what: string, ms: number) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const v = get();
        if (v === undefined) return;
        wake.delete(check);
        clearTimeout(t);
        resolve(v);
      };
      const t = setTimeout(() => {
        wake.delete(check);
        reject(new Error(`component ${domain}: timed out waiting for ${what}; inbox: ${inbox.map(String).join('\n')}`));
      }, ms);
      wake.add(check);
      check();
    });
  const comp: Comp = {
    c,
    inbox,
    errors,
    waitFor: (pred, what, ms = 5000) =>
      until(
        () => {
          const i = inbox.findIndex(pred);
          return i < 0 ? undefined : inbox.splice(i, 1)[0];
        },
        what,
        ms,
      ),
    waitForError: (ms = 5000) => until(() => errors[0], 'an error', ms),
    stop: async () => {
      comps.delete(comp);
      try {
        if (c.status !== 'offline' && c.status !== 'disconnect') await withTimeout(c.stop(), 5000, 'component stop');
      } catch {
        c.socket?.destroy?.();
      }
    },
  };
  try {
    await withTimeout(c.start() as Promise<unknown>, 10_000, `component ${domain} start`);
  } catch (e) {
    await comp.stop();
    throw e;
  }
  comps.add(comp);
  return comp;
}

async function stopAllComponents(): Promise<void> {
  await Promise.all([...comps].map((c) => c.stop()));
}

/** start() of a component that must fail: resolves with the stream error condition it got. */
async function refusedWith(port: number, domain: string, password: string): Promise<string | undefined> {
  try {
    const c = await connectComponent(port, domain, password);
    await c.stop();
  } catch (e) {
    return (e as { condition?: string }).condition;
  }
  throw new Error(`component ${domain} was accepted`);
}

const isMsg = (id: string) => (el: XEl) => el.name === 'message' && el.attrs.id === id;

async function goAvailable(s: Session): Promise<void> {
  await s.send(xml('presence', {}));
  await waitForStanza(s, (el) => el.name === 'presence' && el.attrs.from === s.jid && el.attrs.type === undefined, 5000, 'own presence echo');
  // The router reads availability from the session registry (a KV watch): give it a moment.
  await sleep(150);
}

describe('XEP-0114 external components (all-in-one)', () => {
  let p: Platform;
  let alice: Session;
  let port: number;

  before(async () => {
    p = await startPlatform({ mode: 'all-in-one', components: SECRETS });
    port = p.edges[0].component;
    alice = await registerAndLogin({ service: `xmpp://127.0.0.1:${p.edges[0].c2s}`, domain: DOMAIN, username: uniqueName('alice'), password: 'pw', resource: 'phone' });
  });

  after(async () => {
    await stopAllComponents();
    await stopAllSessions();
    await p?.stop();
  });

  it('a component with the right secret completes the handshake and is online as its domain', async () => {
    const gw = await connectComponent(port, GW, SECRETS[GW]);
    assert.equal(gw.c.status, 'online');
    assert.equal(String(gw.c.jid), GW);
    await gw.stop();
  });

  it('a wrong secret gets <not-authorized/> and a log line', async () => {
    assert.equal(await refusedWith(port, GW, 'not-the-secret'), 'not-authorized');
    // The log line travels through the process's stdout pipe, a moment behind the stream error.
    const deadline = Date.now() + 5000;
    while (!/component handshake failed/.test(p.procs[0].output()) && Date.now() < deadline) await sleep(50);
    assert.match(p.procs[0].output(), /"msg":"component handshake failed: wrong secret"/);
    assert.doesNotMatch(p.procs[0].output(), /not-the-secret|gw-s3cret/, 'secrets never reach the logs');
  });

  it('messages from a user to any JID of the component, and from the component to the user', async () => {
    const gw = await connectComponent(port, GW, SECRETS[GW]);
    try {
      await alice.send(xml('message', { to: `+15551234@${GW}`, type: 'chat', id: 'u2c' }, xml('body', {}, 'hello gateway <&> ✓')));
      const m = await gw.waitFor(isMsg('u2c'), 'message u2c');
      assert.equal(m.attrs.from, alice.jid);
      assert.equal(m.attrs.to, `+15551234@${GW}`);
      assert.equal(m.attrs.xmlns, NS_COMPONENT, 'written in the component namespace');
      assert.equal(m.getChildText('body'), 'hello gateway <&> ✓');

      await gw.c.send(cxml('message', { from: `+15551234@${GW}/sms`, to: alice.jid, type: 'chat', id: 'c2u' }, cxml('body', {}, 'hi from SMS')));
      const r = await waitForStanza(alice, isMsg('c2u'));
      assert.equal(r.attrs.from, `+15551234@${GW}/sms`);
      assert.equal(r.getChildText('body'), 'hi from SMS');
      // To the bare JID: routed like anyone's message, to the available session (RFC 6121 §8.5.2.1.1).
      await goAvailable(alice);
      await gw.c.send(cxml('message', { from: `+15551234@${GW}`, to: alice.bare, type: 'chat', id: 'c2bare' }, cxml('body', {}, 'bare')));
      assert.equal((await waitForStanza(alice, isMsg('c2bare'))).attrs.from, `+15551234@${GW}`);
    } finally {
      await gw.stop();
    }
  });

  it('an IQ from a user is answered by the component; the component\'s IQs are answered by the server and by the user', async () => {
    const gw = await connectComponent(port, GW, SECRETS[GW]);
    try {
      gw.c.iqCallee.get(NS_DISCO_INFO, 'query', () =>
        cxml('query', { xmlns: NS_DISCO_INFO }, cxml('identity', { category: 'gateway', type: 'sms', name: 'SMS gateway' }), cxml('feature', { var: 'jabber:iq:gateway' })),
      );
      const res = await alice.request(xml('iq', { type: 'get', to: GW }, xml('query', { xmlns: NS_DISCO_INFO })));
      assert.equal(res.attrs.type, 'result');
      assert.equal(res.attrs.from, GW);
      const id = res.getChild('query', NS_DISCO_INFO)?.getChild('identity');
      assert.deepEqual([id?.attrs.category, id?.attrs.type], ['gateway', 'sms']);

      // The server answers for the account's bare JID (RFC 6121 §8.5.2.1.3); the reply reaches the component.
      const info = await gw.c.iqCaller.request(cxml('iq', { type: 'get', to: alice.bare, from: `bot@${GW}` }, cxml('query', { xmlns: NS_DISCO_INFO })), 5000);
      assert.equal(info.attrs.from, alice.bare);
      assert.ok(info.getChild('query', NS_DISCO_INFO)?.getChildren('identity').some((i: XEl) => i.attrs.category === 'account'));
      // The user's client answers a payload it does not handle with service-unavailable (xmpp.js callee rules).
      const err = await iqErrorCondition(gw.c.iqCaller.request(cxml('iq', { type: 'get', to: alice.jid, from: `bot@${GW}` }, cxml('query', { xmlns: 'urn:example:nothing' })), 5000));
      assert.equal(err.condition, 'service-unavailable');
    } finally {
      await gw.stop();
    }
  });

  it('the component\'s presence reaches the user: to the full JID, to the bare JID once available, and unavailable', async () => {
    const gw = await connectComponent(port, GW, SECRETS[GW]);
    try {
      await gw.c.send(cxml('presence', { from: `+1555@${GW}/sms`, to: alice.jid, id: 'p-full' }, cxml('status', {}, 'reachable by SMS')));
      const p1 = await waitForStanza(alice, (el) => el.name === 'presence' && el.attrs.id === 'p-full');
      assert.equal(p1.attrs.from, `+1555@${GW}/sms`);
      assert.equal(p1.getChildText('status'), 'reachable by SMS');
      await goAvailable(alice);
      await gw.c.send(cxml('presence', { from: `+1555@${GW}/sms`, to: alice.bare, id: 'p-bare' }, cxml('show', {}, 'away')));
      assert.equal((await waitForStanza(alice, (el) => el.name === 'presence' && el.attrs.id === 'p-bare')).getChildText('show'), 'away');
      await gw.c.send(cxml('presence', { from: `+1555@${GW}/sms`, to: alice.bare, type: 'unavailable', id: 'p-gone' }));
      assert.equal((await waitForStanza(alice, (el) => el.name === 'presence' && el.attrs.id === 'p-gone')).attrs.type, 'unavailable');
    } finally {
      await gw.stop();
    }
  });

  it('the server lists its components in disco#items (XEP-0030)', async () => {
    const r = await alice.request(xml('iq', { type: 'get', to: DOMAIN }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' })));
    const jids = (r.getChild('query')?.getChildren('item') ?? []).map((i: XEl) => i.attrs.jid);
    for (const d of Object.keys(SECRETS).filter((c) => c.endsWith(`.${DOMAIN}`))) assert.ok(jids.includes(d), `${d} listed in ${jids.join(', ')}`);
    assert.ok(jids.length > 0);
  });

  it("a user's presence reaches the component: directed available, then unavailable at logout (RFC 6121 §4.6)", async () => {
    const gw = await connectComponent(port, GW, SECRETS[GW]);
    const bob = await registerAndLogin({ service: `xmpp://127.0.0.1:${p.edges[0].c2s}`, domain: DOMAIN, username: uniqueName('bob'), password: 'pw', resource: 'laptop' });
    try {
      await goAvailable(bob);
      await bob.send(xml('presence', { to: `+1555@${GW}`, id: 'dir-1' }, xml('status', {}, 'texting')));
      const got = await gw.waitFor((el) => el.name === 'presence' && el.attrs.id === 'dir-1', 'directed presence at the component', 10_000);
      assert.equal(got.attrs.from, bob.jid);
      assert.equal(got.attrs.to, `+1555@${GW}`);
      assert.equal(got.getChildText('status'), 'texting');
      await bob.stop();
      const gone = await gw.waitFor((el) => el.name === 'presence' && el.attrs.type === 'unavailable' && el.attrs.from === bob.jid, 'unavailable at logout', 10_000);
      assert.equal(gone.attrs.to, `+1555@${GW}`);
    } finally {
      await gw.stop();
    }
  });

  it('XEP-0191: a user who blocks a component JID gets neither its presence nor its messages; the component gets the bounce', async () => {
    const gw = await connectComponent(port, GW, SECRETS[GW]);
    const spammer = `spam@${GW}`;
    try {
      await goAvailable(alice);
      await alice.request(xml('iq', { type: 'set' }, xml('block', { xmlns: 'urn:xmpp:blocking' }, xml('item', { jid: spammer }))));
      await gw.c.send(cxml('presence', { from: `${spammer}/x`, to: alice.bare, id: 'blocked-p' }));
      await gw.c.send(cxml('message', { from: `${spammer}/x`, to: alice.jid, type: 'chat', id: 'blocked-m' }, cxml('body', {}, 'buy now')));
      const bounce = await gw.waitFor(isMsg('blocked-m'), 'the bounce of a blocked message');
      assert.equal(bounce.attrs.type, 'error');
      assert.equal(bounce.attrs.to, `${spammer}/x`);
      assert.equal(bounce.getChild('error')?.getChildElements()[0]?.name, 'service-unavailable');
      // The blocked presence was routed before the bounce (same sender, same partition, in order); a sender
      // that is not blocked still gets through, and by then nothing from the blocked one has arrived.
      await gw.c.send(cxml('presence', { from: `friend@${GW}/x`, to: alice.bare, id: 'ok-p' }));
      await waitForStanza(alice, (el) => el.name === 'presence' && el.attrs.id === 'ok-p');
      assert.equal(await noStanza(alice, (el) => el.attrs.id === 'blocked-p' || el.attrs.id === 'blocked-m', 300), null);
    } finally {
      await alice.request(xml('iq', { type: 'set' }, xml('unblock', { xmlns: 'urn:xmpp:blocking' }, xml('item', { jid: spammer })))).catch(() => undefined);
      await gw.stop();
    }
  });

  it('a second connection for a connected component gets <conflict/>; the first keeps working', async () => {
    const gw = await connectComponent(port, GW, SECRETS[GW]);
    try {
      assert.equal(await refusedWith(port, GW, SECRETS[GW]), 'conflict');
      await alice.send(xml('message', { to: `x@${GW}`, id: 'after-conflict' }, xml('body', {}, 'still there?')));
      await gw.waitFor(isMsg('after-conflict'), 'a message after the conflict');
      assert.equal(gw.c.status, 'online');
    } finally {
      await gw.stop();
    }
  });

  it('a component claiming a from outside its domain gets <invalid-from/>, and nothing is delivered', async () => {
    const sms = await connectComponent(port, SMS, SECRETS[SMS]);
    await sms.c.send(cxml('message', { from: `spoof@${GW}`, to: alice.jid, id: 'spoof' }, cxml('body', {}, 'not mine')));
    assert.equal((await sms.waitForError()).condition, 'invalid-from');
    assert.equal(await noStanza(alice, isMsg('spoof')), null);
    await sms.stop();
  });

  it('once the component is gone, stanzas for its domain bounce with service-unavailable; it can reconnect at once', async () => {
    const gw = await connectComponent(port, GW, SECRETS[GW]);
    await gw.stop();
    // The routers learn of it through a KV watch: give it a moment.
    await sleep(300);
    await alice.send(xml('message', { to: `+1555@${GW}`, type: 'chat', id: 'to-gone' }, xml('body', {}, 'anyone?')));
    const bounce = await waitForStanza(alice, isMsg('to-gone'));
    assert.equal(bounce.attrs.type, 'error');
    assert.equal(bounce.attrs.from, `+1555@${GW}`);
    assert.equal(stanzaErrorCondition(bounce), 'service-unavailable');
    const iq = await iqErrorCondition(alice.request(xml('iq', { type: 'get', to: GW }, xml('query', { xmlns: NS_DISCO_INFO }))));
    assert.equal(iq.condition, 'service-unavailable');
    // An error to it is dropped, not bounced.
    await alice.send(xml('message', { to: `+1555@${GW}`, type: 'error', id: 'err-to-gone' }));
    assert.equal(await noStanza(alice, isMsg('err-to-gone')), null);

    const again = await connectComponent(port, GW, SECRETS[GW]);
    await sleep(300);
    await alice.send(xml('message', { to: `+1555@${GW}`, id: 'back' }, xml('body', {}, 'welcome back')));
    await again.waitFor(isMsg('back'), 'message after reconnecting');
    await again.stop();
  });

  it('raw: a client namespace, an unknown domain or a served domain on the component port get the stream error', async () => {
    const cases: Array<[string, string]> = [
      [`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${GW}'>`, 'invalid-namespace'],
      [`<stream:stream xmlns='${NS_COMPONENT}' xmlns:stream='http://etherx.jabber.org/streams' to='nope.localhost'>`, 'host-unknown'],
      [`<stream:stream xmlns='${NS_COMPONENT}' xmlns:stream='http://etherx.jabber.org/streams' to='${DOMAIN}'>`, 'host-unknown'],
    ];
    for (const [header, condition] of cases) {
      const r = await RawClient.connect(port);
      try {
        await r.send(`<?xml version='1.0'?>${header}`);
        await r.waitFor(/<stream:stream [^>]*>/);
        await r.waitFor(streamErrorRe(condition));
        assert.ok(await r.waitClose(), `${condition}: connection closed`);
      } finally {
        r.destroy();
      }
    }
  });
});

describe('XEP-0114 across two edges (split deployment)', () => {
  let p: Platform;
  let bob: Session;

  before(async () => {
    p = await startPlatform({ mode: 'split', edges: 2, routers: 1, components: SECRETS });
    bob = await registerAndLogin({ service: `xmpp://127.0.0.1:${p.edges[0].c2s}`, domain: DOMAIN, username: uniqueName('bob'), password: 'pw', resource: 'desk' });
  });

  after(async () => {
    await stopAllComponents();
    await stopAllSessions();
    await p?.stop();
  });

  it('a component on edge 1 talks with a user on edge 0; a second connection on edge 0 gets <conflict/>', async () => {
    const gw = await connectComponent(p.edges[1].component, GW, SECRETS[GW]);
    try {
      assert.equal(await refusedWith(p.edges[0].component, GW, SECRETS[GW]), 'conflict');
      await bob.send(xml('message', { to: `echo@${GW}`, type: 'chat', id: 'x1' }, xml('body', {}, 'across edges')));
      const m = await gw.waitFor(isMsg('x1'), 'message across edges');
      assert.equal(m.attrs.from, bob.jid);
      await gw.c.send(cxml('message', { from: `echo@${GW}`, to: bob.jid, type: 'chat', id: 'x2' }, cxml('body', {}, 'echo: across edges')));
      assert.equal((await waitForStanza(bob, isMsg('x2'))).getChildText('body'), 'echo: across edges');
    } finally {
      await gw.stop();
    }
    // Released: the domain can connect on the other edge at once.
    const moved = await connectComponent(p.edges[0].component, GW, SECRETS[GW]);
    await sleep(300);
    await bob.send(xml('message', { to: `echo@${GW}`, id: 'x3' }, xml('body', {}, 'moved')));
    await moved.waitFor(isMsg('x3'), 'message to the component on its new edge');
    await moved.stop();
  });
});
