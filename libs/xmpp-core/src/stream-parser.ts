/**
 * Streaming XML parser for XMPP streams (RFC 6120 §11) and WebSocket frames (RFC 7395), with hard limits.
 *
 * Why our own tokenizer: ltx's is lenient where RFC 6120 §11.1 requires us to refuse (comments, PIs,
 * DTDs, entity declarations), ignores mismatched end tags, and decodes chunks with toString(), which
 * splits multibyte UTF-8 sequences. This one is strict (XML 1.0 well-formedness minus namespaces), resumes
 * at any chunk boundary, and never holds more than the limits allow: every byte of a top-level element
 * (including a tag still waiting for its '>') counts against maxStanzaBytes as it arrives.
 *
 * Design notes:
 * - Each write is decoded once (fatal TextDecoder in stream mode) and scanned with indexOf/charCodeAt.
 * - An unfinished token (tag, CDATA, XML declaration, text run inside an element) is kept as a list of
 *   slices and joined once when it completes, so a tag dribbled in byte by byte stays linear.
 * - Parser state is consistent before every handler call. If a handler throws, the error propagates and
 *   the unparsed rest of that write is kept for the next write(). If a handler calls reset() (STARTTLS,
 *   SASL success), the rest of that write is discarded: bytes sent before a restart must never be parsed
 *   in the new stream (the STARTTLS command-injection class of bugs).
 */
import { StreamError, type StreamCondition } from './errors';
import { Element } from './xml';

export interface ParserLimits {
  /** Largest top-level element (stanza) in UTF-8 bytes; exceeding it is a policy-violation. */
  maxStanzaBytes: number;
  /** Deepest nesting below the stream root; exceeding it is a policy-violation. */
  maxDepth: number;
  /** Most attributes on one element; exceeding it is a policy-violation. */
  maxAttributes: number;
}

export const DEFAULT_LIMITS: ParserLimits = { maxStanzaBytes: 262_144, maxDepth: 32, maxAttributes: 64 };

export interface StreamParserHandler {
  /** Stream mode: the opening <stream:stream ...> tag (raw qualified name and attributes, as written). */
  onStreamStart(name: string, attrs: Record<string, string>): void;
  /** A complete top-level element: a depth-1 child of the stream (stream mode) or a whole frame (framed mode). */
  onElement(el: Element): void;
  /** Stream mode: </stream:stream>. */
  onStreamEnd(): void;
  /** Whitespace between top-level elements (keep-alives, RFC 6120 §4.6.1). */
  onWhitespace?(): void;
  /** A fatal error; the parser ignores all further input after it. */
  onError(err: StreamError): void;
}

export interface StreamParserOptions {
  /** true for RFC 7395 framing: no wrapping stream element, every top-level element is emitted. */
  framed?: boolean;
  limits?: Partial<ParserLimits>;
}

/** Internal carrier so that parse failures are never confused with exceptions thrown by handlers. */
class ParseFailure {
  constructor(readonly error: StreamError) {}
}

function fail(condition: StreamCondition, text: string): never {
  throw new ParseFailure(new StreamError(condition, text));
}

// Markup kinds; K_NONE means "not inside markup".
const K_NONE = 0;
const K_UNKNOWN = 1; // seen '<', kind not decided yet
const K_START = 2;
const K_END = 3;
const K_CDATA = 4;
const K_DECL = 5;

/** Characters of the markup prefix that need no terminator scan, per kind. */
const PREFIX_LEN = [0, 0, 1, 2, 9, 6];

const CDATA_OPEN = '<![CDATA[';

function isWS(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

/**
 * Validate XML 1.0 Char (§2.2) over s[a, b) and return its UTF-8 length, or -1 on a forbidden character
 * or a lone surrogate.
 */
function utf8Checked(s: string, a: number, b: number): number {
  let bytes = b - a;
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return -1;
    } else if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      if (c > 0xdbff || i + 1 >= b) return -1;
      const d = s.charCodeAt(i + 1);
      if (d < 0xdc00 || d > 0xdfff) return -1;
      i++;
      bytes += 2; // two UTF-16 units, four UTF-8 bytes
    } else {
      if (c >= 0xfffe) return -1;
      bytes += 2;
    }
  }
  return bytes;
}

