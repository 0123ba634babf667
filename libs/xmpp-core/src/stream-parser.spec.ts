import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StreamError } from './errors';
import { DEFAULT_LIMITS, type StreamParserOptions, XmlStreamParser } from './stream-parser';

type Event =
  | ['start', string, Record<string, string>]
  | ['el', string]
  | ['end']
  | ['ws']
  | ['error', string, string | undefined];

interface Recorder {
  parser: XmlStreamParser;
  events: Event[];
  errors: StreamError[];
}

/** A parser that records its callbacks; consecutive whitespace events are collapsed (their count depends on chunking). */
function record(options?: StreamParserOptions): Recorder {
  const events: Event[] = [];
  const errors: StreamError[] = [];
  const parser = new XmlStreamParser(
    {
      onStreamStart: (name, attrs) => events.push(['start', name, { ...attrs }]),
      onElement: (el) => events.push(['el', el.toString()]),
      onStreamEnd: () => events.push(['end']),
      onWhitespace: () => {
        if (events.at(-1)?.[0] !== 'ws') events.push(['ws']);
      },
      onError: (err) => {
        errors.push(err);
        events.push(['error', err.condition, err.text]);
      },
    },
    options,
  );
  return { parser, events, errors };
}

function parseAll(input: string | Buffer, options?: StreamParserOptions): Recorder {
  const r = record(options);
  r.parser.write(input);
  return r;
}

const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' xml:lang='en'>";
const STREAM_ATTRS = {
  xmlns: 'jabber:client',
  'xmlns:stream': 'http://etherx.jabber.org/streams',
  to: 'example.com',
  version: '1.0',
  'xml:lang': 'en',
};

const SAMPLE =
  HEADER +
  '\n' +
  "<message to='jülia@example.com/🎧' type=\"chat\" id='m&amp;1'><body>Grüße, 世界 😀 &lt;b&gt; &#x1F600;&#65;<![CDATA[<raw> & ]]>end</body>" +
  "<x xmlns='urn:x'><y a='1'/><z>t</z></x></message>" +
  ' \n\t ' +
  "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>" +
  '<presence/>' +
  '\r\n' +
  '</stream:stream>';

const SAMPLE_EVENTS: Event[] = [
  ['start', 'stream:stream', STREAM_ATTRS],
  ['ws'],
  [
    'el',
    '<message to="jülia@example.com/🎧" type="chat" id="m&amp;1"><body>Grüße, 世界 😀 &lt;b&gt; 😀A&lt;raw&gt; &amp; end</body><x xmlns="urn:x"><y a="1"/><z>t</z></x></message>',
  ],
  ['ws'],
  ['el', '<iq type="get" id="p1"><ping xmlns="urn:xmpp:ping"/></iq>'],
  ['el', '<presence/>'],
  ['ws'],
  ['end'],
];

