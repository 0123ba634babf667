/** XEP-0054 through the kernel, on the real JetStream storage of a real nats-server. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { Element, Jid, parseXml } from '@kxmpp/xmpp-core';
import { Kernel } from '@kxmpp/kernel';
import { openStorage, type Storage } from '@kxmpp/store';
import { lazyNatsServer } from '@kxmpp/testing';
import { NS_VCARD, vcardModule } from './vcard.module';

const server = lazyNatsServer();
let nc: NatsConnection;
let storage: Storage;
let kernel: Kernel;
// Every test uses its own users, so tests never see each other's vCards.
let seq = 0;
const user = (name: string) => `${name}${++seq}`;
const EXISTING = new Set<string>();

before(async () => {
  nc = await connect({ servers: await server.url() });
  storage = await openStorage({ kind: 'jetstream', nc });
  kernel = new Kernel([vcardModule(storage.vcard, { maxBytes: 2048 })], { accountExists: async (bare) => EXISTING.has(bare.toString()) });
});
after(async () => {
  await storage?.close();
  await nc?.drain();
  await server.stop();
});

/** `from` a full JID; `to` a bare JID, a domain, or undefined for "no 'to'" (the router then uses the sender's bare JID). */
async function ask(from: string, to: string | undefined, payload: string, type: 'get' | 'set' = 'get'): Promise<Element> {
  const f = Jid.parse(from);
  const t = to ? Jid.parse(to) : f.bare();
  const r = await kernel.handleIq({ stanza: parseXml(`<iq xmlns="jabber:client" type="${type}" id="v1">${payload}</iq>`), from: f, to: t, target: t.local ? 'account' : 'server' });
  assert.ok(r);
  return r;
}
const condition = (r: Element) => (r.attrs.type === 'error' ? r.getChild('error')?.getChildElements()[0]?.name : 'result');
const vcardOf = (r: Element) => r.getChild('vCard', NS_VCARD);
const CARD = `<vCard xmlns="${NS_VCARD}"><FN>Juliet &amp; Co</FN><N><FAMILY>Capulet</FAMILY><GIVEN>Juliet</GIVEN></N><NICKNAME>jc</NICKNAME></vCard>`;

function account(name: string): { bare: string; full: string } {
  const bare = `${user(name)}@example.com`;
  EXISTING.add(bare);
  return { bare, full: `${bare}/balcony` };
}

