import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Element, Jid, NS, parseXml } from '@kxmpp/xmpp-core';
import { Kernel, XepModule } from '@kxmpp/kernel';
import { discoModule } from './disco.module';

const extra: XepModule = { name: 'x', serverFeatures: ['urn:x', { var: NS.REGISTER, when: (d) => d === 'open.example' }] };
const kernel = new Kernel([discoModule, extra], { accountExists: async (j) => j.local === 'juliet' });
const from = Jid.parse('romeo@example.com/orchard');

async function ask(to: string, query: string) {
  const target = Jid.parse(to).local ? 'account' : 'server';
  return kernel.handleIq({ stanza: parseXml(`<iq type="get" id="d1">${query}</iq>`), from, to: Jid.parse(to), target });
}
const info = `<query xmlns="${NS.DISCO_INFO}"/>`;
const items = `<query xmlns="${NS.DISCO_ITEMS}"/>`;

describe('XEP-0030 disco', () => {
  const rows: Array<[string, string, string, string, string[], string[]]> = [
    // [case, to, query, result|condition, identities, features]
    ['server info', 'example.com', info, 'result', ['server/im'], [NS.DISCO_INFO, NS.DISCO_ITEMS, 'urn:x']],
    ['server info, registration open', 'open.example', info, 'result', ['server/im'], [NS.DISCO_INFO, NS.DISCO_ITEMS, NS.REGISTER, 'urn:x']],
    ['account info', 'juliet@example.com', info, 'result', ['account/registered'], [NS.DISCO_INFO, NS.DISCO_ITEMS]],
    ['unknown account info', 'nobody@example.com', info, 'service-unavailable', [], []],
    ['unknown account items', 'nobody@example.com', items, 'service-unavailable', [], []],
    ['server items', 'example.com', items, 'result', [], []],
    ['account items', 'juliet@example.com', items, 'result', [], []],
    ['unknown node', 'example.com', `<query xmlns="${NS.DISCO_INFO}" node="urn:nope"/>`, 'item-not-found', [], []],
    ['unknown items node', 'example.com', `<query xmlns="${NS.DISCO_ITEMS}" node="urn:nope"/>`, 'item-not-found', [], []],
  ];
  for (const [name, to, query, expected, ids, features] of rows) {
    it(name, async () => {
      const r = await ask(to, query);
      assert.ok(r);
      if (expected !== 'result') {
        assert.equal(r.attrs.type, 'error');
        assert.equal(r.getChild('error')?.getChildElements()[0]?.name, expected);
        return;
      }
      assert.equal(r.attrs.type, 'result');
      const q = r.getChildElements()[0];
      assert.deepEqual(q.getChildren('identity').map((i: Element) => `${i.attrs.category}/${i.attrs.type}`), ids);
      assert.deepEqual(q.getChildren('feature').map((f: Element) => f.attrs.var), [...features].sort());
      assert.equal(q.getChildren('item').length, 0);
    });
  }
});
