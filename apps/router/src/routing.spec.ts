/**
 * docs/routing.md is the specification: every row of its table runs against decide(), and every
 * (kind, type, situation) must be covered by exactly one row, so the document and the code cannot drift.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SessionEntry } from '@kxmpp/bus';
import { Action, decide, RouteInput } from './routing.decide';

const TYPES: Record<string, string[]> = {
  message: ['normal', 'chat', 'headline', 'groupchat', 'error'],
  presence: ['available', 'unavailable', 'probe', 'subscribe', 'subscribed', 'unsubscribe', 'unsubscribed', 'error'],
  iq: ['get', 'set', 'result', 'error'],
};

const session = (res: string, priority: number, available: boolean): SessionEntry => ({
  jid: `juliet@example.com/${res}`,
  edge: res === 'garden' ? 'e2' : 'e1',
  sid: `sid-${res}`,
  priority,
  available,
});
const ALL = [session('balcony', 5, true), session('chamber', 5, true), session('garden', 1, true), session('hidden', -1, true), session('bound', 0, false)];
const ROMEO = { from: 'romeo@example.com/orchard', sender: { edge: 'e9', sid: 'sid-romeo' } };

type Situation = Omit<RouteInput, 'kind' | 'type'>;
const GATEWAY = { edge: 'e3', sid: 'sid-gateway' };
const FROM_GATEWAY = { from: 'alice@gw.example.com/legacy', sender: GATEWAY, senderLocal: false, fromComponent: true };
const to = (local: string, domain: string, resource = '') => ({ local, domain, resource });
const SITUATIONS: Record<string, Situation> = {
  unserved: { ...ROMEO, to: to('juliet', 'remote.example'), domainServed: false, federation: true, accountExists: false, sessions: [] },
  unservedNoFed: { ...ROMEO, to: to('juliet', 'remote.example'), domainServed: false, federation: false, accountExists: false, sessions: [] },
  server: { ...ROMEO, to: to('', 'example.com'), domainServed: true, accountExists: true, sessions: [] },
  fullHit: { ...ROMEO, to: to('juliet', 'example.com', 'balcony'), domainServed: true, accountExists: true, sessions: ALL },
  fullMiss: { ...ROMEO, to: to('juliet', 'example.com', 'nowhere'), domainServed: true, accountExists: true, sessions: ALL },
  noAccount: { ...ROMEO, to: to('nobody', 'example.com'), domainServed: true, accountExists: false, sessions: [] },
  available: { ...ROMEO, to: to('juliet', 'example.com'), domainServed: true, accountExists: true, sessions: ALL },
  negative: { ...ROMEO, to: to('juliet', 'example.com'), domainServed: true, accountExists: true, sessions: ALL.filter((s) => s.priority < 0 || !s.available) },
  unavailable: { ...ROMEO, to: to('juliet', 'example.com'), domainServed: true, accountExists: true, sessions: ALL.filter((s) => !s.available) },
  self: { from: 'juliet@example.com/bound', sender: { edge: 'e1', sid: 'sid-bound' }, to: to('juliet', 'example.com'), domainServed: true, accountExists: true, sessions: ALL },
  // XEP-0114 (docs/components.md): the component gw.example.com on edge e3, session sid-gateway.
  componentUp: { ...ROMEO, to: to('alice', 'gw.example.com'), domainServed: false, federation: true, accountExists: false, sessions: [], component: GATEWAY },
  componentDown: { ...ROMEO, to: to('alice', 'gw.example.com'), domainServed: false, federation: true, accountExists: false, sessions: [], component: 'offline' },
  componentToBare: { ...FROM_GATEWAY, to: to('juliet', 'example.com'), domainServed: true, accountExists: true, sessions: ALL },
  componentToFull: { ...FROM_GATEWAY, to: to('juliet', 'example.com', 'balcony'), domainServed: true, accountExists: true, sessions: ALL },
};

/** (recipient, condition) cells of the table -> situations they stand for. */
const CONDITIONS: Record<string, string[]> = {
  'unserved domain|-': ['unserved', 'unservedNoFed'],
  'unserved domain|federation on': ['unserved'],
  'unserved domain|federation off': ['unservedNoFed'],
  'server domain|-': ['server'],
  'full JID|session for the resource': ['fullHit'],
  'full JID|no session for the resource': ['fullMiss'],
  'bare JID|no account': ['noAccount'],
  'bare JID|available sessions': ['available'],
  'bare JID|only a negative-priority session': ['negative'],
  'bare JID|no available session': ['unavailable'],
  'bare JID|no available non-negative session': ['negative', 'unavailable'],
  'bare JID|account exists': ['available', 'negative', 'unavailable'],
  'bare JID|from the same bare JID': ['self'],
  'component domain|connected': ['componentUp'],
  'component domain|not connected': ['componentDown'],
  'bare JID|from a component': ['componentToBare'],
  'full JID|from a component': ['componentToFull'],
};

