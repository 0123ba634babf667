/**
 * RFC 6120 client-to-server streams against the all-in-one process, with @xmpp/client and raw sockets:
 * STARTTLS (§5), SASL SCRAM-SHA-256 / SCRAM-SHA-1 / PLAIN (§6, RFC 5802, RFC 7677), direct TLS
 * (XEP-0368), resource binding (§7) including server-generated resources and conflicts, the 'from'
 * rules (§8.1.2.1), closing the stream (§4.4) and whitespace keepalives (§4.6.1).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform, Platform } from './platform';
import {
  b64,
  fetchMetrics,
  iqErrorCondition,
  login,
  metricValue,
  Mechanism,
  noStanza,
  NS_SASL,
  RawClient,
  rawLogin,
  rawOpen,
  rawRequest,
  registerAndLogin,
  stopAllSessions,
  stopSeeingServerClose,
  streamErrorRe,
  streamHeader,
  uniqueName,
  waitForError,
  waitForStanza,
  xml,
  XEl,
  attrRe,
} from './helpers';
import { parseScram, ScramSha256Client } from './scram-sha-256';

const DOMAIN = 'localhost';

describe('RFC 6120 client streams (all-in-one)', () => {
  let p: Platform;
  const raws: RawClient[] = [];
  const tcp = () => `xmpp://127.0.0.1:${p.edges[0].c2s}`;
  const tls = () => `xmpps://127.0.0.1:${p.edges[0].c2sTls}`;
  const track = (r: RawClient) => {
    raws.push(r);
    return r;
  };

  before(async () => {
    p = await startPlatform({ mode: 'all-in-one' });
  });

  after(async () => {
    for (const r of raws) r.destroy();
    await stopAllSessions();
    await p?.stop();
  });

  it('the plain port offers only STARTTLS (required) before TLS: no SASL mechanisms in the clear (§5.3.1, §13.9.4)', async () => {
    const r = track(await RawClient.connect(p.edges[0].c2s));
    const features = await rawOpen(r, DOMAIN);
    assert.match(features, /<starttls xmlns=["']urn:ietf:params:xml:ns:xmpp-tls["']\s*>\s*<required\s*\/>/);
    assert.doesNotMatch(features, /<mechanisms/);
    assert.doesNotMatch(features, /PLAIN/);
    // After STARTTLS the restarted stream offers the mechanisms, PLAIN included, and no more STARTTLS.
    await r.startTls(DOMAIN);
    const secured = await rawOpen(r, DOMAIN);
    assert.match(secured, /<mechanism>SCRAM-SHA-256<\/mechanism>/);
    assert.match(secured, /<mechanism>SCRAM-SHA-1<\/mechanism>/);
    assert.match(secured, /<mechanism>PLAIN<\/mechanism>/);
    assert.doesNotMatch(secured, /starttls/);
  });

  for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] as Mechanism[]) {
    it(`register (XEP-0077) and log in over TCP+STARTTLS with ${mechanism}`, async () => {
      const before = await fetchMetrics(p.edges[0].metrics);
      const u = uniqueName(mechanism.toLowerCase().replace(/-/g, ''));
      // @xmpp/sasl-plain sends the password as Latin-1 (btoa), not UTF-8: keep PLAIN's ASCII here (raw test below).
      const password = mechanism === 'PLAIN' ? 'plain-pass' : 'pässwörd';
      const s = await registerAndLogin({ service: tcp(), domain: DOMAIN, username: u, password, resource: 'desk', mechanism });
      assert.equal(s.jid, `${u}@${DOMAIN}/desk`);
      assert.ok(s.offered.includes(mechanism));
      const after = await fetchMetrics(p.edges[0].metrics);
      const labels = { mechanism, result: 'success' };
      assert.equal(metricValue(after, 'xmpp_auth_attempts_total', labels) - metricValue(before, 'xmpp_auth_attempts_total', labels), 1, 'server counted no success for this mechanism');
      // The negotiated stream is secure and usable: a ping to the server gets its result.
      assert.equal(s.c.isSecure(), true);
      assert.equal(s.c.socket.socket.encrypted, true, 'STARTTLS did not upgrade the socket');
      const res = await s.request(xml('iq', { type: 'get', to: DOMAIN }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
      assert.equal(res.attrs.type, 'result');
      await s.stop();
      // The account persists: log in again without registering.
      const again = await login({ service: tcp(), domain: DOMAIN, username: u, password, resource: 'desk2', mechanism });
      assert.equal(again.jid, `${u}@${DOMAIN}/desk2`);
      await again.stop();
    });
  }

  it('SCRAM-SHA-256 (raw): iteration count >= 4096 and the server-final-message proves the server (RFC 5802 §9, RFC 7677 §4)', async () => {
    const u = uniqueName('scramraw');
    const reg = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: u, password: 'sesame', register: true, resource: 'x' });
    reg.destroy();
    const r = track(await RawClient.connect(p.edges[0].c2sTls, { tls: true }));
    await rawOpen(r, DOMAIN);
    const scram = new ScramSha256Client();
    await r.send(`<auth xmlns='${NS_SASL}' mechanism='SCRAM-SHA-256'>${b64(scram.first({ username: u }))}</auth>`);
    const chal = Buffer.from((await r.waitFor(/<challenge[^>]*>([^<]*)<\/challenge>/))[1], 'base64').toString();
    assert.ok(Number(parseScram(chal).i) >= 4096, `iteration count ${parseScram(chal).i}`);
    await r.send(`<response xmlns='${NS_SASL}'>${b64(scram.final(chal, { username: u, password: 'sesame' }))}</response>`);
    const m = await r.waitFor(/<success[^>]*>([^<]*)<\/success>/);
    const serverFinal = Buffer.from(m[1], 'base64').toString();
    assert.equal(scram.verifyServerFinal(serverFinal), true, `server signature does not verify: ${serverFinal}`);
  });

  it('SCRAM-SHA-256 (raw) with a wrong proof -> <not-authorized/> failure', async () => {
    const u = uniqueName('scrambad');
    const reg = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: u, password: 'right', register: true, resource: 'x' });
    reg.destroy();
    const r = track(await RawClient.connect(p.edges[0].c2sTls, { tls: true }));
    await rawOpen(r, DOMAIN);
    const scram = new ScramSha256Client();
    await r.send(`<auth xmlns='${NS_SASL}' mechanism='SCRAM-SHA-256'>${b64(scram.first({ username: u }))}</auth>`);
    const chal = Buffer.from((await r.waitFor(/<challenge[^>]*>([^<]*)<\/challenge>/))[1], 'base64').toString();
    await r.send(`<response xmlns='${NS_SASL}'>${b64(scram.final(chal, { username: u, password: 'wrong' }))}</response>`);
    await r.waitFor(/<failure[^>]*>\s*<not-authorized\/>/);
    assert.doesNotMatch(r.text, /<success/);
  });

  it('SASL PLAIN carries the password as UTF-8 (RFC 4616 §2)', async () => {
    const u = uniqueName('utf8plain');
    const reg = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: u, password: 'pässwörd€', register: true, resource: 'a' });
    reg.destroy();
    const r = track(await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: u, password: 'pässwörd€', resource: 'b' }));
    assert.equal(r.jid, `${u}@${DOMAIN}/b`);
  });

  it('direct TLS (port 5223, XEP-0368) login, SNI = the XMPP domain', async () => {
    const u = uniqueName('direct');
    const s = await registerAndLogin({ service: tls(), domain: DOMAIN, username: u, password: 'pw', resource: 'tls' });
    assert.equal(s.jid, `${u}@${DOMAIN}/tls`);
    const sock = s.c.socket.socket;
    assert.equal(sock.encrypted, true);
    assert.match(String(sock.getProtocol()), /^TLSv1\.[23]$/);
    assert.equal(sock.alpnProtocol === false || sock.alpnProtocol === 'xmpp-client', true);
    await s.stop();
  });

  it('direct TLS without SNI (client connects by IP, as @xmpp/client does for xmpps://127.0.0.1): the default certificate is served', async () => {
    const u = uniqueName('nosni');
    const s = await registerAndLogin({ service: tls(), domain: DOMAIN, username: u, password: 'pw', resource: 'tls', sni: false });
    assert.equal(s.jid, `${u}@${DOMAIN}/tls`);
    await s.stop();
  });

  it('wrong password: start() rejects with SASL failure not-authorized; unknown user likewise (no enumeration)', async () => {
    const u = uniqueName('wrongpw');
    const s = await registerAndLogin({ service: tcp(), domain: DOMAIN, username: u, password: 'right' });
    await s.stop();
    for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] as Mechanism[]) {
      await assert.rejects(login({ service: tcp(), domain: DOMAIN, username: u, password: 'WRONG', mechanism }), (e: Error & { condition?: string }) => {
        assert.equal(e.name, 'SASLError', `${mechanism}: ${e.name} ${e.message}`);
        assert.equal(e.condition, 'not-authorized');
        return true;
      });
    }
    await assert.rejects(login({ service: tcp(), domain: DOMAIN, username: uniqueName('nobody'), password: 'x' }), (e: Error & { condition?: string }) => {
      assert.equal(e.condition, 'not-authorized');
      return true;
    });
  });

  it('no resource requested: the server generates a non-empty one (§7.6)', async () => {
    const u = uniqueName('genres');
    const s = await registerAndLogin({ service: tcp(), domain: DOMAIN, username: u, password: 'pw' });
    const [bare, resource] = [s.jid.slice(0, s.jid.indexOf('/')), s.jid.slice(s.jid.indexOf('/') + 1)];
    assert.equal(bare, `${u}@${DOMAIN}`);
    assert.ok(s.jid.includes('/') && resource.length > 0, `bound JID has no resource: ${s.jid}`);
    const s2 = await login({ service: tcp(), domain: DOMAIN, username: u, password: 'pw' });
    assert.notEqual(s2.jid, s.jid, 'two generated resources must differ');
    await s.stop();
    await s2.stop();
  });

  it('resource conflict: the older session gets <conflict/> and is closed, the newer is online and gets the traffic (§7.7.2.2)', async () => {
    const u = uniqueName('conflict');
    const first = await registerAndLogin({ service: tcp(), domain: DOMAIN, username: u, password: 'pw', resource: 'same' });
    const second = await login({ service: tls(), domain: DOMAIN, username: u, password: 'pw', resource: 'same' });
    assert.equal(second.jid, `${u}@${DOMAIN}/same`);
    const err = await waitForError(first);
    assert.equal(err.condition, 'conflict', `${err.name}: ${err.message}`);
    // The kicked stream is gone, the new one works.
    const deadline = Date.now() + 5000;
    while (first.c.status !== 'disconnect' && first.c.status !== 'offline' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(['disconnect', 'offline'].includes(first.c.status), `old session status ${first.c.status}`);
    assert.equal(second.c.status, 'online');
    const other = await registerAndLogin({ service: tcp(), domain: DOMAIN, username: uniqueName('sender'), password: 'pw', resource: 'r' });
    await other.send(xml('message', { to: second.jid, type: 'chat', id: 'c1' }, xml('body', {}, 'to the winner')));
    const got = await waitForStanza(second, (el) => el.name === 'message' && el.getChildText('body') === 'to the winner');
    assert.equal(got.attrs.from, other.jid);
    await Promise.all([first.stop(), second.stop(), other.stop()]);
  });

  it("the server stamps 'from' with the full JID when the client omits it or gives its bare JID (§8.1.2.1)", async () => {
    const a1 = await registerAndLogin({ service: tcp(), domain: DOMAIN, username: uniqueName('stampa'), password: 'pw', resource: 'one' });
    const a2 = await login({ service: tls(), domain: DOMAIN, username: a1.bare.split('@')[0], password: 'pw', resource: 'two' });
    const b = await registerAndLogin({ service: tcp(), domain: DOMAIN, username: uniqueName('stampb'), password: 'pw', resource: 'b' });

    await a1.send(xml('message', { to: b.jid, type: 'chat', id: 'nofrom' }, xml('body', {}, 'no from')));
    const m1 = await waitForStanza(b, (el) => el.attrs.id === 'nofrom');
    assert.equal(m1.attrs.from, a1.jid);

    await a1.send(xml('message', { to: b.jid, from: a1.bare, type: 'chat', id: 'barefrom' }, xml('body', {}, 'bare from')));
    const m2 = await waitForStanza(b, (el) => el.attrs.id === 'barefrom');
    assert.equal(m2.attrs.from, a1.jid, 'a bare from must be replaced by the full JID');

    // Between two resources of one account.
    await a1.send(xml('message', { to: a2.jid, type: 'chat', id: 'self' }, xml('body', {}, 'to my other resource')));
    const m3 = await waitForStanza(a2, (el) => el.attrs.id === 'self');
    assert.equal(m3.attrs.from, a1.jid);
    assert.equal(m3.attrs.to, a2.jid);
    await Promise.all([a1.stop(), a2.stop(), b.stop()]);
  });

  it('a resource with leading and trailing spaces is kept exactly: routed to, stamped, answered (RFC 7622 §3.4)', async () => {
    // Spaces are valid in a resourcepart (OpaqueString); they must survive the trip through NATS headers.
    const a = await registerAndLogin({ service: tcp(), domain: DOMAIN, username: uniqueName('spaced'), password: 'pw', resource: ' phone ' });
    assert.equal(a.jid, `${a.bare}/ phone `);
    const a2 = await login({ service: tls(), domain: DOMAIN, username: a.bare.split('@')[0], password: 'pw', resource: 'phone' });
    const b = await registerAndLogin({ service: tcp(), domain: DOMAIN, username: uniqueName('plain'), password: 'pw', resource: 'b' });

    await b.send(xml('message', { to: a.jid, type: 'chat', id: 'sp-in' }, xml('body', {}, 'to the spaced resource')));
    const got = await waitForStanza(a, (el) => el.attrs.id === 'sp-in');
    assert.equal(got.attrs.to, a.jid);
    assert.equal(await noStanza(a2, (el) => el.attrs.id === 'sp-in', 500), null, "'phone' is another resource than ' phone '");

    await a.send(xml('message', { to: b.jid, type: 'chat', id: 'sp-out' }, xml('body', {}, 'from the spaced resource')));
    const out = await waitForStanza(b, (el) => el.attrs.id === 'sp-out');
    assert.equal(out.attrs.from, a.jid);

    // The router's own answer goes back to the exact full JID.
    const pong = await a.request(xml('iq', { type: 'get', to: DOMAIN, id: 'sp-ping' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.equal(pong.attrs.type, 'result');
    await Promise.all([a.stop(), a2.stop(), b.stop()]);
  });

  it("a 'from' naming another JID -> stream error invalid-from, stream closed, nothing delivered (§8.1.2.1, §4.9.3.9)", async () => {
    const victim = await registerAndLogin({ service: tcp(), domain: DOMAIN, username: uniqueName('victim'), password: 'pw', resource: 'v' });
    const r = track(await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: uniqueName('mallory'), password: 'pw', register: true, resource: 'm' }));
    await r.send(`<message to='${victim.jid}' from='${victim.bare}/spoofed' type='chat' id='spoof'><body>trust me</body></message>`);
    await r.waitFor(streamErrorRe('invalid-from'));
    await r.waitFor(/<\/stream:stream>/);
    assert.equal(await r.waitClose(5000), true);
    assert.equal(await noStanza(victim, (el) => el.attrs.id === 'spoof', 700), null, 'spoofed message was delivered');
    await victim.stop();
  });

  it("an unparseable 'from' is also refused with invalid-from", async () => {
    const r = track(await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: uniqueName('badfrom'), password: 'pw', register: true, resource: 'm' }));
    await r.send(`<presence from='@@@'/>`);
    await r.waitFor(streamErrorRe('invalid-from'));
    assert.equal(await r.waitClose(5000), true);
  });

  it('closing handshake (raw): </stream:stream> from the client is answered with </stream:stream> and the socket closes (§4.4)', async () => {
    const r = track(await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: uniqueName('closer'), password: 'pw', register: true, resource: 'c' }));
    await r.send('</stream:stream>');
    await r.waitFor(/<\/stream:stream>/);
    assert.equal(await r.waitClose(5000), true);
    assert.doesNotMatch(r.text, /<stream:error/);
  });

  it('closing handshake on the plain port before TLS, too', async () => {
    const r = track(await RawClient.connect(p.edges[0].c2s));
    await rawOpen(r, DOMAIN);
    await r.send('</stream:stream>');
    await r.waitFor(/<\/stream:stream>/);
    assert.equal(await r.waitClose(5000), true);
  });

  it("client stop(): the server answers the client's close tag with its own", async () => {
    const s = await registerAndLogin({ service: tcp(), domain: DOMAIN, username: uniqueName('stopper'), password: 'pw', resource: 's' });
    const el = await stopSeeingServerClose(s.c);
    assert.ok(el, 'stop() did not see the server close the stream');
    assert.equal(el.name, 'stream:stream');
    assert.equal(s.c.status, 'offline');
    assert.equal(s.errors.length, 0, s.errors.map(String).join('; '));
  });

  it('a session closed by the client (</stream:stream>) is gone: IQs to its full JID bounce, the session gauge drops (RFC 6121 §8.5.3.2.2)', async () => {
    const asker = await registerAndLogin({ service: tcp(), domain: DOMAIN, username: uniqueName('asker'), password: 'pw', resource: 'q' });
    const base = metricValue(await fetchMetrics(p.edges[0].metrics), 'xmpp_edge_sessions');
    const s = await registerAndLogin({ service: tcp(), domain: DOMAIN, username: uniqueName('leaver'), password: 'pw', resource: 'l' });
    assert.equal(metricValue(await fetchMetrics(p.edges[0].metrics), 'xmpp_edge_sessions'), base + 1);
    const jid = s.jid;
    assert.ok(await stopSeeingServerClose(s.c));
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(metricValue(await fetchMetrics(p.edges[0].metrics), 'xmpp_edge_sessions'), base, 'xmpp_edge_sessions not decremented after a clean close');
    const err = await iqErrorCondition(asker.request(xml('iq', { type: 'get', to: jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 3000));
    assert.equal(err.condition, 'service-unavailable');
    await asker.stop();
  });

  it('a session closed by a stream error is gone too: IQs to its full JID bounce', async () => {
    const asker = await registerAndLogin({ service: tcp(), domain: DOMAIN, username: uniqueName('asker'), password: 'pw', resource: 'q' });
    const r = track(await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: uniqueName('kicked'), password: 'pw', register: true, resource: 'k' }));
    await r.send(`<foo xmlns='jabber:client'/>`);
    await r.waitFor(streamErrorRe('unsupported-stanza-type'));
    assert.equal(await r.waitClose(5000), true);
    await new Promise((res) => setTimeout(res, 300));
    const err = await iqErrorCondition(asker.request(xml('iq', { type: 'get', to: r.jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 3000));
    assert.equal(err.condition, 'service-unavailable');
    await asker.stop();
  });

  it('whitespace keepalives between stanzas are accepted (§4.6.1): a ping after them is answered', async () => {
    const r = track(await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: uniqueName('ws'), password: 'pw', register: true, resource: 'k' }));
    await r.send(' ');
    await new Promise((res) => setTimeout(res, 100));
    await r.send('\n \t\r\n');
    await r.send(`<iq type='get' id='ka1' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq> `);
    await r.waitFor(new RegExp(`<iq[^>]*${attrRe('id', 'ka1')}[^>]*>|<iq[^>]*${attrRe('id', 'ka1')}[^>]*/>`));
    assert.match(r.text, new RegExp(`<iq[^>]*${attrRe('type', 'result')}[^>]*${attrRe('id', 'ka1')}|<iq[^>]*${attrRe('id', 'ka1')}[^>]*${attrRe('type', 'result')}`));
    assert.equal(r.isClosed, false);
    assert.doesNotMatch(r.text, /<stream:error/);
  });

  it('text that is not whitespace between stanzas -> not-well-formed', async () => {
    const r = track(await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: uniqueName('junk'), password: 'pw', register: true, resource: 'j' }));
    await r.send('hello');
    await r.waitFor(streamErrorRe('not-well-formed'));
    assert.equal(await r.waitClose(5000), true);
  });

  it('STARTTLS: plaintext pipelined after <starttls/> is discarded, never processed inside TLS (§5.4.3.3)', async () => {
    const u = uniqueName('inject');
    const r = track(await RawClient.connect(p.edges[0].c2s));
    await rawOpen(r, DOMAIN);
    // One write: the command and an injected registration that must not survive the upgrade.
    await r.send(
      `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><iq type='set' id='injected'><query xmlns='jabber:iq:register'><username>${u}</username><password>x</password></query></iq>`,
    );
    await r.waitFor(/<proceed[^>]*\/>/);
    await r.startTlsAfterProceed(DOMAIN);
    await rawOpen(r, DOMAIN);
    await new Promise((res) => setTimeout(res, 300));
    assert.doesNotMatch(r.text, new RegExp(attrRe('id', 'injected')));
    // And the account was not created.
    await assert.rejects(login({ service: tcp(), domain: DOMAIN, username: u, password: 'x' }), (e: { condition?: string }) => e.condition === 'not-authorized');
  });

  it('requesting an invalid resource (over 1023 bytes) -> bind error bad-request, the stream stays up (§7.7.2.1)', async () => {
    const u = uniqueName('badres');
    const reg = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: u, password: 'pw', register: true, resource: 'x' });
    reg.destroy();
    const r = track(await RawClient.connect(p.edges[0].c2sTls, { tls: true }));
    await rawOpen(r, DOMAIN);
    await r.send(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${b64(`\0${u}\0pw`)}</auth>`);
    await r.waitFor(/<success/);
    await rawOpen(r, DOMAIN);
    const reply = await rawRequest(r, 'big', `<iq type='set' id='big'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${'r'.repeat(1100)}</resource></bind></iq>`);
    assert.match(reply, new RegExp(attrRe('type', 'error')), reply);
    assert.match(reply, /<bad-request /, reply);
    // A resource the PRECIS FreeformClass refuses: a ZWJ outside its context (RFC 8264 §9.8), a private-use code point.
    for (const [id, res] of [['zwj', 'phone\u{1f469}\u200d\u{1f4bb}'], ['pua', 'r\ue000']]) {
      const bad = await rawRequest(r, id, `<iq type='set' id='${id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${res}</resource></bind></iq>`);
      assert.match(bad, /<bad-request /, bad);
    }
    const ok = await rawRequest(r, 'ok', `<iq type='set' id='ok'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>fine</resource></bind></iq>`);
    assert.match(ok, new RegExp(`<jid>${u}@${DOMAIN}/fine</jid>`), ok);
  });

  it('a stanza to a malformed JID -> jid-malformed stanza error, the stream stays up (RFC 6120 §8.3.3.8)', async () => {
    const s = await registerAndLogin({ service: tcp(), domain: DOMAIN, username: uniqueName('badto'), password: 'pw', resource: 'r' });
    // RFC 7622 §3.5 Table 2 and the PRECIS rules: '@' twice, a symbol or a compatibility character in the
    // localpart, a symbol in the domain (not IDNA2008).
    const malformed = ['a@b@c', `\u265a@${DOMAIN}`, `henry\u2163@${DOMAIN}`, '\u{1f600}@example.com', 'u@\u2603.example'];
    for (const [i, to] of malformed.entries()) {
      await s.send(xml('message', { to, type: 'chat', id: `malformed${i}` }, xml('body', {}, 'x')));
      const err = await waitForStanza(s, (el) => el.attrs.id === `malformed${i}`);
      assert.equal(err.attrs.type, 'error', to);
      assert.equal(err.getChild('error')?.getChildElements()[0]?.name, 'jid-malformed', to);
    }
    const res = await s.request(xml('iq', { type: 'get', to: DOMAIN }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.equal(res.attrs.type, 'result');
    await s.stop();
  });

  it('a stream restart after SASL success discards what was pipelined before <success/> (§6.4.6)', async () => {
    const u = uniqueName('pipe');
    const reg = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: u, password: 'pw', register: true, resource: 'x' });
    reg.destroy();
    const r = track(await RawClient.connect(p.edges[0].c2sTls, { tls: true }));
    await rawOpen(r, DOMAIN);
    // PLAIN and, in the same write, a bind IQ that belongs to no stream yet.
    await r.send(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${b64(`\0${u}\0pw`)}</auth><iq type='set' id='early'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
    await r.waitFor(/<success/);
    await r.send(streamHeader(DOMAIN));
    await r.waitFor(/<\/stream:features>/);
    await new Promise((res) => setTimeout(res, 300));
    assert.doesNotMatch(r.text, new RegExp(attrRe('id', 'early')), 'the pipelined IQ was processed');
  });
});
