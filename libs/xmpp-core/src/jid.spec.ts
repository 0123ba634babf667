import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bareOf, Jid, JidError, decodeToken, encodeToken, prepDomain, prepLocal, prepResource } from './jid';

const label63 = 'a'.repeat(63);
/** 16 labels of 63 octets joined by dots: exactly 1023 octets. */
const domain1023 = Array.from({ length: 16 }, () => label63).join('.');

describe('Jid.parse: valid JIDs and their normalized form', () => {
  // [input, local, domain, resource, toString()]
  const valid: Array<[string, string, string, string, string]> = [
    ['example.com', '', 'example.com', '', 'example.com'],
    ['juliet@example.com', 'juliet', 'example.com', '', 'juliet@example.com'],
    ['juliet@example.com/balcony', 'juliet', 'example.com', 'balcony', 'juliet@example.com/balcony'],
    ['example.com/resource', '', 'example.com', 'resource', 'example.com/resource'],
    ['Juliet@EXAMPLE.Com/Balcony', 'juliet', 'example.com', 'Balcony', 'juliet@example.com/Balcony'],
    ['juliet@example.com./r', 'juliet', 'example.com', 'r', 'juliet@example.com/r'],
    ['EXAMPLE.COM.', '', 'example.com', '', 'example.com'],
    ['juliet@example.com/a/b@c', 'juliet', 'example.com', 'a/b@c', 'juliet@example.com/a/b@c'],
    ['juliet@example.com/@', 'juliet', 'example.com', '@', 'juliet@example.com/@'],
    ['juliet@example.com/foo bar', 'juliet', 'example.com', 'foo bar', 'juliet@example.com/foo bar'],
    ['juliet@example.com/ CamelCase ', 'juliet', 'example.com', ' CamelCase ', 'juliet@example.com/ CamelCase '],
    ['ÄLICE@Exämple.COM/Ünï', 'älice', 'exämple.com', 'Ünï', 'älice@exämple.com/Ünï'],
    ['A\u030Angstr\u00F6m@example.com', '\u00E5ngstr\u00F6m', 'example.com', '', '\u00E5ngstr\u00F6m@example.com'],
    ['u@example.com/e\u0301', 'u', 'example.com', '\u00E9', 'u@example.com/\u00E9'],
    ['\u03C0@example.com', '\u03C0', 'example.com', '', '\u03C0@example.com'],
    ['user.name+tag_1-x@sub.example.com', 'user.name+tag_1-x', 'sub.example.com', '', 'user.name+tag_1-x@sub.example.com'],
    ['x@192.168.0.1', 'x', '192.168.0.1', '', 'x@192.168.0.1'],
    ['x@[::1]/r', 'x', '[::1]', 'r', 'x@[::1]/r'],
    ['x@[2001:DB8::1]', 'x', '[2001:db8::1]', '', 'x@[2001:db8::1]'],
    ['localhost', '', 'localhost', '', 'localhost'],
    [`${label63}.com`, '', `${label63}.com`, '', `${label63}.com`],
    [`${'a'.repeat(1023)}@example.com`, 'a'.repeat(1023), 'example.com', '', `${'a'.repeat(1023)}@example.com`],
    [`u@example.com/${'é'.repeat(511)}a`, 'u', 'example.com', `${'é'.repeat(511)}a`, `u@example.com/${'é'.repeat(511)}a`],
    [domain1023, '', domain1023, '', domain1023],
    // RFC 7622 §3.5 Table 1.
    ['fu\u00dfball@example.com', 'fu\u00dfball', 'example.com', '', 'fu\u00dfball@example.com'],
    ['\u03a3@example.com', '\u03c3', 'example.com', '', '\u03c3@example.com'],
    ['\u03c2@example.com', '\u03c2', 'example.com', '', '\u03c2@example.com'],
    ['king@example.com/\u265a', 'king', 'example.com', '\u265a', 'king@example.com/\u265a'],
    ['a.example.com/b@example.net', '', 'a.example.com', 'b@example.net', 'a.example.com/b@example.net'],
    ['u@example.com/😀', 'u', 'example.com', '😀', 'u@example.com/😀'],
    // A label of 64 octets in UTF-8 whose A-label (the form DNS limits to 63 octets) is shorter.
    [`u@${'é'.repeat(32)}.com`, 'u', `${'é'.repeat(32)}.com`, '', `u@${'é'.repeat(32)}.com`],
  ];

  for (const [input, local, domain, resource, str] of valid) {
    it(`parses ${JSON.stringify(input.length > 60 ? input.slice(0, 40) + '…' : input)}`, () => {
      const jid = Jid.parse(input);
      assert.equal(jid.local, local);
      assert.equal(jid.domain, domain);
      assert.equal(jid.resource, resource);
      assert.equal(jid.toString(), str);
      // Preparation is idempotent: the normalized form parses to itself.
      assert.ok(Jid.parse(jid.toString()).equals(jid));
    });
  }
});