function isNameStart(c: number): boolean {
  if (c < 0x80) return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a;
  return (
    (c >= 0xc0 && c <= 0xd6) ||
    (c >= 0xd8 && c <= 0xf6) ||
    (c >= 0xf8 && c <= 0x2ff) ||
    (c >= 0x370 && c <= 0x37d) ||
    (c >= 0x37f && c <= 0x1fff) ||
    c === 0x200c ||
    c === 0x200d ||
    (c >= 0x2070 && c <= 0x218f) ||
    (c >= 0x2c00 && c <= 0x2fef) ||
    (c >= 0x3001 && c <= 0xd7ff) ||
    (c >= 0xf900 && c <= 0xfdcf) ||
    (c >= 0xfdf0 && c <= 0xfffd)
  );
}

function isNameChar(c: number): boolean {
  if (c < 0x80) {
    return (
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x5f ||
      c === 0x3a ||
      c === 0x2d ||
      c === 0x2e
    );
  }
  return isNameStart(c) || c === 0xb7 || (c >= 0x300 && c <= 0x36f) || c === 0x203f || c === 0x2040;
}

/** XML 1.0 Name (§2.3); surrogate pairs stand for #x10000-#xEFFFF. */
function isName(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdb7f) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
      continue;
    }
    if (i === 0 ? !isNameStart(c) : !isNameChar(c)) return false;
  }
  return true;
}

