/**
 * RFC 6120 §4.9 stream errors on hostile or broken input, with raw sockets: every case gets its defined
 * condition, the stream header first when none was sent yet (§4.9.1.1), then </stream:stream> and a
 * closed connection; and after every case a normal client still logs in (the process stays up).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startPlatform, Platform } from './platform';
import {
  fetchMetrics,
  metricValue,
  NS_SASL,
  RawClient,
  rawLogin,
  rawOpen,
  registerAndLogin,
  login,
  stopAllSessions,
  streamErrorRe,
  streamHeader,
  uniqueName,
} from './helpers';

const DOMAIN = 'localhost';

describe('RFC 6120 stream errors on bad input', () => {
  let p: Platform;
  const probe = { username: uniqueName('probe'), password: 'probe-pass' };
  const raws: RawClient[] = [];
  let metricsBefore = '';

  const plain = async () => {
    const r = await RawClient.connect(p.edges[0].c2s);
    raws.push(r);
    return r;
  };
  const direct = async () => {
    const r = await RawClient.connect(p.edges[0].c2sTls, { tls: true, servername: DOMAIN });
    raws.push(r);
    return r;
  };

  /** The condition arrives inside a stream (header before it), then the close tag, then the socket closes. */
  async function expectStreamError(r: RawClient, condition: string, timeoutMs = 5000): Promise<void> {
    await r.waitFor(streamErrorRe(condition), timeoutMs);
    const at = r.text.search(streamErrorRe(condition));
    assert.ok(r.text.slice(0, at).includes('<stream:stream'), `stream header must precede the error (RFC 6120 §4.9.1.1): ${r.text.slice(0, 500)}`);
    await r.waitFor(/<\/stream:stream>/, timeoutMs);
    assert.equal(await r.waitClose(5000), true, `connection not closed after <${condition}/>`);
  }

  /** A fresh, normal client still logs in: the server survived the previous case. */
  async function assertServiceUp(): Promise<void> {
    assert.equal(p.procs[0].child.exitCode, null, `server exited:\n${p.procs[0].output().slice(-3000)}`);
    const s = await login({ service: `xmpp://127.0.0.1:${p.edges[0].c2s}`, domain: DOMAIN, resource: 'up', ...probe });
    assert.equal(s.jid, `${probe.username}@${DOMAIN}/up`);
    await s.stop();
  }

  const badCase = (name: string, fn: () => Promise<void>) =>
    it(name, async () => {
      await fn();
      await assertServiceUp();
    });

  before(async () => {
    p = await startPlatform({ mode: 'all-in-one', env: { AUTH_TIMEOUT_SECONDS: '2', MAX_STANZA_BYTES: '10000', IDLE_TIMEOUT_SECONDS: '2' } });
    const s = await registerAndLogin({ service: `xmpp://127.0.0.1:${p.edges[0].c2s}`, domain: DOMAIN, ...probe });
    await s.stop();
    metricsBefore = await fetchMetrics(p.edges[0].metrics);
  });

  after(async () => {
    for (const r of raws) r.destroy();
    await stopAllSessions();
    await p?.stop();
  });

  badCase('mismatched end tag -> not-well-formed', async () => {
    const r = await plain();
    await r.send(`${streamHeader(DOMAIN)}<foo></bar>`);
    await expectStreamError(r, 'not-well-formed');
  });

  badCase("default namespace jabber:server on a client stream -> invalid-namespace", async () => {
    const r = await plain();
    await r.send(streamHeader(DOMAIN, { xmlns: 'jabber:server' }));
    await expectStreamError(r, 'invalid-namespace');
  });

  badCase('stream element in the wrong namespace -> invalid-namespace', async () => {
    const r = await plain();
    await r.send(streamHeader(DOMAIN, { streamNs: 'http://example.com/not-streams' }));
    await expectStreamError(r, 'invalid-namespace');
  });

  badCase('stream prefix never declared -> bad-namespace-prefix (§4.9.3.2)', async () => {
    const r = await plain();
    await r.send(`<?xml version='1.0'?><stream:stream to='${DOMAIN}' version='1.0' xmlns='jabber:client'>`);
    await expectStreamError(r, 'bad-namespace-prefix');
  });

  it('streams namespace on another prefix is the same stream (Namespaces in XML) -> features, no error', async () => {
    const r = await plain();
    await r.send(`<?xml version='1.0'?><s:stream to='${DOMAIN}' version='1.0' xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'>`);
    await r.waitFor(/<stream:features[^>]*>/);
    assert.doesNotMatch(r.text, /<stream:error>/);
  });

  badCase('to a domain not served here -> host-unknown', async () => {
    const r = await plain();
    await r.send(streamHeader('nowhere.invalid'));
    await expectStreamError(r, 'host-unknown');
    // The header the server sent carries a domain it serves, never the unknown one.
    assert.doesNotMatch(r.text, /from=["']nowhere\.invalid["']/);
  });

  badCase("version='2.0' -> unsupported-version (§4.7.5)", async () => {
    const r = await plain();
    await r.send(streamHeader(DOMAIN, { version: '2.0' }));
    await expectStreamError(r, 'unsupported-version');
  });

  badCase('no version (a pre-1.0 client) -> a header without version, then unsupported-version (§4.7.5)', async () => {
    const r = await plain();
    await r.send(streamHeader(DOMAIN, { version: null }));
    await expectStreamError(r, 'unsupported-version');
    assert.doesNotMatch(r.text, /<stream:stream [^>]*version=/);
    assert.doesNotMatch(r.text, /<stream:features/);
  });

  badCase('stanza larger than MAX_STANZA_BYTES (direct TLS, before auth) -> policy-violation', async () => {
    const r = await direct();
    await rawOpen(r, DOMAIN);
    await r.send(`<message to='x@${DOMAIN}'><body>${'a'.repeat(20_000)}</body></message>`);
    await expectStreamError(r, 'policy-violation');
  });

  badCase('stanza larger than MAX_STANZA_BYTES after STARTTLS and authentication -> policy-violation', async () => {
    const user = uniqueName('big');
    const r = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: user, password: 'pw', register: true, resource: 'r' });
    raws.push(r);
    await r.send(`<message to='${user}@${DOMAIN}'><body>${'é'.repeat(6000)}</body></message>`); // 12 000 UTF-8 bytes
    await expectStreamError(r, 'policy-violation');
  });

  badCase('silent after the stream header for longer than AUTH_TIMEOUT_SECONDS -> connection-timeout', async () => {
    const r = await direct();
    await rawOpen(r, DOMAIN);
    const t0 = Date.now();
    await expectStreamError(r, 'connection-timeout', 6000);
    assert.ok(Date.now() - t0 >= 500, 'closed too early');
  });

  badCase('an authenticated stream kept alive by whitespace (§4.6.1) survives IDLE_TIMEOUT_SECONDS, then silence -> connection-timeout', async () => {
    const r = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: uniqueName('idle'), password: 'pw', register: true, resource: 'r' });
    raws.push(r);
    for (let i = 0; i < 7; i++) {
      await new Promise((res) => setTimeout(res, 500));
      await r.send(' ');
    }
    // 3.5 s alive with keepalives only (idle timeout 2 s).
    assert.equal(r.isClosed, false, 'closed despite whitespace keepalives');
    assert.doesNotMatch(r.text, /<stream:error/);
    const t0 = Date.now();
    await expectStreamError(r, 'connection-timeout', 6000);
    assert.ok(Date.now() - t0 >= 1000, 'closed before the idle timeout');
  });

  badCase('unknown top-level element after bind -> unsupported-stanza-type', async () => {
    const r = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: uniqueName('ust'), password: 'pw', register: true, resource: 'r' });
    raws.push(r);
    await r.send(`<foo xmlns='jabber:client'/>`);
    await expectStreamError(r, 'unsupported-stanza-type');
  });

  badCase("a stanza with a namespace prefix (<c:message xmlns:c='jabber:client'>) -> bad-namespace-prefix (RFC 6120 §4.8)", async () => {
    const r = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: uniqueName('pfx'), password: 'pw', register: true, resource: 'r' });
    raws.push(r);
    await r.send(`<c:message xmlns:c='jabber:client' to='${DOMAIN}'><c:body>hi</c:body></c:message>`);
    await expectStreamError(r, 'bad-namespace-prefix');
  });

  it('a <stream:error/> from the client (RFC 6120 §4.9.1.1) is answered by closing the stream, without an error of ours', async () => {
    const r = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: uniqueName('cerr'), password: 'pw', register: true, resource: 'r' });
    raws.push(r);
    await r.send(`<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`);
    await r.waitFor(/<\/stream:stream>/);
    assert.doesNotMatch(r.text, /<stream:error/);
  });

  badCase('a message type not understood is handled as normal (RFC 6121 §5.2.2), even with a newline (&#10;) in it; a payload namespace with one -> bad-request', async () => {
    const user = uniqueName('mtype');
    const bare = `${user}@${DOMAIN}`;
    const r = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: user, password: 'pw', register: true, resource: 'r' });
    raws.push(r);
    await r.send(`<presence/>`);
    await r.waitFor(/<presence[^>]*>|<presence[^>]*\/>/);
    await new Promise((res) => setTimeout(res, 300));
    // To the bare JID: delivered to the available resource like a normal message, not dropped.
    await r.send(`<message to='${bare}' type='weird' id='w1'><body>one</body></message>`);
    await r.waitFor(/<message[^>]*id=["']w1["'][\s\S]*?<\/message>/);
    await r.send(`<message to='${bare}' type='a&#10;b' id='w2'><body>two</body></message>`);
    await r.waitFor(/<message[^>]*id=["']w2["'][\s\S]*?<\/message>/);
    await r.send(`<iq type='get' id='n1' to='${DOMAIN}'><q xmlns='urn:example:a&#13;&#10;b'/></iq>`);
    const m = await r.waitFor(/<iq[^>]*id=["']n1["'][\s\S]*?<\/iq>/);
    assert.match(m[0], /type=["']error["'][\s\S]*<bad-request /);
    assert.doesNotMatch(r.text, /<stream:error/);
    assert.equal(r.isClosed, false);
  });

  badCase('a stanza before authentication -> not-authorized (§6.4.1: no stanzas before SASL)', async () => {
    const r = await direct();
    await rawOpen(r, DOMAIN);
    await r.send(`<message to='${probe.username}@${DOMAIN}'><body>sneaky</body></message>`);
    await expectStreamError(r, 'not-authorized');
  });

  badCase('XML comment -> restricted-xml (§11.1)', async () => {
    const r = await plain();
    await r.send(`${streamHeader(DOMAIN)}<!-- a comment -->`);
    await expectStreamError(r, 'restricted-xml');
  });

  badCase('processing instruction -> restricted-xml (§11.1)', async () => {
    const r = await plain();
    await r.send(`${streamHeader(DOMAIN)}<?evil data?>`);
    await expectStreamError(r, 'restricted-xml');
  });

  badCase('billion laughs: DOCTYPE with entity declarations -> restricted-xml, nothing expanded', async () => {
    const r = await plain();
    const dtd =
      `<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol "lol">` +
      Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`).join('') +
      `]>`;
    await r.send(`${dtd}${streamHeader(DOMAIN, { decl: false })}<message><body>&lol9;</body></message>`);
    await expectStreamError(r, 'restricted-xml');
    assert.doesNotMatch(r.text, /lollollol/);
  });

  badCase('undeclared entity reference in a stanza -> not-well-formed', async () => {
    const r = await direct();
    await rawOpen(r, DOMAIN);
    await r.send(`<message><body>&lol;</body></message>`);
    await expectStreamError(r, 'not-well-formed');
  });

  badCase('nesting deeper than MAX_XML_DEPTH -> policy-violation', async () => {
    const r = await direct();
    await rawOpen(r, DOMAIN);
    await r.send(`<message>${'<a>'.repeat(100)}`);
    await expectStreamError(r, 'policy-violation');
  });

  badCase('more attributes than MAX_XML_ATTRIBUTES -> policy-violation', async () => {
    const r = await direct();
    await rawOpen(r, DOMAIN);
    const attrs = Array.from({ length: 80 }, (_, i) => `a${i}='${i}'`).join(' ');
    await r.send(`<message ${attrs}/>`);
    await expectStreamError(r, 'policy-violation');
  });

  badCase('invalid UTF-8 bytes -> not-well-formed', async () => {
    const r = await direct();
    await rawOpen(r, DOMAIN);
    await r.send(Buffer.concat([Buffer.from('<message><body>'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('</body></message>')]));
    await expectStreamError(r, 'not-well-formed');
  });

  badCase('5 MB of random bytes after the header: connection closed, process up', async () => {
    const r = await plain();
    await r.send(streamHeader(DOMAIN));
    await r.waitFor(/<\/stream:features>/);
    void r.send(randomBytes(5 * 1024 * 1024));
    await r.waitFor(/<stream:error>/, 5000);
    assert.equal(await r.waitClose(5000), true, 'connection still open after 5 MB of garbage');
  });

  badCase('5 MB inside one open element (TLS): policy-violation long before the end, process up', async () => {
    const r = await direct();
    await rawOpen(r, DOMAIN);
    void r.send(`<message><body>${'x'.repeat(5 * 1024 * 1024)}`);
    await expectStreamError(r, 'policy-violation');
  });

  it('the process never exited and /metrics counts the stream errors by condition', async () => {
    assert.equal(p.procs[0].child.exitCode, null);
    const now = await fetchMetrics(p.edges[0].metrics);
    const delta = (condition: string) =>
      metricValue(now, 'xmpp_edge_stream_errors_total', { condition }) - metricValue(metricsBefore, 'xmpp_edge_stream_errors_total', { condition });
    assert.ok(delta('not-well-formed') >= 3, `not-well-formed: ${delta('not-well-formed')}`);
    assert.ok(delta('invalid-namespace') >= 2, `invalid-namespace: ${delta('invalid-namespace')}`);
    assert.ok(delta('host-unknown') >= 1);
    assert.ok(delta('policy-violation') >= 5, `policy-violation: ${delta('policy-violation')}`);
    assert.ok(delta('connection-timeout') >= 1);
    assert.ok(delta('unsupported-stanza-type') >= 1);
    assert.ok(delta('restricted-xml') >= 3, `restricted-xml: ${delta('restricted-xml')}`);
    assert.ok(delta('not-authorized') >= 1);
    assert.ok(delta('unsupported-version') >= 1);
    assert.ok(delta('bad-namespace-prefix') >= 1);
  });

  it('SASL: <auth/> with a mechanism not offered -> <invalid-mechanism/> failure, stream stays usable', async () => {
    const r = await direct();
    await rawOpen(r, DOMAIN);
    await r.send(`<auth xmlns='${NS_SASL}' mechanism='X-NOPE'>=</auth>`);
    await r.waitFor(/<failure[^>]*>\s*<invalid-mechanism\/>/);
    await r.send(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>!!!not base64!!!</auth>`);
    await r.waitFor(/<failure[^>]*>\s*<incorrect-encoding\/>/);
    assert.equal(r.isClosed, false);
  });

  it('SASL: base64 without its padding or with stray bits (RFC 4648 §4) -> <incorrect-encoding/>, never decoded leniently', async () => {
    const r = await direct();
    await rawOpen(r, DOMAIN);
    // "\0u\0p" is AHUAcA== : without padding Buffer.from would decode it anyway.
    for (const bad of ['AHUAcA', 'AAA', 'A===', 'AHUAcA=']) {
      await r.send(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${bad}</auth>`);
      const m = await r.waitFor(/<failure[^>]*>\s*<([a-z-]+)\/>/);
      assert.equal(m[1], 'incorrect-encoding', `for ${bad}`);
    }
    assert.equal(r.isClosed, false);
  });

  it("SASL: '=' is an empty initial response (PLAIN: <malformed-request/>), no data asks for a challenge (RFC 6120 §6.4.2)", async () => {
    const r = await direct();
    await rawOpen(r, DOMAIN);
    await r.send(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>=</auth>`);
    const m = await r.waitFor(/<failure[^>]*>\s*<([a-z-]+)\/>/);
    assert.equal(m[1], 'malformed-request');
    await r.send(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'/>`);
    await r.waitFor(/<challenge[^>]*(\/>|>=?<\/challenge>)/);
    await r.send(`<response xmlns='${NS_SASL}'>${Buffer.from(`\0${probe.username}\0${probe.password}`).toString('base64')}</response>`);
    await r.waitFor(/<success[^>]*(\/>|>)/);
  });

  it('SASL: exchanges started and abandoned over and over count as failed ones -> policy-violation at AUTH_MAX_FAILURES (5)', async () => {
    const r = await direct();
    await rawOpen(r, DOMAIN);
    const first = Buffer.from(`n,,n=${probe.username},r=abandoned-nonce-0123`).toString('base64');
    const auth = `<auth xmlns='${NS_SASL}' mechanism='SCRAM-SHA-1'>${first}</auth>`;
    // Each exchange gets as far as the account lookup (a challenge), then is given up: by a new <auth/>
    // once, then by <abort/>.
    await r.send(auth);
    await r.waitFor(/<challenge[^>]*>/);
    await r.send(auth);
    await r.waitFor(/<challenge[^>]*>/);
    for (let i = 2; i <= 4; i++) {
      await r.send(`<abort xmlns='${NS_SASL}'/>`);
      await r.waitFor(/<failure[^>]*>\s*<aborted\/>/);
      assert.equal(r.isClosed, false, `closed after ${i - 1} failed exchanges`);
      await r.send(auth);
      await r.waitFor(/<challenge[^>]*>/);
    }
    await r.send(`<abort xmlns='${NS_SASL}'/>`);
    await expectStreamError(r, 'policy-violation');
    await assertServiceUp();
  });

  it('XEP-0077 before authentication: IQ responses get no answer (§8.2.3), requests without id or with two payloads -> bad-request', async () => {
    const r = await direct();
    await rawOpen(r, DOMAIN);
    await r.send(
      `<iq type='result' id='res1'><query xmlns='jabber:iq:register'/></iq>` +
        `<iq type='error' id='err1'><query xmlns='jabber:iq:register'/></iq>` +
        `<iq type='get' id='two'><query xmlns='jabber:iq:register'/><x xmlns='urn:example:x'/></iq>` +
        `<iq type='get'><query xmlns='jabber:iq:register'/></iq>` +
        `<iq type='get' id='last'><query xmlns='jabber:iq:register'/></iq>`,
    );
    // Answers come in order: once 'last' is answered, every earlier one has been.
    await r.waitFor(/<iq[^>]*id=["']last["'][^>]*>/);
    assert.doesNotMatch(r.text, /id=["'](res1|err1)["']/, 'an IQ response was answered');
    const two = /<iq[^>]*id=["']two["'][\s\S]*?<\/iq>/.exec(r.text)?.[0] ?? '';
    assert.match(two, /type=["']error["']/);
    assert.match(two, /<bad-request /);
    const noId = /<iq(?![^>]*\sid=)[^>]*>[\s\S]*?<\/iq>/.exec(r.text)?.[0] ?? '';
    assert.match(noId, /type=["']error["'][\s\S]*<bad-request /, `iq without id: ${r.text.slice(-800)}`);
    assert.equal(r.isClosed, false);
  });

  it('XEP-0077 before authentication: addressed to the stream domain it is served, addressed elsewhere -> service-unavailable', async () => {
    const r = await direct();
    await rawOpen(r, DOMAIN);
    await r.send(
      `<iq type='get' id='elsewhere' to='other.example'><query xmlns='jabber:iq:register'/></iq>` +
        `<iq type='get' id='user' to='someone@${DOMAIN}'><query xmlns='jabber:iq:register'/></iq>` +
        `<iq type='get' id='here' to='${DOMAIN.toUpperCase()}'><query xmlns='jabber:iq:register'/></iq>`,
    );
    const here = (await r.waitFor(/<iq[^>]*id=["']here["'][\s\S]*?<\/iq>/))[0];
    assert.match(here, /type=["']result["'][\s\S]*<query xmlns=["']jabber:iq:register["']/);
    for (const id of ['elsewhere', 'user']) {
      const m = new RegExp(`<iq[^>]*id=["']${id}["'][\\s\\S]*?<\\/iq>`).exec(r.text)?.[0] ?? '';
      assert.match(m, /type=["']error["'][\s\S]*<service-unavailable /, `${id}: ${m}`);
    }
  });
});
