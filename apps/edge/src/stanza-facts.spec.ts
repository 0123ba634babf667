import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml, StanzaError } from '@kxmpp/xmpp-core';
import { carbonsEligible, stanzaShape, typeFact } from './stanza-facts';

describe('stanzaShape (RFC 6120 §8.2.3, RFC 6121 §4.7.1)', () => {
  const shape = (xml: string) => {
    const el = parseXml(xml);
    return stanzaShape(el.name, String(el.attrs.type ?? ''), el);
  };
  const refused = (xml: string, text: RegExp) => {
    const r = shape(xml);
    assert.ok(r instanceof StanzaError, xml);
    assert.equal(r.condition, 'bad-request');
    assert.match(r.text ?? '', text);
  };

  it('gives the payload namespace of a get or set, and nothing for other stanzas', () => {
    assert.equal(shape(`<iq id='1' type='get'><ping xmlns='urn:xmpp:ping'/></iq>`), 'urn:xmpp:ping');
    assert.equal(shape(`<iq id='1' type='result'/>`), '');
    assert.equal(shape(`<iq id='1' type='error'><error type='cancel'/></iq>`), '');
    assert.equal(shape(`<message type='chat'><body>x</body></message>`), '');
    assert.equal(shape(`<presence type='subscribe'/>`), '');
    assert.equal(shape(`<presence/>`), '');
  });

  it('refuses iqs without an id, with a type of its own, or without exactly one payload, and unknown presence types', () => {
    refused(`<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>`, /id and a type/);
    refused(`<iq id='1' type='fetch'><ping xmlns='urn:xmpp:ping'/></iq>`, /id and a type/);
    refused(`<iq id='1' type='set'/>`, /exactly one payload/);
    refused(`<iq id='1' type='get'><a xmlns='x'/><b xmlns='y'/></iq>`, /exactly one payload/);
    refused(`<iq id='1' type='get'><a xmlns='urn:x&#10;y'/></iq>`, /not a URI/);
    refused(`<presence type='invisible'/>`, /unknown presence type/);
  });

  it('routes a message type it does not know as normal (RFC 6121 §5.2.2)', () => {
    assert.equal(typeFact('message', 'shout'), 'normal');
    assert.equal(typeFact('message', 'chat'), 'chat');
    assert.equal(typeFact('presence', 'probe'), 'probe');
  });
});

describe('carbonsEligible (XEP-0280 §6)', () => {
  const m = (s: string) => parseXml(s);
  it('chat messages, and normal ones with a body or an IM payload', () => {
    assert.equal(carbonsEligible(m(`<message type='chat'><body>x</body></message>`), 'chat'), true);
    assert.equal(carbonsEligible(m(`<message type='chat'/>`), 'chat'), true);
    assert.equal(carbonsEligible(m(`<message><body>x</body></message>`), ''), true);
    assert.equal(carbonsEligible(m(`<message type='normal'><received xmlns='urn:xmpp:receipts' id='1'/></message>`), 'normal'), true);
    assert.equal(carbonsEligible(m(`<message><active xmlns='http://jabber.org/protocol/chatstates'/></message>`), ''), true);
  });
  it('not groupchat, headline, error, an empty normal message, a private one, a no-copy one, or a copy', () => {
    assert.equal(carbonsEligible(m(`<message type='groupchat'><body>x</body></message>`), 'groupchat'), false);
    assert.equal(carbonsEligible(m(`<message type='headline'><body>x</body></message>`), 'headline'), false);
    assert.equal(carbonsEligible(m(`<message type='error'><body>x</body></message>`), 'error'), false);
    assert.equal(carbonsEligible(m(`<message><subject>x</subject></message>`), ''), false);
    assert.equal(carbonsEligible(m(`<message type='chat'><body>x</body><private xmlns='urn:xmpp:carbons:2'/></message>`), 'chat'), false);
    assert.equal(carbonsEligible(m(`<message type='chat'><body>x</body><no-copy xmlns='urn:xmpp:hints'/></message>`), 'chat'), false);
    assert.equal(carbonsEligible(m(`<message type='chat'><sent xmlns='urn:xmpp:carbons:2'/></message>`), 'chat'), false);
  });
});
