/**
 * The server's own IQs, answered by the router's kernel: XEP-0030 Service Discovery (server and, on their
 * behalf, accounts), XEP-0199 Ping, XEP-0092 Software Version, XEP-0202 Entity Time, and the RFC 6120
 * §8.2.3 / RFC 6121 §8.5 error rules for IQs nobody handles.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform, Platform } from './platform';
import { iqErrorCondition, noStanza, registerAndLogin, Session, stopAllSessions, uniqueName, xml, XEl } from './helpers';

const DOMAIN = 'localhost';
const NS = {
  INFO: 'http://jabber.org/protocol/disco#info',
  ITEMS: 'http://jabber.org/protocol/disco#items',
  PING: 'urn:xmpp:ping',
  VERSION: 'jabber:iq:version',
  TIME: 'urn:xmpp:time',
};

describe('server IQs: disco, ping, version, time', () => {
  let p: Platform;
  let me: Session;
  let other: Session;

  const get = (to: string | undefined, payload: XEl) => me.request(xml('iq', { type: 'get', to }, payload));
  const features = (res: XEl) => (res.getChild('query', NS.INFO)?.getChildren('feature') ?? []).map((f) => f.attrs.var);
  const identities = (res: XEl) => (res.getChild('query', NS.INFO)?.getChildren('identity') ?? []).map((i) => `${i.attrs.category}/${i.attrs.type}`);

  before(async () => {
    p = await startPlatform({ mode: 'all-in-one' });
    const svc = `xmpp://127.0.0.1:${p.edges[0].c2s}`;
    me = await registerAndLogin({ service: svc, domain: DOMAIN, username: uniqueName('asker'), password: 'pw', resource: 'q' });
    other = await registerAndLogin({ service: svc, domain: DOMAIN, username: uniqueName('other'), password: 'pw', resource: 'o' });
  });

  after(async () => {
    await stopAllSessions();
    await p?.stop();
  });

  it('disco#info to the server: identity server/im and the implemented features (XEP-0030 §3.1)', async () => {
    const res = await get(DOMAIN, xml('query', { xmlns: NS.INFO }));
    assert.equal(res.attrs.type, 'result');
    assert.equal(res.attrs.from, DOMAIN);
    assert.equal(res.attrs.to, me.jid);
    assert.ok(identities(res).includes('server/im'), identities(res).join(', '));
    const f = features(res);
    for (const ns of [NS.INFO, NS.ITEMS, NS.PING, NS.VERSION, NS.TIME]) assert.ok(f.includes(ns), `missing ${ns} in ${f.join(', ')}`);
    assert.equal(new Set(f).size, f.length, 'duplicate features');
  });

  it('disco#info with no to (RFC 6120 §10.3.3: the account) answers for the account, not an error', async () => {
    const res = await get(undefined, xml('query', { xmlns: NS.INFO }));
    assert.equal(res.attrs.type, 'result');
    assert.ok(identities(res).includes('account/registered'), identities(res).join(', '));
  });

  it('disco#items to the server: an (empty) items result', async () => {
    const res = await get(DOMAIN, xml('query', { xmlns: NS.ITEMS }));
    assert.equal(res.attrs.type, 'result');
    assert.ok(res.getChild('query', NS.ITEMS), String(res));
  });

  it('disco#info with an unknown node -> item-not-found (XEP-0030 §3.1)', async () => {
    const err = await iqErrorCondition(get(DOMAIN, xml('query', { xmlns: NS.INFO, node: 'urn:nothing:here' })));
    assert.equal(err.condition, 'item-not-found');
  });

  it("disco#info to another existing account's bare JID: the server answers for it (account/registered)", async () => {
    const res = await get(other.bare, xml('query', { xmlns: NS.INFO }));
    assert.equal(res.attrs.type, 'result');
    assert.equal(res.attrs.from, other.bare);
    assert.ok(identities(res).includes('account/registered'), identities(res).join(', '));
    assert.ok(features(res).includes(NS.INFO));
    // The query goes to the server, not to the account's client.
    assert.equal(await noStanza(other, (el) => el.name === 'iq' && el.attrs.type === 'get', 300), null);
  });

  it('disco#info to a non-existent account -> service-unavailable (RFC 6121 §8.5.1, no account enumeration)', async () => {
    const err = await iqErrorCondition(get(`${uniqueName('nobody')}@${DOMAIN}`, xml('query', { xmlns: NS.INFO })));
    assert.equal(err.condition, 'service-unavailable');
  });

  it('ping the server -> empty result (XEP-0199 §4.2)', async () => {
    const res = await get(DOMAIN, xml('ping', { xmlns: NS.PING }));
    assert.equal(res.attrs.type, 'result');
    assert.equal(res.attrs.from, DOMAIN);
    assert.equal(res.getChildElements().length, 0);
  });

  it("ping an existing account's bare JID -> result from the bare JID", async () => {
    const res = await get(other.bare, xml('ping', { xmlns: NS.PING }));
    assert.equal(res.attrs.type, 'result');
    assert.equal(res.attrs.from, other.bare);
  });

  it("ping a non-existent user's bare JID -> service-unavailable (type cancel)", async () => {
    const err = await iqErrorCondition(get(`${uniqueName('ghost')}@${DOMAIN}`, xml('ping', { xmlns: NS.PING })));
    assert.equal(err.condition, 'service-unavailable');
    assert.equal(err.type, 'cancel');
  });

  it('ping a full JID whose resource is not connected -> service-unavailable (RFC 6121 §8.5.3.2.2)', async () => {
    const err = await iqErrorCondition(get(`${other.bare}/not-here`, xml('ping', { xmlns: NS.PING })));
    assert.equal(err.condition, 'service-unavailable');
  });

  it('software version of the server (XEP-0092): name and version, no OS unless configured', async () => {
    const res = await get(DOMAIN, xml('query', { xmlns: NS.VERSION }));
    const q = res.getChild('query', NS.VERSION) as XEl;
    assert.ok(q, String(res));
    assert.ok((q.getChildText('name') ?? '').length > 0);
    assert.ok((q.getChildText('version') ?? '').length > 0);
    assert.equal(q.getChild('os'), undefined);
  });

  it('entity time of the server (XEP-0202): tzo and a UTC timestamp close to now', async () => {
    const res = await get(DOMAIN, xml('time', { xmlns: NS.TIME }));
    const t = res.getChild('time', NS.TIME) as XEl;
    assert.ok(t, String(res));
    assert.match(t.getChildText('tzo') ?? '', /^(Z|[+-]\d{2}:\d{2})$/);
    const utc = t.getChildText('utc') ?? '';
    assert.match(utc, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    assert.ok(Math.abs(Date.parse(utc) - Date.now()) < 60_000, `utc ${utc} far from now`);
  });

  it('an IQ get/set in an unknown namespace to the server -> service-unavailable (RFC 6120 §8.2.3, §8.3.3.19)', async () => {
    const e1 = await iqErrorCondition(get(DOMAIN, xml('query', { xmlns: 'urn:example:unknown' })));
    assert.equal(e1.condition, 'service-unavailable');
    const e2 = await iqErrorCondition(me.request(xml('iq', { type: 'set', to: DOMAIN }, xml('thing', { xmlns: 'urn:example:unknown' }))));
    assert.equal(e2.condition, 'service-unavailable');
    // A known payload with the wrong type (set on ping) is not handled either.
    const e3 = await iqErrorCondition(me.request(xml('iq', { type: 'set', to: DOMAIN }, xml('ping', { xmlns: NS.PING }))));
    assert.ok(['service-unavailable', 'bad-request', 'feature-not-implemented'].includes(e3.condition), e3.condition);
  });

  it('an IQ get with two payload elements -> bad-request (RFC 6120 §8.2.3)', async () => {
    const err = await iqErrorCondition(me.request(xml('iq', { type: 'get', to: DOMAIN }, xml('ping', { xmlns: NS.PING }), xml('query', { xmlns: NS.INFO }))));
    assert.equal(err.condition, 'bad-request');
  });

  it('an IQ result sent to the server is not answered', async () => {
    await me.send(xml('iq', { type: 'result', to: DOMAIN, id: 'unsolicited-result' }));
    assert.equal(await noStanza(me, (el) => el.attrs.id === 'unsolicited-result', 500), null);
  });
});
