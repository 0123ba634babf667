import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Element, Jid, NS, parseXml, StanzaError, xml } from '@kxmpp/xmpp-core';
import { Kernel } from './iq-router';
import { DiscoRegistry } from './disco.registry';
import { isOwnAccount, type XepModule } from './handler';

const T = 'urn:test';
const logged: unknown[] = [];
const mod: XepModule = {
  name: 'test',
  serverFeatures: [T, { var: NS.REGISTER, when: (d) => d === 'open.example' }],
  accountFeatures: ['urn:acct'],
  serverIdentities: [{ category: 'server', type: 'im' }],
  accountIdentities: [{ category: 'account', type: 'registered' }],
  iq: [
    { name: 'echo', xmlns: T, type: 'get', handler: async (ctx) => xml('echo', { xmlns: T, target: ctx.target }) },
    { name: 'full', xmlns: T, type: 'get', handler: async () => xml('iq', { type: 'result', id: 'custom' }) },
    { name: 'nothing', xmlns: T, type: 'get', handler: async () => undefined },
    { name: 'deny', xmlns: T, type: 'set', handler: async () => new StanzaError('forbidden') },
    { name: 'boom', xmlns: T, type: 'get', handler: async () => { throw new Error('bug'); } },
    { name: 'thrown', xmlns: T, type: 'get', handler: async () => { throw new StanzaError('not-allowed'); } },
    { name: 'srv', xmlns: T, type: 'get', targets: ['server'], handler: async () => xml('srv', { xmlns: T }) },
    // A chain: the first handler defers, the second answers.
    { name: 'chain', xmlns: T, type: 'get', handler: async (_c, next) => next() },
    { name: 'chain', xmlns: T, type: 'get', handler: async () => xml('chain', { xmlns: T, by: 'second' }) },
  ],
};
const kernel = new Kernel([mod], { log: { error: (o) => logged.push(o), warn: () => undefined } });
const from = Jid.parse('romeo@example.com/orchard');
const server = Jid.parse('example.com');

async function ask(stanza: string, target: 'server' | 'account' = 'server', to: Jid = server): Promise<Element | null> {
  return kernel.handleIq({ stanza: parseXml(stanza), from, to, target });
}
const cond = (el: Element | null) => el?.getChild('error')?.getChildElements()[0]?.name;