describe('XmlStreamParser: stream mode', () => {
  it('parses a header, stanzas, keep-alives and the end of the stream', () => {
    const r = parseAll(SAMPLE);
    assert.deepEqual(r.events, SAMPLE_EVENTS);
  });

  it('reports the header as soon as its start tag is complete', () => {
    const r = record();
    r.parser.write(HEADER.slice(0, -1));
    assert.deepEqual(r.events, []);
    r.parser.write('>');
    assert.deepEqual(r.events, [['start', 'stream:stream', STREAM_ATTRS]]);
  });

  it('emits a stanza only when it is complete, with its children', () => {
    const r = record();
    r.parser.write(HEADER + '<message><body>hi</body>');
    assert.equal(r.events.length, 1);
    r.parser.write('</message>');
    assert.deepEqual(r.events.at(-1), ['el', '<message><body>hi</body></message>']);
  });

  it('gives elements with their parent links and raw prefixed names', () => {
    const els: string[] = [];
    const p = new XmlStreamParser({
      onStreamStart: () => {},
      onElement: (el) => {
        assert.equal(el.getChild('b')?.parent, el);
        els.push(el.name);
      },
      onStreamEnd: () => {},
      onError: (e) => assert.fail(e),
    });
    p.write(HEADER + '<stream:features><b/></stream:features><a><b/></a>');
    assert.deepEqual(els, ['stream:features', 'a']);
  });

  it('accepts whitespace before the root and after its end, and works without onWhitespace', () => {
    const events: string[] = [];
    const p = new XmlStreamParser({
      onStreamStart: () => events.push('start'),
      onElement: () => events.push('el'),
      onStreamEnd: () => events.push('end'),
      onError: (e) => events.push(e.condition),
    });
    p.write('\n<stream:stream>  <a/> \n</stream:stream>\n ');
    assert.deepEqual(events, ['start', 'el', 'end']);
  });

  it('treats a self-closing root as an empty stream', () => {
    const r = parseAll("<stream:stream to='x'/>");
    assert.deepEqual(r.events, [['start', 'stream:stream', { to: 'x' }], ['end']]);
  });

  it('keeps attribute names as written and unescapes attribute values and text', () => {
    const seen: Array<{ attrs: Record<string, string>; text: string }> = [];
    const p = new XmlStreamParser({
      onStreamStart: () => {},
      onElement: (e) => seen.push({ attrs: { ...e.attrs }, text: e.getText() }),
      onStreamEnd: () => {},
      onError: (e) => assert.fail(e),
    });
    p.write(
      HEADER +
        `<m xml:lang='de' xmlns:foo='urn:foo' foo:bar="&quot;q&quot;" a='&lt;&gt;&amp;&apos;&quot;' e='&#x1F600;&#128512;&#x41;'>` +
        '&lt;tag&gt; &amp;amp; &apos;&quot; &#x1F600; &#233;</m>',
    );
    assert.deepEqual(seen, [
      {
        attrs: { 'xml:lang': 'de', 'xmlns:foo': 'urn:foo', 'foo:bar': '"q"', a: `<>&'"`, e: '😀😀A' },
        text: `<tag> &amp; '" 😀 é`,
      },
    ]);
  });

  it('accepts attribute whitespace around "=" and both quote styles', () => {
    const r = parseAll(HEADER + `<a  x = "1"\n\ty='2' z="it's" w='say "hi"' />`);
    assert.deepEqual(r.events.at(-1), ['el', `<a x="1" y="2" z="it&apos;s" w="say &quot;hi&quot;"/>`]);
  });

  it('reads literal tabs and line ends in attribute values as spaces, character references as written (XML 1.0 §3.3.3)', () => {
    const seen: Array<Record<string, string>> = [];
    const p = new XmlStreamParser({
      onStreamStart: () => {},
      onElement: (e) => seen.push({ ...e.attrs }),
      onStreamEnd: () => {},
      onError: (e) => assert.fail(e),
    });
    p.write(HEADER + `<m a='x\ty' b="1\r\n2\n3\r4" c='&#9;&#10;&#13;' d='plain'/>`);
    assert.deepEqual(seen, [{ a: 'x y', b: '1 2 3 4', c: '\t\n\r', d: 'plain' }]);
  });

  it('does not confuse attribute names with Object.prototype properties', () => {
    const attrs: Array<Record<string, string>> = [];
    const p = new XmlStreamParser({
      onStreamStart: () => {},
      onElement: (e) => attrs.push(e.attrs),
      onStreamEnd: () => {},
      onError: (e) => assert.fail(e),
    });
    p.write(HEADER + `<a constructor='c' toString='t' __proto__='p' hasOwnProperty='h'/>`);
    assert.equal(attrs[0].constructor as unknown, 'c');
    assert.equal(attrs[0].__proto__ as unknown, 'p');
    assert.equal(Object.getPrototypeOf(attrs[0]), Object.prototype);
    assert.deepEqual(Object.keys(attrs[0]), ['constructor', 'toString', '__proto__', 'hasOwnProperty']);
  });

  it('merges text split by CDATA and chunks into one text node', () => {
    const texts: unknown[] = [];
    const p = new XmlStreamParser({
      onStreamStart: () => {},
      onElement: (e) => texts.push(e.children),
      onStreamEnd: () => {},
      onError: (e) => assert.fail(e),
    });
    p.write(HEADER + '<a>one &amp; ');
    p.write('two<![CDATA[ <three> ]]>fo');
    p.write('ur<![CDATA[]]></a>');
    assert.deepEqual(texts, [['one & two <three> four']]);
  });
});

