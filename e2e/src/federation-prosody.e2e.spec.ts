/**
 * Federation with a real Prosody (Debian package) on loopback, both ways, found through a test DNS
 * server's SRV records:
 * - with certificates (one test CA signs both servers' certificates; each trusts it): SASL EXTERNAL;
 * - with dialback (Prosody's certificate signed by a CA we do not trust, ours not trusted by it).
 * Messages, an IQ ping to a remote user and presence subscriptions cross; a peer that lies about its
 * domain is refused.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestCa, ProsodyHandle, startProsody, startTestDns, TestCa, TestDnsHandle } from '@kxmpp/testing';
import { Platform } from './platform';
import { cleanupTempDirs, startFederatingPlatform, tempDir } from './federation-peer';
import {
  fetchMetrics,
  login,
  metricValue,
  RawClient,
  registerAndLogin,
  Session,
  stopAllSessions,
  uniqueName,
  waitForStanza,
  xml,
  XEl,
} from './helpers';

const isMsg = (id: string) => (el: XEl) => el.name === 'message' && el.attrs.id === id;
const KX = 'kx.test';

after(cleanupTempDirs);

/** Our platform with certificates from the test CA in TLS_CERT_DIR, trusting only that CA for S2S. */
function startOurs(ca: TestCa, dns: TestDnsHandle, env: Record<string, string> = {}): Promise<Platform> {
  return startFederatingPlatform(KX, ca, dns, { env });
}

/** Answer XEP-0199 pings on a client session (the library does not by itself). */
function answerPings(s: Session): void {
  s.c.iqCallee.get('urn:xmpp:ping', 'ping', () => ({}));
}

async function prosodyLogin(p: ProsodyHandle, username: string): Promise<Session> {
  return login({ service: `xmpp://127.0.0.1:${p.c2sPort}`, domain: p.domain, username, password: 'pw', resource: 'phone', mechanism: 'SCRAM-SHA-1' });
}

async function goAvailable(s: Session): Promise<void> {
  await s.send(xml('presence'));
}

