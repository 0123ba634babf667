/**
 * TLS contexts per served domain (SNI). Production: <TLS_CERT_DIR>/<domain>.crt and .key (PEM).
 * Development: one self-signed certificate for all domains, generated at boot when no folder is set.
 * Domains are named as JIDs carry them (U-labels, RFC 7622 §3.2); file names, certificate names and SNI
 * use the A-label (xn--) form, as DNS does.
 * A domain added at run time (DomainSet) gets its files loaded from TLS_CERT_DIR, or in development a
 * self-signed certificate of its own, signed with one RSA key generated off the event loop.
 */
import { generateKeyPair } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, SecureContext } from 'node:tls';
import { domainToASCII, domainToUnicode } from 'node:url';
import selfsigned from 'selfsigned';

export interface TlsMaterial {
  /** Context for a servername (SNI), falling back to the first domain's. */
  contextFor(servername: string | undefined): SecureContext;
  defaultContext: SecureContext;
  /** The first domain's PEMs: tls.createServer ignores `secureContext`, it needs cert and key. */
  defaultPems: Pems;
  generated: boolean;
  /**
   * Serve a domain added at run time. A TLS_CERT_DIR without its files is not an error: the domain is
   * listed by missingCertificates() and its files are looked for again (at most every 10 s) when a client asks for that name.
   */
  addDomain(domain: string): Promise<void>;
  removeDomain(domain: string): void;
  /** Run-time domains whose certificate files were not found in TLS_CERT_DIR (yet). */
  missingCertificates(): string[];
  /** The certificate and key served for a domain (the default one when it has none of its own). */
  pemsFor(domain: string): Pems;
}

export interface TlsOptions {
  /**
   * Trust anchors for verifying a peer's certificate (S2S: the remote server's, on either side of the
   * connection). Unset: Node's bundled roots.
   */
  ca?: string[];
}

const RETRY_MISSING_MS = 10_000;