describe('XmlStreamParser: chunking', () => {
  const bytes = Buffer.from(SAMPLE, 'utf8');

  it('gives the same result for every split into two Buffers', () => {
    for (let cut = 0; cut <= bytes.length; cut++) {
      const r = record();
      r.parser.write(bytes.subarray(0, cut));
      r.parser.write(bytes.subarray(cut));
      assert.deepEqual(r.events, SAMPLE_EVENTS, `cut at byte ${cut}`);
    }
  });

  it('gives the same result fed one byte at a time', () => {
    const r = record();
    for (let i = 0; i < bytes.length; i++) r.parser.write(bytes.subarray(i, i + 1));
    assert.deepEqual(r.events, SAMPLE_EVENTS);
  });

  it('gives the same result for every split into three Buffers around each boundary', () => {
    for (let a = 0; a < bytes.length; a += 7) {
      for (let b = a; b <= Math.min(bytes.length, a + 12); b++) {
        const r = record();
        r.parser.write(bytes.subarray(0, a));
        r.parser.write(bytes.subarray(a, b));
        r.parser.write(bytes.subarray(b));
        assert.deepEqual(r.events, SAMPLE_EVENTS, `cuts at ${a} and ${b}`);
      }
    }
  });

  it('gives the same result for strings split at every UTF-16 unit, including inside surrogate pairs', () => {
    for (let cut = 0; cut <= SAMPLE.length; cut++) {
      const r = record();
      r.parser.write(SAMPLE.slice(0, cut));
      r.parser.write(SAMPLE.slice(cut));
      assert.deepEqual(r.events, SAMPLE_EVENTS, `cut at unit ${cut}`);
    }
  });

  it('gives the same result fed one UTF-16 unit at a time', () => {
    const r = record();
    for (const unit of SAMPLE.split('')) r.parser.write(unit);
    assert.deepEqual(r.events, SAMPLE_EVENTS);
  });
});

describe('XmlStreamParser: framed mode (RFC 7395)', () => {
  const OPEN = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>";

  it('emits every top-level element, several per write', () => {
    const r = parseAll(
      OPEN + "<message to='a@b'><body>x</body></message> <presence/><close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
      { framed: true },
    );
    assert.deepEqual(r.events, [
      ['el', '<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.com" version="1.0"/>'],
      ['el', '<message to="a@b"><body>x</body></message>'],
      ['ws'],
      ['el', '<presence/>'],
      ['el', '<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>'],
    ]);
  });

  it('accepts an XML declaration at the start of each frame', () => {
    const r = record({ framed: true });
    r.parser.write("<?xml version='1.0'?>" + OPEN);
    r.parser.write("<?xml version='1.0' encoding='UTF-8'?><iq type='get' id='1'/>");
    assert.equal(r.errors.length, 0);
    assert.equal(r.events.length, 2);
  });

  it('refuses an XML declaration after an element in the same frame', () => {
    const r = parseAll(OPEN + "<?xml version='1.0'?>", { framed: true });
    assert.equal(r.errors[0]?.condition, 'restricted-xml');
  });

  const unfinished: Array<[string, string]> = [
    ['an element', '<message><body>a'],
    ['a start tag', '<presence'],
    ['a TCP stream header', "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"],
  ];
  for (const [what, frame] of unfinished) {
    it(`fails with not-well-formed when a frame ends inside ${what} (RFC 7395 §3.3.3: whole elements per message)`, () => {
      const r = record({ framed: true });
      r.parser.write(OPEN);
      r.parser.write(frame);
      assert.deepEqual(r.events[0], ['el', '<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="example.com" version="1.0"/>']);
      assert.equal(r.errors.length, 1);
      assert.equal(r.errors[0].condition, 'not-well-formed');
    });
  }

  const framedErrors: Array<[string, string, string]> = [
    ['text at depth 0', OPEN + 'hello', 'not-well-formed'],
    ['end tag at depth 0', '</open>', 'not-well-formed'],
    ['comment', OPEN + '<!-- c -->', 'restricted-xml'],
    ['too deep', '<a><b><c/></b></a>', 'policy-violation'],
  ];
  for (const [what, input, condition] of framedErrors) {
    it(`fails on ${what} with ${condition}`, () => {
      const r = parseAll(input, { framed: true, limits: { maxDepth: 2 } });
      assert.equal(r.errors.length, 1);
      assert.equal(r.errors[0].condition, condition);
    });
  }
});

