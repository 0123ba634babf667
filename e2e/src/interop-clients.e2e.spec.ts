/**
 * Interoperability with third-party XMPP client libraries other than xmpp.js, from Debian's packages:
 * slixmpp (python3-slixmpp), aioxmpp (python3-aioxmpp, strict about features and XEP-0198 acks) and
 * go-sendxmpp (Go's go-xmpp). Each Python library runs a scenario script from `e2e/interop/` against a
 * split deployment with two edges (its two accounts on different edges, plus an @xmpp/client session
 * that answers it), printing one JSON line per observation; the assertions are here.
 *
 * RFC 6120 (STARTTLS, SASL, bind), RFC 6121 (chat, subscriptions, presence), XEP-0030, XEP-0054,
 * XEP-0049, XEP-0092, XEP-0191, XEP-0198, XEP-0199, XEP-0202, XEP-0280; XEP-0368 for go-sendxmpp.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform, Platform } from './platform';
import { login, rawRegister, Session, uniqueName, waitForStanza, xml, XEl } from './helpers';

const DOMAIN = 'localhost';
const PASSWORD = 'interop-password';
const PYTHON = '/usr/bin/python3'; // Debian's, where python3-slixmpp and python3-aioxmpp install
const GO_SENDXMPP = '/usr/bin/go-sendxmpp';
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

describe('third-party client libraries (split deployment, two edges)', () => {
  let p: Platform;
  let peer: Session;
  const pings: Array<{ from: string; body: string }> = [];

  before(async () => {
    p = await startPlatform({ mode: 'split', edges: 2 });
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
      const r = await runTool(GO_SENDXMPP, ['-n', '-u', `${user}@${DOMAIN}`, '-p', PASSWORD, ...args, peer.bare], `${text}\n`, 30_000);
      assert.equal(r.code, 0, `go-sendxmpp over ${how}: ${r.stdout}${r.stderr}`);
      const m = await got;
      assert.match(String(m.attrs.from), new RegExp(`^${user}@${DOMAIN}/`));
    }
  });
});
