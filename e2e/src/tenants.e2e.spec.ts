/**
 * Several served domains (virtual hosts) in one deployment: accounts, sessions and discovery are per
 * domain (same username on two domains = two accounts), while messages between local domains flow.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TLSSocket } from 'node:tls';
import { startPlatform, Platform } from './platform';
import {
  b64,
  login,
  NS_SASL,
  noStanza,
  RawClient,
  rawOpen,
  registerAndLogin,
  Session,
  sleep,
  stopAllSessions,
  uniqueName,
  waitForError,
  waitForStanza,
  xml,
  XEl,
} from './helpers';

const A = 'localhost';
const B = 'example.test';

describe('multi-tenant domains in one deployment', () => {
  let p: Platform;
  const raws: RawClient[] = [];
  const svc = () => `xmpp://127.0.0.1:${p.edges[0].c2s}`;
  const user = uniqueName('alice');
  let onA: Session;
  let onB: Session;

  before(async () => {
    p = await startPlatform({ mode: 'all-in-one', domains: [A, B] });
    onA = await registerAndLogin({ service: svc(), domain: A, username: user, password: 'pass-on-localhost', resource: 'same' });
    onB = await registerAndLogin({ service: svc(), domain: B, username: user, password: 'pass-on-example', resource: 'same' });
  });

  after(async () => {
    for (const r of raws) r.destroy();
    await stopAllSessions();
    await p?.stop();
  });

  it('the same username on two domains is two accounts, online at once with the same resource (no conflict)', async () => {
    assert.equal(onA.jid, `${user}@${A}/same`);
    assert.equal(onB.jid, `${user}@${B}/same`);
    await sleep(300);
    assert.equal(onA.errors.length, 0, onA.errors.map(String).join('; '));
    assert.equal(onB.errors.length, 0, onB.errors.map(String).join('; '));
    assert.equal(onA.c.status, 'online');
    assert.equal(onB.c.status, 'online');
  });

  it("each account logs in only with its own password", async () => {
    for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] as const) {
      await assert.rejects(login({ service: svc(), domain: A, username: user, password: 'pass-on-example', mechanism }), (e: { condition?: string }) => e.condition === 'not-authorized', `${mechanism} on ${A}`);
      await assert.rejects(login({ service: svc(), domain: B, username: user, password: 'pass-on-localhost', mechanism }), (e: { condition?: string }) => e.condition === 'not-authorized', `${mechanism} on ${B}`);
    }
    const a = await login({ service: svc(), domain: A, username: user, password: 'pass-on-localhost', resource: 'x' });
    const b = await login({ service: svc(), domain: B, username: user, password: 'pass-on-example', resource: 'x' });
    assert.equal(a.bare, `${user}@${A}`);
    assert.equal(b.bare, `${user}@${B}`);
    await a.stop();
    await b.stop();
  });

  it('a stream to one domain cannot authenticate as the other domain\'s account (authcid or authzid)', async () => {
    const r = await RawClient.connect(p.edges[0].c2sTls, { tls: true, servername: A });
    raws.push(r);
    await rawOpen(r, A);
    await r.send(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${b64(`${user}@${B}\0${user}\0pass-on-localhost`)}</auth>`);
    await r.waitFor(/<failure[^>]*>\s*<invalid-authzid\/>/);
    await r.send(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${b64(`\0${user}@${B}\0pass-on-example`)}</auth>`);
    await r.waitFor(/<failure[^>]*>\s*<not-authorized\/>/);
    assert.doesNotMatch(r.text, /<success/);
  });

  it('the stream header and the TLS certificate (SNI) follow the requested domain', async () => {
    const r = await RawClient.connect(p.edges[0].c2sTls, { tls: true, servername: B });
    raws.push(r);
    await rawOpen(r, B);
    assert.match(r.text, new RegExp(`<stream:stream[^>]*from=["']${B.replace('.', '\\.')}["']`));
    const cert = (r.socket as TLSSocket).getPeerCertificate();
    assert.match(cert.subjectaltname ?? '', new RegExp(`DNS:${B.replace('.', '\\.')}`));
  });

  it('messages between the two local domains are delivered both ways, from stamped with the right domain', async () => {
    await onA.send(xml('message', { to: onB.jid, type: 'chat', id: 'a2b' }, xml('body', {}, 'across tenants')));
    const m1 = await waitForStanza(onB, (el) => el.attrs.id === 'a2b');
    assert.equal(m1.attrs.from, onA.jid);
    assert.equal(m1.getChildText('body'), 'across tenants');
    await onB.send(xml('message', { to: onA.jid, type: 'chat', id: 'b2a' }, xml('body', {}, 'and back')));
    const m2 = await waitForStanza(onA, (el) => el.attrs.id === 'b2a');
    assert.equal(m2.attrs.from, onB.jid);
    // A message for alice@B is never delivered to alice@A (same local part, same resource).
    assert.equal(await noStanza(onA, (el) => el.attrs.id === 'a2b', 200), null);

    // Bare JIDs, after presence.
    for (const s of [onA, onB]) {
      await s.send(xml('presence'));
      await waitForStanza(s, (el) => el.name === 'presence' && el.attrs.from === s.jid);
    }
    await sleep(150);
    await onA.send(xml('message', { to: onB.bare, type: 'chat', id: 'a2bbare' }, xml('body', {}, 'bare')));
    await waitForStanza(onB, (el) => el.attrs.id === 'a2bbare');
    assert.equal(await noStanza(onA, (el) => el.attrs.id === 'a2bbare', 300), null, 'the sender (same local part, other domain) got it too');
    // Own presence broadcasts stay within each account.
    assert.equal(await noStanza(onA, (el) => el.name === 'presence' && el.attrs.from === onB.jid, 10), null);
  });

  it("disco of one domain lists nothing of the other, and answers from the domain asked", async () => {
    for (const [s, own, other] of [[onA, A, B], [onB, B, A]] as const) {
      const items = await s.request(xml('iq', { type: 'get', to: own }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' })));
      assert.equal(items.attrs.from, own);
      const jids = (items.getChild('query')?.getChildren('item') ?? []).map((i: XEl) => i.attrs.jid);
      assert.ok(!jids.some((j: string) => j.endsWith(other)), `${own} lists ${jids.join(', ')}`);
      assert.doesNotMatch(String(items), new RegExp(other.replace('.', '\\.')));
      const info = await s.request(xml('iq', { type: 'get', to: own }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
      assert.equal(info.attrs.from, own);
      assert.doesNotMatch(String(info), new RegExp(other.replace('.', '\\.')));
    }
  });

  it('a user that exists on one domain only is unknown on the other', async () => {
    const only = uniqueName('onlyb');
    const s = await registerAndLogin({ service: svc(), domain: B, username: only, password: 'pw', resource: 'r' });
    await assert.rejects(login({ service: svc(), domain: A, username: only, password: 'pw' }), (e: { condition?: string }) => e.condition === 'not-authorized');
    await onA.send(xml('message', { to: `${only}@${A}`, type: 'chat', id: 'wrong-domain' }, xml('body', {}, 'x')));
    const err = await waitForStanza(onA, (el) => el.attrs.id === 'wrong-domain');
    assert.equal(err.attrs.type, 'error');
    assert.equal(err.getChild('error')?.getChildElements()[0]?.name, 'service-unavailable');
    assert.equal(await noStanza(s, (el) => el.attrs.id === 'wrong-domain', 200), null);
    await s.stop();
  });

  it('password change and account removal on one domain leave the other domain\'s account alone', async () => {
    const u = uniqueName('twin');
    const a = await registerAndLogin({ service: svc(), domain: A, username: u, password: 'pa', resource: 'a' });
    const b = await registerAndLogin({ service: svc(), domain: B, username: u, password: 'pb', resource: 'b' });
    const ch = await a.request(xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:register' }, xml('username', {}, u), xml('password', {}, 'pa2'))));
    assert.equal(ch.attrs.type, 'result');
    const b2 = await login({ service: svc(), domain: B, username: u, password: 'pb', resource: 'b2' });
    await b2.stop();
    const rm = await a.request(xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:register' }, xml('remove'))));
    assert.equal(rm.attrs.type, 'result');
    await waitForError(a).catch(() => undefined);
    await sleep(200);
    assert.equal(b.errors.length, 0, `the ${B} twin was kicked: ${b.errors.map(String).join('; ')}`);
    assert.equal(b.c.status, 'online');
    const b3 = await login({ service: svc(), domain: B, username: u, password: 'pb', resource: 'b3' });
    await b3.stop();
    await assert.rejects(login({ service: svc(), domain: A, username: u, password: 'pa2' }), (e: { condition?: string }) => e.condition === 'not-authorized');
    await a.stop();
    await b.stop();
  });
});
