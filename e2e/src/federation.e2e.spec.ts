/**
 * Federation between two deployments of this platform (each its own nats-server and all-in-one), found
 * through a test DNS server's SRV records: messages and IQs both ways over S2S streams authenticated by
 * dialback (their development certificates are self-signed, so certificates cannot do it), error bounces
 * for a domain with no server, and a peer that lies about its domain. Interop with a real Prosody is in
 * federation-prosody.e2e.spec.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestDns, TestDnsHandle } from '@kxmpp/testing';
import { startPlatform, Platform } from './platform';
import { iqErrorCondition, RawClient, registerAndLogin, Session, stanzaErrorCondition, stopAllSessions, uniqueName, waitForStanza, xml, XEl } from './helpers';

const isMsg = (id: string) => (el: XEl) => el.name === 'message' && el.attrs.id === id;

describe('federation between two deployments (dialback, SRV via DNS)', () => {
  let dns: TestDnsHandle;
  let a: Platform;
  let b: Platform;
  let alice: Session;
  let bob: Session;

  before(async () => {
    dns = await startTestDns();
    const env = { S2S_DNS_SERVERS: dns.server, S2S_CONNECT_TIMEOUT_SECONDS: '8', LOG_LEVEL: 'info' };
    [a, b] = await Promise.all([
      startPlatform({ domains: ['a.test'], env: { ...env, S2S_DIALBACK_SECRET: 'a-secret-of-sixteen-chars' } }),
      startPlatform({ domains: ['b.test'], env: { ...env, S2S_DIALBACK_SECRET: 'b-secret-of-sixteen-chars' } }),
    ]);
    dns.publishXmppServer('a.test', a.edges[0].s2s);
    dns.publishXmppServer('b.test', b.edges[0].s2s);
    alice = await registerAndLogin({ service: `xmpp://127.0.0.1:${a.edges[0].c2s}`, domain: 'a.test', username: uniqueName('alice'), password: 'pw', resource: 'r' });
    bob = await registerAndLogin({ service: `xmpp://127.0.0.1:${b.edges[0].c2s}`, domain: 'b.test', username: uniqueName('bob'), password: 'pw', resource: 'r' });
  });

  after(async () => {
    await stopAllSessions();
    if (process.env.E2E_DUMP) for (const p of [...(a?.procs ?? []), ...(b?.procs ?? [])]) console.log(p.name, p.output());
    await Promise.all([a?.stop(), b?.stop()]);
    await dns?.stop();
  });

  it('a message crosses to the other server and the answer comes back, in order', async () => {
    for (let i = 0; i < 5; i++) await alice.send(xml('message', { to: bob.jid, type: 'chat', id: `ab${i}` }, xml('body', {}, `hello ${i}`)));
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const m = await waitForStanza(bob, isMsg(`ab${i}`), 20_000, `message ab${i}`);
      assert.equal(m.attrs.from, alice.jid);
      got.push(m.getChildText('body') ?? '');
    }
    assert.deepEqual(got, ['hello 0', 'hello 1', 'hello 2', 'hello 3', 'hello 4']);
    await bob.send(xml('message', { to: alice.jid, type: 'chat', id: 'ba1' }, xml('body', {}, 'hi back')));
    const back = await waitForStanza(alice, isMsg('ba1'), 20_000, 'answer');
    assert.equal(back.attrs.from, bob.jid);
    assert.equal(back.getChildText('body'), 'hi back');
  });

  it("an IQ to the remote server is answered by it (ping, XEP-0199)", async () => {
    const res = await alice.request(xml('iq', { type: 'get', to: 'b.test', id: 'ping-b' }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 20_000);
    assert.equal(res.attrs.type, 'result');
    assert.equal(res.attrs.from, 'b.test');
  });

  it('an IQ to an unknown user on the remote server bounces from there with service-unavailable', async () => {
    const err = await iqErrorCondition(alice.request(xml('iq', { type: 'get', to: `nobody@b.test`, id: 'v-nobody' }, xml('query', { xmlns: 'jabber:iq:version' })), 20_000));
    assert.deepEqual(err, { condition: 'service-unavailable', type: 'cancel' });
  });

  it('a message to a domain with no XMPP server bounces with remote-server-not-found', async () => {
    await alice.send(xml('message', { to: 'someone@nowhere.test', type: 'chat', id: 'nowhere' }, xml('body', {}, 'anyone?')));
    const err = await waitForStanza(alice, isMsg('nowhere'), 20_000, 'bounce');
    assert.equal(err.attrs.type, 'error');
    assert.equal(err.attrs.from, 'someone@nowhere.test');
    assert.equal(stanzaErrorCondition(err), 'remote-server-not-found');
  });

  it('a peer claiming a domain whose server does not vouch for it is refused (dialback invalid)', async () => {
    // We connect to b.test's S2S port claiming to be a.test, with a made-up key: b.test asks a.test's
    // (authoritative) server, which says the key is not one it issued.
    const r = await RawClient.connect(b.edges[0].s2s);
    try {
      r.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='a.test' to='b.test' version='1.0'>`);
      await r.waitFor(/<starttls/, 5000);
      await r.startTls('b.test');
      r.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='a.test' to='b.test' version='1.0'>`);
      await r.waitFor(/<\/stream:features>|<stream:features\/>/, 5000);
      r.send(`<db:result from='a.test' to='b.test'>0123456789abcdef</db:result>`);
      await r.waitFor(/<db:result[^>]*type=['"]invalid['"]/, 15_000);
      // A stanza on the unauthenticated stream is refused with a stream error.
      r.send(`<message from='mallory@a.test' to='${bob.bare}' type='chat' id='spoof'><body>spoofed</body></message>`);
      await r.waitFor(/<not-authorized|<invalid-from/, 5000);
    } finally {
      r.destroy();
    }
    const spoofed = bob.inbox.find((el) => el.attrs.id === 'spoof');
    assert.equal(spoofed, undefined, 'the spoofed message never reached bob');
  });
});
