/**
 * XEP-0077 In-Band Registration end to end: register (§3.1), change password (§3.3), cancel (§3.2),
 * conflicts, and a domain where registration is closed (XMPP_REGISTRATION lists only 'localhost').
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform, Platform } from './platform';
import {
  attrRe,
  iqErrorCondition,
  login,
  RawClient,
  rawOpen,
  rawRegister,
  rawRequest,
  registerAndLogin,
  stanzaErrorCondition,
  stopAllSessions,
  uniqueName,
  waitForError,
  xml,
  XEl,
} from './helpers';

const OPEN = 'localhost';
const CLOSED = 'closed.test';
const NS_REG = 'jabber:iq:register';

function errorOf(reply: string): { type: string; condition: string } {
  const m = /<error[^>]*type=["']([a-z]+)["'][^>]*>\s*<([a-z-]+)/.exec(reply);
  return { type: m?.[1] ?? '', condition: m?.[2] ?? '' };
}

describe('XEP-0077 in-band registration', () => {
  let p: Platform;
  const tcp = () => `xmpp://127.0.0.1:${p.edges[0].c2s}`;
  const raws: RawClient[] = [];

  before(async () => {
    p = await startPlatform({ mode: 'all-in-one', domains: [OPEN, CLOSED], env: { XMPP_REGISTRATION: OPEN } });
  });

  after(async () => {
    for (const r of raws) r.destroy();
    await stopAllSessions();
    await p?.stop();
  });

  it('a registration form is offered before authentication (§3.1: instructions, username, password)', async () => {
    const r = await RawClient.connect(p.edges[0].c2sTls, { tls: true, servername: OPEN });
    raws.push(r);
    const features = await rawOpen(r, OPEN);
    assert.match(features, /<register xmlns=["']http:\/\/jabber.org\/features\/iq-register["']/);
    const reply = await rawRequest(r, 'form1', `<iq type='get' id='form1'><query xmlns='${NS_REG}'/></iq>`);
    assert.match(reply, new RegExp(attrRe('type', 'result')));
    assert.match(reply, /<username\s*\/>/);
    assert.match(reply, /<password\s*\/>/);
    assert.match(reply, /<instructions>/);
  });

  it('register, then log in; the form after authentication says <registered/> with the username', async () => {
    const u = uniqueName('reg');
    const s = await registerAndLogin({ service: tcp(), domain: OPEN, username: u, password: 'first', resource: 'r' });
    assert.equal(s.jid, `${u}@${OPEN}/r`);
    const res = await s.request(xml('iq', { type: 'get' }, xml('query', { xmlns: NS_REG })));
    const q = res.getChild('query', NS_REG) as XEl;
    assert.ok(q.getChild('registered'), `no <registered/>: ${String(res)}`);
    assert.equal(q.getChildText('username'), u);
    await s.stop();
  });

  it('change password (§3.3): the old one stops working, the new one works', async () => {
    const u = uniqueName('chpw');
    const s = await registerAndLogin({ service: tcp(), domain: OPEN, username: u, password: 'old-pass', resource: 'r' });
    const res = await s.request(xml('iq', { type: 'set', to: OPEN }, xml('query', { xmlns: NS_REG }, xml('username', {}, u), xml('password', {}, 'new-pass'))));
    assert.equal(res.attrs.type, 'result');
    await s.stop();
    await assert.rejects(login({ service: tcp(), domain: OPEN, username: u, password: 'old-pass' }), (e: { condition?: string }) => e.condition === 'not-authorized');
    for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] as const) {
      const again = await login({ service: tcp(), domain: OPEN, username: u, password: 'new-pass', mechanism });
      assert.equal(again.bare, `${u}@${OPEN}`);
      await again.stop();
    }
  });

  it("changing the password of another account is refused and changes nothing", async () => {
    const victim = uniqueName('victim');
    const v = await registerAndLogin({ service: tcp(), domain: OPEN, username: victim, password: 'victim-pass' });
    await v.stop();
    const s = await registerAndLogin({ service: tcp(), domain: OPEN, username: uniqueName('attacker'), password: 'pw' });
    const err = await iqErrorCondition(s.request(xml('iq', { type: 'set' }, xml('query', { xmlns: NS_REG }, xml('username', {}, victim), xml('password', {}, 'owned')))));
    assert.ok(['not-allowed', 'not-authorized', 'forbidden'].includes(err.condition), err.condition);
    await s.stop();
    const again = await login({ service: tcp(), domain: OPEN, username: victim, password: 'victim-pass' });
    await again.stop();
  });

  it('cancel (§3.2, <remove/>): result, every session of the account is closed, the account is gone', async () => {
    const u = uniqueName('cancel');
    const s = await registerAndLogin({ service: tcp(), domain: OPEN, username: u, password: 'pw', resource: 'one' });
    const other = await login({ service: tcp(), domain: OPEN, username: u, password: 'pw', resource: 'two' });
    const res = await s.request(xml('iq', { type: 'set' }, xml('query', { xmlns: NS_REG }, xml('remove'))));
    assert.equal(res.attrs.type, 'result');
    const err = await waitForError(other);
    assert.equal(err.condition, 'not-authorized', `other session: ${err.message}`);
    await s.stop();
    await other.stop();
    await assert.rejects(login({ service: tcp(), domain: OPEN, username: u, password: 'pw' }), (e: { condition?: string }) => e.condition === 'not-authorized');
    // The name is free again.
    const back = await registerAndLogin({ service: tcp(), domain: OPEN, username: u, password: 'pw2' });
    await back.stop();
  });

  it('registering a taken name -> <conflict/> (type cancel), and the existing password is unchanged', async () => {
    const u = uniqueName('taken');
    const first = await rawRegister(p.edges[0].c2sTls, { domain: OPEN, username: u, password: 'original' });
    assert.match(first.reply, new RegExp(attrRe('type', 'result')), first.reply);
    const second = await rawRegister(p.edges[0].c2sTls, { domain: OPEN, username: u, password: 'hijack' });
    assert.deepEqual(errorOf(second.reply), { type: 'cancel', condition: 'conflict' }, second.reply);
    const s = await login({ service: tcp(), domain: OPEN, username: u, password: 'original' });
    await s.stop();
    await assert.rejects(login({ service: tcp(), domain: OPEN, username: u, password: 'hijack' }));
  });

  it('usernames are case-mapped (RFC 7622 §3.3): "Mixed" and "mixed" are the same account', async () => {
    const u = uniqueName('Mixed');
    const first = await rawRegister(p.edges[0].c2sTls, { domain: OPEN, username: u, password: 'pw' });
    assert.match(first.reply, new RegExp(attrRe('type', 'result')), first.reply);
    const second = await rawRegister(p.edges[0].c2sTls, { domain: OPEN, username: u.toLowerCase(), password: 'pw2' });
    assert.equal(errorOf(second.reply).condition, 'conflict', second.reply);
    const s = await login({ service: tcp(), domain: OPEN, username: u.toUpperCase(), password: 'pw', resource: 'x' });
    assert.equal(s.jid, `${u.toLowerCase()}@${OPEN}/x`);
    await s.stop();
  });

  it('missing password -> <not-acceptable/> (type modify); an invalid localpart is refused', async () => {
    const r = await RawClient.connect(p.edges[0].c2sTls, { tls: true, servername: OPEN });
    raws.push(r);
    await rawOpen(r, OPEN);
    const noPw = await rawRequest(r, 'np', `<iq type='set' id='np'><query xmlns='${NS_REG}'><username>${uniqueName('nopw')}</username></query></iq>`);
    assert.deepEqual(errorOf(noPw), { type: 'modify', condition: 'not-acceptable' }, noPw);
    const bad = await rawRequest(r, 'bad', `<iq type='set' id='bad'><query xmlns='${NS_REG}'><username>a@b/c</username><password>x</password></query></iq>`);
    assert.match(bad, new RegExp(attrRe('type', 'error')), bad);
    assert.ok(['jid-malformed', 'not-acceptable'].includes(errorOf(bad).condition), bad);
  });

  it('a connection gets three registration attempts, then <resource-constraint/> (each costs PBKDF2)', async () => {
    const r = await RawClient.connect(p.edges[0].c2sTls, { tls: true, servername: OPEN });
    raws.push(r);
    await rawOpen(r, OPEN);
    const names = [1, 2, 3, 4].map(() => uniqueName('many'));
    for (let i = 0; i < 3; i++) {
      const ok = await rawRequest(r, `m${i}`, `<iq type='set' id='m${i}'><query xmlns='${NS_REG}'><username>${names[i]}</username><password>pw</password></query></iq>`);
      assert.match(ok, new RegExp(attrRe('type', 'result')), ok);
    }
    const fourth = await rawRequest(r, 'm3', `<iq type='set' id='m3'><query xmlns='${NS_REG}'><username>${names[3]}</username><password>pw</password></query></iq>`);
    assert.deepEqual(errorOf(fourth), { type: 'wait', condition: 'resource-constraint' }, fourth);
    await assert.rejects(login({ service: tcp(), domain: OPEN, username: names[3], password: 'pw' }), (e: { condition?: string }) => e.condition === 'not-authorized');
  });

  it(`registration closed on ${CLOSED}: no iq-register feature, form and registration refused, no account created`, async () => {
    const r = await RawClient.connect(p.edges[0].c2sTls, { tls: true, servername: CLOSED });
    raws.push(r);
    const features = await rawOpen(r, CLOSED);
    assert.match(features, /<mechanisms/);
    assert.doesNotMatch(features, /iq-register/);
    const form = await rawRequest(r, 'cf', `<iq type='get' id='cf'><query xmlns='${NS_REG}'/></iq>`);
    assert.match(form, new RegExp(attrRe('type', 'error')), form);
    assert.ok(['service-unavailable', 'not-allowed', 'forbidden'].includes(errorOf(form).condition), form);

    const u = uniqueName('closed');
    const reg = await rawRequest(r, 'cs', `<iq type='set' id='cs'><query xmlns='${NS_REG}'><username>${u}</username><password>pw</password></query></iq>`);
    assert.match(reg, new RegExp(attrRe('type', 'error')), reg);
    assert.ok(['service-unavailable', 'not-allowed', 'forbidden'].includes(errorOf(reg).condition), reg);
    await assert.rejects(login({ service: tcp(), domain: CLOSED, username: u, password: 'pw' }), (e: { condition?: string }) => e.condition === 'not-authorized');
    // Same name on the open domain is unaffected.
    const s = await registerAndLogin({ service: tcp(), domain: OPEN, username: u, password: 'pw' });
    await s.stop();
  });

  it(`@xmpp/client registration on ${CLOSED} fails with a stanza error`, async () => {
    await assert.rejects(
      registerAndLogin({ service: tcp(), domain: CLOSED, username: uniqueName('closedc'), password: 'pw' }),
      (e: { condition?: string; name?: string }) => e.name === 'StanzaError' && ['service-unavailable', 'not-allowed', 'forbidden'].includes(e.condition ?? ''),
    );
  });

  it('disco#info of the open domain advertises jabber:iq:register', async () => {
    const s = await registerAndLogin({ service: tcp(), domain: OPEN, username: uniqueName('disco'), password: 'pw' });
    const res = await s.request(xml('iq', { type: 'get', to: OPEN }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
    const vars = (res.getChild('query')?.getChildren('feature') ?? []).map((f: XEl) => f.attrs.var);
    assert.ok(vars.includes(NS_REG), vars.join(', '));
    assert.equal(stanzaErrorCondition(res), undefined);
    await s.stop();
  });
});
