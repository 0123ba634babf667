/**
 * XEP-0280 message carbons over raw streams, on a split deployment (the copies are the router's, the
 * enablement the edge's): received and sent copies to the other resources that enabled carbons, none to
 * those that did not, none of a <private/> message, none after <disable/>; copies of what an external
 * component (XEP-0114) sends; the feature in disco#info.
 */
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform, Platform } from './platform';
import { rawLogin, rawRequest, RawClient, uniqueName } from './helpers';

const DOMAIN = 'localhost';
const CARBONS = 'urn:xmpp:carbons:2';
const GATEWAY = 'gw.localhost';
const GATEWAY_SECRET = 'carbons-gateway-secret';

describe('XEP-0280 message carbons (split deployment)', () => {
  let p: Platform;
  const raws: RawClient[] = [];
  let desk: RawClient;
  let phone: RawClient;
  let plain: RawClient;
  let bob: RawClient;
  before(async () => {
    p = await startPlatform({ mode: 'split', components: { [GATEWAY]: GATEWAY_SECRET } });
    const alice = uniqueName('alice');
    const login = async (username: string, resource: string, register: boolean) => {
      const r = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username, password: 'pw', register, resource });
      raws.push(r);
      return r;
    };
    desk = await login(alice, 'desk', true);
    phone = await login(alice, 'phone', false);
    plain = await login(alice, 'plain', false);
    bob = await login(uniqueName('bob'), 'r', true);
    for (const [r, id] of [[desk, 'cd'], [phone, 'cp']] as const) {
      assert.match(await rawRequest(r, id, `<iq type='set' id='${id}'><enable xmlns='${CARBONS}'/></iq>`), /type=['"]result['"]/);
    }
  });
  after(async () => {
    for (const r of raws) r.destroy();
    await p.stop();
  });

  /** The next carbon copy `r` receives: its direction, its from, and the id of the message inside. */
  const nextCarbon = async (r: RawClient) => {
    const m = await r.waitFor(/<message [^>]*>\s*<(received|sent) xmlns=['"]urn:xmpp:carbons:2['"]>[\s\S]*?<\/\1><\/message>/, 5000);
    const outer = /^<message ([^>]*)>/.exec(m[0])?.[1] ?? '';
    return {
      direction: m[1],
      from: /from=['"]([^'"]+)['"]/.exec(outer)?.[1],
      inner: /<forwarded xmlns=['"]urn:xmpp:forward:0['"]><message [^>]*id=['"]([^'"]+)['"]/.exec(m[0])?.[1],
    };
  };

  it('is announced in the server disco#info', async () => {
    const res = await rawRequest(desk, 'di', `<iq type='get' id='di' to='${DOMAIN}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`);
    assert.match(res, /<feature var=['"]urn:xmpp:carbons:2['"]\/>/);
  });

  it('a message to one resource: the other enabled resource gets a received copy from the bare JID', async () => {
    await bob.send(`<message to='${desk.jid}' type='chat' id='in1'><body>hello desk</body></message>`);
    await desk.waitFor(/id=['"]in1['"]/);
    const c = await nextCarbon(phone);
    assert.deepEqual(c, { direction: 'received', from: desk.jid.split('/')[0], inner: 'in1' });
  });

  it('a message sent from one resource: the other enabled resource gets a sent copy', async () => {
    await desk.send(`<message to='${bob.jid}' type='chat' id='out1'><body>hi bob</body></message>`);
    await bob.waitFor(/id=['"]out1['"]/);
    const c = await nextCarbon(phone);
    assert.deepEqual(c, { direction: 'sent', from: desk.jid.split('/')[0], inner: 'out1' });
  });

  it('a <private/> message is not copied; a resource that never enabled carbons gets nothing', async () => {
    await desk.send(`<message to='${bob.jid}' type='chat' id='secret'><body>psst</body><private xmlns='${CARBONS}'/></message>`);
    await bob.waitFor(/id=['"]secret['"]/);
    await desk.send(`<message to='${bob.jid}' type='chat' id='out2'><body>again</body></message>`);
    await bob.waitFor(/id=['"]out2['"]/);
    assert.equal((await nextCarbon(phone)).inner, 'out2', 'the next copy is the one after the private message');
    assert.equal(/urn:xmpp:carbons:2['"]>/.test(plain.text), false);
  });

  it('after <disable/> a resource gets no more copies', async () => {
    assert.match(await rawRequest(phone, 'off', `<iq type='set' id='off'><disable xmlns='${CARBONS}'/></iq>`), /type=['"]result['"]/);
    await bob.send(`<message to='${desk.jid}' type='chat' id='in2'><body>still there?</body></message>`);
    await desk.waitFor(/id=['"]in2['"]/);
    // Something addressed to the phone itself comes after: by then a copy would have come first.
    await bob.send(`<message to='${phone.jid}' type='chat' id='direct'><body>phone</body></message>`);
    await phone.waitFor(/id=['"]direct['"]/);
    assert.equal(/id=['"]in2['"]/.test(phone.text), false);
  });

  it('a message from an external component (XEP-0114) is copied to the other enabled resources too', async () => {
    // The phone turned carbons off above: on again.
    assert.match(await rawRequest(phone, 'on', `<iq type='set' id='on'><enable xmlns='${CARBONS}'/></iq>`), /type=['"]result['"]/);
    // A raw component stream: header, handshake (XEP-0114 §3), then a chat message for the desk.
    const gw = await RawClient.connect(p.edges[0].component);
    raws.push(gw);
    await gw.send(`<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='${GATEWAY}'>`);
    const id = (await gw.waitFor(/<stream:stream [^>]*id=['"]([^'"]+)['"]/))[1];
    await gw.send(`<handshake>${createHash('sha1').update(id + GATEWAY_SECRET).digest('hex')}</handshake>`);
    await gw.waitFor(/<handshake\s*\/>/);
    await gw.send(`<message from='legacy-user@${GATEWAY}' to='${desk.jid}' type='chat' id='gw1'><body>from the bridge</body></message>`);
    await desk.waitFor(/id=['"]gw1['"]/);
    const c = await nextCarbon(phone);
    assert.deepEqual(c, { direction: 'received', from: desk.jid.split('/')[0], inner: 'gw1' });
  });

  it('an iq for carbons that is not a set with <enable/> or <disable/> gets bad-request', async () => {
    const res = await rawRequest(desk, 'bad', `<iq type='set' id='bad'><toggle xmlns='${CARBONS}'/></iq>`);
    assert.match(res, /type=['"]error['"]/);
    assert.match(res, /<bad-request /);
  });
});
