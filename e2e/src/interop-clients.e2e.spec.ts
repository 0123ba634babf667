/**
 * Interoperability with third-party XMPP client libraries other than xmpp.js. From Debian's packages:
 * slixmpp (python3-slixmpp), aioxmpp (python3-aioxmpp, strict about features and XEP-0198 acks) and
 * nbxmpp (python3-nbxmpp, Gajim's library, over TCP and WebSocket), libstrophe (libstrophe-dev, the C
 * library under Profanity, compiled here with cc), sendxmpp (Perl's Net::XMPP) and go-sendxmpp (Go's
 * go-xmpp), over TCP. Each Python library runs a scenario script from `e2e/interop/`,
 * printing one JSON line per observation; the assertions are here. From npm, over WebSocket (RFC 7395):
 * Strophe.js (the library under Converse.js) and StanzaJS, which reads each WebSocket message as its own
 * XML document and so ignores a stanza that does not declare jabber:client. All run against a split
 * deployment with two edges and three routers: each library's two accounts on different edges, plus an
 * @xmpp/client session that answers them.
 *
 * RFC 6120 (STARTTLS, SASL, bind), RFC 6121 (chat, subscriptions, presence), XEP-0030, XEP-0054,
 * XEP-0049, XEP-0092, XEP-0191, XEP-0198, XEP-0199, XEP-0202, XEP-0280; XEP-0368 for libstrophe and
 * go-sendxmpp.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform, Platform } from './platform';
import { login, rawRegister, Session, uniqueName, waitForStanza, xml, XEl } from './helpers';

// Strophe.js and StanzaJS ship their own types, which pull in other @types/node versions; the tests use
// them untyped, like @xmpp/client.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Strophe, $msg, $pres, $iq } = require('strophe.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const StanzaJS = require('stanza');
// Strophe.js logs its progress to the console, and as an error its WebSocket's late close frame after the
// server has closed (ERR_STREAM_WRITE_AFTER_END); the test's own output is what counts.
Strophe.setLogLevel(Strophe.LogLevel.FATAL);
type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const DOMAIN = 'localhost';
const PASSWORD = 'interop-password';
const PYTHON = '/usr/bin/python3'; // Debian's, where python3-slixmpp and python3-aioxmpp install
const GO_SENDXMPP = '/usr/bin/go-sendxmpp';
const SENDXMPP = '/usr/bin/sendxmpp';
const SCRIPTS = join(__dirname, '..', 'interop');

type Check = Record<string, unknown> & { check: string };

interface Run {
  code: number | null;
  checks: Map<string, Check>;
  stderr: string;
}

function runTool(cmd: string, args: string[], input: string | null, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (!existsSync(cmd)) throw new Error(`${cmd} is missing: npm test installs it from Debian's apt (see scripts/quickstart.js)`);
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: SCRIPTS, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? undefined);
  });
}

async function runScenario(script: string, args: string[]): Promise<Run> {
  const r = await runTool(PYTHON, [join(SCRIPTS, script), ...args], null, 90_000);
  const checks = new Map<string, Check>();
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const c = JSON.parse(line) as Check;
    checks.set(c.check, c);
  }
  return { code: r.code, checks, stderr: r.stderr };
}

/** The observation `name` of a run; fails with what the script said when it is missing. */
function check(run: Run, name: string): Check {
  const c = run.checks.get(name);
  assert.ok(c, `no '${name}' line; exit ${run.code}; error: ${JSON.stringify(run.checks.get('error'))}; stderr: ${run.stderr.slice(-2000)}`);
  return c;
}

const SERVER_FEATURES = [
  'http://jabber.org/protocol/disco#info',
  'http://jabber.org/protocol/disco#items',
  'jabber:iq:version',
  'urn:xmpp:blocking',
  'urn:xmpp:carbons:2',
  'urn:xmpp:ping',
  'urn:xmpp:time',
  'vcard-temp',
];