describe('Kernel.handleIq', () => {
  const rows: Array<[string, string, 'server' | 'account', string | null]> = [
    // [case, stanza, target, expected error condition or 'result' or null for no reply]
    ['handler result', `<iq type="get" id="1"><echo xmlns="${T}"/></iq>`, 'server', 'result'],
    ['same handler for accounts', `<iq type="get" id="1"><echo xmlns="${T}"/></iq>`, 'account', 'result'],
    ['returns nothing', `<iq type="get" id="1"><nothing xmlns="${T}"/></iq>`, 'server', 'service-unavailable'],
    ['returns StanzaError', `<iq type="set" id="1"><deny xmlns="${T}"/></iq>`, 'server', 'forbidden'],
    ['throws', `<iq type="get" id="1"><boom xmlns="${T}"/></iq>`, 'server', 'internal-server-error'],
    ['throws StanzaError', `<iq type="get" id="1"><thrown xmlns="${T}"/></iq>`, 'server', 'not-allowed'],
    ['unknown namespace', `<iq type="get" id="1"><query xmlns="urn:nope"/></iq>`, 'server', 'service-unavailable'],
    ['known ns, wrong type', `<iq type="set" id="1"><echo xmlns="${T}"/></iq>`, 'server', 'service-unavailable'],
    ['server-only handler on account', `<iq type="get" id="1"><srv xmlns="${T}"/></iq>`, 'account', 'service-unavailable'],
    ['server-only handler on server', `<iq type="get" id="1"><srv xmlns="${T}"/></iq>`, 'server', 'result'],
    ['no payload', `<iq type="get" id="1"/>`, 'server', 'bad-request'],
    ['two payloads', `<iq type="get" id="1"><echo xmlns="${T}"/><echo xmlns="${T}"/></iq>`, 'server', 'bad-request'],
    ['bad type', `<iq type="foo" id="1"><echo xmlns="${T}"/></iq>`, 'server', 'bad-request'],
    ['result never answered', `<iq type="result" id="1"/>`, 'server', null],
    ['error never answered', `<iq type="error" id="1"><error type="cancel"/></iq>`, 'server', null],
    ['chain with next()', `<iq type="get" id="1"><chain xmlns="${T}"/></iq>`, 'server', 'result'],
  ];
  for (const [name, stanza, target, expected] of rows) {
    it(name, async () => {
      const r = await ask(stanza, target, target === 'server' ? server : Jid.parse('juliet@example.com'));
      if (expected === null) return assert.equal(r, null);
      assert.ok(r);
      assert.equal(r.name, 'iq');
      assert.equal(r.attrs.id, '1');
      assert.equal(r.attrs.to, from.toString());
      assert.equal(r.attrs.from, target === 'server' ? 'example.com' : 'juliet@example.com');
      if (expected === 'result') assert.equal(r.attrs.type, 'result');
      else {
        assert.equal(r.attrs.type, 'error');
        assert.equal(cond(r), expected);
      }
    });
  }
  it('an Element named iq is the full reply', async () => {
    const r = await ask(`<iq type="get" id="1"><full xmlns="${T}"/></iq>`);
    assert.equal(r?.attrs.id, 'custom');
  });
  it('a result carries the payload and the chain answer', async () => {
    assert.equal((await ask(`<iq type="get" id="1"><echo xmlns="${T}"/></iq>`, 'account'))?.getChild('echo', T)?.attrs.target, 'account');
    assert.equal((await ask(`<iq type="get" id="1"><chain xmlns="${T}"/></iq>`))?.getChild('chain', T)?.attrs.by, 'second');
  });
  it('logs a handler that throws', async () => {
    logged.length = 0;
    await ask(`<iq type="get" id="1"><boom xmlns="${T}"/></iq>`);
    assert.equal(logged.length, 1);
  });
});

describe('DiscoRegistry', () => {
  const reg = new DiscoRegistry([mod, { name: 'dup', serverFeatures: [T], serverIdentities: [{ category: 'server', type: 'im' }] }]);
  const rows: Array<[string, 'server' | 'account', string, string[]]> = [
    ['server, registration closed', 'server', 'example.com', [T]],
    ['server, registration open', 'server', 'open.example', [NS.REGISTER, T].sort()],
    ['account', 'account', 'open.example', ['urn:acct']],
  ];
  for (const [name, target, domain, features] of rows) {
    it(`features: ${name}`, () => assert.deepEqual(reg.features(target, domain), features));
  }
  it('identities per target, deduplicated', () => {
    assert.deepEqual(reg.identities('server', 'example.com'), [{ category: 'server', type: 'im' }]);
    assert.deepEqual(reg.identities('account', 'example.com'), [{ category: 'account', type: 'registered' }]);
  });
});

describe('isOwnAccount', () => {
  const ctx = (from: string, to: string, target: 'account' | 'server') => ({ from: Jid.parse(from), to: Jid.parse(to), target });
  it('is true for an IQ to the sender\'s own bare JID or one of its sessions only', () => {
    assert.equal(isOwnAccount(ctx('a@x.example/r', 'a@x.example', 'account')), true);
    assert.equal(isOwnAccount(ctx('a@x.example/r', 'a@x.example/other', 'account')), true);
    assert.equal(isOwnAccount(ctx('a@x.example/r', 'b@x.example', 'account')), false);
    assert.equal(isOwnAccount(ctx('a@x.example/r', 'a@y.example', 'account')), false);
    assert.equal(isOwnAccount(ctx('x.example', 'x.example', 'server')), false);
  });
});
