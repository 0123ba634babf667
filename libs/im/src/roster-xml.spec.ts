/** RFC 6121 §2 roster XML: item encoding, roster-set validation (§2.3.3, §2.5.3), pushes (§2.1.6). */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'nats';
import { Deliverer, deliveryTargets, edgeDeliverySubject } from '@kxmpp/bus';
import type { RosterItem } from '@kxmpp/store';
import { eventually, lazyNatsServer } from '@kxmpp/testing';
import { Element, parseXml, StanzaError } from '@kxmpp/xmpp-core';
import {
  isRosterVisible,
  parseRosterSetItem,
  pushRosterChange,
  ROSTER_NS,
  rosterItemElement,
  rosterPush,
  rosterPushFor,
  rosterQueryElement,
} from './roster-xml';

const item = (over: Partial<RosterItem> = {}): RosterItem => ({
  jid: 'romeo@example.net',
  groups: [],
  subscription: 'none',
  ask: false,
  pendingIn: false,
  approved: false,
  ...over,
});

describe('rosterItemElement', () => {
  const rows: Array<[string, Partial<RosterItem>, string]> = [
    ['plain', {}, `<item jid="romeo@example.net" subscription="none"/>`],
    ['name and groups in order', { name: 'Romeo', groups: ['Friends', 'Lovers'], subscription: 'both' }, `<item jid="romeo@example.net" name="Romeo" subscription="both"><group>Friends</group><group>Lovers</group></item>`],
    ['pending out', { ask: true }, `<item jid="romeo@example.net" subscription="none" ask="subscribe"/>`],
    ['pre-approved (§2.1.2.1)', { approved: true }, `<item jid="romeo@example.net" subscription="none" approved="true"/>`],
    ['pending in is never exposed', { subscription: 'to', pendingIn: true, pendingInStanza: '<presence type="subscribe"/>' }, `<item jid="romeo@example.net" subscription="to"/>`],
    ['escaping', { name: `R&"<>'` , groups: ['a<b&c'] }, `<item jid="romeo@example.net" name="R&amp;&quot;&lt;&gt;&apos;" subscription="none"><group>a&lt;b&amp;c</group></item>`],
  ];
  for (const [what, over, want] of rows) it(what, () => assert.equal(rosterItemElement(item(over)).toString(), want));
});

describe('parseRosterSetItem', () => {
  const q = (inner: string) => parseXml(`<query xmlns="${ROSTER_NS}">${inner}</query>`);
  const ok: Array<[string, string, object]> = [
    ['add with name and groups', `<item jid="Nurse@Example.com" name="Nurse"><group>Servants</group><group>Staff</group></item>`, { jid: 'nurse@example.com', remove: false, name: 'Nurse', groups: ['Servants', 'Staff'] }],
    ['no name, no groups', `<item jid="nurse@example.com"/>`, { jid: 'nurse@example.com', remove: false, groups: [] }],
    ['empty name means no name', `<item jid="nurse@example.com" name=""/>`, { jid: 'nurse@example.com', remove: false, groups: [] }],
    ['remove', `<item jid="nurse@example.com" subscription="remove"><group>x</group></item>`, { jid: 'nurse@example.com', remove: true, groups: [] }],
    ['other subscription values are ignored (§2.1.2.5)', `<item jid="nurse@example.com" subscription="both" ask="subscribe" approved="true"/>`, { jid: 'nurse@example.com', remove: false, groups: [] }],
    ['a domain JID (gateway)', `<item jid="icq.example.com"/>`, { jid: 'icq.example.com', remove: false, groups: [] }],
    ['name of exactly 1023 bytes', `<item jid="a@b.c" name="${'é'.repeat(511)}x"/>`, { jid: 'a@b.c', remove: false, name: `${'é'.repeat(511)}x`, groups: [] }],
  ];
  for (const [what, inner, want] of ok) it(what, () => assert.deepEqual(parseRosterSetItem(q(inner)), want));

  const bad: Array<[string, string, string]> = [
    ['no item', ``, 'bad-request'],
    ['two items (§2.3.3)', `<item jid="a@b.c"/><item jid="d@b.c"/>`, 'bad-request'],
    ['no jid', `<item name="x"/>`, 'bad-request'],
    ['empty jid', `<item jid=""/>`, 'bad-request'],
    ['malformed jid', `<item jid="a@b@c"/>`, 'jid-malformed'],
    ['malformed jid (space in localpart)', `<item jid="a b@c.d"/>`, 'jid-malformed'],
    ['full JID', `<item jid="a@b.c/res"/>`, 'bad-request'],
    ['duplicate groups (§2.3.3)', `<item jid="a@b.c"><group>G</group><group>G</group></item>`, 'bad-request'],
    ['empty group (§2.3.3)', `<item jid="a@b.c"><group/></item>`, 'not-acceptable'],
    ['name too long (§2.3.3)', `<item jid="a@b.c" name="${'x'.repeat(1024)}"/>`, 'not-acceptable'],
    ['name too long in bytes', `<item jid="a@b.c" name="${'é'.repeat(512)}"/>`, 'not-acceptable'],
    ['group too long (§2.3.3)', `<item jid="a@b.c"><group>${'x'.repeat(1024)}</group></item>`, 'not-acceptable'],
    ['too many groups', `<item jid="a@b.c">${Array.from({ length: 101 }, (_, i) => `<group>g${i}</group>`).join('')}</item>`, 'not-acceptable'],
  ];
  for (const [what, inner, condition] of bad) {
    it(`refuses: ${what} -> ${condition}`, () => {
      assert.throws(() => parseRosterSetItem(q(inner)), (e: unknown) => e instanceof StanzaError && e.condition === condition);
    });
  }
});

