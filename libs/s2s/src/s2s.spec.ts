import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dialbackKey, dialbackKeyValid } from './dialback';
import { orderSrv } from './resolve';
import { withStanzaNamespace } from './rewrite';

describe('dialback keys (XEP-0185)', () => {
  // Only the authoritative server ever checks its own keys (XEP-0220 §2.3), so no other server's keys
  // need to match ours: what matters is that a key binds all four inputs.
  it('checks a key against the same inputs only', () => {
    const k = dialbackKey('secret', 'b.test', 'a.test', 'id1');
    assert.ok(dialbackKeyValid('secret', 'b.test', 'a.test', 'id1', k));
    assert.ok(!dialbackKeyValid('secret', 'b.test', 'a.test', 'id2', k));
    assert.ok(!dialbackKeyValid('other', 'b.test', 'a.test', 'id1', k));
    assert.ok(!dialbackKeyValid('secret', 'a.test', 'b.test', 'id1', k));
    assert.ok(!dialbackKeyValid('secret', 'b.test', 'a.test', 'id1', k.slice(1)));
  });
});

describe('SRV ordering (RFC 2782)', () => {
  it('sorts by priority and picks by weight within one', () => {
    const recs = [
      { name: 'c', port: 1, priority: 20, weight: 0 },
      { name: 'a', port: 1, priority: 10, weight: 1 },
      { name: 'b', port: 1, priority: 10, weight: 99 },
    ];
    assert.deepEqual(orderSrv(recs, () => 0.5).map((r) => r.name), ['b', 'a', 'c']);
    assert.deepEqual(orderSrv(recs, () => 0.0).map((r) => r.name), ['a', 'b', 'c']);
  });
});

describe('stanza namespace on the way out', () => {
  it('replaces the top element default namespace only', () => {
    assert.equal(
      withStanzaNamespace(`<message xmlns='jabber:client' to='a@b'><forwarded><message xmlns='jabber:client'/></forwarded></message>`, 'jabber:server'),
      `<message xmlns='jabber:server' to='a@b'><forwarded><message xmlns='jabber:client'/></forwarded></message>`,
    );
  });
  it('adds one when the top element has none', () => {
    assert.equal(withStanzaNamespace(`<presence from="x"/>`, 'jabber:server'), `<presence xmlns='jabber:server' from="x"/>`);
    assert.equal(withStanzaNamespace(`<iq>1</iq>`, 'jabber:server'), `<iq xmlns='jabber:server'>1</iq>`);
  });
});
