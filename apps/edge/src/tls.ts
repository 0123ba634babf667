/**
 * TLS contexts per served domain (SNI). Production: <TLS_CERT_DIR>/<domain>.crt and .key (PEM).
 * Development: one self-signed certificate for all domains, generated at boot when no folder is set.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, SecureContext } from 'node:tls';
import selfsigned from 'selfsigned';

export interface TlsMaterial {
  /** Context for a servername (SNI), falling back to the first domain's. */
  contextFor(servername: string | undefined): SecureContext;
  defaultContext: SecureContext;
  /** The first domain's PEMs: tls.createServer ignores `secureContext`, it needs cert and key. */
  defaultPems: Pems;
  generated: boolean;
}

export function loadTls(domains: string[], certDir: string | undefined): TlsMaterial {
  const contexts = new Map<string, SecureContext>();
  let generated = false;
  let defaultPems: Pems | undefined;
  if (certDir) {
    for (const d of domains) {
      const crt = join(certDir, `${d}.crt`);
      const key = join(certDir, `${d}.key`);
      if (!existsSync(crt) || !existsSync(key)) {
        throw new Error(`TLS_CERT_DIR=${certDir}: missing ${d}.crt or ${d}.key for served domain ${d}`);
      }
      const pems = { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
      defaultPems ??= pems;
      contexts.set(d, createSecureContext({ ...pems, minVersion: 'TLSv1.2' }));
    }
  } else {
    generated = true;
    const pems = generateRsaCert(domains);
    defaultPems = pems;
    const ctx = createSecureContext({ cert: pems.cert, key: pems.key, minVersion: 'TLSv1.2' });
    for (const d of domains) contexts.set(d, ctx);
  }
  const defaultContext = contexts.get(domains[0])!;
  return {
    generated,
    defaultContext,
    defaultPems: defaultPems!,
    contextFor(servername) {
      if (!servername) return defaultContext;
      const s = servername.toLowerCase();
      return contexts.get(s) ?? contexts.get(s.slice(s.indexOf('.') + 1)) ?? defaultContext;
    },
  };
}

export interface Pems {
  cert: string;
  key: string;
}

/**
 * RSA-2048 through node-forge. An ECDSA P-256 certificate was tried (cheaper handshakes) but costs about
 * 16 KB more native memory per idle TLS session here, for no measurable gain in logins/s (bench/README.md).
 */
function generateRsaCert(domains: string[]): Pems {
  const altNames = [
    ...domains.flatMap((d) => [
      { type: 2, value: d },
      { type: 2, value: `*.${d}` },
    ]),
    { type: 2, value: 'localhost' },
    { type: 7, ip: '127.0.0.1' },
  ];
  const pems = selfsigned.generate([{ name: 'commonName', value: domains[0] }], {
    keySize: 2048,
    days: 365,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames }],
  });
  return { cert: pems.cert, key: pems.private };
}