for (const mode of ['certs', 'dialback'] as const) {
  describe(`federation with Prosody (${mode})`, () => {
    let dns: TestDnsHandle;
    let ca: TestCa;
    let ours: Platform;
    let prosody: ProsodyHandle;
    const PR = mode === 'certs' ? 'pr.test' : 'prdb.test';
    let alice: Session;
    let romeo: Session;

    before(async () => {
      dns = await startTestDns();
      ca = createTestCa(tempDir('kxmpp-ca-'));
      // Dialback mode: Prosody's certificate comes from a CA we do not trust, and Prosody does not require
      // certificates (s2s_secure_auth off): each side can only prove its domain by dialback.
      const prCert = ca.issue(PR, mode === 'dialback' ? { untrusted: true } : {});
      [ours, prosody] = await Promise.all([
        startOurs(ca, dns, mode === 'dialback' ? { S2S_DIALBACK: 'true' } : { S2S_DIALBACK: 'false' }),
        startProsody({
          domain: PR,
          tls: prCert,
          caFile: mode === 'dialback' ? ca.untrustedCaFile() : ca.caFile,
          dnsPort: dns.port,
          s2sAuth: mode,
          directTls: mode === 'certs',
          users: [{ username: 'romeo', password: 'pw' }, { username: 'juliet', password: 'pw' }],
        }),
      ]);
      if (mode === 'certs') {
        // Direct TLS both ways (XEP-0368): only _xmpps-server records, so no stream can come up any other way.
        dns.setSrv(`_xmpps-server._tcp.${KX}`, [{ target: KX, port: ours.edges[0].s2sTls }]);
        dns.setA(KX, '127.0.0.1');
      } else {
        dns.publishXmppServer(KX, ours.edges[0].s2s);
      }
      if (mode === 'certs') {
        // Only a direct-TLS record (XEP-0368): our streams to Prosody can only come up that way.
        dns.setSrv(`_xmpps-server._tcp.${PR}`, [{ target: PR, port: prosody.s2sTlsPort! }]);
        dns.setA(PR, '127.0.0.1');
      } else {
        dns.publishXmppServer(PR, prosody.s2sPort);
      }
      alice = await registerAndLogin({ service: `xmpp://127.0.0.1:${ours.edges[0].c2s}`, domain: KX, username: uniqueName('alice'), password: 'pw', resource: 'desk' });
      romeo = await prosodyLogin(prosody, 'romeo');
      answerPings(alice);
      answerPings(romeo);
      // Roster pushes go to resources that asked for the roster (RFC 6121 §2.1.6), as real clients do.
      await alice.request(xml('iq', { type: 'get', id: 'roster-a' }, xml('query', { xmlns: 'jabber:iq:roster' })), 10_000);
    });

    after(async () => {
      await stopAllSessions();
      if (process.env.E2E_DUMP) {
        for (const p of ours?.procs ?? []) console.log(p.name, p.output());
        console.log(prosody?.logs());
      }
      await Promise.all([ours?.stop(), prosody?.stop()]);
      await dns?.stop();
    });

    it('messages cross both ways, in order', async () => {
      for (let i = 0; i < 3; i++) await alice.send(xml('message', { to: romeo.jid, type: 'chat', id: `out${i}` }, xml('body', {}, `to prosody ${i}`)));
      for (let i = 0; i < 3; i++) {
        const m = await waitForStanza(romeo, isMsg(`out${i}`), 30_000, `message out${i} at Prosody`);
        assert.equal(m.attrs.from, alice.jid);
        assert.equal(m.getChildText('body'), `to prosody ${i}`);
      }
      await romeo.send(xml('message', { to: alice.jid, type: 'chat', id: 'in1' }, xml('body', {}, 'from prosody')));
      const m = await waitForStanza(alice, isMsg('in1'), 30_000, 'message from Prosody');
      assert.equal(m.attrs.from, romeo.jid);
      assert.equal(m.getChildText('body'), 'from prosody');
    });

    it('streams were authenticated the expected way, both directions', async () => {
      const text = await fetchMetrics(ours.edges[0].metrics);
      const method = mode === 'certs' ? 'sasl-external' : 'dialback';
      assert.ok(metricValue(text, 'xmpp_s2s_auth_total', { direction: 'out', method, result: 'success' }) >= 1, `outbound ${method}`);
      assert.ok(metricValue(text, 'xmpp_s2s_auth_total', { direction: 'in', method, result: 'success' }) >= 1, `inbound ${method}`);
    });

    it('an IQ ping reaches a remote user and the result comes back, both ways', async () => {
      const r1 = await alice.request(xml('iq', { type: 'get', to: romeo.jid, id: 'ping-romeo' }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 30_000);
      assert.equal(r1.attrs.type, 'result');
      assert.equal(r1.attrs.from, romeo.jid);
      const r2 = await romeo.request(xml('iq', { type: 'get', to: alice.jid, id: 'ping-alice' }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 30_000);
      assert.equal(r2.attrs.type, 'result');
      assert.equal(r2.attrs.from, alice.jid);
      // And the remote server itself.
      const r3 = await alice.request(xml('iq', { type: 'get', to: PR, id: 'ping-server' }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 30_000);
      assert.equal(r3.attrs.type, 'result');
    });

    it('a presence subscription to a remote contact is answered and presence flows (RFC 6121 §3)', async () => {
      await goAvailable(romeo);
      await goAvailable(alice);
      await alice.send(xml('presence', { to: romeo.bare, type: 'subscribe', id: 'sub1' }));
      const req = await waitForStanza(romeo, (el) => el.name === 'presence' && el.attrs.type === 'subscribe', 30_000, 'subscribe at Prosody');
      assert.equal(req.attrs.from, alice.bare);
      await romeo.send(xml('presence', { to: alice.bare, type: 'subscribed' }));
      // Alice's roster gets romeo with subscription 'to', and romeo's presence arrives (RFC 6121 §3.1.5-6).
      const push = await waitForStanza(
        alice,
        (el) => el.name === 'iq' && el.attrs.type === 'set' && !!el.getChild('query')?.getChildren('item').some((i: XEl) => i.attrs.jid === romeo.bare && i.attrs.subscription === 'to'),
        30_000,
        'roster push with subscription to',
      );
      assert.ok(push);
      const pres = await waitForStanza(alice, (el) => el.name === 'presence' && el.attrs.from === romeo.jid && el.attrs.type === undefined, 30_000, "romeo's presence");
      assert.ok(pres);
      // Romeo subscribes back; alice approves; romeo then sees alice's presence.
      await romeo.send(xml('presence', { to: alice.bare, type: 'subscribe' }));
      const back = await waitForStanza(alice, (el) => el.name === 'presence' && el.attrs.type === 'subscribe' && el.attrs.from === romeo.bare, 30_000, 'subscribe from romeo');
      assert.ok(back);
      await alice.send(xml('presence', { to: romeo.bare, type: 'subscribed' }));
      await waitForStanza(romeo, (el) => el.name === 'presence' && el.attrs.from === alice.jid && el.attrs.type === undefined, 30_000, "alice's presence at Prosody");
    });

    if (mode === 'certs') {
      it('streams used direct TLS both ways, found by _xmpps-server records only (XEP-0368)', () => {
        assert.ok(dns.queries.some((q) => q.name === `_xmpps-server._tcp.${KX}` && q.type === 'SRV' && q.answers > 0), 'Prosody looked us up');
        assert.ok(!dns.queries.some((q) => q.name === `_xmpp-server._tcp.${KX}` && q.answers > 0));
        assert.ok(dns.queries.some((q) => q.name === `_xmpps-server._tcp.${PR}` && q.type === 'SRV' && q.answers > 0));
        assert.ok(!dns.queries.some((q) => q.name === `_xmpp-server._tcp.${PR}` && q.answers > 0), 'no STARTTLS record exists to fall back on');
      });
    }

    it('a message from a remote user to an offline local user is kept and delivered at login (XEP-0160)', async () => {
      const name = uniqueName('carol');
      const first = await registerAndLogin({ service: `xmpp://127.0.0.1:${ours.edges[0].c2s}`, domain: KX, username: name, password: 'pw', resource: 'x' });
      await first.stop();
      await romeo.send(xml('message', { to: `${name}@${KX}`, type: 'chat', id: 'off1' }, xml('body', {}, 'while you were away')));
      // Stored once the router and the offline service had it: ask the remote side nothing, just wait.
      await new Promise((r) => setTimeout(r, 3000));
      const carol = await login({ service: `xmpp://127.0.0.1:${ours.edges[0].c2s}`, domain: KX, username: name, password: 'pw', resource: 'y' });
      await carol.send(xml('presence'));
      const m = await waitForStanza(carol, isMsg('off1'), 15_000, 'the offline message');
      assert.equal(m.attrs.from, romeo.jid);
      assert.equal(m.getChildText('body'), 'while you were away');
      assert.ok(m.getChild('delay', 'urn:xmpp:delay'), 'XEP-0203 delay stamp');
    });

    it('a message to an unknown user of the remote server bounces from it', async () => {
      await alice.send(xml('message', { to: `nobody@${PR}`, type: 'chat', id: 'ghost' }, xml('body', {}, 'anyone?')));
      const err = await waitForStanza(alice, isMsg('ghost'), 30_000, 'bounce');
      assert.equal(err.attrs.type, 'error');
    });
  });
}

describe('federation: a peer that lies about its domain', () => {
  let dns: TestDnsHandle;
  let ca: TestCa;
  let ours: Platform;

  before(async () => {
    dns = await startTestDns();
    ca = createTestCa(tempDir('kxmpp-ca-'));
    ours = await startOurs(ca, dns);
    dns.publishXmppServer(KX, ours.edges[0].s2s);
  });
  after(async () => {
    await ours?.stop();
    await dns?.stop();
  });

  it('a certificate for another domain gets no SASL EXTERNAL, and stanzas without authentication are refused', async () => {
    const evil = ca.issue('evil.test');
    const r = await RawClient.connect(ours.edges[0].s2s);
    try {
      const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='pr.test' to='${KX}' version='1.0'>`;
      await r.send(header);
      await r.waitFor(/<\/stream:features>/, 5000);
      await r.startTlsWithCert(KX, evil.cert, evil.key);
      await r.send(header);
      const f = await r.waitFor(/<stream:features>([\s\S]*?)<\/stream:features>/, 5000);
      assert.doesNotMatch(f[1], /EXTERNAL/, 'EXTERNAL is not offered to a certificate that does not name pr.test');
      await r.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>`);
      await r.waitFor(/<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized\/>/, 5000);
      await r.send(`<message from='romeo@pr.test' to='someone@${KX}' id='x'><body>spoof</body></message>`);
      await r.waitFor(/<not-authorized xmlns=['"]urn:ietf:params:xml:ns:xmpp-streams['"]\/>/, 5000);
    } finally {
      r.destroy();
    }
  });

  it('dialback for a domain whose server cannot be reached is refused (remote-connection-failed)', async () => {
    const r = await RawClient.connect(ours.edges[0].s2s);
    try {
      const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='unreachable.test' to='${KX}' version='1.0'>`;
      await r.send(header);
      await r.waitFor(/<\/stream:features>/, 5000);
      await r.startTls(KX);
      await r.send(header);
      await r.waitFor(/<\/stream:features>/, 5000);
      await r.send(`<db:result from='unreachable.test' to='${KX}'>abcdef</db:result>`);
      await r.waitFor(/<db:result[^>]*type='error'[^>]*>.*remote-connection-failed/, 20_000);
    } finally {
      r.destroy();
    }
  });
});