describe('third-party client libraries (split deployment, two edges, three routers)', () => {
  let p: Platform;
  let peer: Session;
  const pings: Array<{ from: string; body: string }> = [];

  before(async () => {
    p = await startPlatform({ mode: 'split', edges: 2, routers: 3 });
    const peerName = uniqueName('peer');
    peer = await login({ service: `xmpp://127.0.0.1:${p.edges[0].c2s}`, domain: DOMAIN, username: peerName, password: PASSWORD, register: true, resource: 'xmppjs' });
    // The other libraries' sessions send "ping-<library>"; the answer goes back to the full JID.
    peer.c.on('stanza', (s: XEl) => {
      const body = s.is('message') ? s.getChildText('body') : null;
      if (body === null) return;
      pings.push({ from: s.attrs.from, body });
      if (body.startsWith('ping-')) void peer.send(xml('message', { to: s.attrs.from, type: 'chat' }, xml('body', {}, `pong-${body.slice(5)}`)));
    });
    await peer.send(xml('presence'));
  });
  after(async () => {
    await peer?.stop();
    await p?.stop();
  });

  /** Two fresh accounts, the first to log in on edge 0 and the second on edge 1 (STARTTLS ports). */
  async function accounts(prefix: string): Promise<{ u1: string; u2: string; args: string[] }> {
    const u1 = uniqueName(`${prefix}1`);
    const u2 = uniqueName(`${prefix}2`);
    for (const [u, edge] of [[u1, 0], [u2, 1]] as const) {
      const { reply } = await rawRegister(p.edges[edge].c2sTls, { domain: DOMAIN, username: u, password: PASSWORD });
      assert.match(reply, /type=['"]result['"]/, `registering ${u}`);
    }
    const args = ['--domain', DOMAIN, '--user1', `${u1}@${p.edges[0].c2s}`, '--user2', `${u2}@${p.edges[1].c2s}`, '--password', PASSWORD, '--peer', peer.bare];
    return { u1, u2, args };
  }

  /** What both Python scenarios must observe; `lib` names the library in its ping. */
  function assertCommon(run: Run, lib: string, u1: string, u2: string): void {
    const bound = check(run, 'bound');
    assert.match(String(bound.a), new RegExp(`^${u1}@${DOMAIN}/`));
    assert.match(String(bound.b), new RegExp(`^${u2}@${DOMAIN}/`));
    assert.equal(bound.sm, true, 'XEP-0198 enabled');
    const info = check(run, 'disco-info');
    for (const f of SERVER_FEATURES) assert.ok((info.features as string[]).includes(f), `server feature ${f}`);
    assert.deepEqual(info.identities, [['server', 'im']]);
    assert.equal(check(run, 'ping').ok, true);
    assert.equal(check(run, 'version').name, 'kxmpp');
    const reply = check(run, 'peer-reply');
    assert.equal(reply.body, `pong-${lib}`);
    assert.equal(reply.frm, peer.jid);
    assert.ok(pings.some((m) => m.body === `ping-${lib}` && m.from === String(bound.a)), 'the xmpp.js session saw the ping from the full JID');
    assert.deepEqual(check(run, 'a-to-b').bodies, Array.from({ length: 20 }, (_, i) => `a-to-b-${i}`), 'all 20, in order, across edges');
    assert.equal(check(run, 'b-to-a').frm, bound.b);
    const sub = check(run, 'subscription');
    assert.equal(sub.a, 'both');
    assert.equal(sub.b, 'both');
    assert.deepEqual(check(run, 'blocklist').items, [`spammer@${DOMAIN}`]);
    assert.equal(check(run, 'carbons').enabled, true);
    assert.equal(check(run, 'unknown-account').condition, 'service-unavailable');
    check(run, 'done');
    assert.equal(run.code, 0, run.stderr.slice(-2000));
  }

  it('slixmpp: login, disco, ping, version, time, chat across edges, subscriptions, blocking, vCard, carbons', async () => {
    const { u1, u2, args } = await accounts('slix');
    const run = await runScenario('slixmpp_client.py', args);
    assertCommon(run, 'slixmpp', u1, u2);
    assert.equal(check(run, 'bound').mechanism, 'SCRAM-SHA-256', 'the strongest mechanism offered');
    const time = check(run, 'time');
    assert.match(String(time.utc), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(time.tzo, '+00:00');
    assert.deepEqual(check(run, 'subscription').a_sees, ['slix-b'], 'presence of the approved contact');
    assert.equal(check(run, 'vcard').fn, 'Slixmpp Tester');
  });

  it('aioxmpp: the same, with its strict XEP-0198 acks, plus account disco and private XML storage', async () => {
    const { u1, u2, args } = await accounts('aio');
    const run = await runScenario('aioxmpp_client.py', args);
    assertCommon(run, 'aioxmpp', u1, u2);
    assert.deepEqual(check(run, 'disco-account').identities, [['account', 'registered']]);
    assert.equal(check(run, 'subscription').a_sees, `${u2}@${DOMAIN}/aio-b`);
    assert.equal(check(run, 'vcard').fn, 'Aioxmpp Tester');
    assert.equal(check(run, 'private').text, 'kept');
  });

  it('nbxmpp (Gajim): one account over STARTTLS and one over WebSocket; disco, ping, version, time, chat, blocking', async () => {
    const u1 = uniqueName('nb1');
    const u2 = uniqueName('nb2');
    for (const u of [u1, u2]) assert.match((await rawRegister(p.edges[0].c2sTls, { domain: DOMAIN, username: u, password: PASSWORD })).reply, /type=['"]result['"]/);
    const ws = `ws://127.0.0.1:${p.edges[1].http}/xmpp-websocket`;
    const run = await runScenario('nbxmpp_client.py', ['--domain', DOMAIN, '--user1', `${u1}@${p.edges[0].c2s}`, '--user2', `${u2}@${ws}`, '--password', PASSWORD, '--peer', peer.bare]);
    const bound = check(run, 'bound');
    assert.equal(bound.a, `${u1}@${DOMAIN}/gajim`);
    assert.equal(bound.b, `${u2}@${DOMAIN}/gajim`);
    assert.equal(bound.sm, true, 'XEP-0198 offered over TCP');
    assert.equal(bound.b_sm, true, 'and over WebSocket');
    const info = check(run, 'disco-info');
    for (const f of SERVER_FEATURES) assert.ok((info.features as string[]).includes(f), `server feature ${f}`);
    assert.equal(check(run, 'ping').ok, true);
    assert.equal(check(run, 'version').name, 'kxmpp');
    assert.match(String(check(run, 'time').value), /\b20\d\d\b.*UTC/);
    assert.equal(check(run, 'peer-reply').body, 'pong-nbxmpp');
    assert.deepEqual(check(run, 'a-to-b').bodies, Array.from({ length: 20 }, (_, i) => `a-to-b-${i}`), 'TCP to WebSocket, across edges, in order');
    assert.equal(check(run, 'b-to-a').frm, bound.b);
    assert.deepEqual(check(run, 'blocklist').items, [`spammer@${DOMAIN}`]);
    check(run, 'done');
    assert.equal(run.code, 0, run.stderr.slice(-2000));
  });

  it("sendxmpp (Perl's Net::XMPP): a message sent just before it closes the stream is delivered", async () => {
    const user = uniqueName('sendxmpp');
    assert.match((await rawRegister(p.edges[1].c2sTls, { domain: DOMAIN, username: user, password: PASSWORD })).reply, /type=['"]result['"]/);
    for (let i = 1; i <= 3; i++) {
      const text = `sendxmpp ${i}`;
      const got = waitForStanza(peer, (s) => s.is('message') && (s.getChildText('body') ?? '').trim() === text, 15_000, `sendxmpp message ${i}`);
      got.catch(() => undefined); // awaited below, once sendxmpp has run
      // -t: STARTTLS; -n: accept the self-signed certificate; -j names the server and the account's
      // domain at once. It writes the message and </stream:stream> together, then closes.
      const r = await runTool(SENDXMPP, ['-t', '-n', '-u', user, '-p', PASSWORD, '-j', `${DOMAIN}:${p.edges[1].c2s}`, '-r', 'perl', peer.bare], `${text}\n`, 30_000);
      assert.equal(r.code, 0, `sendxmpp: ${r.stdout}${r.stderr}`);
      assert.equal((await got).attrs.from, `${user}@${DOMAIN}/perl`);
    }
  });

  it('libstrophe (Profanity), compiled here: STARTTLS and direct TLS; presence, ping, roster, chat with xmpp.js', async () => {
    const bin = join(mkdtempSync(join(tmpdir(), 'kxmpp-libstrophe-')), 'libstrophe_client');
    const cflags = (await runTool('/usr/bin/pkg-config', ['--cflags', '--libs', 'libstrophe'], null, 10_000)).stdout.trim().split(/\s+/);
    const cc = await runTool('/usr/bin/cc', ['-Wall', '-o', bin, join(SCRIPTS, 'libstrophe_client.c'), ...cflags], null, 60_000);
    assert.equal(cc.code, 0, `cc: ${cc.stderr}`);
    const user = uniqueName('strophec');
    assert.match((await rawRegister(p.edges[0].c2sTls, { domain: DOMAIN, username: user, password: PASSWORD })).reply, /type=['"]result['"]/);
    for (const [mode, port, resource] of [['starttls', p.edges[0].c2s, 'profanity'], ['direct', p.edges[1].c2sTls, 'profanity-tls']] as const) {
      const r = await runTool(bin, ['127.0.0.1', String(port), `${user}@${DOMAIN}/${resource}`, PASSWORD, peer.bare, mode], null, 30_000);
      const lines = new Map(r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => {
        const c = JSON.parse(l) as Check;
        return [c.check, c] as const;
      }));
      const run: Run = { code: r.code, checks: lines, stderr: r.stderr };
      assert.equal(check(run, 'bound').jid, `${user}@${DOMAIN}/${resource}`, mode);
      assert.equal(check(run, 'tls').secured, 'yes');
      assert.equal(check(run, 'ping').type, 'result');
      assert.equal(check(run, 'roster').type, 'result');
      assert.equal(check(run, 'peer-reply').frm, peer.jid);
      check(run, 'done');
      assert.equal(r.code, 0, `${mode}: ${r.stdout}${r.stderr}`);
      assert.ok(pings.some((m) => m.body === 'ping-libstrophe' && m.from === `${user}@${DOMAIN}/${resource}`));
    }
  });

  it('go-sendxmpp: sends over STARTTLS and over direct TLS (XEP-0368)', async () => {
    const user = uniqueName('gosend');
    const { reply } = await rawRegister(p.edges[1].c2sTls, { domain: DOMAIN, username: user, password: PASSWORD });
    assert.match(reply, /type=['"]result['"]/);
    const via = [
      { how: 'STARTTLS', args: ['-j', `127.0.0.1:${p.edges[1].c2s}`] },
      { how: 'direct TLS', args: ['-t', '-j', `127.0.0.1:${p.edges[1].c2sTls}`] },
    ];
    for (const { how, args } of via) {
      const text = `go-sendxmpp over ${how}`;
      const got = waitForStanza(peer, (s) => s.is('message') && s.getChildText('body') === text, 15_000, `the message sent over ${how}`);
      got.catch(() => undefined); // awaited below, once go-sendxmpp has run
      const r = await runTool(GO_SENDXMPP, ['-n', '-u', `${user}@${DOMAIN}`, '-p', PASSWORD, ...args, peer.bare], `${text}\n`, 30_000);
      assert.equal(r.code, 0, `go-sendxmpp over ${how}: ${r.stdout}${r.stderr}`);
      const m = await got;
      assert.match(String(m.attrs.from), new RegExp(`^${user}@${DOMAIN}/`));
    }
  });

  // ---- WebSocket libraries ------------------------------------------------------------------------

  const wsUrl = (edge: number) => `ws://127.0.0.1:${p.edges[edge].http}/xmpp-websocket`;

  /** Register `n` accounts (on edge 0's direct-TLS port); their localparts. */
  async function registered(prefix: string, n: number): Promise<string[]> {
    const names = Array.from({ length: n }, (_, i) => uniqueName(`${prefix}${i + 1}`));
    for (const u of names) {
      const { reply } = await rawRegister(p.edges[0].c2sTls, { domain: DOMAIN, username: u, password: PASSWORD });
      assert.match(reply, /type=['"]result['"]/, `registering ${u}`);
    }
    return names;
  }

  /** Resolves with the first value `on` hands over, or rejects after `ms`. */
  function first<T>(ms: number, what: string, on: (done: (v: T) => void) => void): Promise<T> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      on((v) => {
        clearTimeout(t);
        resolve(v);
      });
    });
  }

  it('Strophe.js over WebSocket: login on each edge, chat both ways and with xmpp.js, ping, roster, disco, clean close', async () => {
    const [u1, u2] = await registered('strophe', 2);
    const statuses: Record<string, string[]> = {};
    const connect = (user: string, edge: number): Promise<Any> =>
      first(10_000, `${user} to connect`, (done) => {
        const c = new Strophe.Connection(wsUrl(edge));
        statuses[user] = [];
        c.connect(`${user}@${DOMAIN}/web`, PASSWORD, (status: number) => {
          const name = Object.keys(Strophe.Status).find((k) => Strophe.Status[k] === status) ?? String(status);
          statuses[user].push(name);
          if (status === Strophe.Status.CONNECTED) done(c);
          if (status === Strophe.Status.AUTHFAIL || status === Strophe.Status.CONNFAIL) {
            throw new Error(`${user}: ${name}`);
          }
        });
      });
    const a = await connect(u1, 0);
    const b = await connect(u2, 1);
    try {
      assert.equal(a.jid, `${u1}@${DOMAIN}/web`);
      const chats = (c: Any, pred: (body: string) => boolean, what: string) =>
        first<Any>(10_000, what, (done) =>
          c.addHandler((m: Any) => {
            const body = m.getElementsByTagName('body')[0];
            if (body && pred(Strophe.getText(body))) {
              done(m);
              return false;
            }
            return true;
          }, null, 'message', 'chat'),
        );
      const iq = (c: Any, stanza: Any) => new Promise<Any>((resolve, reject) => c.sendIQ(stanza, resolve, reject, 5000));
      a.send($pres());
      b.send($pres());

      const gotAtB = chats(b, (t) => t === 'strophe a-to-b', 'the message at b');
      a.send($msg({ to: `${u2}@${DOMAIN}`, type: 'chat' }).c('body').t('strophe a-to-b'));
      assert.equal((await gotAtB).getAttribute('from'), `${u1}@${DOMAIN}/web`);
      const gotAtA = chats(a, (t) => t === 'strophe b-to-a', 'the message at a');
      b.send($msg({ to: a.jid, type: 'chat' }).c('body').t('strophe b-to-a'));
      assert.equal((await gotAtA).getAttribute('from'), `${u2}@${DOMAIN}/web`);
      const pong = chats(a, (t) => t === 'pong-strophe', 'the xmpp.js answer');
      a.send($msg({ to: peer.bare, type: 'chat' }).c('body').t('ping-strophe'));
      assert.equal((await pong).getAttribute('from'), peer.jid);

      assert.equal((await iq(a, $iq({ type: 'get', to: DOMAIN }).c('ping', { xmlns: 'urn:xmpp:ping' }))).getAttribute('type'), 'result');
      const roster = await iq(a, $iq({ type: 'get' }).c('query', { xmlns: 'jabber:iq:roster' }));
      assert.equal(roster.getElementsByTagName('query')[0]?.getAttribute('xmlns'), 'jabber:iq:roster');
      const info = await iq(a, $iq({ type: 'get', to: DOMAIN }).c('query', { xmlns: 'http://jabber.org/protocol/disco#info' }));
      const features = Array.from(info.getElementsByTagName('feature') as ArrayLike<Any>).map((f) => f.getAttribute('var'));
      for (const f of SERVER_FEATURES) assert.ok(features.includes(f), `server feature ${f}`);
    } finally {
      for (const [c, user] of [[a, u1], [b, u2]] as const) {
        const closed = first(5000, `${user} to disconnect`, (done) => {
          const check = setInterval(() => statuses[user].includes('DISCONNECTED') && (clearInterval(check), done(true)), 20);
        });
        c.disconnect();
        await closed;
      }
    }
  });

  it('StanzaJS over WebSocket: every stanza declares jabber:client; SM, chat, disco, version, time, blocking, vCard, carbons, subscription, errors', async () => {
    const [u1, u2] = await registered('stanzajs', 2);
    const frames: string[] = [];
    const connect = (user: string, edge: number): Promise<Any> => {
      const c = StanzaJS.createClient({
        jid: `${user}@${DOMAIN}`,
        password: PASSWORD,
        resource: 'stanzajs',
        transports: { websocket: wsUrl(edge), bosh: false },
      });
      c.on('raw:incoming', (d: string) => frames.push(d));
      return first(10_000, `${user} to start its session`, (done) => {
        c.on('session:started', () => done(c));
        c.connect();
      });
    };
    const a = await connect(u1, 0);
    const b = await connect(u2, 1);
    try {
      assert.equal(a.jid, `${u1}@${DOMAIN}/stanzajs`);
      assert.equal(a.sm.started, true, 'XEP-0198 enabled');
      await a.getRoster();
      await b.getRoster();
      a.sendPresence();
      b.sendPresence();

      const chat = (c: Any, body: string) => first<Any>(10_000, `"${body}"`, (done) => c.on('chat', (m: Any) => m.body === body && done(m)));
      const atB = chat(b, 'stanzajs a-to-b');
      a.sendMessage({ to: `${u2}@${DOMAIN}`, type: 'chat', body: 'stanzajs a-to-b' });
      assert.equal((await atB).from, a.jid);
      const pong = chat(a, 'pong-stanzajs');
      a.sendMessage({ to: peer.bare, type: 'chat', body: 'ping-stanzajs' });
      assert.equal((await pong).from, peer.jid);

      await a.ping(DOMAIN);
      const info = await a.getDiscoInfo(DOMAIN);
      for (const f of SERVER_FEATURES) assert.ok(info.features.includes(f), `server feature ${f}`);
      assert.equal((await a.getSoftwareVersion(DOMAIN)).name, 'kxmpp');
      const time = await a.getTime(DOMAIN);
      assert.ok(Math.abs(time.utc.getTime() - Date.now()) < 60_000, 'the server time is now');
      await a.block(`spammer@${DOMAIN}`);
      assert.deepEqual((await a.getBlocked()).jids, [`spammer@${DOMAIN}`]);
      await a.enableCarbons();
      await a.publishVCard({ fullName: 'StanzaJS Tester' });
      assert.equal((await b.getVCard(`${u1}@${DOMAIN}`)).fullName, 'StanzaJS Tester');

      // RFC 6121 §3: b approves a's request; a's roster then says 'to', and a sees b's presence.
      b.on('subscribe', (pr: Any) => b.acceptSubscription(pr.from));
      const seen = first<Any>(10_000, "b's presence at a", (done) => a.on('available', (pr: Any) => pr.from === b.jid && done(pr)));
      a.subscribe(`${u2}@${DOMAIN}`);
      await seen;
      const item = (await a.getRoster()).items.find((i: Any) => i.jid === `${u2}@${DOMAIN}`);
      assert.equal(item?.subscription, 'to');

      // Errors, from the router (an IQ to no account, a domain we cannot reach) and from the edge itself
      // (an address that is not a JID): their frames are checked for jabber:client below too.
      const noAccount = await a.getSoftwareVersion(`nobody-here@${DOMAIN}`).then(() => null, (e: Any) => e);
      assert.equal(noAccount?.error?.condition, 'service-unavailable');
      const bounced = first<Any>(10_000, 'the bounce', (done) => a.on('message:error', (m: Any) => m.id === 'far' && done(m)));
      a.sendMessage({ to: 'someone@unreachable.invalid', type: 'chat', body: 'far away', id: 'far' });
      assert.equal((await bounced).error?.condition, 'remote-server-not-found');
      const malformed = first<Any>(10_000, 'the jid-malformed error', (done) => a.on('message:error', (m: Any) => m.id === 'bad' && done(m)));
      a.sendMessage({ to: '@@bad', type: 'chat', body: 'nowhere', id: 'bad' });
      assert.equal((await malformed).error?.condition, 'jid-malformed');
    } finally {
      await a.disconnect();
      await b.disconnect();
    }
    // RFC 7395 §3.3.3: a WebSocket message is a document of its own, so a stanza must declare its namespace.
    const stanzas = frames.filter((f) => /^<(iq|message|presence)[\s>/]/.test(f));
    assert.ok(stanzas.length > 10, `stanzas seen: ${stanzas.length}`);
    for (const f of stanzas) assert.match(f, /^<(iq|message|presence)\b[^>]*\sxmlns=["']jabber:client["']/, `declares jabber:client: ${f.slice(0, 200)}`);
  });
});
