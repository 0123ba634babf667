/**
 * The federation harness proves itself: two real Prosody servers that know each other only through the
 * test DNS federate (RFC 6120 §13 / XEP-0178 with test-CA certificates; XEP-0220 dialback when the
 * certificates cannot be verified), and a bad setup fails with a clear error.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { client, xml } from '@xmpp/client';
import { createTestCa, type TestCa } from './test-ca';
import { startTestDns, type TestDnsHandle } from './test-dns';
import { startProsody, type ProsodyHandle, type ProsodyOptions } from './prosody';

// @xmpp/client's STARTTLS takes no TLS options, so Node cannot be handed the test CA per connection: the
// client accepts the certificate, and connect() below verifies it against the test CA itself.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

interface El {
  name: string;
  attrs: Record<string, string>;
  getChild(name: string, ns?: string): El | undefined;
  getChildText(name: string, ns?: string): string | null;
  getChildElements(): El[];
  toString(): string;
}

interface Client {
  jid: string;
  inbox: El[];
  send(el: unknown): Promise<void>;
  waitFor(pred: (el: El) => boolean, what: string, timeoutMs?: number): Promise<El>;
  stop(): Promise<void>;
}

/**
 * Log in over C2S STARTTLS with @xmpp/client and check the certificate Prosody showed: one the test CA
 * signed for its domain, or (for servers given an untrusted certificate) one it did not.
 */
async function connect(ca: TestCa, p: ProsodyHandle, username: string, password: string, trusted = true): Promise<Client> {
  const c = client({ service: `xmpp://127.0.0.1:${p.c2sPort}`, domain: p.domain, username, password, resource: 'harness' });
  c.reconnect.stop();
  c.timeout = 8000;
  const inbox: El[] = [];
  const waiters = new Set<() => void>();
  c.on('error', () => {
    /* surfaced by start() or by the waits */
  });
  c.on('stanza', (s: El) => {
    inbox.push(s);
    for (const w of [...waiters]) w();
  });
  const jid = String(await c.start());
  const tls = c.socket?.socket as TLSSocket | undefined;
  assert.ok(tls?.encrypted, 'the C2S stream runs over TLS');
  assert.equal(ca.verify(tls.getPeerX509Certificate()!, p.domain), trusted, `${p.domain}'s certificate is ${trusted ? '' : 'not '}from the test CA`);
  await c.send(xml('presence'));
  return {
    jid,
    inbox,
    send: (el) => c.send(el),
    waitFor(pred, what, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const i = inbox.findIndex(pred);
          if (i < 0) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(inbox.splice(i, 1)[0]!);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}; inbox: ${inbox.map(String).join('\n')}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async stop() {
      try {
        await Promise.race([c.stop(), new Promise((r) => setTimeout(r, 3000))]);
      } catch {
        /* already gone */
      }
      c.socket?.socket?.destroy?.();
    },
  };
}

const isChat = (body: string) => (el: El) => el.name === 'message' && el.getChildText('body') === body;

/** alice@<from> sends bob@<to> a chat message; it must arrive, from alice's full JID. */
async function exchange(ca: TestCa, from: ProsodyHandle, to: ProsodyHandle, body: string, trusted = true): Promise<void> {
  const alice = await connect(ca, from, 'alice', 'alice-pw', trusted);
  const bob = await connect(ca, to, 'bob', 'bob-pw', trusted);
  try {
    await alice.send(xml('message', { to: bob.jid, type: 'chat', id: 'm1' }, xml('body', {}, body)));
    const got = await bob.waitFor(isChat(body), `the message on ${to.domain}`, 15_000);
    assert.equal(got.attrs.from, alice.jid);
    // And back the other way on the stream(s) now up.
    await bob.send(xml('message', { to: alice.jid, type: 'chat', id: 'm2' }, xml('body', {}, `re: ${body}`)));
    const back = await alice.waitFor(isChat(`re: ${body}`), `the reply on ${from.domain}`, 15_000);
    assert.equal(back.attrs.from, bob.jid);
  } finally {
    await Promise.all([alice.stop(), bob.stop()]);
  }
}

function prosodyOptions(ca: TestCa, dns: TestDnsHandle, domain: string, extra: Partial<ProsodyOptions> = {}): ProsodyOptions {
  return {
    domain,
    tls: ca.issue(domain),
    caFile: ca.caFile,
    dnsPort: dns.port,
    users: [
      { username: 'alice', password: 'alice-pw' },
      { username: 'bob', password: 'bob-pw' },
    ],
    ...extra,
  };
}

