/**
 * JIDs per RFC 7622: parse, validate and normalize.
 *
 * Each part is prepared and enforced with the profile RFC 7622 §3.2-3.4 names (the PRECIS rules are in
 * ./precis.ts):
 * - localpart: UsernameCaseMapped (RFC 8265 §3.3): fullwidth and halfwidth forms mapped to their
 *   decompositions, lower case, Unicode NFC; then every code point must be valid in the IdentifierClass
 *   (letters, digits, combining marks and printable ASCII; no symbols such as emoji, no punctuation or
 *   spaces outside ASCII, nothing with a compatibility decomposition such as U+2163 ROMAN NUMERAL FOUR,
 *   no unassigned or invisible code points), a string with right-to-left characters must pass the Bidi
 *   Rule (RFC 5893), and the §3.3.1 characters " & ' / : < > @ are excluded.
 * - domainpart: an IP literal, or a domain name whose labels are ASCII or IDNA2008 U-labels: label
 *   separators U+3002, U+FF0E and U+FF61 read as dots, A-labels (xn--) turned into U-labels, the UTS 46
 *   mapping (case, width, NFC), each label at most 63 octets in its A-label form, no symbols, and the
 *   Bidi Rule when a label is right-to-left. A trailing dot is removed.
 * - resourcepart: OpaqueString (RFC 8265 §4.2): non-ASCII spaces mapped to U+0020, NFC, case and width
 *   kept; every code point valid in the FreeformClass (no controls, invisible, unassigned or private-use
 *   code points).
 * Every part is at most 1023 octets of UTF-8 (§3.1). ASCII strings, nearly all JIDs, take a fast path with
 * the same outcome.
 */

import { domainToASCII, domainToUnicode } from 'node:url';
import { bidiRuleHolds, classProblem, hasRtl } from './precis';

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
/** Label separators RFC 7622 §3.2 reads as U+002E FULL STOP. */
const DOT_LIKE = /[\u3002\uff0e\uff61]/g;
const NON_ASCII_SPACE = /(?! )\p{Zs}/gu;
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
  if (!NON_ASCII.test(local)) {
    const p = local.toLowerCase();
    checkLength(p, 'localpart');
    if (LOCAL_FORBIDDEN.test(p)) throw new JidError('localpart contains a forbidden character');
    return p;
  }
  // RFC 8265 §3.3.2 in its order: width mapping, case mapping, normalization, then the checks.
  const p = local.replace(WIDE_OR_NARROW, (c) => c.normalize('NFKC')).toLowerCase().normalize('NFC');
  checkLength(p, 'localpart');
  if (LOCAL_FORBIDDEN.test(p)) throw new JidError('localpart contains a forbidden character');
  const problem = classProblem(p, 'identifier');
  if (problem) throw new JidError(`localpart: ${problem} (RFC 8264 IdentifierClass)`);
  if (!bidiRuleHolds(p, true)) throw new JidError('localpart mixes directions against the Bidi Rule (RFC 5893)');
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
  let d = domain;
  const idn = NON_ASCII.test(d) || /xn--/i.test(d);
  if (idn) d = d.replace(DOT_LIKE, '.');
  d = d.toLowerCase();
  if (d.endsWith('.')) d = d.slice(0, -1);
  checkLength(d, 'domainpart');
  if (d.startsWith('[') && d.endsWith(']')) {
    if (!/^\[[0-9a-f:.]+\]$/.test(d)) throw new JidError('invalid IPv6 literal');
    return d;
  }
  if (DOMAIN_FORBIDDEN.test(d)) throw new JidError('domainpart contains a forbidden character');
  const ascii = idn ? domainToASCII(d) : d;
  if (ascii === '') throw new JidError('domainpart is not an internationalized domain name (IDNA)');
  const labels = ascii.split('.');
  for (const label of labels) {
    if (label.length === 0) throw new JidError('empty label in domainpart');
    if (label.length > 63) throw new JidError('label in domainpart longer than 63 octets');
    if (label.startsWith('-') || label.endsWith('-')) throw new JidError('domain label starts or ends with a hyphen');
  }
  if (!idn) return d;
  const unicode = domainToUnicode(ascii);
  checkLength(unicode, 'domainpart');
  const uLabels = unicode.split('.');
  const rtl = hasRtl(unicode);
  // A name with a right-to-left label puts every label under the Bidi Rule (RFC 5893 §1.4).
  for (const label of uLabels) {
    const problem = NON_ASCII.test(label) ? classProblem(label, 'identifier') : null;
    if (problem) throw new JidError(`domainpart: ${problem} (IDNA2008)`);
    if (rtl && !bidiRuleHolds(label)) throw new JidError('domain label breaks the Bidi Rule (RFC 5893)');
  }
  return unicode;
}

export function prepResource(resource: string): string {
  const wide = NON_ASCII.test(resource);
  const r = wide ? resource.replace(NON_ASCII_SPACE, ' ').normalize('NFC') : resource;
  checkLength(r, 'resourcepart');
  if (RESOURCE_FORBIDDEN.test(r)) throw new JidError('resourcepart contains a control character');
  if (wide) {
    const problem = classProblem(r, 'freeform');
    if (problem) throw new JidError(`resourcepart: ${problem} (RFC 8264 FreeformClass)`);
  }
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
/** The bare JID of a JID string (everything before the first '/', which a local or domain part never holds). */
export function bareOf(jid: string): string {
  const i = jid.indexOf('/');
  return i < 0 ? jid : jid.slice(0, i);
}

export function encodeToken(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url');
}

export function decodeToken(t: string): string {
  return Buffer.from(t, 'base64url').toString('utf8');
}