describe('visibility', () => {
  const rows: Array<[string, Partial<RosterItem>, boolean]> = [
    ['none', {}, true],
    ['a stranger asking to subscribe (None + Pending In)', { pendingIn: true }, false],
    ['pending in, named by the user', { pendingIn: true, name: 'R' }, true],
    ['pending in, grouped by the user', { pendingIn: true, groups: ['g'] }, true],
    ['pending in and out', { pendingIn: true, ask: true }, true],
    ['to + pending in', { pendingIn: true, subscription: 'to' }, true],
    ['pre-approved', { approved: true }, true],
  ];
  for (const [what, over, want] of rows) it(what, () => assert.equal(isRosterVisible(item(over)), want));

  it('pushes the item, its removal, or nothing', () => {
    const hidden = item({ pendingIn: true });
    const shown = item({ subscription: 'from' });
    assert.equal(rosterPushFor(null, shown), shown);
    assert.equal(rosterPushFor(null, hidden), null);
    assert.equal(rosterPushFor(shown, null), 'romeo@example.net');
    assert.equal(rosterPushFor(shown, hidden), 'romeo@example.net');
    assert.equal(rosterPushFor(hidden, null), null);
  });

  it('roster results leave hidden items out and carry ver', () => {
    const q = rosterQueryElement([item({ jid: 'a@x.y' }), item({ jid: 'b@x.y', pendingIn: true })], 7);
    assert.equal(q.toString(), `<query xmlns="${ROSTER_NS}" ver="7"><item jid="a@x.y" subscription="none"/></query>`);
  });
});

describe('roster push', () => {
  const nats = lazyNatsServer();
  after(() => nats.stop());

  it('is an iq set from the bare JID to the full JID with the new ver and one item', () => {
    const p = rosterPush({ to: 'juliet@example.com/balcony', from: 'juliet@example.com', id: 'p1', version: 13, change: item({ name: 'Romeo', groups: ['Friends'] }) });
    assert.equal(
      p.toString(),
      `<iq xmlns="jabber:client" type="set" id="p1" from="juliet@example.com" to="juliet@example.com/balcony"><query xmlns="${ROSTER_NS}" ver="13"><item jid="romeo@example.net" name="Romeo" subscription="none"><group>Friends</group></item></query></iq>`,
    );
    const r = rosterPush({ to: 'juliet@example.com/balcony', from: 'juliet@example.com', version: 14, change: 'nurse@example.com' });
    assert.match(r.attrs.id, /^push-[0-9a-f]{12}$/);
    assert.equal(r.getChild('query')?.getChild('item')?.toString(), `<item jid="nurse@example.com" subscription="remove"/>`);
  });

  it('pushRosterChange sends one push per session, each to its own full JID', async () => {
    const nc = await connect({ servers: await nats.url() });
    try {
      const got: Array<{ edge: string; sids: string[]; el: Element }> = [];
      for (const edge of ['e1', 'e2']) {
        nc.subscribe(edgeDeliverySubject(edge), { callback: (_e, m) => got.push({ edge, sids: deliveryTargets(m.headers), el: parseXml(new TextDecoder().decode(m.data)) }) });
      }
      await nc.flush();
      const sessions = [
        { jid: 'juliet@example.com/balcony', edge: 'e1', sid: 's1' },
        { jid: 'juliet@example.com/chamber', edge: 'e2', sid: 's2' },
        { jid: 'juliet@example.com/garden', edge: 'e1', sid: 's3' },
      ];
      const n = pushRosterChange(new Deliverer(nc, 4), sessions, 'juliet@example.com', item({ subscription: 'to' }), 3);
      assert.equal(n, 3);
      await eventually(() => got.length === 3, 5000, 'three pushes');
      const seen = got.map((g) => [g.edge, g.sids.join(','), g.el.attrs.to, g.el.getChild('query')?.attrs.ver]).sort();
      assert.deepEqual(seen, [
        ['e1', 's1', 'juliet@example.com/balcony', '3'],
        ['e1', 's3', 'juliet@example.com/garden', '3'],
        ['e2', 's2', 'juliet@example.com/chamber', '3'],
      ]);
      assert.equal(new Set(got.map((g) => g.el.attrs.id)).size, 3, 'distinct ids');
    } finally {
      await nc.close();
    }
  });
});
