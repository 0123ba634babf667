import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { detachElement, parseXml } from './xml';

describe('detachElement', () => {
  it('writes the namespace and the ancestors\' prefix declarations on the copy, nearest first', () => {
    const iq = parseXml(
      `<iq xmlns='jabber:client' xmlns:a='urn:outer' xmlns:b='urn:b'><query xmlns='jabber:iq:private' xmlns:a='urn:inner'>` +
        `<storage xmlns='storage:bookmarks'><a:x b:y='1'>t</a:x></storage></query></iq>`,
    );
    const storage = iq.getChild('query')!.getChild('storage')!;
    const copy = detachElement(storage, 'storage:bookmarks');
    assert.equal(copy.attrs.xmlns, 'storage:bookmarks');
    assert.equal(copy.attrs['xmlns:a'], 'urn:inner');
    assert.equal(copy.attrs['xmlns:b'], 'urn:b');
    assert.equal(copy.parent, null);
    // A deep copy: changing it leaves the stanza alone.
    copy.getChildElements()[0]!.attrs['b:y'] = '2';
    assert.equal(storage.getChildElements()[0]!.attrs['b:y'], '1');
    assert.equal(parseXml(copy.toString()).getChildElements()[0]!.getText(), 't');
  });

  it('declares the prefix of a prefixed element itself', () => {
    const el = parseXml(`<root xmlns:v='vcard-temp'><v:vCard><v:FN>x</v:FN></v:vCard></root>`).getChildElements()[0]!;
    assert.equal(detachElement(el, 'vcard-temp').attrs['xmlns:v'], 'vcard-temp');
  });
});