/** Situations whose rows cover presence only (messages and IQs in them route as in the other rows). */
const PRESENCE_ONLY = new Set(['componentToBare', 'componentToFull']);

/** What must be covered: every kind/type in every situation; 'self' only for presence broadcasts, PRESENCE_ONLY for presence. */
function required(): string[] {
  const out: string[] = [];
  for (const [kind, types] of Object.entries(TYPES))
    for (const type of types)
      for (const s of Object.keys(SITUATIONS)) {
        if (s === 'self' && !(kind === 'presence' && (type === 'available' || type === 'unavailable'))) continue;
        if (PRESENCE_ONLY.has(s) && kind !== 'presence') continue;
        out.push(`${kind}|${type}|${s}`);
      }
  return out;
}

interface Row {
  line: number;
  kinds: string[];
  types: string[];
  situations: string[];
  action: string;
  expected: string[];
}

function parseTable(md: string): Row[] {
  const rows: Row[] = [];
  const lines = md.split('\n');
  let header = -1;
  lines.forEach((l, n) => {
    if (header < 0 && /^\|\s*kind\s*\|/.test(l)) header = n;
    if (header < 0 || n <= header + 1 || !l.startsWith('|')) return;
    const cells = l.split('|').slice(1, -1).map((c) => c.trim());
    assert.equal(cells.length, 6, `docs/routing.md:${n + 1}: six columns expected`);
    const [kind, type, recipient, condition, action, result] = cells;
    const kinds = kind.split(',').map((s) => s.trim());
    const situations = CONDITIONS[`${recipient}|${condition}`];
    assert.ok(situations, `docs/routing.md:${n + 1}: unknown recipient/condition "${recipient}" / "${condition}"`);
    const types = type === '*' ? kinds.flatMap((k) => TYPES[k]) : type.split(',').map((s) => s.trim());
    for (const k of kinds) assert.ok(TYPES[k], `docs/routing.md:${n + 1}: unknown kind ${k}`);
    rows.push({ line: n + 1, kinds, types, situations, action, expected: result ? result.split(',').map((s) => s.trim()).sort() : [] });
  });
  return rows;
}

const rows = parseTable(readFileSync(join(__dirname, '..', '..', '..', 'docs', 'routing.md'), 'utf8'));

function check(row: Row, actions: Action[]): void {
  assert.equal(actions.length, 1);
  const a = actions[0];
  const word = row.action.split(/\s+/);
  switch (word[0]) {
    case 'deliver': {
      assert.equal(a.action, 'deliver');
      if (a.action !== 'deliver') return;
      const res = a.sessions.map((s) => s.sid.replace(/^sid-/, '')).sort();
      assert.deepEqual(res, row.expected);
      return;
    }
    case 'bounce':
      assert.deepEqual(a, { action: 'bounce', condition: word[1] });
      return;
    case 'kernel':
      assert.deepEqual(a, { action: 'iq', target: word[1] });
      return;
    case 'service':
      assert.deepEqual(a, { action: 'service', service: word[1], key: word[2] });
      return;
    case 'drop':
      assert.equal(a.action, 'drop');
      return;
    case 'remote':
      assert.deepEqual(a, { action: 'remote', domain: word[1] });
      return;
    default:
      assert.fail(`docs/routing.md:${row.line}: unknown action "${row.action}"`);
  }
}

