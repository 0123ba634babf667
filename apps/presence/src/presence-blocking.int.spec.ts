/**
 * The presence side effects of a blocklist change (XEP-0191 §3.3-3.4) on two presence replicas, a real
 * nats-server and the jetstream storage adapter: the change goes in as the blocking module queues it (a
 * 'blocklist' work item in the user's partition), the user's presence as the router hands it over, and
 * what the contacts' sessions get is read from the edges' delivery subjects.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, NatsConnection } from 'nats';
import { BLOCKLIST_CHANGED_SUBJECT, Deliverer, deliveryTargets, edgeDeliverySubject, EdgeSessionRegistry, openSessionsBucket } from '@kxmpp/bus';
import { BlocklistChange, encodeBlocklistChange } from '@kxmpp/blocking';
import { loadConfig, serviceSchema } from '@kxmpp/config';
import { openStorage, RosterItem, Storage } from '@kxmpp/store';
import { createLogger } from '@kxmpp/telemetry';
import { eventually, NatsServerHandle, startNatsServer } from '@kxmpp/testing';
import { Element, parseXml } from '@kxmpp/xmpp-core';
import { RunningPresence, startPresenceService } from './presence.app';

const P = 4;
const D = 'example.com';
const D2 = 'example.net';
const dec = new TextDecoder();
const log = createLogger('presence', 'silent');

interface Delivery {
  edge: string;
  sids: string[];
  el: Element;
}

describe('presence service: blocklist changes (XEP-0191 §3.3-3.4), two replicas', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let storage: Storage;
  let deliverer: Deliverer;
  let reg: EdgeSessionRegistry;
  const running: RunningPresence[] = [];
  let got: Delivery[] = [];
  const config = loadConfig(serviceSchema, { XMPP_DOMAINS: `${D},${D2}`, SERVICE_PARTITIONS: String(P), SERVICE_ID: 'p1', LOG_LEVEL: 'silent', SESSION_TTL_SECONDS: '30' });

  before(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    storage = await openStorage({ kind: 'jetstream', nc });
    deliverer = new Deliverer(nc, P);
    reg = new EdgeSessionRegistry(await openSessionsBucket(nc, 30), 30);
    for (const edge of ['e1', 'e2']) {
      nc.subscribe(edgeDeliverySubject(edge), { callback: (_e, m) => got.push({ edge, sids: deliveryTargets(m.headers), el: parseXml(dec.decode(m.data)) }) });
    }
    running.push(await startPresenceService(config, { nc, storage, log, serveHealth: false }));
    running.push(await startPresenceService({ ...config, SERVICE_ID: 'p2' }, { nc, storage, log, serveHealth: false }));
  });

  after(async () => {
    for (const r of running) await r.stop();
    await reg?.stop();
    await storage?.close();
    await nc?.close();
    await nats?.stop();
  });

  beforeEach(() => {
    got = [];
  });

  let n = 0;
  let sids = 0;
  /** A fresh user name (tests never share rosters or sessions). */
  const fresh = (p: string) => `${p}${++n}`;

  /** A bound session (available unless told), on edge e1 or e2; returns its session id. */
  async function bind(full: string, edge = 'e1', available = true): Promise<string> {
    const sid = `s${++sids}`;
    await reg.claim({ jid: full, edge, sid, priority: 0, available });
    return sid;
  }

  /** Available presence from a session, handed over as the router does; waits for its echo to that session. */
  async function presence(full: string, sid: string, status: string, edge = 'e1'): Promise<void> {
    const bare = full.split('/')[0];
    const stanza = `<presence xmlns="jabber:client" from="${full}"><status>${status}</status></presence>`;
    await deliverer.toService('presence', bare, { from: full, to: bare, kind: 'presence', type: '', ns: '', edge, sid, ts: Date.now() }, stanza);
    await eventually(() => got.some((d) => d.sids.includes(sid) && d.el.attrs.from === full && d.el.getChildText('status') === status), 5000, `echo of ${full}'s presence`);
  }

  async function item(owner: string, jid: string, subscription: RosterItem['subscription']): Promise<void> {
    const [local, domain] = owner.split('@');
    await storage.roster.update(domain, local, jid, () => ({ jid, groups: [], subscription, ask: false, pendingIn: false, approved: false }));
  }

  /** The blocklist written, then its change queued, as the blocking module does. */
  async function change(ownerBare: string, blocked: string[], unblocked: string[], raw?: string): Promise<void> {
    const [local, domain] = ownerBare.split('@');
    if (blocked.length) await storage.blocklist.add(domain, local, blocked);
    if (unblocked.length) await storage.blocklist.remove(domain, local, unblocked);
    const c: BlocklistChange = { domain, username: local, blocked, unblocked };
    const env = { from: ownerBare, to: ownerBare, kind: 'iq', type: 'set', ns: 'urn:xmpp:blocking', edge: '', sid: '', ts: Date.now() };
    await deliverer.toService('presence', ownerBare, env, raw ?? encodeBlocklistChange(c), 'blocklist');
  }

  /** What session `sid` got from `from` (a bare JID: any of its resources) after a quiet moment. */
  async function receivedBy(sid: string, fromBare: string, settleMs = 600): Promise<string[]> {
    await sleep(settleMs);
    return got
      .filter((d) => d.sids.includes(sid) && d.el.name === 'presence' && d.el.attrs.from?.startsWith(`${fromBare}/`))
      .map((d) => `${d.el.attrs.from} ${d.el.attrs.type ?? d.el.getChildText('status')}`)
      .sort();
  }

  /** juliet with two available resources, and contacts in her roster as given. */
  async function juliet(): Promise<{ bare: string; balcony: string; chamber: string }> {
    const bare = `${fresh('juliet')}@${D}`;
    const [balcony, chamber] = [`${bare}/balcony`, `${bare}/chamber`];
    await presence(balcony, await bind(balcony, 'e1'), 'on the balcony');
    await presence(chamber, await bind(chamber, 'e2'), 'in the chamber', 'e2');
    return { bare, balcony, chamber };
  }

  it('block: unavailable from each resource to every session of a blocked subscriber, once; nothing to others', async () => {
    const romeo = `${fresh('romeo')}@${D}`;
    const nurse = `${fresh('nurse')}@${D}`;
    const tybalt = `${fresh('tybalt')}@${D}`;
    const r1 = await bind(`${romeo}/orchard`, 'e1');
    const r2 = await bind(`${romeo}/garden`, 'e2');
    const nu = await bind(`${nurse}/kitchen`, 'e1');
    const ty = await bind(`${tybalt}/street`, 'e2');
    const j = await juliet();
    await item(j.bare, romeo, 'from');
    await item(j.bare, nurse, 'both');
    await item(j.bare, tybalt, 'none'); // could not see her presence: owed nothing
    got = [];
    await change(j.bare, [romeo, tybalt], []);
    const expected = [`${j.balcony} unavailable`, `${j.chamber} unavailable`];
    assert.deepEqual(await receivedBy(r1, j.bare), expected);
    assert.deepEqual(await receivedBy(r2, j.bare, 0), expected);
    assert.deepEqual(await receivedBy(nu, j.bare, 0), []);
    assert.deepEqual(await receivedBy(ty, j.bare, 0), []);
  });

  it('a full-JID entry reaches only that session; a domain entry every subscriber at the domain', async () => {
    const romeo = `${fresh('romeo')}@${D}`;
    const paris = `${fresh('paris')}@${D2}`;
    const r1 = await bind(`${romeo}/orchard`, 'e1');
    const r2 = await bind(`${romeo}/garden`, 'e2');
    const pa = await bind(`${paris}/church`, 'e1');
    const j = await juliet();
    await item(j.bare, romeo, 'both');
    await item(j.bare, paris, 'from');
    got = [];
    await change(j.bare, [`${romeo}/garden`, D2], []);
    assert.deepEqual(await receivedBy(r2, j.bare), [`${j.balcony} unavailable`, `${j.chamber} unavailable`]);
    assert.deepEqual(await receivedBy(r1, j.bare, 0), []);
    assert.deepEqual(await receivedBy(pa, j.bare, 0), [`${j.balcony} unavailable`, `${j.chamber} unavailable`]);
  });

  it('unblock: the current presence of each resource to the subscriber, unless still blocked another way or blocking back', async () => {
    const romeo = `${fresh('romeo')}@${D}`;
    const benvolio = `${fresh('benvolio')}@${D}`;
    const r1 = await bind(`${romeo}/orchard`, 'e1');
    const r2 = await bind(`${romeo}/garden`, 'e2');
    const be = await bind(`${benvolio}/square`, 'e2');
    const j = await juliet();
    await item(j.bare, romeo, 'from');
    await item(j.bare, benvolio, 'both');
    // benvolio blocks juliet himself (with the notice every cache evicts on): his own list keeps her presence out.
    await storage.blocklist.add(D, benvolio.split('@')[0], [j.bare]);
    nc.publish(BLOCKLIST_CHANGED_SUBJECT, encodeBlocklistChange({ domain: D, username: benvolio.split('@')[0], blocked: [j.bare], unblocked: [] }));
    await change(j.bare, [romeo, `${romeo}/garden`, benvolio], []);
    await sleep(600);
    got = [];
    // The full-JID entry goes, the bare one stays: nothing yet.
    await change(j.bare, [], [`${romeo}/garden`]);
    assert.deepEqual(await receivedBy(r2, j.bare), []);
    // Now the bare one: both of romeo's sessions get what juliet's resources last said; benvolio nothing.
    await change(j.bare, [], [romeo, benvolio]);
    const expected = [`${j.balcony} on the balcony`, `${j.chamber} in the chamber`];
    assert.deepEqual(await receivedBy(r1, j.bare), expected);
    assert.deepEqual(await receivedBy(r2, j.bare, 0), expected);
    assert.deepEqual(await receivedBy(be, j.bare, 0), []);
  });

  it('directed presence recipients get unavailable from the resource that sent it, and are then forgotten', async () => {
    const mercutio = `${fresh('mercutio')}@${D}`;
    const romeo = `${fresh('romeo')}@${D}`;
    const me = await bind(`${mercutio}/tavern`, 'e1');
    const ro = await bind(`${romeo}/orchard`, 'e2');
    const j = await juliet();
    await item(j.bare, romeo, 'from');
    // Directed presence from the balcony to mercutio (no subscription), as the router hands it over.
    const directed = `<presence xmlns="jabber:client" from="${j.balcony}" to="${mercutio}"><status>psst</status></presence>`;
    await deliverer.toService('presence', j.bare, { from: j.balcony, to: mercutio, kind: 'presence', type: '', ns: '', edge: 'e1', sid: 'x', ts: Date.now() }, directed);
    await eventually(() => got.some((d) => d.sids.includes(me) && d.el.getChildText('status') === 'psst'), 5000, 'directed presence');
    got = [];
    await change(j.bare, [mercutio], []);
    assert.deepEqual(await receivedBy(me, j.bare), [`${j.balcony} unavailable`]);
    // Unblocked, he is no subscriber: nothing; and juliet's logout is owed to romeo only.
    got = [];
    await change(j.bare, [], [mercutio]);
    const bye = `<presence xmlns="jabber:client" type="unavailable" from="${j.balcony}"/>`;
    await deliverer.toService('presence', j.bare, { from: j.balcony, to: j.bare, kind: 'presence', type: 'unavailable', ns: '', edge: 'e1', sid: await sidOf(j.balcony), ts: Date.now() }, bye);
    assert.deepEqual(await receivedBy(ro, j.bare), [`${j.balcony} unavailable`]);
    assert.deepEqual(await receivedBy(me, j.bare, 0), []);
  });

  it('a user with no available resource: nothing to send; a malformed item is dropped and the next one still handled', async () => {
    const romeo = `${fresh('romeo')}@${D}`;
    const r1 = await bind(`${romeo}/orchard`, 'e1');
    const rosaline = `${fresh('rosaline')}@${D}`;
    await bind(`${rosaline}/home`, 'e2', false); // bound, never available
    await item(rosaline, romeo, 'both');
    await change(rosaline, [romeo], []);
    await change(rosaline, [], [], '{"domain":1}');
    await change(rosaline, [], [], 'not json');
    // Someone else's change in the same queue partition space still goes through.
    const j = await juliet();
    await item(j.bare, romeo, 'from');
    got = [];
    await change(j.bare, [romeo], []);
    assert.deepEqual(await receivedBy(r1, j.bare), [`${j.balcony} unavailable`, `${j.chamber} unavailable`]);
    assert.deepEqual(await receivedBy(r1, rosaline, 0), []);
  });

  /** The session id bind() gave a full JID (from the registry). */
  async function sidOf(full: string): Promise<string> {
    const e = await reg.lookup(full);
    assert.ok(e, `a session for ${full}`);
    return e.sid;
  }
});
