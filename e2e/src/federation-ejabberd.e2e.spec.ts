/**
 * Federation with a real ejabberd 23.01 (Debian package) on loopback, both ways, found through a test DNS
 * server's SRV records (RFC 6120 §13, XEP-0178, XEP-0220):
 * - with certificates (one test CA signs both; each trusts it, ejabberd loads no dialback): SASL EXTERNAL;
 * - with dialback (ejabberd's certificate signed by a CA we do not trust, ours not trusted by it).
 * Messages in order, IQ pings to a remote user and to the remote server, a presence subscription both
 * ways with presence flowing, and a bounce for an unknown remote user. The same story as
 * federation-prosody.e2e.spec.ts, against the other server a large part of the network runs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestCa, EjabberdHandle, startEjabberd, startTestDns, TestCa, TestDnsHandle } from '@kxmpp/testing';
import { Platform } from './platform';
import { cleanupTempDirs, startFederatingPlatform, tempDir } from './federation-peer';
import { fetchMetrics, login, metricValue, registerAndLogin, Session, stopAllSessions, uniqueName, waitForStanza, xml, XEl } from './helpers';

const isMsg = (id: string) => (el: XEl) => el.name === 'message' && el.attrs.id === id;
const KX = 'kxej.test';

after(cleanupTempDirs);

for (const mode of ['certs', 'dialback'] as const) {
  describe(`federation with ejabberd (${mode})`, () => {
    const EJ = mode === 'certs' ? 'ej.test' : 'ejdb.test';
    let dns: TestDnsHandle;
    let ca: TestCa;
    let ours: Platform;
    let ej: EjabberdHandle;
    let alice: Session;
    let romeo: Session;

    before(async () => {
      dns = await startTestDns();
      ca = createTestCa(tempDir('kxmpp-ca-'));
      [ours, ej] = await Promise.all([
        // No id-on-xmppAddr in our certificate, as in a Let's Encrypt one: ejabberd 23.01 (p1_xmpp 1.6.1)
        // crashes its inbound stream on SASL EXTERNAL while reading that otherName (a binary where
        // xmpp_stream_pkix:get_cert_domains expects a list). The DNS names are what it checks.
        startFederatingPlatform(KX, ca, dns, { cert: { xmppAddr: false }, env: { S2S_DIALBACK: mode === 'dialback' ? 'true' : 'false' } }),
        startEjabberd({
          domain: EJ,
          tls: ca.issue(EJ, mode === 'dialback' ? { untrusted: true } : {}),
          caFile: mode === 'dialback' ? ca.untrustedCaFile() : ca.caFile,
          dnsPort: dns.port,
          s2sAuth: mode,
        }),
      ]);
      // ejabberd resolves an SRV target with the system's getaddrinfo (net:getaddrinfo), not with the
      // resolver the test DNS configures: point ours at 'localhost', which the system knows.
      dns.setSrv(`_xmpp-server._tcp.${KX}`, [{ target: 'localhost', port: ours.edges[0].s2s }]);
      dns.publishXmppServer(EJ, ej.s2sPort);
      alice = await registerAndLogin({ service: `xmpp://127.0.0.1:${ours.edges[0].c2s}`, domain: KX, username: uniqueName('alice'), password: 'pw', resource: 'desk' });
      romeo = await registerAndLogin({ service: `xmpp://127.0.0.1:${ej.c2sPort}`, domain: EJ, username: uniqueName('romeo'), password: 'pw', resource: 'phone', mechanism: 'SCRAM-SHA-1' });
      for (const s of [alice, romeo]) s.c.iqCallee.get('urn:xmpp:ping', 'ping', () => ({}));
      // Roster pushes go to resources that asked for the roster (RFC 6121 §2.1.6), as real clients do.
      for (const s of [alice, romeo]) await s.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })), 10_000);
    });

    after(async () => {
      await stopAllSessions();
      if (process.env.E2E_DUMP) {
        for (const p of ours?.procs ?? []) console.log(p.name, p.output());
        console.log(ej?.logs());
      }
      await Promise.all([ours?.stop(), ej?.stop()]);
      await dns?.stop();
    });

    it('messages cross both ways, in order', async () => {
      for (let i = 0; i < 5; i++) await alice.send(xml('message', { to: romeo.jid, type: 'chat', id: `out${i}` }, xml('body', {}, `to ejabberd ${i}`)));
      for (let i = 0; i < 5; i++) {
        const m = await waitForStanza(romeo, isMsg(`out${i}`), 30_000, `message out${i} at ejabberd`);
        assert.equal(m.attrs.from, alice.jid);
        assert.equal(m.getChildText('body'), `to ejabberd ${i}`);
      }
      for (let i = 0; i < 5; i++) await romeo.send(xml('message', { to: alice.jid, type: 'chat', id: `in${i}` }, xml('body', {}, `from ejabberd ${i}`)));
      for (let i = 0; i < 5; i++) {
        const m = await waitForStanza(alice, isMsg(`in${i}`), 30_000, `message in${i} from ejabberd`);
        assert.equal(m.attrs.from, romeo.jid);
        assert.equal(m.getChildText('body'), `from ejabberd ${i}`);
      }
    });

    it('streams were authenticated the expected way, both directions', async () => {
      const text = await fetchMetrics(ours.edges[0].metrics);
      const method = mode === 'certs' ? 'sasl-external' : 'dialback';
      assert.ok(metricValue(text, 'xmpp_s2s_auth_total', { direction: 'out', method, result: 'success' }) >= 1, `outbound ${method}`);
      assert.ok(metricValue(text, 'xmpp_s2s_auth_total', { direction: 'in', method, result: 'success' }) >= 1, `inbound ${method}`);
    });

    it('an IQ ping reaches a remote user and the result comes back, both ways, and the remote server answers', async () => {
      const r1 = await alice.request(xml('iq', { type: 'get', to: romeo.jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 30_000);
      assert.equal(r1.attrs.from, romeo.jid);
      const r2 = await romeo.request(xml('iq', { type: 'get', to: alice.jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 30_000);
      assert.equal(r2.attrs.from, alice.jid);
      const r3 = await alice.request(xml('iq', { type: 'get', to: EJ }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 30_000);
      assert.equal(r3.attrs.type, 'result');
      const v = await romeo.request(xml('iq', { type: 'get', to: KX }, xml('query', { xmlns: 'jabber:iq:version' })), 30_000);
      assert.equal(v.getChild('query')?.getChildText('name'), 'kxmpp');
    });

    it('a presence subscription both ways, and presence flows (RFC 6121 §3)', async () => {
      await alice.send(xml('presence'));
      await romeo.send(xml('presence'));
      await alice.send(xml('presence', { to: romeo.bare, type: 'subscribe' }));
      const req = await waitForStanza(romeo, (el) => el.name === 'presence' && el.attrs.type === 'subscribe', 30_000, 'subscribe at ejabberd');
      assert.equal(req.attrs.from, alice.bare);
      await romeo.send(xml('presence', { to: alice.bare, type: 'subscribed' }));
      await waitForStanza(
        alice,
        (el) => el.name === 'iq' && el.attrs.type === 'set' && !!el.getChild('query')?.getChildren('item').some((i: XEl) => i.attrs.jid === romeo.bare && i.attrs.subscription === 'to'),
        30_000,
        'roster push with subscription to',
      );
      await waitForStanza(alice, (el) => el.name === 'presence' && el.attrs.from === romeo.jid && el.attrs.type === undefined, 30_000, "romeo's presence");
      await romeo.send(xml('presence', { to: alice.bare, type: 'subscribe' }));
      await waitForStanza(alice, (el) => el.name === 'presence' && el.attrs.type === 'subscribe' && el.attrs.from === romeo.bare, 30_000, 'subscribe from romeo');
      await alice.send(xml('presence', { to: romeo.bare, type: 'subscribed' }));
      await waitForStanza(romeo, (el) => el.name === 'presence' && el.attrs.from === alice.jid && el.attrs.type === undefined, 30_000, "alice's presence at ejabberd");
      const roster = await romeo.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })), 10_000);
      const item = roster.getChild('query')?.getChildren('item').find((i: XEl) => i.attrs.jid === alice.bare);
      assert.equal(item?.attrs.subscription, 'both', "ejabberd's roster for romeo");
    });

    it('a message from ejabberd to an offline local user is kept and delivered at login', async () => {
      const name = uniqueName('carol');
      const first = await registerAndLogin({ service: `xmpp://127.0.0.1:${ours.edges[0].c2s}`, domain: KX, username: name, password: 'pw', resource: 'x' });
      await first.stop();
      await romeo.send(xml('message', { to: `${name}@${KX}`, type: 'chat', id: 'off1' }, xml('body', {}, 'while you were away')));
      await new Promise((r) => setTimeout(r, 3000));
      const carol = await login({ service: `xmpp://127.0.0.1:${ours.edges[0].c2s}`, domain: KX, username: name, password: 'pw', resource: 'y' });
      await carol.send(xml('presence'));
      const m = await waitForStanza(carol, isMsg('off1'), 15_000, 'the offline message');
      assert.equal(m.attrs.from, romeo.jid);
      assert.ok(m.getChild('delay', 'urn:xmpp:delay'), 'XEP-0203 delay stamp');
    });

    it('a message to an unknown user of ejabberd bounces from it', async () => {
      await alice.send(xml('message', { to: `nobody@${EJ}`, type: 'chat', id: 'ghost' }, xml('body', {}, 'anyone?')));
      const err = await waitForStanza(alice, isMsg('ghost'), 30_000, 'bounce');
      assert.equal(err.attrs.type, 'error');
      assert.equal(err.attrs.from, `nobody@${EJ}`);
    });
  });
}