describe('routing table (docs/routing.md)', () => {
  it('has rows', () => assert.ok(rows.length > 30));
  for (const row of rows) {
    for (const kind of row.kinds)
      for (const type of row.types)
        for (const s of row.situations) {
          it(`line ${row.line}: ${kind} ${type} ${s} -> ${row.action}`, () => {
            check(row, decide({ ...SITUATIONS[s], kind, type: type === 'available' ? '' : type }));
          });
        }
  }
  it('covers every kind, type and situation exactly once', () => {
    const seen = new Map<string, number[]>();
    for (const row of rows)
      for (const kind of row.kinds)
        for (const type of row.types) {
          assert.ok(TYPES[kind].includes(type), `docs/routing.md:${row.line}: ${kind} has no type ${type}`);
          for (const s of row.situations) seen.set(`${kind}|${type}|${s}`, [...(seen.get(`${kind}|${type}|${s}`) ?? []), row.line]);
        }
    const missing = required().filter((k) => !seen.has(k));
    const twice = [...seen].filter(([, l]) => l.length > 1).map(([k, l]) => `${k} (lines ${l.join(', ')})`);
    assert.deepEqual(missing, [], 'combinations no row covers');
    assert.deepEqual(twice, [], 'combinations covered by two rows');
  });
  it('a message of type normal and one without a type route alike', () => {
    for (const s of Object.values(SITUATIONS)) assert.deepEqual(decide({ ...s, kind: 'message', type: 'normal' }), decide({ ...s, kind: 'message', type: '' }));
  });
  it('sends roster get/set to the roster service in the sender\'s partition, wherever addressed', () => {
    for (const s of ['available', 'unavailable', 'noAccount', 'fullHit', 'self'])
      for (const type of ['get', 'set'])
        assert.deepEqual(decide({ ...SITUATIONS[s], kind: 'iq', type, ns: 'jabber:iq:roster' }), [
          { action: 'service', service: 'roster', key: SITUATIONS[s].from.split('/')[0] },
        ]);
    // results and errors of roster pushes go to the session like any iq response
    assert.deepEqual(decide({ ...SITUATIONS.fullHit, kind: 'iq', type: 'result', ns: 'jabber:iq:roster' })[0].action, 'deliver');
    // to the server domain: the kernel (and its service-unavailable)
    assert.deepEqual(decide({ ...SITUATIONS.server, kind: 'iq', type: 'get', ns: 'jabber:iq:roster' }), [{ action: 'iq', target: 'server' }]);
  });
  it('sends presence from a remote sender to the presence service in the recipient\'s partition', () => {
    for (const type of ['', 'subscribe', 'probe', 'unavailable'])
      assert.deepEqual(decide({ ...SITUATIONS.available, from: 'someone@remote.example/x', senderLocal: false, kind: 'presence', type }), [
        { action: 'service', service: 'presence', key: 'juliet@example.com' },
      ]);
    assert.equal(decide({ ...SITUATIONS.unserved, from: 'a@remote.example/x', senderLocal: false, kind: 'presence', type: '' })[0].action, 'drop');
  });
  it('drops unknown kinds', () => assert.equal(decide({ ...SITUATIONS.available, kind: 'foo', type: '' })[0].action, 'drop'));
});