describe('XmlStreamParser: errors', () => {
  // [what, input after the stream header (or the whole input if it starts with '!'), condition]
  const cases: Array<[string, string, string]> = [
    ['a comment between stanzas', '<!-- hi -->', 'restricted-xml'],
    ['a comment inside a stanza', '<message><!-- hi --></message>', 'restricted-xml'],
    ['a comment before the root', '!<!-- hi --><stream:stream>', 'restricted-xml'],
    ['a processing instruction', "<?php echo 'x' ?>", 'restricted-xml'],
    ['a processing instruction inside a stanza', '<m><?pi x?></m>', 'restricted-xml'],
    ['an XML declaration after the root', "<?xml version='1.0'?>", 'restricted-xml'],
    ['a processing instruction before the root', '!<?xml-stylesheet href="a"?><stream:stream>', 'restricted-xml'],
    ['a DOCTYPE', '!<!DOCTYPE stream [<!ENTITY x "y">]><stream:stream>', 'restricted-xml'],
    ['an ENTITY declaration', '<!ENTITY lol "lol">', 'restricted-xml'],
    ['an ELEMENT declaration inside a stanza', '<m><!ELEMENT m ANY></m>', 'restricted-xml'],
    ['a non-UTF-8 encoding declaration', "!<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream>", 'unsupported-encoding'],
    ['an unknown entity in text', '<m>&foo;</m>', 'not-well-formed'],
    ['an unknown entity in an attribute', "<m a='&foo;'/>", 'not-well-formed'],
    ['a bare ampersand', '<m>fish & chips</m>', 'not-well-formed'],
    ['an upper case hex char ref', '<m>&#X41;</m>', 'not-well-formed'],
    ['a char ref to NUL', '<m>&#0;</m>', 'not-well-formed'],
    ['a char ref to a surrogate', '<m>&#xD800;</m>', 'not-well-formed'],
    ['a char ref beyond Unicode', '<m>&#x110000;</m>', 'not-well-formed'],
    ['an empty char ref', '<m>&#;</m>', 'not-well-formed'],
    ['a mismatched end tag', '<message><body></message></body>', 'not-well-formed'],
    ['an unexpected end tag at depth 1', '</message>', 'not-well-formed'],
    ['a duplicate attribute', "<m id='1' id='2'/>", 'not-well-formed'],
    ['an attribute without a value', '<m hidden/>', 'not-well-formed'],
    ['an unquoted attribute value', '<m id=1/>', 'not-well-formed'],
    ['attributes without whitespace between them', "<m a='1'b='2'/>", 'not-well-formed'],
    ["'<' in an attribute value", "<m a='x<y'/>", 'not-well-formed'],
    ["'<' inside a tag", '<m <n/>', 'not-well-formed'],
    ['an invalid element name', '<1m/>', 'not-well-formed'],
    ['an invalid attribute name', "<m -a='1'/>", 'not-well-formed'],
    ['an empty element name', '< m/>', 'not-well-formed'],
    ["'/ >' in a tag", '<m / >', 'not-well-formed'],
    ['a control character in text', '<m>a\u0001b</m>', 'not-well-formed'],
    ['U+000B in text', '<m>\u000b</m>', 'not-well-formed'],
    ['U+000C in an attribute', "<m a='\u000c'/>", 'not-well-formed'],
    ['NUL between stanzas', '\u0000', 'not-well-formed'],
    ['U+FFFE in text', '<m>\ufffe</m>', 'not-well-formed'],
    ['U+FFFF in a tag', '<m\uffff/>', 'not-well-formed'],
    ['a lone high surrogate', '<m>\ud83d</m>', 'not-well-formed'],
    ['a lone low surrogate', '<m>\ude00</m>', 'not-well-formed'],
    ["']]>' in text", '<m>a]]>b</m>', 'not-well-formed'],
    ['text at depth 1', 'hello', 'not-well-formed'],
    ['CDATA at depth 1', '<![CDATA[x]]>', 'not-well-formed'],
    ['a broken CDATA opener', '<m><![CDATX[x]]></m>', 'not-well-formed'],
    ['other <! markup', '<m><!x></m>', 'not-well-formed'],
    ['an element after the end of the stream', '</stream:stream><m/>', 'not-well-formed'],
    ['text after the end of the stream', '</stream:stream>x', 'not-well-formed'],
    ['text before the root', '!x<stream:stream>', 'not-well-formed'],
  ];

  for (const [what, input, condition] of cases) {
    it(`fails on ${what} with ${condition}`, () => {
      const full = input.startsWith('!') ? input.slice(1) : HEADER + input;
      const r = parseAll(full);
      assert.equal(r.errors.length, 1, `errors: ${JSON.stringify(r.events)}`);
      assert.equal(r.errors[0].condition, condition, r.errors[0].message);
      assert.ok(r.errors[0] instanceof StreamError);
      // The same failure, fed byte by byte.
      const b = record();
      for (const byte of Buffer.from(full, 'utf8')) b.parser.write(Buffer.from([byte]));
      if (!/[\ud800-\udfff]/.test(full)) assert.equal(b.errors[0]?.condition, condition, 'byte by byte');
    });
  }

  const badUtf8: Array<[string, number[]]> = [
    ['a truncated sequence', [0xc3, 0x28]],
    ['0xFF', [0xff]],
    ['an overlong encoding', [0xc0, 0x80]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a code point beyond U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ];
  for (const [what, seq] of badUtf8) {
    it(`fails on invalid UTF-8: ${what}`, () => {
      const r = record();
      r.parser.write(Buffer.concat([Buffer.from(HEADER + '<m>'), Buffer.from(seq), Buffer.from('</m>')]));
      assert.deepEqual(
        r.errors.map((e) => e.condition),
        ['not-well-formed'],
      );
    });
  }

  it('calls onError exactly once and ignores all further writes', () => {
    const r = record();
    r.parser.write(HEADER + '<!-- one -->');
    r.parser.write('<!-- two --><message/>');
    r.parser.write(Buffer.from([0xff]));
    r.parser.write('</stream:stream>');
    assert.equal(r.errors.length, 1);
    assert.deepEqual(r.events.slice(1), [['error', 'restricted-xml', 'comments are not allowed']]);
  });

  it('emits what came before an error in the same write', () => {
    const r = parseAll(HEADER + '<a/><b/><c>&nope;</c><d/>');
    assert.deepEqual(
      r.events.map((e) => e[0]),
      ['start', 'el', 'el', 'error'],
    );
  });
});

describe('XmlStreamParser: limits', () => {
  // The full HEADER would itself break the small limits used below.
  const SHORT = '<stream:stream>';
  it('has the documented defaults', () => {
    assert.deepEqual(DEFAULT_LIMITS, { maxStanzaBytes: 262_144, maxDepth: 32, maxAttributes: 64 });
  });

  it('accepts a stanza of exactly maxStanzaBytes and refuses one byte more (counted in UTF-8)', () => {
    const make = (bytes: number) => {
      // <m>…</m> is 7 bytes; fill with 'é' (2 bytes) and pad with 'a'.
      const fill = bytes - 7;
      return '<m>' + 'é'.repeat(Math.floor(fill / 2)) + (fill % 2 ? 'a' : '') + '</m>';
    };
    assert.equal(Buffer.byteLength(make(101)), 101);
    const ok = parseAll(SHORT + make(100), { limits: { maxStanzaBytes: 100 } });
    assert.equal(ok.errors.length, 0);
    assert.equal(ok.events.length, 2);
    const bad = parseAll(SHORT + make(101), { limits: { maxStanzaBytes: 100 } });
    assert.equal(bad.errors[0]?.condition, 'policy-violation');
    assert.match(bad.errors[0].text ?? '', /maxStanzaBytes/);
  });

  it('counts each stanza separately and ignores whitespace between them', () => {
    const r = parseAll(SHORT + '<a>123456789</a>   \n   '.repeat(50), { limits: { maxStanzaBytes: 16 } });
    assert.equal(r.errors.length, 0);
    assert.equal(r.events.filter((e) => e[0] === 'el').length, 50);
  });

  it('applies maxStanzaBytes to the stream header too', () => {
    const r = parseAll(`<stream:stream to='${'x'.repeat(200)}'>`, { limits: { maxStanzaBytes: 100 } });
    assert.equal(r.errors[0]?.condition, 'policy-violation');
    assert.deepEqual(r.events.length, 1);
  });

  it('fails on an unterminated attribute value at the limit, before the input ends', () => {
    const limit = 64 * 1024;
    const r = record({ limits: { maxStanzaBytes: limit } });
    r.parser.write(HEADER);
    r.parser.write("<message to='");
    const chunk = Buffer.alloc(1024, 'a');
    let written = 0;
    const total = 10 * 1024 * 1024;
    while (written < total && r.errors.length === 0) {
      r.parser.write(chunk);
      written += chunk.length;
    }
    assert.equal(r.errors[0]?.condition, 'policy-violation');
    assert.ok(written < total, 'failed before the whole input was written');
    assert.ok(written <= limit + chunk.length, `failed at the limit, after ${written} bytes`);
    assert.ok(written >= limit - 1024 - 16, `not before the limit (${written})`);
  });

  it('fails on unbounded text inside a stanza at the limit', () => {
    const r = record({ limits: { maxStanzaBytes: 4096 } });
    r.parser.write(HEADER + '<message><body>');
    let writes = 0;
    while (r.errors.length === 0 && writes < 1000) {
      r.parser.write('x'.repeat(100));
      writes++;
    }
    assert.equal(r.errors[0]?.condition, 'policy-violation');
    assert.ok(writes <= 41, `writes: ${writes}`);
  });

  it('fails on an unterminated CDATA section or end tag at the limit', () => {
    for (const start of ['<m><![CDATA[', '<m></m', "<m><?xml version='1.0' "]) {
      const r = record({ limits: { maxStanzaBytes: 1000 } });
      r.parser.write(HEADER + start);
      for (let i = 0; i < 100 && r.errors.length === 0; i++) r.parser.write(' '.repeat(100));
      assert.ok(['policy-violation', 'restricted-xml'].includes(r.errors[0]?.condition), start);
    }
  });

  it('refuses nesting deeper than maxDepth (counted below the root)', () => {
    const nest = (d: number) => '<a>'.repeat(d) + '</a>'.repeat(d);
    const ok = parseAll(HEADER + nest(4), { limits: { maxDepth: 4 } });
    assert.equal(ok.errors.length, 0);
    const bad = record({ limits: { maxDepth: 4 } });
    bad.parser.write(HEADER + '<a><a><a><a>');
    assert.equal(bad.errors.length, 0);
    bad.parser.write('<a>');
    assert.equal(bad.errors[0]?.condition, 'policy-violation');
    assert.match(bad.errors[0].text ?? '', /maxDepth/);
  });

  it('uses the default depth limit of 32', () => {
    const nest = (d: number) => '<a>'.repeat(d) + '</a>'.repeat(d);
    assert.equal(parseAll(HEADER + nest(32)).errors.length, 0);
    assert.equal(parseAll(HEADER + nest(33)).errors[0]?.condition, 'policy-violation');
  });

  it('refuses more than maxAttributes attributes, while the tag is still arriving', () => {
    const attrs = (k: number) => Array.from({ length: k }, (_, i) => ` a${i}='${i}'`).join('');
    assert.equal(parseAll(SHORT + `<m${attrs(3)}/>`, { limits: { maxAttributes: 3 } }).errors.length, 0);
    const r = record({ limits: { maxAttributes: 3 } });
    r.parser.write(SHORT + `<m${attrs(4)}`); // no '>' yet
    assert.equal(r.errors[0]?.condition, 'policy-violation');
    assert.match(r.errors[0].text ?? '', /maxAttributes/);
  });

  it('applies maxAttributes to the stream header', () => {
    const r = parseAll("<stream:stream a='1' b='2' c='3'>", { limits: { maxAttributes: 2 } });
    assert.equal(r.errors[0]?.condition, 'policy-violation');
  });

  it('overrides limits partially', () => {
    const r = parseAll(HEADER + '<a><a><a></a></a></a>', { limits: { maxDepth: 2 } });
    assert.equal(r.errors[0]?.condition, 'policy-violation');
    const big = parseAll(HEADER + `<m>${'x'.repeat(300_000)}</m>`, { limits: { maxDepth: 2 } });
    assert.equal(big.errors[0]?.condition, 'policy-violation');
    assert.match(big.errors[0].text ?? '', /maxStanzaBytes/);
  });
});

describe('XmlStreamParser: reset and handler exceptions', () => {
  it('reset() starts a new stream (stream restart after SASL)', () => {
    const r = record();
    r.parser.write(HEADER + '<auth/>');
    r.parser.reset();
    r.parser.write(HEADER + '<iq/></stream:stream>');
    assert.deepEqual(
      r.events.map((e) => e[0]),
      ['start', 'el', 'start', 'el', 'end'],
    );
  });

  it('reset() clears an error, a half-written tag and a half-decoded character', () => {
    const r = record();
    r.parser.write(HEADER + '<m a="x');
    r.parser.write(Buffer.from([0xe4, 0xb8])); // first two bytes of 世
    r.parser.reset();
    r.parser.write(HEADER + '<ok/>');
    assert.equal(r.errors.length, 0);
    assert.deepEqual(r.events.at(-1), ['el', '<ok/>']);

    r.parser.write('<!-- x -->');
    assert.equal(r.errors.length, 1);
    r.parser.reset();
    r.parser.write(HEADER + '<ok/>');
    assert.equal(r.errors.length, 1);
    assert.deepEqual(r.events.at(-1), ['el', '<ok/>']);
  });

  it('reset() from a handler discards the rest of that write (no STARTTLS injection)', () => {
    const names: string[] = [];
    const p: XmlStreamParser = new XmlStreamParser({
      onStreamStart: (n) => names.push(n),
      onElement: (el) => {
        names.push(el.name);
        if (el.name === 'starttls') p.reset();
      },
      onStreamEnd: () => names.push('end'),
      onError: (e) => names.push(e.condition),
    });
    p.write(HEADER + "<starttls/><iq type='set'>injected</iq>");
    p.write(HEADER + '<after/>');
    assert.deepEqual(names, ['stream:stream', 'starttls', 'stream:stream', 'after']);
  });

  it('lets a handler exception propagate and keeps parsing on the next write', () => {
    const names: string[] = [];
    let throwOn = 'b';
    const p = new XmlStreamParser({
      onStreamStart: () => {},
      onElement: (el) => {
        if (el.name === throwOn) {
          throwOn = '';
          throw new Error('boom');
        }
        names.push(el.name);
      },
      onStreamEnd: () => names.push('end'),
      onError: (e) => names.push(e.condition),
    });
    p.write(HEADER + '<a/>');
    assert.throws(() => p.write('<b/><c/><d'), /boom/);
    p.write('/></stream:stream>');
    assert.deepEqual(names, ['a', 'c', 'd', 'end']);
  });

  it('propagates a StreamError thrown by a handler without treating it as a parse error', () => {
    let errors = 0;
    const p = new XmlStreamParser({
      onStreamStart: () => {
        throw new StreamError('host-unknown');
      },
      onElement: () => {},
      onStreamEnd: () => {},
      onError: () => errors++,
    });
    assert.throws(() => p.write(HEADER), (e: unknown) => e instanceof StreamError && e.condition === 'host-unknown');
    assert.equal(errors, 0);
  });

  it('handles a write() from inside a handler after the current input', () => {
    const names: string[] = [];
    const p: XmlStreamParser = new XmlStreamParser({
      onStreamStart: () => {},
      onElement: (el) => {
        names.push(el.name);
        if (el.name === 'a') p.write('<c/>');
      },
      onStreamEnd: () => {},
      onError: (e) => names.push(e.condition),
    });
    p.write(HEADER + '<a/><b/>');
    assert.deepEqual(names, ['a', 'b', 'c']);
  });
});
