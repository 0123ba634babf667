/** createTestCa: RFC 6120 §13.7.1.2 server certificates from a throw-away CA, and the bad ones for negative tests. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, connect, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCa, type IssuedCert, type TestCa } from './test-ca';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

const x509 = (c: IssuedCert) => new X509Certificate(readFileSync(c.cert));

/**
 * A real TLS handshake: a server showing `server` and asking for a client certificate, a client showing
 * `client`; each side trusts only `ca`. Resolves with what each side concluded.
 */
async function handshake(
  ca: string,
  server: IssuedCert,
  client: IssuedCert,
  servername: string,
): Promise<{ clientError?: string; serverSawAuthorizedClient?: boolean }> {
  let serverSawAuthorizedClient: boolean | undefined;
  const srv = createServer(
    { cert: readFileSync(server.cert), key: readFileSync(server.key), ca: readFileSync(ca), requestCert: true, rejectUnauthorized: false },
    (s: TLSSocket) => {
      serverSawAuthorizedClient = s.authorized;
      s.end();
    },
  );
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const port = (srv.address() as AddressInfo).port;
    const clientError = await new Promise<string | undefined>((resolve) => {
      const s = connect({ host: '127.0.0.1', port, servername, ca: readFileSync(ca), cert: readFileSync(client.cert), key: readFileSync(client.key) });
      s.once('secureConnect', () => {
        s.end();
        resolve(undefined);
      });
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    if (!clientError) {
      for (let i = 0; i < 100 && serverSawAuthorizedClient === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    }
    return { clientError, serverSawAuthorizedClient };
  } finally {
    srv.close();
  }
}

describe('createTestCa', () => {
  let dir: string;
  let ca: TestCa;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kxmpp-ca-'));
    ca = createTestCa(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a CA certificate and key', () => {
    const c = new X509Certificate(ca.caPem);
    assert.equal(c.ca, true);
    assert.ok(c.checkIssued(c), 'self-signed');
    assert.equal(statSync(ca.caKey).mode & 0o777, 0o600);
  });

  it('a server certificate: dNSName and id-on-xmppAddr for the domain, serverAuth + clientAuth, EC P-256', () => {
    const c = ca.issue('kx.test');
    const x = x509(c);
    assert.equal(x.subjectAltName, 'DNS:kx.test, othername:XmppAddr:kx.test');
    assert.deepEqual(x.keyUsage, [SERVER_AUTH, CLIENT_AUTH]);
    assert.equal(x.ca, false);
    assert.equal(x.publicKey.asymmetricKeyType, 'ec');
    assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(ca.verify(x, 'kx.test'));
    assert.ok(ca.verify(readFileSync(c.cert), 'kx.test'));
    assert.equal(ca.verify(x, 'pr.test'), false);
    assert.equal(ca.verify(x, 'a.kx.test'), false);
    assert.equal(statSync(c.key).mode & 0o777, 0o600);
  });

  it('options: wildcard, RSA, other names, no xmppAddr; the same domain twice gets its own files', () => {
    const w = ca.issue('kx.test', { wildcard: true, keyType: 'rsa' });
    assert.notEqual(w.cert, ca.issue('kx.test').cert);
    const x = x509(w);
    assert.equal(x.subjectAltName, 'DNS:kx.test, DNS:*.kx.test, othername:XmppAddr:kx.test');
    assert.equal(x.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.ok(ca.verify(x, 'muc.kx.test'));
    const wrong = x509(ca.issue('kx.test', { names: ['elsewhere.test'], xmppAddr: false }));
    assert.equal(wrong.subjectAltName, 'DNS:elsewhere.test');
    assert.equal(ca.verify(wrong, 'kx.test'), false);
    assert.throws(() => ca.issue('bad"name.test'), /openssl config cannot take/);
  });

  it('untrusted and self-signed certificates do not verify against the CA', () => {
    const u = x509(ca.issue('kx.test', { untrusted: true }));
    assert.equal(ca.verify(u, 'kx.test'), false);
    assert.ok(u.checkIssued(new X509Certificate(readFileSync(ca.untrustedCaFile()))));
    const s = x509(ca.issue('kx.test', { selfSigned: true }));
    assert.equal(s.issuer, s.subject);
    assert.ok(s.verify(s.publicKey), 'signed with its own key');
    assert.equal(ca.verify(s, 'kx.test'), false);
  });

  it('TLS trusting the CA: accepts its certificates in both roles, refuses the wrong name and the other CA', async () => {
    const kx = ca.issue('kx.test');
    const pr = ca.issue('pr.test');
    assert.deepEqual(await handshake(ca.caFile, kx, pr, 'kx.test'), { clientError: undefined, serverSawAuthorizedClient: true });
    assert.equal((await handshake(ca.caFile, kx, pr, 'pr.test')).clientError, 'ERR_TLS_CERT_ALTNAME_INVALID');
    const rogue = ca.issue('kx.test', { untrusted: true });
    assert.equal((await handshake(ca.caFile, rogue, pr, 'kx.test')).clientError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.deepEqual(await handshake(ca.caFile, kx, ca.issue('pr.test', { untrusted: true }), 'kx.test'), {
      clientError: undefined,
      serverSawAuthorizedClient: false,
    });
  });
});
