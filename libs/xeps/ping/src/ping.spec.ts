import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Jid, NS, parseXml } from '@kxmpp/xmpp-core';
import { Kernel } from '@kxmpp/kernel';
import { pingModule } from './ping.module';

const kernel = new Kernel([pingModule]);
const from = Jid.parse('romeo@example.com/orchard');

describe('XEP-0199 ping', () => {
  for (const [to, target] of [['example.com', 'server'], ['juliet@example.com', 'account']] as const) {
    it(`answers a ping to ${target} with an empty result`, async () => {
      const r = await kernel.handleIq({ stanza: parseXml(`<iq xmlns="jabber:client" type="get" id="p1"><ping xmlns="${NS.PING}"/></iq>`), from, to: Jid.parse(to), target });
      assert.equal(r?.toString(), `<iq xmlns="jabber:client" type="result" id="p1" from="${to}" to="${from}"/>`);
    });
  }
  it('a ping set is not a thing', async () => {
    const r = await kernel.handleIq({ stanza: parseXml(`<iq type="set" id="p1"><ping xmlns="${NS.PING}"/></iq>`), from, to: Jid.parse('example.com'), target: 'server' });
    assert.equal(r?.getChild('error')?.getChildElements()[0]?.name, 'service-unavailable');
  });
  it('declares the feature on the server', () => assert.deepEqual(kernel.disco.features('server', 'example.com'), [NS.PING]));
});