describe('XEP-0054 vcard-temp', () => {
  it('own vCard with none stored: an empty vCard result (§3.1)', async () => {
    const j = account('juliet');
    const r = await ask(j.full, undefined, `<vCard xmlns="${NS_VCARD}"/>`);
    assert.equal(condition(r), 'result');
    assert.equal(vcardOf(r)?.toString(), `<vCard xmlns="${NS_VCARD}"/>`);
    assert.equal(r.attrs.to, j.full);
  });

  it('the owner sets it (result without payload), then reads it back unchanged', async () => {
    const j = account('juliet');
    const set = await ask(j.full, undefined, CARD, 'set');
    assert.equal(set.toString(), `<iq xmlns="jabber:client" type="result" id="v1" from="${j.bare}" to="${j.full}"/>`);
    const r = await ask(j.full, undefined, `<vCard xmlns="${NS_VCARD}"/>`);
    assert.equal(vcardOf(r)?.toString(), CARD);
    assert.equal(vcardOf(r)?.getChildText('FN'), 'Juliet & Co');
  });

  it('a set to one\'s own bare JID with an explicit to works too', async () => {
    const j = account('juliet');
    assert.equal(condition(await ask(j.full, j.bare, CARD, 'set')), 'result');
    assert.equal(await storage.vcard.get('example.com', Jid.parse(j.bare).local), CARD);
  });

  it('anyone may read another account\'s vCard (§3.3, world-readable)', async () => {
    const j = account('juliet');
    await ask(j.full, undefined, CARD, 'set');
    const r = await ask('stranger@elsewhere.example/x', j.bare, `<vCard xmlns="${NS_VCARD}"/>`);
    assert.equal(condition(r), 'result');
    assert.equal(r.attrs.from, j.bare);
    assert.equal(vcardOf(r)?.getChildText('NICKNAME'), 'jc');
  });

  const errors: Array<[string, () => Promise<Element>, string]> = [
    ['another account with no vCard: item-not-found (§3.3)', async () => ask('romeo@example.com/o', account('juliet').bare, `<vCard xmlns="${NS_VCARD}"/>`), 'item-not-found'],
    ['an account that does not exist: service-unavailable (§3.3, RFC 6121 §8.5.1)', async () => ask('romeo@example.com/o', `${user('nobody')}@example.com`, `<vCard xmlns="${NS_VCARD}"/>`), 'service-unavailable'],
    ['the server\'s own vCard: none configured, item-not-found', async () => ask('romeo@example.com/o', 'example.com', `<vCard xmlns="${NS_VCARD}"/>`), 'item-not-found'],
    ['set on another account: forbidden (§3.2)', async () => ask('romeo@example.com/o', account('juliet').bare, CARD, 'set'), 'forbidden'],
    ['set on the server: forbidden', async () => ask('romeo@example.com/o', 'example.com', CARD, 'set'), 'forbidden'],
    ['a vCard over the size cap: policy-violation', async () => ask(account('juliet').full, undefined, `<vCard xmlns="${NS_VCARD}"><DESC>${'x'.repeat(2100)}</DESC></vCard>`, 'set'), 'policy-violation'],
  ];
  for (const [name, run, expected] of errors) {
    it(name, async () => {
      const r = await run();
      assert.equal(condition(r), expected);
      // The error keeps the request's payload (RFC 6120 §8.3.1) so the client can correlate.
      assert.ok(vcardOf(r));
    });
  }

  it('a vCard over the cap leaves the stored one in place', async () => {
    const j = account('juliet');
    await ask(j.full, undefined, CARD, 'set');
    await ask(j.full, undefined, `<vCard xmlns="${NS_VCARD}"><DESC>${'x'.repeat(2100)}</DESC></vCard>`, 'set');
    assert.equal(vcardOf(await ask(j.full, undefined, `<vCard xmlns="${NS_VCARD}"/>`))?.toString(), CARD);
  });

  it('an empty vCard set deletes it', async () => {
    const j = account('juliet');
    await ask(j.full, undefined, CARD, 'set');
    assert.equal(condition(await ask(j.full, undefined, `<vCard xmlns="${NS_VCARD}"/>`, 'set')), 'result');
    assert.equal(await storage.vcard.get('example.com', Jid.parse(j.bare).local), null);
    assert.equal(condition(await ask('romeo@example.com/o', j.bare, `<vCard xmlns="${NS_VCARD}"/>`)), 'item-not-found');
  });

  it('stores a vCard that uses a prefix declared on the iq as standalone XML', async () => {
    const j = account('juliet');
    const f = Jid.parse(j.full);
    const stanza = parseXml(`<iq xmlns="jabber:client" xmlns:x="urn:example:x" type="set" id="p"><vCard xmlns="${NS_VCARD}"><x:MOOD>ok</x:MOOD></vCard></iq>`);
    const r = await kernel.handleIq({ stanza, from: f, to: f.bare(), target: 'account' });
    assert.equal(r?.attrs.type, 'result');
    const stored = parseXml((await storage.vcard.get('example.com', f.local)) ?? '');
    assert.equal(stored.getChildElements()[0].getNS(), 'urn:example:x');
  });

  it('advertises vcard-temp on the server and on accounts (§4)', () => {
    assert.deepEqual(kernel.disco.features('server', 'example.com'), [NS_VCARD]);
    assert.deepEqual(kernel.disco.features('account', 'example.com'), [NS_VCARD]);
  });
});
