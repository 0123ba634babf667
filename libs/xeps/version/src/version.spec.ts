import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Jid, NS, parseXml } from '@kxmpp/xmpp-core';
import { Kernel } from '@kxmpp/kernel';
import { versionModule } from './version.module';

const from = Jid.parse('romeo@example.com/orchard');
const ask = (k: Kernel, target: 'server' | 'account' = 'server') =>
  k.handleIq({ stanza: parseXml(`<iq type="get" id="v1"><query xmlns="${NS.VERSION}"/></iq>`), from, to: Jid.parse(target === 'server' ? 'example.com' : 'juliet@example.com'), target });

describe('XEP-0092 version', () => {
  const rows: Array<[boolean, boolean]> = [
    [false, false],
    [true, true],
  ];
  for (const [showOs, hasOs] of rows) {
    it(`name and version${showOs ? ' and os' : ', no os'}`, async () => {
      const r = await ask(new Kernel([versionModule({ name: 'kxmpp', version: '1.2.3', showOs })]));
      const q = r?.getChild('query', NS.VERSION);
      assert.equal(q?.getChildText('name'), 'kxmpp');
      assert.equal(q?.getChildText('version'), '1.2.3');
      assert.equal(Boolean(q?.getChild('os')), hasOs);
    });
  }
  it('is the server version only, not an account\'s', async () => {
    const r = await ask(new Kernel([versionModule({ name: 'kxmpp', version: '1', showOs: false })]), 'account');
    assert.equal(r?.getChild('error')?.getChildElements()[0]?.name, 'service-unavailable');
  });
});
