/**
 * JIDs per RFC 7622: parse, validate and normalize.
 *
 * Preparation follows the PRECIS profiles as far as they matter on a server (RFC 7622 §3.2-3.4):
 * localpart: UsernameCaseMapped (fullwidth and halfwidth forms mapped to their decompositions, Unicode
 * NFC, lower case, no spaces, controls or the §3.3.1 excluded characters " & ' / : < > @); domainpart:
 * lower case NFC, a trailing dot removed, labels of at most 63 octets, or an IP literal; resourcepart:
 * OpaqueString (NFC, no control characters, case preserved). Neither localpart nor resourcepart may hold
 * invisible characters (RFC 8264 §9.13 PrecisIgnorableProperties: bidi overrides, zero-width spaces), which
 * would let 'alice' and a look-alike name different accounts; the join controls ZWJ/ZWNJ stay allowed.
 * Every part is at most 1023 octets of UTF-8 (§3.1).
 */

export class JidError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JidError';
  }
}

const MAX_PART_BYTES = 1023;
// " & ' / : < > @ plus space (U+0020) and all control characters
// eslint-disable-next-line no-control-regex
const LOCAL_FORBIDDEN = /["&'/:<>@\s\u0000-\u001f\u007f-\u009f]/u;
// eslint-disable-next-line no-control-regex
const DOMAIN_FORBIDDEN = /[\s\u0000-\u002c/:;<=>?@[\\\]^`{|}~\u007f-\u009f]/u;
// eslint-disable-next-line no-control-regex
const RESOURCE_FORBIDDEN = /[\u0000-\u001f\u007f-\u009f]/u;
// Default_Ignorable_Code_Point minus the join controls (RFC 8264 §9.8 CONTEXTJ, §9.13).
const IGNORABLE = /(?![\u200c\u200d])\p{Default_Ignorable_Code_Point}/u;
/**
 * RFC 8265 §3.3.2 rule 1 (width mapping): fullwidth and halfwidth forms whose decomposition NFKC gives
 * exactly (the Halfwidth Hangul letters and U+FFE3, whose targets decompose further, are left as they are).
 */
const WIDE_OR_NARROW = /[\u3000\uff01-\uff9f\uffe0-\uffe2\uffe4-\uffee]/g;
/** Nearly every JID is ASCII, which has no wide, narrow or ignorable characters and nothing NFC changes. */
const NON_ASCII = /[^\u0000-\u007f]/;

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function checkLength(part: string, what: string): void {
  if (part.length === 0) throw new JidError(`empty ${what}`);
  if (byteLength(part) > MAX_PART_BYTES) throw new JidError(`${what} longer than ${MAX_PART_BYTES} octets`);
}

export function prepLocal(local: string): string {
  const wide = NON_ASCII.test(local);
  const p = (wide ? local.replace(WIDE_OR_NARROW, (c) => c.normalize('NFKC')).normalize('NFC') : local).toLowerCase();
  checkLength(p, 'localpart');
  if (LOCAL_FORBIDDEN.test(p) || (wide && IGNORABLE.test(p))) throw new JidError('localpart contains a forbidden character');
  return p;
}

/**
 * Domains already prepared, input -> result. Every stanza's 'from' and 'to' come through here (the edge
 * validating, the router reading its envelope) and nearly all of them name a handful of domains, so the
 * work (normalization, case folding, a regex and a per-label scan) is done once per domain. Bounded:
 * emptied when full, so a stream of made-up domains costs only the preparation it would cost anyway.
 */
const preparedDomains = new Map<string, string>();
const PREPARED_DOMAINS_MAX = 4096;

export function prepDomain(domain: string): string {
  const known = preparedDomains.get(domain);
  if (known !== undefined) return known;
  const d = prepareDomain(domain);
  if (preparedDomains.size >= PREPARED_DOMAINS_MAX) preparedDomains.clear();
  preparedDomains.set(domain, d);
  return d;
}

function prepareDomain(domain: string): string {
  let d = domain.normalize('NFC').toLowerCase();
  if (d.endsWith('.')) d = d.slice(0, -1);
  checkLength(d, 'domainpart');
  if (d.startsWith('[') && d.endsWith(']')) {
    if (!/^\[[0-9a-f:.]+\]$/.test(d)) throw new JidError('invalid IPv6 literal');
    return d;
  }
  if (DOMAIN_FORBIDDEN.test(d)) throw new JidError('domainpart contains a forbidden character');
  for (const label of d.split('.')) {
    if (label.length === 0) throw new JidError('empty label in domainpart');
    if (byteLength(label) > 63) throw new JidError('label in domainpart longer than 63 octets');
    if (label.startsWith('-') || label.endsWith('-')) throw new JidError('domain label starts or ends with a hyphen');
  }
  return d;
}

export function prepResource(resource: string): string {
  const wide = NON_ASCII.test(resource);
  const r = wide ? resource.normalize('NFC') : resource;
  checkLength(r, 'resourcepart');
  if (RESOURCE_FORBIDDEN.test(r)) throw new JidError('resourcepart contains a control character');
  if (wide && IGNORABLE.test(r)) throw new JidError('resourcepart contains an invisible character');
  return r;
}

export class Jid {
  /** Normalized parts; local and resource may be empty strings meaning "absent". */
  private constructor(readonly local: string, readonly domain: string, readonly resource: string) {}

  static create(local: string | null | undefined, domain: string, resource?: string | null): Jid {
    return new Jid(local ? prepLocal(local) : '', prepDomain(domain), resource ? prepResource(resource) : '');
  }

  /** RFC 7622 §3.1: the first '/' separates the resource; the '@' before it separates the local part. */
  static parse(s: string): Jid {
    if (typeof s !== 'string' || s.length === 0) throw new JidError('empty JID');
    const slash = s.indexOf('/');
    const head = slash === -1 ? s : s.slice(0, slash);
    const resource = slash === -1 ? null : s.slice(slash + 1);
    if (resource !== null && resource.length === 0) throw new JidError('empty resourcepart');
    const at = head.indexOf('@');
    const local = at === -1 ? null : head.slice(0, at);
    if (local !== null && local.length === 0) throw new JidError('empty localpart');
    const domain = at === -1 ? head : head.slice(at + 1);
    return Jid.create(local, domain, resource);
  }

  static tryParse(s: string | undefined | null): Jid | null {
    if (!s) return null;
    try {
      return Jid.parse(s);
    } catch {
      return null;
    }
  }

  get isBare(): boolean {
    return this.resource === '';
  }

  get isDomain(): boolean {
    return this.local === '' && this.resource === '';
  }

  bare(): Jid {
    return this.resource === '' ? this : new Jid(this.local, this.domain, '');
  }

  withResource(resource: string): Jid {
    return new Jid(this.local, this.domain, prepResource(resource));
  }

  toBareString(): string {
    return this.local ? `${this.local}@${this.domain}` : this.domain;
  }

  toString(): string {
    const bare = this.toBareString();
    return this.resource ? `${bare}/${this.resource}` : bare;
  }

  equals(other: Jid): boolean {
    return this.local === other.local && this.domain === other.domain && this.resource === other.resource;
  }
}

/**
 * Encode any string (a JID, a domain, a resource) into a token safe for a NATS subject or a JetStream
 * KV key: base64url without padding, so no '.', '*', '>' or whitespace can leak in (STYLE.md rule 4).
 */
export function encodeToken(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url');
}

export function decodeToken(t: string): string {
  return Buffer.from(t, 'base64url').toString('utf8');
}