describe('Jid.parse: invalid JIDs throw JidError', () => {
  const invalid: Array<[string, string]> = [
    ['an empty string', ''],
    ['an empty localpart', '@example.com'],
    ['an empty domainpart', 'juliet@'],
    ['an empty domainpart before a resource', 'juliet@/r'],
    ['an empty resourcepart', 'juliet@example.com/'],
    ['only a slash', '/'],
    ['a domain that is only a dot', '.'],
    ['a domain with two trailing dots', 'example.com..'],
    ['an empty label', 'a@example..com'],
    ['a leading dot', 'a@.example.com'],
    ["'@' in the domainpart", 'a@b@example.com'],
    ['a space in the domainpart', 'a@exa mple.com'],
    ['a port in the domainpart', 'a@example.com:5222'],
    ['a label starting with a hyphen', 'a@-example.com'],
    ['a label ending with a hyphen', 'a@example-.com'],
    ['a label of 64 octets', `a@${'a'.repeat(64)}.com`],
    ['a label whose A-label is longer than 63 octets', `a@${'é'.repeat(60)}.com`],
    ['a domain of 1024 octets', `${domain1023}a`],
    ['an unterminated IPv6 literal', 'a@[::1'],
    ['a bad IPv6 literal', 'a@[zz::1]'],
    ['a localpart of 1024 octets', `${'a'.repeat(1024)}@example.com`],
    ['a localpart of 1024 octets in UTF-8', `${'é'.repeat(512)}@example.com`],
    ['a resourcepart of 1024 octets', `a@example.com/${'r'.repeat(1024)}`],
    ['a double quote in the localpart', 'a"b@example.com'],
    ["'&' in the localpart", 'a&b@example.com'],
    ['an apostrophe in the localpart', "o'hara@example.com"],
    ["':' in the localpart", 'a:b@example.com'],
    ["'<' in the localpart", 'a<b@example.com'],
    ["'>' in the localpart", 'a>b@example.com'],
    ['a space in the localpart', 'a b@example.com'],
    ['a tab in the localpart', 'a\tb@example.com'],
    ['a no-break space in the localpart', 'a\u00A0b@example.com'],
    ['a control character in the localpart', 'a\u0007b@example.com'],
    ['NUL in the resourcepart', 'a@example.com/r\u0000'],
    ['a newline in the resourcepart', 'a@example.com/line\nbreak'],
    ['DEL in the resourcepart', 'a@example.com/r\u007f'],
    ['a C1 control in the resourcepart', 'a@example.com/r\u0085'],
    // RFC 7622 §3.5 Table 2.
    ['ROMAN NUMERAL FOUR (a compatibility character) in the localpart', 'henry\u2163@example.com'],
    ['BLACK CHESS KING (a symbol) in the localpart', '\u265a@example.com'],
    ['an emoji in the localpart', '😀@example.com'],
    ['an empty localpart and resourcepart', '@example.com/'],
    ['only a resourcepart', '/foobar'],
    ["'@' twice", 'user@@host/resource'],
  ];

  for (const [what, input] of invalid) {
    it(`refuses ${what}`, () => {
      assert.throws(() => Jid.parse(input), JidError);
      assert.equal(Jid.tryParse(input), null);
    });
  }

  it('refuses a non-string', () => {
    assert.throws(() => Jid.parse(undefined as unknown as string), JidError);
    assert.equal(Jid.tryParse(undefined), null);
    assert.equal(Jid.tryParse(null), null);
  });
});

