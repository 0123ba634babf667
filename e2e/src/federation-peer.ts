/**
 * Our platform set up to federate in tests: a certificate for its domain from the test CA in
 * TLS_CERT_DIR, trusting only that CA for S2S, resolving remote servers through the test DNS. Shared by
 * the federation specs against Prosody and ejabberd; the folders it makes are removed by cleanupTempDirs.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IssueOptions, TestCa, TestDnsHandle } from '@kxmpp/testing';
import { startPlatform, Platform } from './platform';

const tempDirs: string[] = [];

/** A temporary folder, removed by cleanupTempDirs(). */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

export function cleanupTempDirs(): void {
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export async function startFederatingPlatform(
  domain: string,
  ca: TestCa,
  dns: TestDnsHandle,
  o: { env?: Record<string, string>; cert?: IssueOptions } = {},
): Promise<Platform> {
  const dir = tempDir('kxmpp-certs-');
  const c = ca.issue(domain, o.cert);
  copyFileSync(c.cert, join(dir, `${domain}.crt`));
  copyFileSync(c.key, join(dir, `${domain}.key`));
  return startPlatform({
    domains: [domain],
    env: {
      TLS_CERT_DIR: dir,
      S2S_CA_FILES: ca.caFile,
      S2S_TRUST_SYSTEM_CA: 'false',
      S2S_DNS_SERVERS: dns.server,
      S2S_CONNECT_TIMEOUT_SECONDS: '10',
      ...o.env,
    },
  });
}
