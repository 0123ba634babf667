import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Element, Jid, NS, parseXml } from '@kxmpp/xmpp-core';
import { Kernel, XepModule } from '@kxmpp/kernel';
import { disco, discoModule } from './disco.module';

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

describe('XEP-0030 disco#items: the server items of a domain', () => {
  const withItems = new Kernel([disco({ serverItems: (d) => ['gw.example.com', 'sms.other.example'].filter((c) => c.endsWith(`.${d}`)) })], {
    accountExists: async () => true,
  });
  const itemsOf = async (to: string) => {
    const j = Jid.parse(to);
    const r = await withItems.handleIq({ stanza: parseXml(`<iq type="get" id="i1">${items}</iq>`), from, to: j, target: j.local ? 'account' : 'server' });
    assert.equal(r?.attrs.type, 'result');
    return r!.getChildElements()[0].getChildren('item').map((i: Element) => i.attrs.jid);
  };
  it("lists the domain's own items only (tenants never see each other's)", async () => {
    assert.deepEqual(await itemsOf('example.com'), ['gw.example.com']);
    assert.deepEqual(await itemsOf('other.example'), ['sms.other.example']);
    assert.deepEqual(await itemsOf('third.example'), []);
  });
  it('an account has no server items', async () => {
    assert.deepEqual(await itemsOf('juliet@example.com'), []);
  });
});