describe('Jid: parts and helpers', () => {
  it('prepares single parts', () => {
    assert.equal(prepLocal('JuLiEt'), 'juliet');
    assert.equal(prepDomain('Example.COM.'), 'example.com');
    assert.equal(prepResource('Balcony'), 'Balcony');
    assert.throws(() => prepLocal(''), JidError);
    assert.throws(() => prepDomain(''), JidError);
    assert.throws(() => prepResource(''), JidError);
    assert.throws(() => prepResource('a\u001fb'), JidError);
  });

  it('maps fullwidth and halfwidth forms in the localpart (RFC 8265 §3.3.2 width mapping): one account, one JID', () => {
    assert.equal(prepLocal('\uff21\uff4c\uff49\uff43\uff45'), 'alice'); // ＡｌｉｃＥ
    assert.equal(Jid.parse('\uff4a\uff55\uff4c\uff49\uff45\uff54\uff11@example.com').toString(), 'juliet1@example.com');
    assert.equal(prepLocal('\uff76\uff80'), '\u30ab\u30bf'); // halfwidth katakana -> katakana
    assert.throws(() => prepLocal('a\u3000b'), JidError, 'an ideographic space is a space');
    assert.throws(() => prepLocal('\uff20x'), JidError, "fullwidth '@' is '@'");
    // The resourcepart (OpaqueString) has no width mapping: case and width are kept.
    assert.equal(prepResource('\uff21'), '\uff21');
  });

  it('refuses invisible characters (bidi overrides, zero-width) in localpart and resourcepart', () => {
    for (const c of ['\u202e', '\u202a', '\u200b', '\u200e', '\u200f', '\u2066', '\u2069', '\u061c', '\ufeff', '\u00ad', '\u2060']) {
      assert.throws(() => prepLocal(`ali${c}ce`), JidError, `U+${c.charCodeAt(0).toString(16)} in a localpart`);
      assert.throws(() => prepResource(`res${c}`), JidError, `U+${c.charCodeAt(0).toString(16)} in a resourcepart`);
      assert.equal(Jid.tryParse(`${c}alice@example.com`), null);
    }
  });

  it('prepares a domain the same way the second time (remembered) and past the memory bound', () => {
    for (let round = 0; round < 2; round++) {
      assert.equal(prepDomain('Example.COM.'), 'example.com');
      assert.equal(prepDomain('example.com'), 'example.com');
      assert.throws(() => prepDomain('bad..example'), JidError, 'a refused domain is refused again');
      assert.throws(() => prepDomain('-a.example'), JidError);
    }
    // More distinct domains than are remembered: every one still comes out right.
    for (let i = 0; i < 5000; i++) assert.equal(prepDomain(`Host${i}.Example.`), `host${i}.example`);
    assert.equal(prepDomain('Example.COM.'), 'example.com');
    assert.throws(() => prepDomain('bad..example'), JidError);
  });

  it('creates from parts, treating empty or missing local and resource as absent', () => {
    assert.equal(Jid.create('Romeo', 'Example.net', 'Orchard').toString(), 'romeo@example.net/Orchard');
    assert.equal(Jid.create(null, 'example.net').toString(), 'example.net');
    assert.equal(Jid.create('', 'example.net', '').toString(), 'example.net');
    assert.throws(() => Jid.create('a@b', 'example.net'), JidError);
    assert.throws(() => Jid.create('a', 'example.net', 'r\u0000'), JidError);
  });

  it('knows bare and domain JIDs', () => {
    const full = Jid.parse('a@b.c/r');
    assert.equal(full.isBare, false);
    assert.equal(full.isDomain, false);
    assert.equal(full.bare().toString(), 'a@b.c');
    assert.equal(full.bare().isBare, true);
    assert.equal(full.toBareString(), 'a@b.c');
    const bare = Jid.parse('a@b.c');
    assert.equal(bare.bare(), bare);
    assert.equal(Jid.parse('b.c').isDomain, true);
    assert.equal(Jid.parse('b.c/r').isDomain, false);
  });

  it('adds a validated resource', () => {
    const j = Jid.parse('A@B.c').withResource('Phone');
    assert.equal(j.toString(), 'a@b.c/Phone');
    assert.throws(() => Jid.parse('a@b.c').withResource(''), JidError);
    assert.throws(() => Jid.parse('a@b.c').withResource('x\u0001'), JidError);
  });

  it('compares normalized forms', () => {
    assert.ok(Jid.parse('Juliet@Example.com/r').equals(Jid.parse('juliet@example.com./r')));
    assert.ok(!Jid.parse('juliet@example.com/R').equals(Jid.parse('juliet@example.com/r')));
    assert.ok(!Jid.parse('juliet@example.com').equals(Jid.parse('juliet@example.com/r')));
  });
});