function isXmlCharCode(cp: number): boolean {
  return (
    cp === 0x09 ||
    cp === 0x0a ||
    cp === 0x0d ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

function charRef(ref: string): string {
  // ref is what sits between '&#' and ';'
  let cp = 0;
  const hex = ref.charCodeAt(0) === 0x78; // 'x' (XML allows only lower case)
  const start = hex ? 1 : 0;
  const n = ref.length;
  if (n === start || n - start > 8) fail('not-well-formed', 'invalid character reference');
  for (let i = start; i < n; i++) {
    const c = ref.charCodeAt(i);
    let v: number;
    if (c >= 0x30 && c <= 0x39) v = c - 0x30;
    else if (hex && c >= 0x61 && c <= 0x66) v = c - 0x57;
    else if (hex && c >= 0x41 && c <= 0x46) v = c - 0x37;
    else fail('not-well-formed', 'invalid character reference');
    cp = cp * (hex ? 16 : 10) + v;
  }
  if (!isXmlCharCode(cp)) fail('not-well-formed', 'character reference to a character not allowed in XML');
  return String.fromCodePoint(cp);
}

/**
 * XML 1.0 §2.11 and §3.3.3 (every attribute is CDATA without a DTD): a line end (CR LF, CR or LF) or a tab
 * written literally in an attribute value reads as one space. Written as a character reference (&#10;), it
 * stays what it is: that is applied afterwards, by unescapeXmlStrict.
 */
function normalizeAttrWhitespace(raw: string): string {
  return /[\t\n\r]/.test(raw) ? raw.replace(/\r\n|[\t\n\r]/g, ' ') : raw;
}

/**
 * Replace the five predefined entities and character references; anything else is not-well-formed
 * (there is no DTD, so no other entity can be declared, and nothing is ever expanded).
 */
function unescapeXmlStrict(s: string): string {
  let amp = s.indexOf('&');
  if (amp < 0) return s;
  let out = '';
  let last = 0;
  while (amp >= 0) {
    const semi = s.indexOf(';', amp + 1);
    if (semi < 0 || semi - amp > 12) fail('not-well-formed', "'&' not starting an entity or character reference");
    out += s.slice(last, amp);
    const ent = s.slice(amp + 1, semi);
    switch (ent) {
      case 'amp':
        out += '&';
        break;
      case 'lt':
        out += '<';
        break;
      case 'gt':
        out += '>';
        break;
      case 'quot':
        out += '"';
        break;
      case 'apos':
        out += "'";
        break;
      default:
        if (ent.charCodeAt(0) === 0x23 /* # */) out += charRef(ent.slice(1));
        else fail('not-well-formed', `undefined entity &${ent.slice(0, 16)};`);
    }
    last = semi + 1;
    amp = s.indexOf('&', last);
  }
  return out + s.slice(last);
}

/**
 * Find `term` in s from i, given that the previous chunk ended with the first `m` characters of it.
 * Returns [index just after the terminator, 0] or [-1, characters of term matched at the end of s].
 */
function findTerm(s: string, i: number, term: string, m: number): [number, number] {
  const tl = term.length;
  const lead = m > 0 ? term.slice(0, m) : '';
  if (m > 0) {
    const k = (lead + s.slice(i, i + tl - 1)).indexOf(term);
    if (k >= 0) return [i + k + tl - m, 0];
  }
  const j = s.indexOf(term, i);
  if (j >= 0) return [j + tl, 0];
  const tail = s.length - i < tl - 1 ? lead + s.slice(i) : s.slice(s.length - (tl - 1));
  for (let l = tl - 1; l > 0; l--) if (tail.endsWith(term.slice(0, l))) return [-1, l];
  return [-1, 0];
}

export class XmlStreamParser {
  private readonly framed: boolean;
  private readonly limits: ParserLimits;

  private decoder = new TextDecoder('utf-8', { fatal: true });
  /** A high surrogate at the end of a string chunk, waiting for its low half. */
  private hiCarry = '';
  /** Decoded input not parsed yet: re-entrant writes, or the rest of a write whose handler threw. */
  private queue: string[] = [];
  private queueFrameStart: boolean[] = [];
  private busy = false;
  /** Bumped by reset(), so a parse loop interrupted by a handler's reset() stops. */
  private gen = 0;
  private failed = false;

  private cur = '';
  private pos = 0;

  // Document state.
  private rootName: string | null = null;
  private rootOpen = false;
  private ended = false;
  private declAllowed = true;
  /** Open elements below the root (stream mode) or from the top (framed mode). */
  private stack: Element[] = [];
  /** UTF-8 bytes of the current top-level unit (stanza, stream header, declaration). */
  private unitBytes = 0;

  // Pending markup.
  private mkKind = K_NONE;
  private mkParts: string[] = [];
  private mkLen = 0;
  private mkQuote = 0;
  private mkAttrs = 0;
  private mkTerm = 0;

  // Text inside the current element: raw runs waiting for the next markup, then unescaped pieces.
  private textRaw: string[] = [];
  private textOut: string[] = [];

  constructor(
    private readonly handler: StreamParserHandler,
    options: StreamParserOptions = {},
  ) {
    this.framed = options.framed === true;
    const l = options.limits ?? {};
    this.limits = {
      maxStanzaBytes: l.maxStanzaBytes ?? DEFAULT_LIMITS.maxStanzaBytes,
      maxDepth: l.maxDepth ?? DEFAULT_LIMITS.maxDepth,
      maxAttributes: l.maxAttributes ?? DEFAULT_LIMITS.maxAttributes,
    };
  }

  /** Feed bytes (or a string, e.g. a WebSocket text frame). */
  write(chunk: Buffer | string): void {
    if (this.failed) return;
    let s: string;
    if (typeof chunk === 'string') {
      s = this.hiCarry ? this.hiCarry + chunk : chunk;
      this.hiCarry = '';
      const last = s.charCodeAt(s.length - 1);
      if (last >= 0xd800 && last <= 0xdbff) {
        this.hiCarry = s.slice(-1);
        s = s.slice(0, -1);
      }
    } else {
      try {
        s = this.decoder.decode(chunk, { stream: true });
      } catch {
        this.failWith(new StreamError('not-well-formed', 'invalid UTF-8'));
        return;
      }
    }
    if (s.length === 0) return;
    this.queue.push(s);
    this.queueFrameStart.push(true);
    if (this.busy) return; // re-entrant write from a handler: the running loop picks it up
    this.busy = true;
    try {
      while (this.queue.length > 0 && !this.failed) {
        const next = this.queue.shift() as string;
        const frameStart = this.queueFrameStart.shift() as boolean;
        this.run(next, frameStart);
        // RFC 7395 §3.3.3: each WebSocket message holds whole elements. Waiting for the rest of one
        // would leave e.g. a <stream:stream> header sent over WebSocket unanswered until a timeout.
        if (this.framed && !this.failed && (this.stack.length > 0 || this.mkKind !== K_NONE)) {
          this.failWith(new StreamError('not-well-formed', 'a WebSocket message ended inside an element (RFC 7395 §3.3.3)'));
        }
      }
    } finally {
      this.busy = false;
    }
  }

  /** Forget all state: used on stream restart after STARTTLS and SASL success (RFC 6120 §5.4.3.3, §6.4.6). */
  reset(): void {
    this.gen++;
    this.decoder = new TextDecoder('utf-8', { fatal: true });
    this.hiCarry = '';
    this.queue = [];
    this.queueFrameStart = [];
    this.failed = false;
    this.cur = '';
    this.pos = 0;
    this.rootName = null;
    this.rootOpen = false;
    this.ended = false;
    this.declAllowed = true;
    this.stack = [];
    this.unitBytes = 0;
    this.clearMarkup();
    this.textRaw = [];
    this.textOut = [];
  }

  private failWith(err: StreamError): void {
    if (this.failed) return;
    this.failed = true;
    // Drop everything held, so a failed connection waiting to be closed keeps no memory.
    this.queue = [];
    this.queueFrameStart = [];
    this.stack = [];
    this.mkParts = [];
    this.textRaw = [];
    this.textOut = [];
    this.handler.onError(err);
  }

  private run(s: string, frameStart: boolean): void {
    const gen = this.gen;
    if (frameStart && this.framed && this.stack.length === 0 && this.mkKind === K_NONE) this.declAllowed = true;
    this.cur = s;
    this.pos = 0;
    try {
      this.parse(gen);
    } catch (e) {
      if (e instanceof ParseFailure) {
        if (gen === this.gen) this.failWith(e.error);
        return;
      }
      // A handler threw: state is consistent, keep what was not parsed yet for the next write.
      if (gen === this.gen && !this.failed && this.pos < s.length) {
        this.queue.unshift(s.slice(this.pos));
        this.queueFrameStart.unshift(false);
      }
      throw e;
    } finally {
      if (gen === this.gen) this.cur = '';
    }
  }

  private parse(gen: number): void {
    const s = this.cur;
    const n = s.length;
    while (this.pos < n && this.gen === gen && !this.failed) {
      if (this.mkKind !== K_NONE) {
        this.markup(s);
        continue;
      }
      const a = this.pos;
      let lt = s.indexOf('<', a);
      if (lt < 0) lt = n;
      if (lt > a) {
        this.pos = lt;
        this.text(s, a, lt);
        continue;
      }
      if (this.ended) fail('not-well-formed', 'content after the end of the stream');
      this.mkKind = K_UNKNOWN;
    }
  }

  private addBytes(b: number): void {
    if (b < 0) fail('not-well-formed', 'character not allowed in XML');
    if ((this.unitBytes += b) > this.limits.maxStanzaBytes) {
      fail('policy-violation', `stanza larger than maxStanzaBytes (${this.limits.maxStanzaBytes})`);
    }
  }

  private text(s: string, a: number, b: number): void {
    if (this.stack.length > 0) {
      this.addBytes(utf8Checked(s, a, b));
      this.textRaw.push(s.slice(a, b));
      return;
    }
    for (let i = a; i < b; i++) {
      if (!isWS(s.charCodeAt(i))) fail('not-well-formed', 'text outside of a stanza');
    }
    if ((this.rootOpen || (this.framed && !this.ended)) && this.handler.onWhitespace) this.handler.onWhitespace();
  }

  private markup(s: string): void {
    const from = this.pos;
    const n = s.length;
    let scanFrom = from;
    if (this.mkKind === K_UNKNOWN) {
      const kind = this.detect(s, from);
      if (kind === K_UNKNOWN) {
        this.holdMarkup(s, from, n);
        return;
      }
      this.mkKind = kind;
      scanFrom = from + Math.max(0, PREFIX_LEN[kind] - this.mkLen);
    }
    let end: number;
    switch (this.mkKind) {
      case K_START:
        end = this.scanStartTag(s, scanFrom);
        break;
      case K_END: {
        const j = s.indexOf('>', scanFrom);
        end = j < 0 ? -1 : j + 1;
        break;
      }
      case K_CDATA:
        [end, this.mkTerm] = findTerm(s, scanFrom, ']]>', this.mkTerm);
        break;
      default:
        [end, this.mkTerm] = findTerm(s, scanFrom, '?>', this.mkTerm);
    }
    if (end < 0) {
      this.holdMarkup(s, from, n);
      return;
    }
    this.addBytes(utf8Checked(s, from, end));
    const raw = this.mkLen > 0 ? this.mkParts.join('') + s.slice(from, end) : s.slice(from, end);
    const kind = this.mkKind;
    this.clearMarkup();
    this.pos = end;
    switch (kind) {
      case K_START:
        this.startTag(raw);
        break;
      case K_END:
        this.endTag(raw);
        break;
      case K_CDATA:
        this.flushRawText();
        if (raw.length > CDATA_OPEN.length + 3) this.textOut.push(raw.slice(CDATA_OPEN.length, -3));
        break;
      default:
        this.xmlDecl(raw);
    }
  }

  private holdMarkup(s: string, from: number, n: number): void {
    this.addBytes(utf8Checked(s, from, n));
    this.mkParts.push(s.slice(from, n));
    this.mkLen += n - from;
    this.pos = n;
  }

  private clearMarkup(): void {
    this.mkKind = K_NONE;
    if (this.mkParts.length > 0) this.mkParts = [];
    this.mkLen = 0;
    this.mkQuote = 0;
    this.mkAttrs = 0;
    this.mkTerm = 0;
  }

  /** Decide what a '<' starts, from as few characters as needed. */
  private detect(s: string, from: number): number {
    const head = this.mkLen > 0 ? this.mkParts.join('') + s.slice(from, from + 9) : s.slice(from, from + 9);
    if (head.length < 2) return K_UNKNOWN;
    const c = head.charCodeAt(1);
    if (c === 0x2f /* / */) return K_END;
    if (c === 0x3f /* ? */) {
      if (!this.declAllowed) fail('restricted-xml', 'processing instructions are not allowed');
      if (head.length < 6) {
        if ('<?xml'.startsWith(head)) return K_UNKNOWN;
      } else if (head.startsWith('<?xml') && isWS(head.charCodeAt(5))) {
        return K_DECL;
      }
      fail('restricted-xml', 'processing instructions are not allowed');
    }
    if (c === 0x21 /* ! */) {
      if (head.length < 3) return K_UNKNOWN;
      const d = head.charCodeAt(2);
      if (d === 0x2d /* - */) fail('restricted-xml', 'comments are not allowed');
      if (d >= 0x41 && d <= 0x5a) fail('restricted-xml', 'DTDs and declarations are not allowed');
      if (d === 0x5b /* [ */ && this.stack.length > 0) {
        if (head.length < CDATA_OPEN.length) {
          if (CDATA_OPEN.startsWith(head)) return K_UNKNOWN;
        } else if (head.startsWith(CDATA_OPEN)) {
          return K_CDATA;
        }
      }
      fail('not-well-formed', "invalid markup after '<!'");
    }
    return K_START;
  }

  /** Find the '>' closing a start tag, skipping quoted attribute values; resumable across chunks. */
  private scanStartTag(s: string, i: number): number {
    const n = s.length;
    let q = this.mkQuote;
    while (i < n) {
      if (q !== 0) {
        const j = s.indexOf(q === 0x22 ? '"' : "'", i);
        if (j < 0) {
          i = n;
          break;
        }
        q = 0;
        i = j + 1;
        continue;
      }
      const c = s.charCodeAt(i);
      if (c === 0x3e /* > */) {
        this.mkQuote = 0;
        return i + 1;
      }
      if (c === 0x22 || c === 0x27) {
        q = c;
        // Every attribute has exactly one quoted value: count them while they stream in.
        if (++this.mkAttrs > this.limits.maxAttributes) this.tooManyAttributes();
      } else if (c === 0x3c /* < */) {
        fail('not-well-formed', "'<' inside a tag");
      }
      i++;
    }
    this.mkQuote = q;
    return -1;
  }

  private tooManyAttributes(): never {
    fail('policy-violation', `element has more than maxAttributes (${this.limits.maxAttributes}) attributes`);
  }

  private startTag(t: string): void {
    const n = t.length - 1; // index of '>'
    let i = 1;
    while (i < n) {
      const c = t.charCodeAt(i);
      if (isWS(c) || c === 0x2f) break;
      i++;
    }
    const name = t.slice(1, i);
    if (!isName(name)) fail('not-well-formed', 'invalid element name');
    const attrs: Record<string, string> = {};
    let count = 0;
    let selfClosing = false;
    for (;;) {
      const wsStart = i;
      while (i < n && isWS(t.charCodeAt(i))) i++;
      if (i === n) break;
      if (t.charCodeAt(i) === 0x2f) {
        if (i + 1 !== n) fail('not-well-formed', "'/' inside a tag");
        selfClosing = true;
        break;
      }
      if (i === wsStart) fail('not-well-formed', 'attributes must be separated by whitespace');
      const ns = i;
      while (i < n) {
        const c = t.charCodeAt(i);
        if (c === 0x3d || c === 0x22 || c === 0x27 || c === 0x2f || isWS(c)) break;
        i++;
      }
      const an = t.slice(ns, i);
      if (!isName(an)) fail('not-well-formed', 'invalid attribute name');
      while (i < n && isWS(t.charCodeAt(i))) i++;
      if (t.charCodeAt(i) !== 0x3d) fail('not-well-formed', `attribute ${an} without a value`);
      i++;
      while (i < n && isWS(t.charCodeAt(i))) i++;
      const q = t.charCodeAt(i);
      if (q !== 0x22 && q !== 0x27) fail('not-well-formed', `attribute ${an} value not quoted`);
      const ve = t.indexOf(q === 0x22 ? '"' : "'", i + 1);
      if (ve < 0 || ve >= n) fail('not-well-formed', `attribute ${an} value not terminated`);
      const rawValue = t.slice(i + 1, ve);
      if (rawValue.indexOf('<') >= 0) fail('not-well-formed', "'<' in an attribute value");
      if (Object.hasOwn(attrs, an)) fail('not-well-formed', `duplicate attribute ${an}`);
      if (++count > this.limits.maxAttributes) this.tooManyAttributes();
      const value = unescapeXmlStrict(normalizeAttrWhitespace(rawValue));
      if (an === '__proto__') {
        Object.defineProperty(attrs, an, { value, enumerable: true, writable: true, configurable: true });
      } else {
        attrs[an] = value;
      }
      i = ve + 1;
    }

    if (!this.framed && this.rootName === null) {
      this.rootName = name;
      this.rootOpen = !selfClosing;
      this.ended = selfClosing;
      this.declAllowed = false;
      this.unitBytes = 0;
      this.handler.onStreamStart(name, attrs);
      if (selfClosing) this.handler.onStreamEnd();
      return;
    }

    const depth = this.stack.length + 1;
    if (depth > this.limits.maxDepth) {
      fail('policy-violation', `element nesting deeper than maxDepth (${this.limits.maxDepth})`);
    }
    this.declAllowed = false;
    const el = new Element(name);
    el.attrs = attrs;
    if (depth > 1) {
      const parent = this.stack[depth - 2];
      this.flushText(parent);
      parent.cnode(el);
    }
    if (!selfClosing) {
      this.stack.push(el);
    } else if (depth === 1) {
      this.unitBytes = 0;
      this.handler.onElement(el);
    }
  }

  private endTag(t: string): void {
    let e = t.length - 1;
    while (e > 2 && isWS(t.charCodeAt(e - 1))) e--;
    const name = t.slice(2, e);
    if (!isName(name)) fail('not-well-formed', 'invalid end tag');
    const depth = this.stack.length;
    if (depth === 0) {
      if (this.rootOpen && name === this.rootName) {
        this.rootOpen = false;
        this.ended = true;
        this.unitBytes = 0;
        this.handler.onStreamEnd();
        return;
      }
      fail('not-well-formed', `unexpected end tag </${name.slice(0, 64)}>`);
    }
    const el = this.stack[depth - 1];
    if (el.name !== name) fail('not-well-formed', `end tag </${name.slice(0, 64)}> does not match <${el.name}>`);
    this.flushText(el);
    this.stack.pop();
    if (depth === 1) {
      this.unitBytes = 0;
      this.handler.onElement(el);
    }
  }

  private xmlDecl(t: string): void {
    this.declAllowed = false;
    this.unitBytes = 0;
    const m = /\sencoding\s*=\s*(["'])([^"']*)\1/.exec(t);
    if (m && m[2].toLowerCase() !== 'utf-8') fail('unsupported-encoding', 'only UTF-8 is supported');
  }

  private flushRawText(): void {
    const parts = this.textRaw;
    if (parts.length === 0) return;
    const raw = parts.length === 1 ? parts[0] : parts.join('');
    this.textRaw = [];
    if (raw.indexOf(']]>') >= 0) fail('not-well-formed', "']]>' in text");
    if (raw.length > 0) this.textOut.push(unescapeXmlStrict(raw));
  }

  private flushText(el: Element): void {
    this.flushRawText();
    const out = this.textOut;
    if (out.length === 0) return;
    el.t(out.length === 1 ? out[0] : out.join(''));
    this.textOut = [];
  }
}
