/**
 * A throw-away certificate authority for federation tests, made with the `openssl` CLI: a CA, and leaf
 * certificates for XMPP servers as RFC 6120 §13.7.1.2 asks (subjectAltName dNSName and id-on-xmppAddr
 * otherName for the domain, extendedKeyUsage serverAuth + clientAuth because an S2S peer shows the same
 * certificate when it connects and when it accepts). For negative tests a certificate can name the wrong
 * domain, be signed by a second CA that nobody trusts, or sign itself.
 *
 * EC P-256 keys by default (one `openssl req` per certificate, well under a second); RSA 2048 on request.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export type TestKeyType = 'ec' | 'rsa';

export interface IssueOptions {
  /**
   * DNS names in subjectAltName (default: the domain). Give other names for a "wrong name" certificate:
   * `issue('kx.test', { names: ['elsewhere.test'] })`.
   */
  names?: string[];
  /** Add `*.<domain>` to the DNS names (default false). */
  wildcard?: boolean;
  /** id-on-xmppAddr otherName values: true (default) = the DNS names without wildcards, false = none. */
  xmppAddr?: boolean | string[];
  /** Subject CN (default: the first DNS name). */
  commonName?: string;
  /** Sign with a second CA that is not `caFile` (so peers trusting this CA reject the certificate). */
  untrusted?: boolean;
  /** Self-signed instead of CA-signed. */
  selfSigned?: boolean;
  keyType?: TestKeyType;
  days?: number;
}

export interface IssuedCert {
  domain: string;
  /** Path of the PEM certificate. */
  cert: string;
  /** Path of the PEM private key (unencrypted, mode 0600). */
  key: string;
}

export interface TestCa {
  dir: string;
  /** Path of the CA certificate (PEM): what peers put in their trust store (Prosody `cafile`, Node `ca`). */
  caFile: string;
  caKey: string;
  /** The CA certificate's PEM text. */
  caPem: string;
  issue(domain: string, opts?: IssueOptions): IssuedCert;
  /** Path of the other CA's certificate, which signs `untrusted` certificates (made on first use). */
  untrustedCaFile(): string;
  /**
   * True when `cert` was signed by this CA, is within its validity period, and (when given) is valid for
   * `host` by its DNS subjectAltNames: for checking what a peer presented on a TLS connection.
   */
  verify(cert: string | Buffer | X509Certificate, host?: string): boolean;
}

export function opensslBinary(): string {
  for (const p of [process.env.OPENSSL_BIN, '/usr/bin/openssl', '/usr/local/bin/openssl']) {
    if (p && existsSync(p)) return p;
  }
  throw new Error('openssl not found: install the Debian package `openssl` (apt-get install openssl)');
}

function openssl(args: string[]): void {
  try {
    execFileSync(opensslBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  } catch (e) {
    const err = e as Error & { stderr?: Buffer };
    throw new Error(`openssl ${args[0]} failed: ${err.stderr?.toString().trim() || err.message}`);
  }
}

/** A value for an openssl config line: quoted names would keep their quotes, so only allow safe characters. */
function cnfValue(v: string, what: string): string {
  if (!/^[A-Za-z0-9*._@:\- ]+$/.test(v)) throw new Error(`test CA: ${what} ${JSON.stringify(v)} has characters openssl config cannot take`);
  return v;
}

function keyArgs(type: TestKeyType): string[] {
  return type === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
}

function makeCa(dir: string, name: string, keyType: TestKeyType): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, 'ca.crt');
  const key = join(dir, 'ca.key');
  const cnf = join(dir, 'ca.cnf');
  writeFileSync(
    cnf,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      `CN = ${cnfValue(name, 'CA name')}`,
      '[ca_ext]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  openssl(['req', '-x509', '-new', '-config', cnf, '-extensions', 'ca_ext', ...keyArgs(keyType), '-nodes', '-keyout', key, '-out', cert, '-days', '3650']);
  chmodSync(key, 0o600);
  return { cert, key };
}