describe('Jid: internationalized parts (PRECIS, IDNA2008, the Bidi Rule)', () => {
  const ok = (s: string) => assert.notEqual(Jid.tryParse(s), null, `${JSON.stringify(s)} should be valid`);
  const bad = (s: string) => assert.equal(Jid.tryParse(s), null, `${JSON.stringify(s)} should be refused`);

  it('keeps letters, digits and marks of any script in a localpart, and refuses what the IdentifierClass does not hold', () => {
    for (const l of ['\u043f\u0440\u0438\u0432\u0435\u0442', '\u4e2d\u6587', '\u0928\u092e\u0938\u094d\u0924\u0947', '\u0e20\u0e32\u0e29\u0e32', 'caf\u00e9', '\u3042\u3044']) ok(`${l}@example.com`);
    bad('a\u00bfb@example.com'); // INVERTED QUESTION MARK: punctuation outside ASCII
    bad('x\u00b2@example.com'); // SUPERSCRIPT TWO: has a compatibility decomposition
    bad('a\u20acb@example.com'); // EURO SIGN: a symbol
    bad('a\u0378b@example.com'); // unassigned
    bad('a\ue000b@example.com'); // private use
    bad('a\u1100@example.com'); // an old Hangul jamo on its own
    ok('\u1100\u1161@example.com'); // ... but these two compose (NFC) into the syllable U+AC00
    bad('a\u2028b@example.com'); // LINE SEPARATOR
  });

  it('applies the contextual rules of RFC 5892 Appendix A', () => {
    ok('col\u00b7lecci\u00f3@example.com'); // Catalan l·l
    bad('a\u00b7b@example.com');
    ok('\u05e9\u05f3@example.com'); // Hebrew geresh after a Hebrew letter
    bad('a\u05f3@example.com');
    ok('\u30ab\u30fb\u30bf@example.com'); // katakana middle dot among katakana
    bad('a\u30fbb@example.com');
    ok('\u0633\u0661\u0662@example.com'); // Arabic-Indic digits
    bad('\u0633\u0661\u06f2@example.com'); // mixed with extended Arabic-Indic digits
    ok('\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645@example.com'); // ZWNJ between Persian letters
    ok('\u0915\u094d\u200d\u0937@example.com'); // ZWJ after a virama
    bad('a\u200db@example.com');
    bad('a\u200cb@example.com');
    assert.throws(() => prepResource('\ud83d\udc69\u200d\ud83d\udcbb'), JidError, 'an emoji ZWJ sequence has no virama before the ZWJ');
  });

  it('applies the Bidi Rule (RFC 5893) to right-to-left localparts', () => {
    ok('\u05e9\u05dc\u05d5\u05dd@example.com'); // Hebrew
    ok('\u05e9\u05dc\u05d5\u05dd2@example.com'); // ending in a European digit
    ok('\u0633\u0644\u0627\u0645@example.com'); // Arabic
    bad('abc\u05e9\u05dc\u05d5\u05dd@example.com'); // left-to-right start, right-to-left letters
    bad('\u05e9\u05dc\u05d5\u05ddabc@example.com'); // right-to-left start, Latin letters
    bad('1\u05e9\u05dc\u05d5\u05dd@example.com'); // starts with a digit
    bad('\u0633\u0661\u0031@example.com'); // Arabic-Indic and European digits together
  });

  it('maps the resourcepart by OpaqueString: non-ASCII spaces become U+0020, nothing else changes', () => {
    assert.equal(prepResource('a\u00a0b'), 'a b');
    assert.equal(prepResource('a\u3000b'), 'a b');
    assert.equal(prepResource('Caf\u00c9 \u265a \u2163'), 'Caf\u00c9 \u265a \u2163');
    assert.throws(() => prepResource('a\u0378'), JidError, 'unassigned');
    assert.throws(() => prepResource('a\ue000'), JidError, 'private use');
    assert.throws(() => prepResource('a\u2029'), JidError, 'PARAGRAPH SEPARATOR');
  });

  it('turns A-labels into U-labels and maps internationalized domains (RFC 7622 §3.2)', () => {
    assert.equal(prepDomain('xn--mnchen-3ya.de'), 'm\u00fcnchen.de');
    assert.equal(prepDomain('M\u00dcNCHEN.de'), 'm\u00fcnchen.de');
    assert.equal(prepDomain('XN--MNCHEN-3YA.DE.'), 'm\u00fcnchen.de');
    assert.equal(prepDomain('\u4f8b\u3048\u3002\u30c6\u30b9\u30c8'), '\u4f8b\u3048.\u30c6\u30b9\u30c8'); // ideographic full stop
    assert.equal(prepDomain('\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d'), 'example.com'); // fullwidth
    assert.ok(Jid.parse('u@xn--mnchen-3ya.de').equals(Jid.parse('U@M\u00fcnchen.DE')));
    assert.equal(prepDomain('\u05e9\u05dc\u05d5\u05dd.example'), '\u05e9\u05dc\u05d5\u05dd.example');
    for (const d of ['\u2603.net', 'xn--n3h.net', 'xn--a.com', 'a\uff20b.com', 'ab\u05e9.example', '1\u05e9.example']) {
      assert.throws(() => prepDomain(d), JidError, JSON.stringify(d));
    }
  });
});

