import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import { AddressInfo } from 'node:net';
import selfsigned from 'selfsigned';
import { X509Certificate } from 'node:crypto';
import { aLabels, loadTls } from './tls';

function certFor(domain: string) {
  return selfsigned.generate([{ name: 'commonName', value: domain }], {
    keySize: 2048,
    days: 1,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: domain }] }],
  });
}

/** A fresh TLS_CERT_DIR holding <name>.crt and <name>.key for each name. */
function certDir(names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'kxmpp-certs-'));
  for (const d of names) {
    const pems = certFor(d);
    writeFileSync(join(dir, `${d}.crt`), pems.cert);
    writeFileSync(join(dir, `${d}.key`), pems.private);
  }
  return dir;
}

/** The certificate subject a TLS client sees when asking for `servername`. */
async function servedCN(material: ReturnType<typeof loadTls>, servername: string): Promise<string> {
  const server = createServer({ SNICallback: (n, cb) => cb(null, material.contextFor(n)), ...material.defaultPems }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    return await new Promise<string>((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false }, () => {
        const cn = s.getPeerCertificate().subject.CN;
        s.destroy();
        resolve(String(Array.isArray(cn) ? cn[0] : cn));
      });
      s.on('error', reject);
    });
  } finally {
    server.close();
  }
}

describe('TLS material', () => {
  it('serves each domain its own certificate from TLS_CERT_DIR (SNI)', async () => {
    const dir = certDir(['a.example', 'b.example']);
    const tls = loadTls(['a.example', 'b.example'], dir);
    assert.equal(tls.generated, false);
    assert.equal(await servedCN(tls, 'a.example'), 'a.example');
    assert.equal(await servedCN(tls, 'b.example'), 'b.example');
    // Unknown names get the first domain's certificate.
    assert.equal(await servedCN(tls, 'other.example'), 'a.example');
  });

  it('names an internationalized domain by its A-labels in file names and SNI (RFC 7622 §3.2: JIDs carry U-labels)', async () => {
    const dir = certDir(['xn--mnchen-3ya.example', 'b.example']);
    const tls = loadTls(['b.example', 'm\u00fcnchen.example'], dir);
    assert.equal(await servedCN(tls, 'xn--mnchen-3ya.example'), 'xn--mnchen-3ya.example');
    assert.equal(await servedCN(tls, 'b.example'), 'b.example');
    assert.equal(aLabels('m\u00fcnchen.example'), 'xn--mnchen-3ya.example');
    assert.equal(aLabels('plain.example'), 'plain.example');
    // The development certificate names it the same way.
    const dev = loadTls(['m\u00fcnchen.example'], undefined);
    const san = new X509Certificate(dev.defaultPems.cert).subjectAltName ?? '';
    assert.match(san, /DNS:xn--mnchen-3ya\.example/);
    assert.equal(await servedCN(dev, 'xn--mnchen-3ya.example'), 'xn--mnchen-3ya.example');
  });

  it('refuses to start when a served domain has no certificate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kxmpp-certs-'));
    assert.throws(() => loadTls(['missing.example'], dir), /missing\.example\.crt/);
  });

  it('generates a development certificate covering every domain when no folder is set', async () => {
    const tls = loadTls(['x.example', 'y.example'], undefined);
    assert.equal(tls.generated, true);
    assert.equal(await servedCN(tls, 'y.example'), 'x.example');
  });

  it('gives a domain added at run time its own development certificate, and forgets it when removed', async () => {
    const tls = loadTls(['x.example'], undefined);
    await tls.addDomain('added.example');
    assert.equal(await servedCN(tls, 'added.example'), 'added.example');
    assert.equal(await servedCN(tls, 'x.example'), 'x.example');
    tls.removeDomain('added.example');
    assert.equal(await servedCN(tls, 'added.example'), 'x.example');
  });

  it('loads a run-time domain from TLS_CERT_DIR, and lists it when its files are missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kxmpp-certs-'));
    for (const d of ['a.example', 'late.example']) {
      const pems = certFor(d);
      writeFileSync(join(dir, `${d}.crt`), pems.cert);
      writeFileSync(join(dir, `${d}.key`), pems.private);
    }
    const tls = loadTls(['a.example'], dir);
    await tls.addDomain('late.example');
    assert.equal(await servedCN(tls, 'late.example'), 'late.example');
    await tls.addDomain('nofiles.example');
    assert.deepEqual(tls.missingCertificates(), ['nofiles.example']);
    assert.equal(await servedCN(tls, 'nofiles.example'), 'a.example');
  });
});