/**
 * Make a CA in `dir` (created if missing) with the openssl CLI. Leaf certificates and keys are written
 * next to it as `<domain>.crt` / `<domain>.key` (a suffix is added when a domain is issued again).
 */
export function createTestCa(dir: string, opts: { name?: string; keyType?: TestKeyType } = {}): TestCa {
  const root = resolve(dir);
  mkdirSync(root, { recursive: true });
  const tag = randomBytes(3).toString('hex');
  const ca = makeCa(join(root, 'ca'), opts.name ?? `kxmpp test CA ${tag}`, opts.keyType ?? 'ec');
  const caPem = readFileSync(ca.cert, 'utf8');
  const caX509 = new X509Certificate(caPem);
  let untrusted: { cert: string; key: string } | undefined;
  const used = new Set<string>();

  const untrustedCa = () => (untrusted ??= makeCa(join(root, 'untrusted-ca'), `kxmpp UNTRUSTED test CA ${tag}`, 'ec'));

  return {
    dir: root,
    caFile: ca.cert,
    caKey: ca.key,
    caPem,
    untrustedCaFile: () => untrustedCa().cert,
    issue(domain, o = {}) {
      const names = o.names ?? [domain];
      if (names.length === 0) throw new Error('test CA: a certificate needs at least one DNS name');
      const dns = o.wildcard ? [...names, ...names.map((n) => `*.${n}`)] : [...names];
      const xmpp = o.xmppAddr === false ? [] : Array.isArray(o.xmppAddr) ? o.xmppAddr : names;
      let base = domain.replace(/[^A-Za-z0-9._-]/g, '_');
      if (o.untrusted) base += '.untrusted';
      if (o.selfSigned) base += '.self';
      let label = base;
      for (let i = 2; used.has(label); i++) label = `${base}-${i}`;
      used.add(label);
      const cert = join(root, `${label}.crt`);
      const key = join(root, `${label}.key`);
      const cnf = join(root, `${label}.cnf`);
      const keyType = o.keyType ?? 'ec';
      writeFileSync(
        cnf,
        [
          '[req]',
          'distinguished_name = dn',
          'prompt = no',
          '[dn]',
          `CN = ${cnfValue(o.commonName ?? names[0]!, 'common name')}`,
          '[leaf_ext]',
          'basicConstraints = critical,CA:FALSE',
          `keyUsage = critical,digitalSignature${keyType === 'rsa' ? ',keyEncipherment' : ''}`,
          'extendedKeyUsage = serverAuth,clientAuth',
          'subjectKeyIdentifier = hash',
          ...(o.selfSigned ? [] : ['authorityKeyIdentifier = keyid']),
          'subjectAltName = @alt',
          '[alt]',
          ...dns.map((n, i) => `DNS.${i + 1} = ${cnfValue(n, 'DNS name')}`),
          // id-on-xmppAddr (RFC 6120 §13.7.1.4): otherName with a UTF8String.
          ...xmpp.map((n, i) => `otherName.${i + 1} = 1.3.6.1.5.5.7.8.5;UTF8:${cnfValue(n, 'xmppAddr')}`),
          '',
        ].join('\n'),
      );
      const signer = o.untrusted ? untrustedCa() : ca;
      openssl([
        'req',
        '-x509',
        '-new',
        '-config',
        cnf,
        '-extensions',
        'leaf_ext',
        ...keyArgs(keyType),
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        String(o.days ?? 825),
        ...(o.selfSigned ? [] : ['-CA', signer.cert, '-CAkey', signer.key]),
      ]);
      chmodSync(key, 0o600);
      return { domain, cert, key };
    },
    verify(c, host) {
      let x: X509Certificate;
      try {
        x = c instanceof X509Certificate ? c : new X509Certificate(c);
      } catch {
        return false;
      }
      if (!x.checkIssued(caX509) || !x.verify(caX509.publicKey)) return false;
      const now = Date.now();
      if (now < Date.parse(x.validFrom) || now > Date.parse(x.validTo)) return false;
      if (host !== undefined && x.checkHost(host, { subject: 'never' }) === undefined) return false;
      return true;
    },
  };
}
