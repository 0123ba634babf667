/**
 * Certificate checks for server-to-server streams (RFC 6120 §13.7.2, RFC 6125): the chain must lead to
 * a trusted root (the TLS socket's own verdict) and the certificate must name the peer's domain in a DNS
 * subjectAltName (wildcards in the left-most label only) or, without any DNS name, in its CN. The
 * XmppAddr otherName is not read: Node does not decode it, and every certificate seen in practice
 * carries the same domain as a DNS name.
 */
import { X509Certificate } from 'node:crypto';
import { checkServerIdentity, DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { aLabels } from '@kxmpp/xmpp-stream';

export interface CertVerdict {
  /** Chain trusted and identity matches the domain. */
  ok: boolean;
  reason?: string;
}

export function checkPeerCertificate(socket: TLSSocket, domain: string): CertVerdict {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return { ok: false, reason: 'no certificate' };
  if (!socket.authorized) return { ok: false, reason: `untrusted chain: ${String(socket.authorizationError ?? 'unknown')}` };
  return certNamesDomain(cert, domain);
}

/** `domain` as JIDs carry it; certificates name internationalized domains by their A-labels. */
export function certNamesDomain(cert: PeerCertificate, domain: string): CertVerdict {
  const err = checkServerIdentity(aLabels(domain), cert);
  return err ? { ok: false, reason: err.message } : { ok: true };
}

/** Trust anchors: Node's bundled roots (unless turned off) plus extra CA files (PEM, several per file allowed). */
export function trustAnchors(useSystem: boolean, extraFiles: string[]): string[] {
  const out = useSystem ? [...rootCertificates] : [];
  for (const f of extraFiles) out.push(readFileSync(f, 'utf8'));
  return out;
}

/** Parse trust anchors once (PEM texts, possibly several certificates each). */
export function parseAnchors(pems: string[]): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const pem of pems) {
    for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
      try {
        out.push(new X509Certificate(block));
      } catch {
        // An unparsable anchor is skipped: it could not verify anything.
      }
    }
  }
  return out;
}

/**
 * The server side of an S2S connection (a TLSSocket wrapped around an accepted socket for STARTTLS)
 * gets no `authorized` verdict from Node, so the client certificate's chain is checked here: each link
 * issued and signed by the next (the certificates the peer sent), ending at a trust anchor, every one
 * within its validity period.
 */
export function verifyPeerChain(socket: TLSSocket, anchors: X509Certificate[], now = new Date()): CertVerdict {
  const detailed = socket.getPeerCertificate(true) as DetailedPeerCertificate;
  if (!detailed || !detailed.raw) return { ok: false, reason: 'no certificate' };
  const sent: X509Certificate[] = [];
  const seen = new Set<string>();
  for (let c: DetailedPeerCertificate | undefined = detailed; c && c.raw && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
    seen.add(c.fingerprint256);
    sent.push(new X509Certificate(c.raw));
  }
  const valid = (x: X509Certificate) => new Date(x.validFrom) <= now && now <= new Date(x.validTo);
  let current = sent[0];
  for (let depth = 0; depth < 10; depth++) {
    if (!valid(current)) return { ok: false, reason: `certificate ${current.subject.replace(/\n/g, ', ')} outside its validity period` };
    const anchor = anchors.find((a) => current.checkIssued(a) && current.verify(a.publicKey));
    if (anchor) return valid(anchor) ? { ok: true } : { ok: false, reason: 'trust anchor expired' };
    const next = sent.find((x) => x !== current && current.checkIssued(x) && current.verify(x.publicKey));
    if (!next || next.fingerprint256 === current.fingerprint256) return { ok: false, reason: 'chain does not lead to a trusted CA' };
    current = next;
  }
  return { ok: false, reason: 'chain too long' };
}