describe('startProsody: federation between two Prosody servers', () => {
  let dir: string;
  let ca: TestCa;
  let dns: TestDnsHandle | undefined;
  let a: ProsodyHandle;
  let b: ProsodyHandle;
  const servers: ProsodyHandle[] = [];
  /** Start a Prosody and publish its S2S ports in the test DNS (KXMPP_KEEP_PROSODY=1 keeps its log). */
  const start = async (o: ProsodyOptions) => {
    const p = await startProsody(o);
    servers.push(p);
    dns!.publishXmppServer(p.domain, p.s2sPort, { tlsPort: p.s2sTlsPort });
    return p;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kxmpp-ca-'));
    ca = createTestCa(dir);
    dns = await startTestDns();
    [a, b] = await Promise.all([
      start(prosodyOptions(ca, dns!, 'a.test', { s2sAuth: 'certs', directTls: true })),
      start(prosodyOptions(ca, dns!, 'b.test', { s2sAuth: 'certs' })),
    ]);
  });
  after(async () => {
    await Promise.all(servers.map((p) => p.stop()));
    await dns?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('certs: a.test and b.test authenticate each other with test-CA certificates (SASL EXTERNAL)', async () => {
    await exchange(ca, a, b, 'hello over certificates');
    // Each side found the other through the test DNS. a.test publishes direct TLS (XEP-0368), which
    // b.test tries first and uses; b.test has none, so a.test falls back to RFC 6120's SRV and STARTTLS.
    const srv = (name: string) => dns!.queries.filter((q) => q.name === name && q.type === 'SRV').map((q) => q.rcode);
    assert.deepEqual([...new Set(srv('_xmpps-server._tcp.b.test'))], ['NXDOMAIN']);
    assert.deepEqual([...new Set(srv('_xmpp-server._tcp.b.test'))], ['NOERROR']);
    assert.deepEqual([...new Set(srv('_xmpps-server._tcp.a.test'))], ['NOERROR']);
    await b.waitForLog(/Accepting SASL EXTERNAL identity from a\.test/);
    await a.waitForLog(/Accepting SASL EXTERNAL identity from b\.test/);
  });

  it('certs: a server whose certificate another CA signed is refused, and the sender gets an error', async () => {
    const c = await start(prosodyOptions(ca, dns!, 'c.test', { s2sAuth: 'certs', tls: ca.issue('c.test', { untrusted: true }) }));
    const alice = await connect(ca, c, 'alice', 'alice-pw', false);
    try {
      await alice.send(xml('message', { to: 'bob@b.test/harness', type: 'chat', id: 'x1' }, xml('body', {}, 'let me in')));
      const err = await alice.waitFor((el) => el.name === 'message' && el.attrs.type === 'error' && el.attrs.id === 'x1', 'the bounce', 20_000);
      // Prosody 0.12 reports the refused stream as remote-server-timeout and quotes b.test's reason.
      const error = err.getChild('error');
      assert.equal(error?.getChildElements()[0]?.name, 'remote-server-timeout', String(err));
      assert.match(error?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas') ?? '', /not-authorized \(Your server's certificate is not trusted\)/);
    } finally {
      await alice.stop();
    }
    await c.waitForLog(/Outgoing s2s stream c\.test->b\.test closed: not-authorized \(Your server's certificate is not trusted\)/);
    assert.ok(!b.logs().includes('Accepting SASL EXTERNAL identity from c.test'));
  });

  it('dialback: da.test and db.test, whose certificates nobody can verify, federate with dialback over TLS', async () => {
    const [da, db] = await Promise.all([
      start(prosodyOptions(ca, dns!, 'da.test', { s2sAuth: 'dialback', tls: ca.issue('da.test', { untrusted: true }) })),
      start(prosodyOptions(ca, dns!, 'db.test', { s2sAuth: 'dialback', tls: ca.issue('db.test', { untrusted: true }) })),
    ]);
    await exchange(ca, da, db, 'hello over dialback', false);
    for (const [p, peer] of [
      [da, 'db.test'],
      [db, 'da.test'],
    ] as const) {
      assert.ok(!p.logs().includes('Accepting SASL EXTERNAL'), 'no certificate authentication happened');
      await p.waitForLog(/certificate chain validation result: invalid/);
      await p.waitForLog(new RegExp(`${p.domain.replace('.', '\\.')}:dialback\\s+debug\\s+Initiating dialback`));
      // The peer's authoritative server confirmed the key (attribute order varies in Prosody's log).
      await p.waitForLog(new RegExp(`Received\\[s2sout(_unauthed)?\\]: <verify(?=[^>]*type='valid')(?=[^>]*from='${peer.replace('.', '\\.')}')`));
    }
  });
});

describe('startProsody: a bad setup fails clearly', () => {
  let dir: string;
  let ca: TestCa;
  let opts: ProsodyOptions;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kxmpp-ca-'));
    ca = createTestCa(dir);
    opts = { domain: 'bad.test', tls: ca.issue('bad.test'), caFile: ca.caFile };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a missing binary', async () => {
    await assert.rejects(startProsody({ ...opts, binary: '/nonexistent/prosody' }), /prosody not found at \/nonexistent\/prosody: install the Debian packages `prosody` and `lua-unbound`/);
  });

  it('a missing certificate or CA file, a bad domain or user name', async () => {
    await assert.rejects(startProsody({ ...opts, tls: { cert: join(dir, 'nope.crt'), key: opts.tls.key } }), /certificate file not found: .*nope\.crt/);
    await assert.rejects(startProsody({ ...opts, caFile: join(dir, 'nope-ca.crt') }), /caFile file not found/);
    await assert.rejects(startProsody({ ...opts, domain: 'bad domain' }), /bad domain "bad domain"/);
    await assert.rejects(startProsody({ ...opts, users: [{ username: 'a b', password: 'x' }] }), /bad username "a b"/);
    await assert.rejects(startProsody({ ...opts, s2sAuth: 'dialback', dialback: false }), /needs mod_dialback/);
  });

  it('a config Prosody refuses: rejected with its own words, the folder cleaned up', async () => {
    const err = await startProsody({ ...opts, extraConfig: 'this is not Lua' }).then(
      () => assert.fail('started with a broken config'),
      (e: Error) => e,
    );
    assert.match(err.message, /startProsody\(bad\.test\): prosody exited early/);
    assert.match(err.message, /problem occurred while reading the config file/i);
    const folder = /(\/\S*kxmpp-prosody-\w+)\/prosody\.cfg\.lua/.exec(err.message)?.[1];
    assert.ok(folder, err.message);
    assert.equal(existsSync(folder), false);
  });

  it('a module that does not load', async () => {
    // Should it start anyway, stop it, so a failure here cannot leave a server running (and the file hanging).
    const started = startProsody({ ...opts, extraModules: ['no_such_module'] }).then(async (h) => {
      await h.stop();
      return h;
    });
    await assert.rejects(started, /startProsody\(bad\.test\): .*no_such_module/);
  });

  it('a broken config also fails account creation before any server runs', async () => {
    await assert.rejects(
      startProsody({ ...opts, extraConfig: 'this is not Lua', users: [{ username: 'u', password: 'p' }] }),
      /startProsody\(bad\.test\): .*prosodyctl .*register u bad\.test p failed/s,
    );
  });

  it('without a test DNS: accounts made at run time and in-band work, remote domains fail at once; logs outlive stop()', async () => {
    const p = await startProsody({ ...opts, users: [{ username: 'u', password: 'p' }], allowRegistration: true });
    try {
      await p.register('late', 'late-pw');
      const late = await connect(ca, p, 'late', 'late-pw');
      await late.stop();
      // XEP-0077 in-band registration before authenticating.
      const c = client({
        service: `xmpp://127.0.0.1:${p.c2sPort}`,
        domain: p.domain,
        credentials: async (auth: (c: unknown, mechanism: string) => Promise<void>, mechanisms: string[]) => {
          await c.iqCaller.request(xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:register' }, xml('username', {}, 'ibr'), xml('password', {}, 'ibr-pw'))));
          await auth({ username: 'ibr', password: 'ibr-pw' }, mechanisms[0]!);
        },
      });
      c.reconnect.stop();
      c.on('error', () => {});
      assert.match(String(await c.start()), /^ibr@bad\.test\//);
      await c.stop();
      const u = await connect(ca, p, 'u', 'p');
      try {
        const started = Date.now();
        await u.send(xml('message', { to: 'someone@elsewhere.example', type: 'chat', id: 'r1' }, xml('body', {}, 'hello?')));
        const err = await u.waitFor((el) => el.name === 'message' && el.attrs.id === 'r1' && el.attrs.type === 'error', 'the bounce', 5000);
        assert.ok(err.getChild('error'), String(err));
        assert.ok(Date.now() - started < 5000);
      } finally {
        await u.stop();
      }
    } finally {
      await p.stop();
    }
    await p.stop();
    assert.match(p.logs(), /Activated service 'c2s' on \[127\.0\.0\.1\]:\d+/);
    assert.match(p.logs(), /Results for _xmpp-server\._tcp\.elsewhere\.example IN SRV: Refused/);
    assert.equal(existsSync(p.dir), false);
  });
});
