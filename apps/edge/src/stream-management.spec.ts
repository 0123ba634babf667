import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SM_MAX_HELD_REQUESTS, SM_MAX_UNACKED, StreamManagement } from './stream-management';

describe('StreamManagement (XEP-0198 counters)', () => {
  it("counts a published stanza as handled only once settled, and never past an earlier one still waiting", () => {
    const sm = new StreamManagement(0);
    sm.onReceived(); // 1: published
    sm.onPublished();
    sm.onReceived(); // 2: answered by the edge itself
    assert.equal(sm.handled, 0, 'stanza 2 was answered, but stanza 1 still waits');
    sm.onSettled();
    assert.equal(sm.handled, 2);
    sm.onReceived(); // 3: published
    sm.onPublished();
    sm.onReceived(); // 4: published
    sm.onPublished();
    sm.onSettled();
    assert.equal(sm.handled, 3);
    sm.onSettled();
    assert.equal(sm.handled, 4);
  });

  it("answers an <r/> at once when nothing waits, and otherwise once what came before it is settled", () => {
    const sm = new StreamManagement(0);
    sm.onReceived();
    assert.equal(sm.onRequest(), 'now', 'stanza 1 was answered by the edge itself');
    assert.equal(sm.handled, 1);
    sm.onReceived(); // 2: published
    sm.onPublished();
    assert.equal(sm.onRequest(), 'held', 'stanza 2 still waits for its publish ack');
    assert.equal(sm.onRequest(), 'held', 'a second <r/> right after the first');
    sm.onReceived(); // 3: published after both <r/>s
    sm.onPublished();
    assert.equal(sm.onRequest(), 'held');
    assert.equal(sm.onSettled(), 2, 'both <r/>s sent after stanza 2 are due');
    assert.equal(sm.handled, 2, 'and their h counts stanza 2');
    assert.equal(sm.onSettled(), 1, 'the <r/> sent after stanza 3');
    assert.equal(sm.handled, 3);
  });

  it('publishes from before <enable/> settling do not release a held <r/>', () => {
    const sm = new StreamManagement(1);
    sm.onReceived();
    sm.onPublished();
    assert.equal(sm.onRequest(), 'held');
    assert.equal(sm.onSettled(), 0, 'the publish from before <enable/>');
    assert.equal(sm.onSettled(), 1);
    assert.equal(sm.handled, 1);
  });

  it(`holds at most ${SM_MAX_HELD_REQUESTS} <r/>s`, () => {
    const sm = new StreamManagement(0);
    sm.onReceived();
    sm.onPublished();
    for (let i = 0; i < SM_MAX_HELD_REQUESTS; i++) assert.equal(sm.onRequest(), 'held');
    assert.equal(sm.onRequest(), 'too-many');
    assert.equal(sm.onSettled(), SM_MAX_HELD_REQUESTS);
    assert.equal(sm.onRequest(), 'now');
  });

  it('publishes in flight before <enable/> do not move the count when they settle', () => {
    const sm = new StreamManagement(2);
    sm.onReceived();
    sm.onPublished();
    sm.onSettled(); // one of the two from before
    sm.onSettled(); // the other
    assert.equal(sm.handled, 0, 'stanza 1 still waits');
    sm.onSettled();
    assert.equal(sm.handled, 1);
  });

  it("an <a/> drops what it acknowledges; what is left is handed back when the stream ends", () => {
    const sm = new StreamManagement(0);
    for (const d of ['<message id="1"/>', '<presence/>', '<message id="3"/>']) sm.onSent(d, d.startsWith('<message') ? 'message' : 'presence');
    sm.requestedAt = 1000;
    assert.equal(sm.requested, true);
    assert.equal(sm.onAck('2'), null);
    assert.equal(sm.requested, false, 'the answer to our <r/>');
    assert.equal(sm.unacked, 1);
    assert.equal(sm.onAck('2'), null, 'the same h again acknowledges nothing more');
    sm.onUndelivered('<message id="4"/>', 'message');
    assert.deepEqual(sm.takeUnacked(), [
      { data: '<message id="3"/>', kind: 'message' },
      { data: '<message id="4"/>', kind: 'message' },
    ]);
    assert.equal(sm.unacked, 0);
  });

  it('keeps its own copy of delivered bytes (a delivery may be a view into a larger buffer)', () => {
    const buf = new TextEncoder().encode('xx<message/>yy');
    const view = buf.subarray(2, 12);
    const sm = new StreamManagement(0);
    sm.onSent(view, 'message');
    buf.fill(0);
    const [u] = sm.takeUnacked();
    assert.equal(new TextDecoder().decode(u.data as Uint8Array), '<message/>');
  });

  it("refuses an 'h' above what was sent (handled-count-too-high) and one that is not an unsigned 32-bit integer", () => {
    const sm = new StreamManagement(0);
    sm.onSent('<message/>', 'message');
    const high = sm.onAck('2');
    assert.equal(high?.condition, 'undefined-condition');
    assert.equal(high?.appCondition?.name, 'handled-count-too-high');
    assert.deepEqual({ h: high?.appCondition?.attrs.h, sent: high?.appCondition?.attrs['send-count'] }, { h: '2', sent: '1' });
    for (const h of [undefined, '', 'x', '-1', '1.0', '4294967296', '00000000001']) {
      assert.equal(sm.onAck(h)?.condition, 'invalid-xml', `h=${h}`);
    }
    assert.equal(sm.unacked, 1);
  });

  it('counts wrap around at 2^32 both ways', () => {
    const sm = new StreamManagement(0);
    // Bring the counters near the top without 2^32 calls: acks at the edge of the range.
    (sm as unknown as { received: number }).received = 0xffffffff;
    sm.onReceived();
    assert.equal(sm.handled, 0);
    (sm as unknown as { sent: number; acked: number }).sent = 0xffffffff;
    (sm as unknown as { sent: number; acked: number }).acked = 0xffffffff;
    sm.onSent('<message id="a"/>', 'message');
    sm.onSent('<message id="b"/>', 'message');
    assert.equal(sm.onAck('0'), null, '0xffffffff + 1 wraps to 0');
    assert.equal(sm.unacked, 1);
    assert.equal(sm.onAck('1'), null);
    assert.equal(sm.unacked, 0);
  });

  it(`says the stream must end once more than ${SM_MAX_UNACKED} stanzas wait for an ack`, () => {
    const sm = new StreamManagement(0);
    for (let i = 0; i < SM_MAX_UNACKED; i++) assert.equal(sm.onSent('<message/>', 'message'), true);
    assert.equal(sm.onSent('<message/>', 'message'), false);
    sm.onUndelivered('<message/>', 'message');
    assert.equal(sm.unacked, SM_MAX_UNACKED + 1, 'nothing more is kept past the limit');
  });
});
