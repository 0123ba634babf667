/** xmppctl run as a child process against a real admin server: help, usage errors, exit codes, output. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { verifyPassword } from '@kxmpp/store';
import { freePort, lazyNatsServer } from '@kxmpp/testing';
import { AdminHarness, startAdminHarness, TEST_TOKEN } from './admin.harness';

const CLI = join(__dirname, 'cli.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function xmppctl(args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    // A clean environment: no XMPPCTL_* of the machine running the tests.
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', ...(opts.env ?? {}) };
    const p = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(opts.input ?? '');
  });
}

/** One line on stderr, nothing on stdout. */
function oneLineError(r: Run, code: number, re: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}, stderr: ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line expected: ${r.stderr}`);
  assert.match(r.stderr, /^xmppctl: /);
  assert.match(r.stderr, re);
}

describe('xmppctl (child process, real admin server)', () => {
  const nats = lazyNatsServer();
  let h: AdminHarness;
  let auth: string[];

  before(async () => {
    h = await startAdminHarness(await nats.url());
    auth = ['--server', h.server, '--token', TEST_TOKEN];
  });
  after(async () => {
    await h?.stop();
    await nats.stop();
  });

  it('prints help globally, per group and per command, with exit 0', async () => {
    const all = await xmppctl(['--help']);
    assert.equal(all.code, 0);
    assert.match(all.stdout, /^xmppctl: /);
    for (const s of ['domain add <domain>', 'account create <jid>', 'session kick <jid>', 'send message --from JID --to JID', 'roster get <jid>', 'stats', 'Exit codes', '5  admin API unreachable']) {
      assert.ok(all.stdout.includes(s), `global help lacks "${s}"`);
    }
    const group = await xmppctl(['roster', '--help']);
    assert.equal(group.code, 0);
    assert.match(group.stdout, /xmppctl roster add <owner> <contact>/);
    const cmd = await xmppctl(['account', 'create', '-h']);
    assert.equal(cmd.code, 0);
    assert.match(cmd.stdout, /Usage: xmppctl account create <jid> \[--password PASSWORD\]/);
    assert.match(cmd.stdout, /XMPPCTL_PASSWORD/);
    const help = await xmppctl(['help', 'session', 'kick']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--condition COND/);
  });

  it('exits 2 with one line on usage errors', async () => {
    oneLineError(await xmppctl([]), 2, /missing command/);
    oneLineError(await xmppctl(['frobnicate']), 2, /unknown command "frobnicate"/);
    oneLineError(await xmppctl(['account']), 2, /needs a command: create, delete, passwd, list, count/);
    oneLineError(await xmppctl(['account', 'create', ...auth]), 2, /account create needs <jid>/);
    oneLineError(await xmppctl(['domain', 'add', 'a.example', 'b.example', ...auth]), 2, /unexpected argument "b.example"/);
    oneLineError(await xmppctl(['account', 'list', 'example.com', '--colour', ...auth]), 2, /unknown option --colour/);
    oneLineError(await xmppctl(['send', 'message', '--from', 'a@example.com', ...auth]), 2, /needs --to/);
    oneLineError(await xmppctl(['stats', '--server', 'nowhere']), 2, /HOST:PORT/);
    oneLineError(await xmppctl(['stats', '--server', h.server]), 2, /no admin token/);
    // An argument the server refuses as invalid is a usage error too.
    oneLineError(await xmppctl(['account', 'create', 'bad@@example.com', '--password', 'x', ...auth]), 2, /not a valid JID.*\[INVALID_ARGUMENT\]/);
  });

  it('exits 3 when the token is refused', async () => {
    oneLineError(await xmppctl(['domain', 'list', '--server', h.server, '--token', 'not-the-token']), 3, /invalid token \[UNAUTHENTICATED\]/);
    oneLineError(await xmppctl(['domain', 'list'], { env: { XMPPCTL_SERVER: h.server, XMPPCTL_TOKEN: 'wrong-token' } }), 3, /UNAUTHENTICATED/);
  });

  it('exits 5 when the server is unreachable', async () => {
    oneLineError(await xmppctl(['stats', '--server', `127.0.0.1:${await freePort()}`, '--token', TEST_TOKEN]), 5, /cannot reach the admin API/);
  });

  it('runs commands: domains, accounts with passwords from stdin or the environment, listings, stats', async () => {
    const add = await xmppctl(['domain', 'add', 'cli.example', ...auth]);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, 'added cli.example\n');

    const list = await xmppctl(['domain', 'list', ...auth]);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /^DOMAIN\s+SOURCE\s+ADDED\n/);
    assert.match(list.stdout, /\nexample\.com\s+config\s+-\n/);
    assert.match(list.stdout, /\ncli\.example\s+runtime\s+\d{4}-/);

    const fromStdin = await xmppctl(['account', 'create', 'alice@cli.example', ...auth], { input: 'from stdin\nignored\n' });
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.equal(fromStdin.stdout, 'created alice@cli.example\n');
    const alice = await h.storage.accounts.get('cli.example', 'alice');
    assert.equal(verifyPassword(alice!.scram['SCRAM-SHA-256'], 'SCRAM-SHA-256', 'from stdin'), true);

    const fromEnv = await xmppctl(['account', 'create', 'bob@cli.example'], { env: { XMPPCTL_SERVER: h.server, XMPPCTL_TOKEN: TEST_TOKEN, XMPPCTL_PASSWORD: 'from env' } });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    const bob = await h.storage.accounts.get('cli.example', 'bob');
    assert.equal(verifyPassword(bob!.scram['SCRAM-SHA-1'], 'SCRAM-SHA-1', 'from env'), true);

    const json = await xmppctl(['account', 'list', 'cli.example', '--json', ...auth]);
    assert.equal(json.code, 0);
    assert.deepEqual(JSON.parse(json.stdout), { jids: ['alice@cli.example', 'bob@cli.example'], truncated: false });
    const limited = await xmppctl(['account', 'ls', 'cli.example', '--limit', '1', ...auth]);
    assert.equal(limited.stdout, 'alice@cli.example\n');
    assert.match(limited.stderr, /more accounts exist/);
    const count = await xmppctl(['account', 'count', 'cli.example', ...auth]);
    assert.equal(count.stdout, '2\n');

    const passwd = await xmppctl(['account', 'passwd', 'bob@cli.example', '--password', 'changed', ...auth]);
    assert.equal(passwd.code, 0, passwd.stderr);

    const sessions = await xmppctl(['session', 'list', 'cli.example', ...auth]);
    assert.equal(sessions.code, 0);
    assert.equal(sessions.stdout, 'JID  EDGE  SID  PRIORITY  AVAILABLE  UPDATED\n');

    const sent = await xmppctl(['send', 'message', '--from', 'alice@cli.example', '--to', 'bob@cli.example', '--body', 'hi', '--type', 'chat', ...auth]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, /^sent message admin-/);

    const stats = await xmppctl(['stats', ...auth]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stdout, /^sessions:\s+0\n/);
    assert.match(stats.stdout, /\ncli\.example\s+0\s+2\s+yes\n/);
    assert.match(stats.stdout, /\nrouting\s+1\s+/);
    const statsJson = JSON.parse((await xmppctl(['stats', '--json', ...auth])).stdout);
    assert.equal(statsJson.storage, 'jetstream');
  });

  it('exits 4 for what does not exist and 1 for other refusals', async () => {
    oneLineError(await xmppctl(['account', 'delete', 'nobody@cli.example', ...auth]), 4, /does not exist \[NOT_FOUND\]/);
    oneLineError(await xmppctl(['session', 'kick', 'alice@cli.example/phone', ...auth]), 4, /no live session/);
    oneLineError(await xmppctl(['domain', 'add', 'cli.example', ...auth]), 1, /already served \[ALREADY_EXISTS\]/);
    oneLineError(await xmppctl(['domain', 'remove', 'example.com', ...auth]), 1, /FAILED_PRECONDITION/);
    const del = await xmppctl(['account', 'delete', 'bob@cli.example', ...auth]);
    assert.equal(del.code, 0);
    assert.equal(del.stdout, 'deleted bob@cli.example\n');
  });
});