describe('encodeToken / decodeToken', () => {
  const samples = [
    'a',
    'juliet@example.com',
    'juliet@example.com/balcony',
    'example.com',
    'a.b.c*>',
    ' spaces and\ttabs ',
    'ÄLICE@exämple.com/Ünï',
    '😀@example.com/😀',
    '???>>>~~~',
    'x'.repeat(1000),
  ];
  for (const s of samples) {
    it(`round-trips ${JSON.stringify(s.length > 40 ? s.slice(0, 20) + '…' : s)} into a subject-safe token`, () => {
      const t = encodeToken(s);
      assert.match(t, /^[A-Za-z0-9_-]+$/);
      assert.equal(decodeToken(t), s);
    });
  }

  it('gives different tokens to different strings', () => {
    assert.notEqual(encodeToken('a@b.c'), encodeToken('a@b.d'));
  });
});

describe('bareOf', () => {
  it('drops the resource, and leaves a bare JID or a domain alone', () => {
    assert.equal(bareOf('juliet@example.com/balcony/with/slashes'), 'juliet@example.com');
    assert.equal(bareOf('juliet@example.com'), 'juliet@example.com');
    assert.equal(bareOf('example.com/res'), 'example.com');
    assert.equal(bareOf('example.com'), 'example.com');
  });
});
