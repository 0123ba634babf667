import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { COMMANDS, UsageError } from './cli.commands';
import { EXIT, exitCodeOf, parseCommandLine } from './cli';
import { duration, table } from './cli.output';

describe('xmppctl command line', () => {
  it('finds the command wherever the global options are', () => {
    const a = parseCommandLine(['--server', 'h:1', '--token', 't', 'account', 'create', 'a@b', '--password', 'p', '--json']);
    assert.equal(a.command?.group, 'account');
    assert.equal(a.command?.name, 'create');
    assert.deepEqual(a.args, ['a@b']);
    assert.equal(a.values.password, 'p');
    assert.equal(a.values.json, true);
    const b = parseCommandLine(['session', '--server=h:1', 'ls', 'example.com']);
    assert.equal(b.command?.name, 'list');
    assert.deepEqual(b.args, ['example.com']);
    const c = parseCommandLine(['roster', 'add', 'a@b', 'c@d', '--group', 'x', '--group', 'y']);
    assert.deepEqual(c.values.group, ['x', 'y']);
    assert.equal(parseCommandLine(['stats']).command?.group, 'stats');
  });

  it('answers help without a server', () => {
    assert.match(parseCommandLine(['--help']).help!, /Usage: xmppctl/);
    assert.match(parseCommandLine(['domain', '-h']).help!, /xmppctl domain: served domains/);
    assert.match(parseCommandLine(['domain', 'add', '--help']).help!, /Usage: xmppctl domain add <domain>/);
    assert.match(parseCommandLine(['help']).help!, /Commands:/);
  });

  it('reports usage errors', () => {
    for (const argv of [[], ['nope'], ['domain'], ['domain', 'nope'], ['domain', 'add'], ['domain', 'add', 'a', 'b'], ['domain', 'list', '--nope'], ['send', 'presence']]) {
      assert.throws(() => parseCommandLine(argv), UsageError, argv.join(' '));
    }
  });

  it('maps statuses to exit codes', () => {
    assert.equal(exitCodeOf(status.UNAUTHENTICATED), EXIT.AUTH);
    assert.equal(exitCodeOf(status.PERMISSION_DENIED), EXIT.AUTH);
    assert.equal(exitCodeOf(status.NOT_FOUND), EXIT.NOT_FOUND);
    assert.equal(exitCodeOf(status.UNAVAILABLE), EXIT.UNREACHABLE);
    assert.equal(exitCodeOf(status.INVALID_ARGUMENT), EXIT.USAGE);
    assert.equal(exitCodeOf(status.ALREADY_EXISTS), EXIT.OTHER);
    assert.equal(exitCodeOf(status.DEADLINE_EXCEEDED), EXIT.OTHER);
  });

  it('has a unique name for every command', () => {
    const names = COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])].map((n) => `${c.group} ${n}`));
    assert.equal(new Set(names).size, names.length);
  });

  it('formats tables and durations', () => {
    assert.equal(table(['A', 'BB'], [['xxx', 1], ['y', 22]]), 'A    BB\nxxx  1\ny    22\n');
    assert.equal(duration(3725.5), '1h 2m 5s');
    assert.equal(duration(90061), '1d 1h 1m 1s');
    assert.equal(duration(4), '4s');
  });
});