export function loadTls(domains: string[], certDir: string | undefined, opts: TlsOptions = {}): TlsMaterial {
  const contexts = new Map<string, SecureContext>();
  const pemsOf = new Map<string, Pems>();
  const secure = (pems: Pems): SecureContext => createSecureContext({ ...pems, ...(opts.ca ? { ca: opts.ca } : {}), minVersion: 'TLSv1.2' });
  let generated = false;
  let defaultPems: Pems | undefined;
  if (certDir) {
    for (const d of domains) {
      const crt = join(certDir, `${aLabels(d)}.crt`);
      const key = join(certDir, `${aLabels(d)}.key`);
      if (!existsSync(crt) || !existsSync(key)) {
        throw new Error(`TLS_CERT_DIR=${certDir}: missing ${aLabels(d)}.crt or ${aLabels(d)}.key for served domain ${d}`);
      }
      const pems = { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
      defaultPems ??= pems;
      pemsOf.set(d, pems);
      contexts.set(d, secure(pems));
    }
  } else {
    generated = true;
    const pems = generateRsaCert(domains);
    defaultPems = pems;
    const ctx = secure(pems);
    for (const d of domains) contexts.set(d, ctx);
  }
  const defaultContext = contexts.get(domains[0])!;
  const configured = new Set(domains);
  // Run-time domains whose files are not in TLS_CERT_DIR yet, with the time of the last look.
  const missing = new Map<string, number>();
  let devKey: Promise<KeyPairPems> | undefined;

  const loadFromDir = (d: string): boolean => {
    const crt = join(certDir!, `${aLabels(d)}.crt`);
    const key = join(certDir!, `${aLabels(d)}.key`);
    missing.set(d, Date.now());
    if (!existsSync(crt) || !existsSync(key)) return false;
    const pems = { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
    pemsOf.set(d, pems);
    contexts.set(d, secure(pems));
    missing.delete(d);
    return true;
  };

  const lookup = (s: string): SecureContext | undefined => {
    const ctx = contexts.get(s);
    if (ctx) return ctx;
    const at = missing.get(s);
    if (at !== undefined && Date.now() - at > RETRY_MISSING_MS) {
      try {
        if (loadFromDir(s)) return contexts.get(s);
      } catch {
        // Unreadable or bad PEM: keep serving the default certificate and look again later.
      }
    }
    return undefined;
  };

  return {
    generated,
    defaultContext,
    defaultPems: defaultPems!,
    missingCertificates: () => [...missing.keys()],
    contextFor(servername) {
      if (!servername) return defaultContext;
      const lower = servername.toLowerCase();
      const s = lower.includes('xn--') ? domainToUnicode(lower) || lower : lower;
      return lookup(s) ?? lookup(s.slice(s.indexOf('.') + 1)) ?? defaultContext;
    },
    async addDomain(domain) {
      if (configured.has(domain) || contexts.has(domain)) return;
      if (certDir) {
        try {
          loadFromDir(domain);
        } catch {
          missing.set(domain, Date.now());
        }
        return;
      }
      devKey ??= generateRsaKeyPair();
      const pems = signDevCert([domain], await devKey);
      pemsOf.set(domain, pems);
      contexts.set(domain, secure(pems));
    },
    pemsFor(domain) {
      return pemsOf.get(domain) ?? defaultPems!;
    },
    removeDomain(domain) {
      if (configured.has(domain)) return;
      contexts.delete(domain);
      pemsOf.delete(domain);
      missing.delete(domain);
    },
  };
}

interface KeyPairPems {
  publicKey: string;
  privateKey: string;
}

/** RSA-2048 on libuv's thread pool: a run-time domain must not stall the edge's event loop. */
function generateRsaKeyPair(): Promise<KeyPairPems> {
  return new Promise((resolve, reject) =>
    generateKeyPair(
      'rsa',
      { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs1', format: 'pem' } },
      (err, publicKey, privateKey) => (err ? reject(err) : resolve({ publicKey, privateKey })),
    ),
  );
}

/** A domain as DNS and certificates name it: internationalized labels as A-labels (xn--). */
export function aLabels(domain: string): string {
  return /^[\x00-\x7f]*$/.test(domain) ? domain : domainToASCII(domain) || domain;
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
  return signDevCert(domains);
}

/** A self-signed certificate for `domains`; with a key pair given, only the signature costs CPU. */
function signDevCert(domains: string[], keyPair?: KeyPairPems): Pems {
  const altNames = [
    ...domains.map(aLabels).flatMap((d) => [
      { type: 2, value: d },
      { type: 2, value: `*.${d}` },
    ]),
    { type: 2, value: 'localhost' },
    { type: 7, ip: '127.0.0.1' },
  ];
  const pems = selfsigned.generate([{ name: 'commonName', value: aLabels(domains[0]!) }], {
    keySize: 2048,
    days: 365,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames }],
    // Not in selfsigned's typings, supported by its code (index.js): reuse a key instead of making one.
    ...(keyPair ? { keyPair } : {}),
  } as Parameters<typeof selfsigned.generate>[1]);
  return { cert: pems.cert, key: pems.private };
}

/**
 * The same certificates with other trust anchors (S2S: verifying remote servers' certificates, which
 * client streams never do). Contexts are made on first use per certificate and kept.
 */
export function withTrustAnchors(material: TlsMaterial, ca: string[]): Pick<TlsMaterial, 'contextFor' | 'pemsFor'> {
  const cache = new Map<string, SecureContext>();
  const make = (pems: Pems): SecureContext => {
    let ctx = cache.get(pems.cert);
    if (!ctx) {
      ctx = createSecureContext({ ...pems, ca, minVersion: 'TLSv1.2' });
      cache.set(pems.cert, ctx);
    }
    return ctx;
  };
  return {
    pemsFor: (domain) => material.pemsFor(domain),
    contextFor: (servername) => make(material.pemsFor((servername ?? '').toLowerCase())),
  };
}
