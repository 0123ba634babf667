import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { STANZA_CONDITIONS, StanzaError, StreamError, errorReply } from './errors';
import { NS } from './namespaces';
import { parseXml, xml } from './xml';

describe('StanzaError.toElement', () => {
  it('builds <error type> with the condition and no text by default', () => {
    const el = new StanzaError('item-not-found').toElement();
    assert.equal(el.name, 'error');
    assert.equal(el.attrs.type, 'cancel');
    assert.equal(el.attrs.by, undefined);
    const children = el.getChildElements();
    assert.equal(children.length, 1);
    assert.ok(children[0].is('item-not-found', NS.STANZAS_ERR));
  });

  it('adds text, an explicit type and by', () => {
    const el = new StanzaError('policy-violation', 'too fast', 'wait', 'example.com').toElement();
    assert.equal(el.attrs.type, 'wait');
    assert.equal(el.attrs.by, 'example.com');
    const text = el.getChild('text', NS.STANZAS_ERR);
    assert.equal(text?.getText(), 'too fast');
    assert.equal(text?.attrs['xml:lang'], 'en');
  });

  it('uses the usual type of every defined condition', () => {
    for (const [condition, type] of Object.entries(STANZA_CONDITIONS)) {
      const err = new StanzaError(condition as keyof typeof STANZA_CONDITIONS);
      assert.equal(err.type, type);
      assert.equal(err.toElement().attrs.type, type);
    }
  });

  it('is an Error with a readable message', () => {
    const err = new StanzaError('bad-request', 'missing id');
    assert.ok(err instanceof Error);
    assert.equal(err.message, 'bad-request: missing id');
    assert.equal(err.name, 'StanzaError');
  });
});

describe('errorReply', () => {
  const cases: Array<{ what: string; stanza: string; expectChildren: string[] }> = [
    {
      what: 'an IQ keeps only its first payload',
      stanza: "<iq xmlns='jabber:client' type='get' id='q1' from='a@b.c/r' to='b.c'><query xmlns='urn:x'/><extra/></iq>",
      expectChildren: ['query', 'error'],
    },
    {
      what: 'a message keeps its payload',
      stanza: "<message type='chat' id='m1' from='a@b.c/r' to='d@e.f'><body>hi</body><thread>t</thread></message>",
      expectChildren: ['body', 'thread', 'error'],
    },
    {
      what: 'a presence without children',
      stanza: "<presence id='p1' from='a@b.c/r' to='d@e.f'/>",
      expectChildren: ['error'],
    },
  ];

  for (const { what, stanza, expectChildren } of cases) {
    it(`answers ${what}: swaps from/to, keeps name and id, type=error`, () => {
      const original = parseXml(stanza);
      const reply = errorReply(original, new StanzaError('service-unavailable'));
      assert.ok(reply);
      assert.equal(reply.name, original.name);
      assert.equal(reply.attrs.type, 'error');
      assert.equal(reply.attrs.id, original.attrs.id);
      assert.equal(reply.attrs.from, original.attrs.to);
      assert.equal(reply.attrs.to, original.attrs.from);
      assert.equal(reply.attrs.xmlns, original.attrs.xmlns);
      assert.deepEqual(
        reply.getChildElements().map((c) => c.name),
        expectChildren,
      );
      const error = reply.getChild('error');
      assert.equal(error?.attrs.type, 'cancel');
      assert.ok(error?.getChild('service-unavailable', NS.STANZAS_ERR));
      // The original is not modified and children are copies.
      assert.equal(original.toString(), parseXml(stanza).toString());
      const firstCopy = reply.getChildElements()[0];
      if (firstCopy.name !== 'error') assert.notEqual(firstCopy, original.getChildElements()[0]);
    });
  }

  it('uses an explicit from instead of the original to', () => {
    const reply = errorReply(parseXml("<iq type='set' id='1' from='a@b.c/r' to='x@b.c'/>"), new StanzaError('forbidden'), 'b.c');
    assert.equal(reply?.attrs.from, 'b.c');
    assert.equal(reply?.attrs.to, 'a@b.c/r');
  });

  it('omits from/to when the original had none', () => {
    const reply = errorReply(parseXml("<iq type='get' id='1'/>"), new StanzaError('bad-request'));
    assert.ok(reply);
    assert.equal(reply.attrs.from, undefined);
    assert.equal(reply.attrs.to, undefined);
    assert.doesNotMatch(reply.toString(), /from=|to=/);
  });

  it('returns null for a stanza of type error', () => {
    const errStanza = parseXml(
      "<message type='error' id='e1' from='a@b.c' to='d@e.f'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
    );
    assert.equal(errorReply(errStanza, new StanzaError('service-unavailable')), null);
  });

  it('does not copy an old <error/> child of a message', () => {
    const reply = errorReply(parseXml("<message id='1'><body>x</body><error type='cancel'/></message>"), new StanzaError('gone'));
    assert.deepEqual(
      reply?.getChildElements().map((c) => c.name),
      ['body', 'error'],
    );
  });
});

describe('StreamError.toElement', () => {
  it('builds <stream:error> with condition, content and text', () => {
    const el = new StreamError('see-other-host', 'moved', 'other.example.com:5222').toElement();
    assert.equal(el.name, 'stream:error');
    const cond = el.getChild('see-other-host', NS.STREAMS_ERR);
    assert.equal(cond?.getText(), 'other.example.com:5222');
    assert.equal(el.getChild('text', NS.STREAMS_ERR)?.getText(), 'moved');
    assert.equal(new StreamError('not-well-formed').toElement().getChildElements().length, 1);
  });
  it('puts an application-specific condition after the text (RFC 6120 §4.9.4)', () => {
    const app = xml('handled-count-too-high', { xmlns: 'urn:xmpp:sm:3', h: '5', 'send-count': '3' });
    const el = new StreamError('undefined-condition', 'too high', undefined, app).toElement();
    assert.deepEqual(
      el.getChildElements().map((c) => c.name),
      ['undefined-condition', 'text', 'handled-count-too-high'],
    );
    assert.equal(el.getChild('handled-count-too-high', 'urn:xmpp:sm:3')?.attrs['send-count'], '3');
  });
});
