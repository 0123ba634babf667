/**
 * XEP-0198 stream management, acknowledgements without resumption, over raw direct-TLS streams: the
 * feature after authentication only, <enable/> after binding and once, <resume/> refused so the client
 * binds instead, <r/> answered with the count of stanzas handled (held until those sent before it are
 * handled), the server asking for acks, bad <a/> values, and the point of it all: what a client never
 * acknowledged is routed again when its stream dies (here to offline storage), and what it acknowledged
 * is not. @xmpp/client enables it on its own.
 * With or without stream management, a delivery that reaches the edge just after the session ended
 * there (a router's registry view lagging) is routed again too, not dropped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as connectNats, headers as natsHeaders } from 'nats';
import { eventually } from '@kxmpp/testing';
import { startPlatform, Platform } from './platform';
import {
  b64,
  fetchMetrics,
  metricValue,
  NS_BIND,
  NS_SASL,
  rawLogin,
  rawOpen,
  rawRequest,
  RawClient,
  registerAndLogin,
  stopAllSessions,
  streamErrorRe,
  uniqueName,
  xml,
} from './helpers';

const DOMAIN = 'localhost';
const EDGE_ID = 'smedge';
const SM = 'urn:xmpp:sm:3';
const ping = (id: string) => `<iq type='get' id='${id}' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>`;

describe('XEP-0198 stream management (acks, no resumption)', () => {
  let p: Platform;
  const raws: RawClient[] = [];
  before(async () => {
    p = await startPlatform({ mode: 'all-in-one', env: { EDGE_ID } });
  });
  after(async () => {
    for (const r of raws) r.destroy();
    await stopAllSessions();
    await p.stop();
  });

  const login = async (name: string, resource = 'r') => {
    const r = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: name, password: 'pw', register: true, resource });
    raws.push(r);
    return r;
  };
  const enable = async (r: RawClient) => {
    await r.send(`<enable xmlns='${SM}' resume='true'/>`);
    const m = await r.waitFor(/<(enabled|failed)\b[^>]*\/>|<failed\b[\s\S]*?<\/failed>/);
    assert.match(m[0], /^<enabled xmlns=['"]urn:xmpp:sm:3['"]\/>$/, 'enabled, without id or resume: no resumption');
  };

  it('is offered after authentication, not before; <enable/> before binding fails and binding still works', async () => {
    const name = uniqueName('smfeat');
    const r = await RawClient.connect(p.edges[0].c2sTls, { tls: true, servername: DOMAIN });
    raws.push(r);
    const before = await rawOpen(r, DOMAIN);
    assert.equal(before.includes(SM), false);
    await r.send(`<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>${name}</username><password>pw</password></query></iq>`);
    await r.waitFor(/id=['"]reg['"]/);
    await r.send(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${b64(`\0${name}\0pw`)}</auth>`);
    await r.waitFor(/<success/);
    const features = await rawOpen(r, DOMAIN);
    assert.match(features, /<sm xmlns=['"]urn:xmpp:sm:3['"]\/>/);
    await r.send(`<enable xmlns='${SM}'/>`);
    await r.waitFor(/<failed xmlns=['"]urn:xmpp:sm:3['"]><unexpected-request xmlns=['"]urn:ietf:params:xml:ns:xmpp-stanzas['"]\/><\/failed>/);
    await r.send(`<resume xmlns='${SM}' previd='nothing' h='0'/>`);
    await r.waitFor(/<failed xmlns=['"]urn:xmpp:sm:3['"]><feature-not-implemented /);
    await r.send(`<iq type='set' id='b1'><bind xmlns='${NS_BIND}'><resource>r</resource></bind></iq>`);
    await r.waitFor(/<jid>[^<]+<\/jid>/);
    await enable(r);
    await r.send(`<enable xmlns='${SM}'/>`);
    await r.waitFor(/<failed xmlns=['"]urn:xmpp:sm:3['"]><unexpected-request /);
    assert.equal(r.isClosed, false);
  });

  it('<r/> is answered with the number of stanzas handled since <enable/>', async () => {
    const r = await login(uniqueName('smcount'));
    await enable(r);
    await r.send(`<r xmlns='${SM}'/>`);
    await r.waitFor(/<a xmlns=['"]urn:xmpp:sm:3['"] h=['"]0['"]\/>/);
    for (const id of ['p1', 'p2', 'p3']) await rawRequest(r, id, ping(id));
    await r.send(`<r xmlns='${SM}'/>`);
    await r.waitFor(/<a xmlns=['"]urn:xmpp:sm:3['"] h=['"]3['"]\/>/);
  });

  it('an <r/> right behind stanzas still on their way to the routing stream is answered with them counted', async () => {
    // Clients such as aioxmpp send a stanza, then one <r/>, and wait for an 'h' that covers the stanza.
    const name = uniqueName('smheld');
    const r = await login(name);
    await enable(r);
    const self = `${name}@${DOMAIN}`;
    const msgs = [1, 2, 3].map((i) => `<message to='${self}' type='chat' id='held${i}'><body>${i}</body></message>`).join('');
    await r.send(`<presence/>${msgs}<r xmlns='${SM}'/>`);
    const a = await r.waitFor(/<a xmlns=['"]urn:xmpp:sm:3['"] h=['"](\d+)['"]\/>/);
    assert.equal(a[1], '4', 'the first <a/> counts the presence and the three messages sent before the <r/>');
  });

  it('the server asks for acks after writing stanzas; a right <a/> is accepted', async () => {
    const r = await login(uniqueName('smreq'));
    await enable(r);
    await rawRequest(r, 'q1', ping('q1'));
    await r.waitFor(/<r xmlns=['"]urn:xmpp:sm:3['"]\/>/);
    await r.send(`<a xmlns='${SM}' h='1'/>`);
    assert.match(await rawRequest(r, 'q2', ping('q2')), /type=['"]result['"]/);
  });

  it("an <a/> acknowledging more than was sent ends the stream with undefined-condition and <handled-count-too-high/>", async () => {
    const r = await login(uniqueName('smhigh'));
    await enable(r);
    await rawRequest(r, 'h1', ping('h1'));
    await r.send(`<a xmlns='${SM}' h='5'/>`);
    await r.waitFor(streamErrorRe('undefined-condition'));
    assert.match(r.text, /<handled-count-too-high xmlns=['"]urn:xmpp:sm:3['"] h=['"]5['"] send-count=['"]1['"]\/>/);
    assert.equal(await r.waitClose(5000), true);
  });

  it("an <a/> whose 'h' is not an unsigned 32-bit integer ends the stream with invalid-xml", async () => {
    for (const h of ['x', '-1', '4294967296', '']) {
      const r = await login(uniqueName('smbad'));
      await enable(r);
      await r.send(`<a xmlns='${SM}' h='${h}'/>`);
      await r.waitFor(streamErrorRe('invalid-xml'));
      assert.equal(await r.waitClose(5000), true, `h='${h}'`);
    }
  });

  it('<r/> or <a/> without stream management enabled is not a stanza: unsupported-stanza-type', async () => {
    const r = await login(uniqueName('smoff'));
    await r.send(`<r xmlns='${SM}'/>`);
    await r.waitFor(streamErrorRe('unsupported-stanza-type'));
  });

  it('messages a client never acknowledged are routed again when its connection dies (to offline storage); acknowledged ones are not', async () => {
    const bName = uniqueName('smlost');
    const a = await login(uniqueName('smsender'));
    const b = await login(bName);
    await enable(b);
    const before = metricValue(await fetchMetrics(p.edges[0].metrics), 'xmpp_edge_rerouted_total');
    const ids = ['m1', 'm2', 'm3', 'm4'];
    for (const id of ids) await a.send(`<message to='${b.jid}' type='chat' id='${id}'><body>${id}</body></message>`);
    await b.waitFor(/id=['"]m4['"]/);
    // b read all four but acknowledges two, then its connection drops without a close.
    await b.send(`<a xmlns='${SM}' h='2'/>`);
    assert.match(await rawRequest(b, 'sync', ping('sync')), /type=['"]result['"]/, 'the <a/> was read before the ping');
    b.destroy();
    await eventually(async () => metricValue(await fetchMetrics(p.edges[0].metrics), 'xmpp_edge_rerouted_total') >= before + 2, 10_000, 'rerouted');
    // The user comes back on a new stream: offline storage hands over what the old one never acknowledged.
    const again = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: bName, password: 'pw', resource: 'back' });
    raws.push(again);
    await again.send('<presence/>');
    await again.waitFor(/id=['"]m4['"]/, 10_000);
    const got = [...again.text.matchAll(/<message [^>]*id=['"](m\d)['"]/g)].map((m) => m[1]);
    assert.deepEqual(got, ['m3', 'm4']);
    assert.match(again.text, /<delay xmlns=['"]urn:xmpp:delay['"]/, 'stamped by offline storage');
  });

  it('of what a dead stream held, carbon copies, roster pushes and pings from the server are not routed again', async () => {
    const cName = uniqueName('smcopies');
    const other = await login(uniqueName('smother'));
    const c1 = await login(cName, 'one');
    const c2 = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: cName, password: 'pw', resource: 'two' });
    raws.push(c2);
    // c2 is available: what is routed again for c1 comes to it (c1 never sends presence).
    await c2.send('<presence/>');
    await enable(c1);
    assert.match(await rawRequest(c1, 'cc', `<iq type='set' id='cc'><enable xmlns='urn:xmpp:carbons:2'/></iq>`), /type=['"]result['"]/);
    assert.match(await rawRequest(c1, 'rg', `<iq type='get' id='rg'><query xmlns='jabber:iq:roster'/></iq>`), /type=['"]result['"]/);
    const rerouted = async () => metricValue(await fetchMetrics(p.edges[0].metrics), 'xmpp_edge_rerouted_total');
    const before = await rerouted();
    // Three things c1 never acknowledges: a sent carbon, a roster push, and one real message.
    await c2.send(`<message to='${other.jid}' type='chat' id='viaTwo'><body>from two</body></message>`);
    await c1.waitFor(/<sent xmlns=['"]urn:xmpp:carbons:2['"]>/);
    await c2.send(`<iq type='set' id='rs'><query xmlns='jabber:iq:roster'><item jid='someone@${DOMAIN}'/></query></iq>`);
    await c1.waitFor(/<query xmlns=['"]jabber:iq:roster['"][^>]*>\s*<item [^>]*someone@/);
    await other.send(`<message to='${c1.jid}' type='chat' id='real'><body>for one</body></message>`);
    await c1.waitFor(/id=['"]real['"]/);
    c1.destroy();
    await eventually(async () => (await rerouted()) >= before + 1, 10_000, 'the real message routed again');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await rerouted(), before + 1, 'only the real message');
    await c2.waitFor(/id=['"]real['"]/, 10_000);
  });

  it('@xmpp/client enables it by itself, and chats as before', async () => {
    const alice = await registerAndLogin({ service: `xmpp://127.0.0.1:${p.edges[0].c2s}`, domain: DOMAIN, username: uniqueName('smalice'), password: 'pw', resource: 'r' });
    await eventually(() => alice.c.streamManagement?.enabled === true, 5000, '@xmpp/client enabled stream management');
    const pong = await alice.request(xml('iq', { type: 'get', to: DOMAIN, id: 'xp' }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 5000);
    assert.equal(pong.attrs.type, 'result');
    // It answers the server's <r/>: nothing stays unacknowledged for long.
    await eventually(() => alice.c.streamManagement.outbound_q.length === 0, 5000, 'its own stanzas acknowledged by the server');
  });

  it('a delivery that reaches the edge after its session ended is routed again, not dropped; one for a session never held here is dropped', async () => {
    const bName = uniqueName('smlate');
    const a = await login(uniqueName('smlatefrom'));
    const b = await login(bName);
    // The stream id is the session's id on the bus.
    const sid = /<stream:stream [^>]*id=['"]([^'"]+)['"]/.exec(b.text)?.[1];
    assert.ok(sid);
    const metric = async (name: string) => metricValue(await fetchMetrics(p.edges[0].metrics), name);
    const open = await metric('xmpp_edge_connections');
    b.destroy();
    await eventually(async () => (await metric('xmpp_edge_connections')) < open, 5000, 'the edge saw the connection go');
    const late = await metric('xmpp_edge_late_deliveries_total');
    const rerouted = await metric('xmpp_edge_rerouted_total');
    // What a router with a stale registry view would send: a delivery to the ended session's id.
    const nc = await connectNats({ servers: p.nats.url });
    try {
      const deliver = (target: string, id: string) => {
        const h = natsHeaders();
        h.set('x-target', target);
        h.set('x-kind', 'message');
        nc.publish(`xmpp.edge.${EDGE_ID}.deliver`, new TextEncoder().encode(`<message xmlns='jabber:client' from='${a.jid}' to='${b.jid}' type='chat' id='${id}'><body>${id}</body></message>`), { headers: h });
      };
      deliver('never-a-session-here', 'nowhere');
      deliver(sid, 'late1');
      await nc.flush();
    } finally {
      await nc.close();
    }
    await eventually(async () => (await metric('xmpp_edge_rerouted_total')) >= rerouted + 1, 10_000, 'routed again');
    assert.equal(await metric('xmpp_edge_late_deliveries_total'), late + 1, 'only the ended session counts');
    const again = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: bName, password: 'pw', resource: 'back' });
    raws.push(again);
    await again.send('<presence/>');
    await again.waitFor(/id=['"]late1['"]/, 10_000);
    assert.equal(/id=['"]nowhere['"]/.test(again.text), false);
  });
});

describe('XEP-0198: an unanswered <r/> ends the stream (SM_ACK_TIMEOUT_SECONDS)', () => {
  let p: Platform;
  const raws: RawClient[] = [];
  before(async () => {
    p = await startPlatform({ mode: 'all-in-one', env: { SM_ACK_TIMEOUT_SECONDS: '2' } });
  });
  after(async () => {
    for (const r of raws) r.destroy();
    await p.stop();
  });

  const login = async (name: string) => {
    const r = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: name, password: 'pw', register: true, resource: 'r' });
    raws.push(r);
    await r.send(`<enable xmlns='${SM}'/>`);
    await r.waitFor(/<enabled /);
    return r;
  };

  it('a client that stops answering is taken for dead and what it held goes to offline storage; one that answers stays', async () => {
    const from = await login(uniqueName('smtfrom'));
    const deadName = uniqueName('smtdead');
    const dead = await login(deadName);
    const alive = await login(uniqueName('smtalive'));
    await from.send(`<message to='${dead.jid}' type='chat' id='d1'><body>are you there?</body></message>`);
    await from.send(`<message to='${alive.jid}' type='chat' id='a1'><body>are you there?</body></message>`);
    await dead.waitFor(/id=['"]d1['"]/);
    await dead.waitFor(/<r xmlns=['"]urn:xmpp:sm:3['"]\/>/);
    await alive.waitFor(/id=['"]a1['"]/);
    await alive.waitFor(/<r xmlns=['"]urn:xmpp:sm:3['"]\/>/);
    await alive.send(`<a xmlns='${SM}' h='1'/>`);
    // The silent one: a stream error, then its message is routed again.
    await dead.waitFor(streamErrorRe('connection-timeout'), 10_000);
    assert.equal(await dead.waitClose(5000), true);
    assert.match(await rawRequest(alive, 'still', ping('still')), /type=['"]result['"]/, 'the one that answered is still served');
    assert.equal(alive.isClosed, false);
    const back = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: deadName, password: 'pw', resource: 'back' });
    raws.push(back);
    await back.send('<presence/>');
    await back.waitFor(/id=['"]d1['"]/, 10_000);
  });
});
