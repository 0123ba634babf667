import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { handshakeDigest, rewriteTopNamespace, toComponentNamespace, verifyHandshake } from './component-stream';

const enc = new TextEncoder();
const dec = new TextDecoder();
const rewrite = (s: string) => dec.decode(toComponentNamespace(enc.encode(s)));

describe('XEP-0114 handshake', () => {
  it('is the lowercase hex SHA-1 of stream id + secret', () => {
    // Fixed vector: sha1("3BF96D32secret").
    assert.equal(handshakeDigest('3BF96D32', 'secret'), 'b09ea9b3b7f586be8a08d0a3dd7466f110aeb136');
    assert.match(handshakeDigest('id', 'x'), /^[0-9a-f]{40}$/);
  });
  it('hashes non-ASCII secrets as UTF-8', () => {
    // sha1 of "abcsécret" with é as the two bytes c3 a9 (as Latin-1 it would be 7987fef3...)
    assert.equal(handshakeDigest('abc', 'sécret'), '79eea6c23edd969730f095ada478e8cabe54876c');
  });
  it('accepts the right value, in either case and with surrounding whitespace', () => {
    const v = handshakeDigest('s1', 'pw');
    assert.equal(verifyHandshake(v, 's1', 'pw'), true);
    assert.equal(verifyHandshake(` ${v.toUpperCase()}\n`, 's1', 'pw'), true);
  });
  it('refuses a wrong secret, another stream id, an empty or a truncated value', () => {
    const v = handshakeDigest('s1', 'pw');
    assert.equal(verifyHandshake(v, 's1', 'pw2'), false);
    assert.equal(verifyHandshake(v, 's2', 'pw'), false, 'a handshake is bound to its stream id (no replay)');
    assert.equal(verifyHandshake('', 's1', 'pw'), false);
    assert.equal(verifyHandshake(v.slice(0, 39), 's1', 'pw'), false);
    assert.equal(verifyHandshake(`${v}0`, 's1', 'pw'), false);
  });
  it('accepts a secret hashed with its XML entities escaped (XEP-0114 §3 step 1) as well as raw', () => {
    const secret = 'a&b<c';
    assert.equal(verifyHandshake(handshakeDigest('s', secret), 's', secret), true);
    assert.equal(verifyHandshake(handshakeDigest('s', 'a&amp;b&lt;c'), 's', secret), true);
  });
});

describe('namespace rewrite of deliveries to a component', () => {
  it('rewrites the top element\'s jabber:client namespace, either quote', () => {
    assert.equal(rewrite("<message xmlns='jabber:client' to='a@gw'/>"), "<message xmlns='jabber:component:accept' to='a@gw'/>");
    assert.equal(rewrite('<iq type="get" xmlns="jabber:client" id="1"><ping xmlns="urn:xmpp:ping"/></iq>'), '<iq type="get" xmlns="jabber:component:accept" id="1"><ping xmlns="urn:xmpp:ping"/></iq>');
  });
  it('finds xmlns after other attributes and whitespace around =', () => {
    assert.equal(rewrite("<presence\n  from='u@x/r'  xmlns = 'jabber:client'>"), "<presence\n  from='u@x/r'  xmlns = 'jabber:component:accept'>");
  });
  it('is not fooled by xmlns text inside another attribute value or by prefixed declarations', () => {
    assert.equal(
      rewrite(`<message id="xmlns='jabber:client'" xmlns:x='jabber:client' xmlns='jabber:client'><body/></message>`),
      `<message id="xmlns='jabber:client'" xmlns:x='jabber:client' xmlns='jabber:component:accept'><body/></message>`,
    );
  });
  it('leaves the children alone (a forwarded jabber:client message stays one)', () => {
    const s = "<message xmlns='jabber:client'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'/></forwarded></message>";
    assert.equal(rewrite(s), "<message xmlns='jabber:component:accept'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'/></forwarded></message>");
  });
  it('leaves bytes unchanged when the top element has no xmlns (it inherits the component namespace)', () => {
    const s = "<iq type='result' id='1' to='a@gw'><query xmlns='jabber:client'/></iq>";
    assert.equal(rewrite(s), s);
    assert.equal(rewrite('<message/>'), '<message/>');
  });
  it('leaves another namespace and malformed input unchanged', () => {
    for (const s of ["<message xmlns='jabber:server'/>", "<message xmlns='jabber:clientx'/>", '', 'no tag', "<message xmlns='jabber:client", '<message xmlns=jabber:client>', '<message a>']) {
      assert.equal(rewrite(s), s);
    }
  });
  it('keeps multi-byte UTF-8 intact around the splice', () => {
    const s = "<message from='ü@ex.example/ß' xmlns='jabber:client'><body>héllo ☃</body></message>";
    assert.equal(rewrite(s), "<message from='ü@ex.example/ß' xmlns='jabber:component:accept'><body>héllo ☃</body></message>");
  });
  it('takes strings as well as bytes', () => {
    assert.equal(dec.decode(toComponentNamespace("<message xmlns='jabber:client'/>")), "<message xmlns='jabber:component:accept'/>");
  });
  it('rewriteTopNamespace with any pair of namespaces', () => {
    assert.equal(dec.decode(rewriteTopNamespace(enc.encode("<a xmlns='x'/>"), enc.encode('x'), enc.encode('yy'))), "<a xmlns='yy'/>");
  });
});
