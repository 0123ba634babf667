import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionEntry } from '@kxmpp/bus';
import { parseXml } from '@kxmpp/xmpp-core';
import { carbonCopies, carbonCopyBytes, CarbonInput } from './routing.carbons';
import type { Action } from './routing.decide';

const s = (jid: string, carbons: boolean, sid = jid.split('/')[1]): SessionEntry => ({ jid, edge: 'e1', sid, priority: 0, available: true, carbons });
const juliet = [s('juliet@example.com/balcony', true), s('juliet@example.com/chamber', true), s('juliet@example.com/garden', false)];
const romeo = [s('romeo@example.com/orchard', true), s('romeo@example.com/home', true), s('romeo@example.com/car', false)];

const input = (over: Partial<CarbonInput> = {}): CarbonInput => ({
  eligible: true,
  from: 'romeo@example.com/orchard',
  senderLocal: true,
  sender: { edge: 'e1', sid: 'orchard' },
  recipientBare: 'juliet@example.com',
  recipientSessions: juliet,
  senderSessions: romeo,
  ...over,
});
const deliverTo = (...sids: string[]): Action[] => [{ action: 'deliver', sessions: sids.map((sid) => ({ edge: 'e1', sid })) }];
const summary = (copies: ReturnType<typeof carbonCopies>) => copies.map((c) => `${c.direction}:${c.session.jid}`).sort();

describe('XEP-0280 carbon copies', () => {
  it('nothing for a message the edge found not eligible (private, no-copy, groupchat, ...)', () => {
    assert.deepEqual(carbonCopies(input({ eligible: false }), deliverTo('balcony')), []);
  });

  it("the recipient's other enabled sessions get a received copy; the sender's other enabled ones a sent copy", () => {
    assert.deepEqual(summary(carbonCopies(input(), deliverTo('balcony'))), [
      'received:juliet@example.com/chamber',
      'sent:romeo@example.com/home',
    ]);
  });

  it('a session that got the message itself gets no copy', () => {
    assert.deepEqual(summary(carbonCopies(input(), deliverTo('balcony', 'chamber'))), ['sent:romeo@example.com/home']);
  });

  it('stored offline or sent to another server: sent copies only', () => {
    const offline: Action[] = [{ action: 'service', service: 'offline', key: 'juliet@example.com' }];
    assert.deepEqual(summary(carbonCopies(input(), offline)), ['sent:romeo@example.com/home']);
    const remote: Action[] = [{ action: 'remote', domain: 'other.example' }];
    assert.deepEqual(summary(carbonCopies(input({ recipientBare: '', recipientSessions: [] }), remote)), ['sent:romeo@example.com/home']);
  });

  it('bounced, blocked or dropped: no copy at all', () => {
    for (const a of [[{ action: 'bounce', condition: 'service-unavailable' }], [{ action: 'blocked' }], [{ action: 'drop', reason: 'x' }]] as Action[][]) {
      assert.deepEqual(carbonCopies(input(), a), []);
    }
  });

  it('from another server: received copies only (its sender has no sessions here)', () => {
    const copies = carbonCopies(input({ from: 'mercutio@other.example/x', senderLocal: false, senderSessions: [] }), deliverTo('balcony'));
    assert.deepEqual(summary(copies), ['received:juliet@example.com/chamber']);
    assert.equal(copies[0].owner, 'juliet@example.com', 'a copy comes from its owner');
  });

  it('to oneself: each session gets one copy at most, and the sending one none', () => {
    const self = input({ recipientBare: 'romeo@example.com', recipientSessions: romeo });
    assert.deepEqual(summary(carbonCopies(self, deliverTo('car'))), ['received:romeo@example.com/home']);
  });

  it('the copy wraps the original bytes unchanged, attributes escaped', () => {
    const original = new TextEncoder().encode(`<message xmlns='jabber:client' from='romeo@example.com/orchard' to='juliet@example.com' type='chat' id='m1'><body>hi &amp; bye</body></message>`);
    const bytes = carbonCopyBytes({ session: { edge: 'e1', sid: 'x', jid: "juliet@example.com/it's" }, direction: 'received', owner: 'juliet@example.com' }, 'chat', original);
    const el = parseXml(new TextDecoder().decode(bytes));
    assert.equal(el.attrs.from, 'juliet@example.com');
    assert.equal(el.attrs.to, "juliet@example.com/it's");
    assert.equal(el.attrs.type, 'chat');
    const inner = el.getChild('received', 'urn:xmpp:carbons:2')?.getChild('forwarded', 'urn:xmpp:forward:0')?.getChild('message');
    assert.equal(inner?.attrs.id, 'm1');
    assert.equal(inner?.getChildText('body'), 'hi & bye');
    assert.ok(new TextDecoder().decode(bytes).includes(new TextDecoder().decode(original)));
  });
});