describe('routing: XEP-0114 components beyond the table', () => {
  const deliverTo = (...sids: string[]) => [{ action: 'deliver', sessions: sids.map((sid) => ({ edge: sid === 'gateway' ? 'e3' : sid === 'garden' ? 'e2' : 'e1', sid: `sid-${sid}` })) }];
  it('delivers to a connected component whatever the local part and resource, and from a remote sender too', () => {
    for (const t of [to('', 'gw.example.com'), to('bob', 'gw.example.com', 'x/y')])
      for (const [kind, type] of [['message', 'chat'], ['iq', 'set'], ['iq', 'result'], ['message', 'error']])
        assert.deepEqual(decide({ ...SITUATIONS.componentUp, to: t, kind, type }), deliverTo('gateway'));
    assert.deepEqual(decide({ ...SITUATIONS.componentUp, from: 'x@remote.example/r', senderLocal: false, kind: 'message', type: 'chat' }), deliverTo('gateway'));
  });
  it('a component\'s messages and IQs to a local account route like anyone\'s', () => {
    assert.deepEqual(decide({ ...SITUATIONS.componentToBare, kind: 'message', type: 'chat' }), deliverTo('balcony', 'chamber'));
    assert.deepEqual(decide({ ...SITUATIONS.componentToFull, kind: 'iq', type: 'get' }), deliverTo('balcony'));
    assert.deepEqual(decide({ ...SITUATIONS.componentToBare, kind: 'iq', type: 'get', ns: 'vcard-temp' }), [{ action: 'iq', target: 'account' }]);
    assert.deepEqual(decide({ ...SITUATIONS.componentToBare, sessions: [], kind: 'message', type: 'chat' }), [{ action: 'service', service: 'offline', key: 'juliet@example.com' }]);
  });
  it('drops a component\'s presence when nobody can take it', () => {
    assert.equal(decide({ ...SITUATIONS.componentToFull, to: to('juliet', 'example.com', 'nowhere'), kind: 'presence', type: '' })[0].action, 'drop');
    assert.equal(decide({ ...SITUATIONS.componentToBare, sessions: ALL.filter((s) => !s.available), kind: 'presence', type: 'unavailable' })[0].action, 'drop');
  });
  it('a component\'s presence reaches a session that has not sent available presence only when addressed to its full JID', () => {
    assert.deepEqual(decide({ ...SITUATIONS.componentToFull, to: to('juliet', 'example.com', 'bound'), kind: 'presence', type: '' }), deliverTo('bound'));
  });
  it('components federate: their stanzas for other servers go to the federation queue, a remote server reaches them', () => {
    const toRemote = { ...FROM_GATEWAY, to: to('bob', 'remote.example'), domainServed: false, federation: true, accountExists: false, sessions: [] };
    for (const [kind, type] of [['message', 'chat'], ['iq', 'get'], ['iq', 'result'], ['presence', ''], ['presence', 'subscribe']]) {
      assert.deepEqual(decide({ ...toRemote, kind, type }), [{ action: 'remote', domain: 'remote.example' }], `${kind} ${type}`);
    }
    assert.equal(decide({ ...toRemote, federation: false, kind: 'message', type: 'chat' })[0].action, 'bounce');
    const fromRemote = { ...SITUATIONS.componentUp, from: 'bob@remote.example/r', senderLocal: false };
    for (const type of ['', 'unavailable', 'subscribe', 'probe']) assert.deepEqual(decide({ ...fromRemote, kind: 'presence', type }), deliverTo('gateway'), `presence ${type}`);
    assert.equal(decide({ ...fromRemote, component: 'offline', kind: 'presence', type: '' })[0].action, 'drop');
  });
  it('a served domain is never routed as a component', () => {
    assert.deepEqual(decide({ ...SITUATIONS.available, component: GATEWAY, kind: 'message', type: 'chat' }), deliverTo('balcony', 'chamber'));
  });
  it('without a component input a remote sender\'s presence still goes to the presence service', () => {
    assert.deepEqual(decide({ ...SITUATIONS.componentToBare, fromComponent: false, kind: 'presence', type: '' }), [{ action: 'service', service: 'presence', key: 'juliet@example.com' }]);
  });
});
