/**
 * RFC 6121 Appendix A, row by row: every (direction, stanza, state) of the nine states, the state after it
 * ("-" = no state change), and for a few rows what the server must do besides.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RosterItem } from '@kxmpp/store';
import { Direction, StateName, stateName, stateOf, SubscriptionType, transition } from './subscription';

const S: StateName[] = ['None', 'None + Pending Out', 'None + Pending In', 'None + Pending Out + In', 'To', 'To + Pending In', 'From', 'From + Pending Out', 'Both'];

/** Columns in the order of S. */
const APPENDIX: Record<string, string[]> = {
  // A.2.1 outbound subscribe
  'outbound subscribe': ['None + Pending Out', '-', 'None + Pending Out + In', '-', '-', '-', 'From + Pending Out', '-', '-'],
  // A.2.2 outbound unsubscribe
  'outbound unsubscribe': ['-', 'None', '-', 'None + Pending In', 'None', 'None + Pending In', '-', 'From', 'From'],
  // A.2.3 outbound subscribed
  'outbound subscribed': ['-', '-', 'From', 'From + Pending Out', '-', 'Both', '-', '-', '-'],
  // A.2.4 outbound unsubscribed
  'outbound unsubscribed': ['-', '-', 'None', 'None + Pending Out', '-', 'To', 'None', 'None + Pending Out', 'To'],
  // A.3.1 inbound subscribe
  'inbound subscribe': ['None + Pending In', 'None + Pending Out + In', '-', '-', 'To + Pending In', '-', '-', '-', '-'],
  // A.3.2 inbound unsubscribe
  'inbound unsubscribe': ['-', '-', 'None', 'None + Pending Out', '-', 'To', 'None', 'None + Pending Out', 'To'],
  // A.3.3 inbound subscribed
  'inbound subscribed': ['-', 'To', '-', 'To + Pending In', '-', '-', '-', 'Both', '-'],
  // A.3.4 inbound unsubscribed
  'inbound unsubscribed': ['-', 'None', '-', 'None + Pending In', 'None', 'None + Pending In', '-', 'From', 'From'],
};

const item = (name: StateName, extra: Partial<RosterItem> = {}): RosterItem => ({ jid: 'c@x', groups: ['g'], name: 'C', approved: false, ...stateOf(name), ...extra });

describe('RFC 6121 Appendix A subscription states', () => {
  for (const [event, cols] of Object.entries(APPENDIX)) {
    const [dir, type] = event.split(' ') as [Direction, SubscriptionType];
    S.forEach((state, i) => {
      it(`${event}: ${state} -> ${cols[i]}`, () => {
        const t = transition(dir, type, 'c@x', item(state), '<presence/>');
        if (cols[i] === '-') {
          const after = t.item ?? item(state);
          assert.equal(stateName(after), state);
        } else {
          assert.ok(t.item, 'a changed item');
          assert.equal(stateName(t.item), cols[i]);
          // name and groups survive every subscription change
          assert.equal(t.item.name, 'C');
          assert.deepEqual(t.item.groups, ['g']);
        }
      });
    });
  }

  it('stateName and stateOf are inverse', () => {
    for (const s of S) assert.equal(stateName(stateOf(s)), s);
  });

  it('outbound subscribe creates the item when there is none and is always routed (§3.1.2)', () => {
    const t = transition('outbound', 'subscribe', 'c@x', null);
    assert.equal(t.item && stateName(t.item), 'None + Pending Out');
    assert.equal(t.forward, true);
    assert.equal(transition('outbound', 'subscribe', 'c@x', item('Both')).forward, true);
  });

  it('inbound subscribe when already subscribed: auto-reply subscribed, not delivered (§3.1.3)', () => {
    for (const s of ['From', 'From + Pending Out', 'Both'] as StateName[]) {
      const t = transition('inbound', 'subscribe', 'c@x', item(s));
      assert.deepEqual([t.item, t.forward, t.autoReplySubscribed], [null, false, true]);
    }
  });

  it('inbound subscribe keeps the request to show at the next login, and delivers it', () => {
    const t = transition('inbound', 'subscribe', 'c@x', null, '<presence type="subscribe"/>');
    assert.equal(t.forward, true);
    assert.equal(t.item?.pendingInStanza, '<presence type="subscribe"/>');
    const approved = transition('outbound', 'subscribed', 'c@x', t.item);
    assert.equal(approved.item?.pendingInStanza, undefined);
    assert.equal(approved.forward, true);
  });

  it('pre-approval: subscribed with nothing pending marks the item and is not routed; the next subscribe is approved (§3.4)', () => {
    const pre = transition('outbound', 'subscribed', 'c@x', null);
    assert.equal(pre.forward, false);
    assert.equal(pre.item?.approved, true);
    assert.equal(stateName(pre.item!), 'None');
    const sub = transition('inbound', 'subscribe', 'c@x', pre.item);
    assert.equal(sub.autoReplySubscribed, true);
    assert.equal(sub.forward, false);
    assert.equal(stateName(sub.item!), 'From');
    assert.equal(sub.item!.approved, false);
    const fromTo = transition('inbound', 'subscribe', 'c@x', item('To', { approved: true }));
    assert.equal(stateName(fromTo.item!), 'Both');
  });

  it('unsubscribed cancelling only a pre-approval is not routed (§3.4.2); otherwise it always is (§3.2.1)', () => {
    const t = transition('outbound', 'unsubscribed', 'c@x', item('None', { approved: true }));
    assert.equal(t.item?.approved, false);
    assert.equal(t.forward, false);
    // no item at all (the roster service removed it first): still routed, so the contact's side is cancelled
    assert.equal(transition('outbound', 'unsubscribed', 'c@x', null).forward, true);
    assert.equal(transition('outbound', 'unsubscribed', 'c@x', null).item, null);
    assert.equal(transition('outbound', 'unsubscribe', 'c@x', null).forward, true);
    assert.equal(transition('outbound', 'unsubscribe', 'c@x', null).item, null);
  });

  it('inbound subscribed/unsubscribe/unsubscribed that change nothing are not delivered', () => {
    for (const type of ['subscribed', 'unsubscribe', 'unsubscribed'] as SubscriptionType[]) {
      const t = transition('inbound', type, 'c@x', item('None'));
      assert.equal(t.forward, false);
      assert.equal(transition('inbound', type, 'c@x', null).forward, false);
    }
  });
});
