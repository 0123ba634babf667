/**
 * Internationalized remote domains: JIDs carry U-labels (RFC 7622 §3.2), DNS and certificates use
 * A-labels. The resolver asks a real (test) DNS server, and the identity check reads a real certificate.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { startTestDns, type TestDnsHandle } from '@kxmpp/testing';
import { loadTls } from '@kxmpp/xmpp-stream';
import { certNamesDomain } from './identity';
import { S2SResolver } from './resolve';

describe('federation with an internationalized domain', () => {
  let dns: TestDnsHandle;
  before(async () => {
    dns = await startTestDns();
  });
  after(async () => {
    await dns.stop();
  });

  it('looks up the SRV records of the A-label form', async () => {
    dns.publishXmppServer('xn--mnchen-3ya.test', 15269, { target: 'xmpp.xn--mnchen-3ya.test' });
    const resolver = new S2SResolver({ dnsServers: [dns.server], timeoutMs: 2000 });
    const targets = await resolver.resolve('m\u00fcnchen.test');
    assert.deepEqual(targets, [{ host: '127.0.0.1', port: 15269, directTls: false }]);
    assert.ok(dns.queries.some((q) => q.name === '_xmpp-server._tcp.xn--mnchen-3ya.test' && q.type === 'SRV'));
  });

  it('matches a certificate naming the A-label against the U-label domain', () => {
    const pem = loadTls(['m\u00fcnchen.test'], undefined).defaultPems.cert;
    const x = new X509Certificate(pem);
    const peer = { subject: { CN: 'xn--mnchen-3ya.test' }, subjectaltname: x.subjectAltName } as unknown as PeerCertificate;
    assert.deepEqual(certNamesDomain(peer, 'm\u00fcnchen.test'), { ok: true });
    assert.equal(certNamesDomain(peer, 'munchen.test').ok, false);
  });
});
