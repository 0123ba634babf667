#!/usr/bin/env node
// The README's two commands: `npm start` and `npm test` (and `npm run bench`). Each installs what is
// missing (npm packages; nats-server, and for tests prometheus' promtool and Prosody with lua-unbound as
// the federation peer, from Debian's apt), builds, and runs. Plain Node with no dependencies, so it works
// before `npm install`.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const mode = process.argv[2] || 'start';

function log(msg) {
  process.stderr.write(`[kxmpp] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function have(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin} || test -x /usr/sbin/${bin}`], { stdio: 'ignore' }).status === 0;
}

function checkNode() {
  const [maj, min] = process.versions.node.split('.').map(Number);
  if (maj < 20 || (maj === 20 && min < 19)) {
    log(`Node ${process.versions.node} is too old: Node 20.19 or newer is required.`);
    process.exit(1);
  }
}

function aptInstall(pkgs) {
  const missing = pkgs.filter((p) => spawnSync('dpkg', ['-s', p], { stdio: 'ignore' }).status !== 0);
  if (missing.length === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const sudo = isRoot ? [] : have('sudo') ? ['sudo', '-n'] : null;
  if (!sudo) {
    log(`missing Debian packages: ${missing.join(' ')}. Install them: sudo apt-get install ${missing.join(' ')}`);
    process.exit(1);
  }
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const pre = sudo.length ? sudo : [];
  const exec = (args) => run(pre[0] || args[0], pre.length ? [...pre.slice(1), ...args] : args.slice(1), { env });
  // Servers installed only as test peers (ejabberd) must not start as system services: the Debian
  // package would take ports 5222/5269/5280 from `npm start`. policy-rc.d answering 101 ("action
  // forbidden") is Debian's way to keep a package's postinst from starting it; ours is removed after.
  const policy = '/usr/sbin/policy-rc.d';
  const holdServices = missing.includes('ejabberd') && !existsSync(policy);
  if (holdServices) exec(['sh', '-c', `printf '#!/bin/sh\\nexit 101\\n' > ${policy} && chmod 755 ${policy}`]);
  try {
    // A fresh machine may have no package lists yet.
    if (exec(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing]) !== 0) {
      exec(['apt-get', 'update', '-qq']);
      if (exec(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing]) !== 0) {
        log(`could not install ${missing.join(' ')} with apt-get`);
        process.exit(1);
      }
    }
  } finally {
    if (holdServices) exec(['rm', '-f', policy]);
  }
}

function npmInstall() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  const fresh = existsSync(marker) && existsSync(lock) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs;
  if (fresh) return;
  log('installing npm dependencies');
  const args = existsSync(lock) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'];
  if (run('npm', args) !== 0) process.exit(1);
}

function build() {
  log('building (tsc -b)');
  if (run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'tsconfig.build.json']) !== 0) process.exit(1);
}

checkNode();
// prosody: the real federation peer of the S2S tests; lua-unbound (only a Recommends of prosody, and apt
// runs with --no-install-recommends) lets it resolve through the tests' DNS server. python3-slixmpp,
// python3-aioxmpp, python3-nbxmpp, sendxmpp, go-sendxmpp and libstrophe-dev (built with gcc, found with
// pkg-config): third-party client libraries the interop e2e tests drive the platform with. ejabberd: the
// second real federation peer (and the bench's comparison).
const debs = mode === 'test' ? ['nats-server', 'prometheus', 'prosody', 'lua-unbound', 'python3-slixmpp', 'python3-aioxmpp', 'python3-nbxmpp', 'sendxmpp', 'go-sendxmpp', 'libstrophe-dev', 'pkg-config', 'gcc', 'libc6-dev', 'ejabberd'] : ['nats-server'];
if (!process.env.NATS_URL || mode === 'test') aptInstall(debs);
npmInstall();
build();

if (mode === 'start') {
  log('starting the platform (all-in-one, embedded NATS unless NATS_URL is set)');
  const r = spawnSync(process.execPath, [join(root, 'apps', 'all-in-one', 'dist', 'main.js'), ...process.argv.slice(3)], {
    cwd: root,
    stdio: 'inherit',
  });
  process.exit(r.status ?? 0);
} else if (mode === 'test') {
  process.exit(run(process.execPath, [join(root, 'scripts', 'run-tests.js'), ...process.argv.slice(3)]));
} else if (mode === 'bench') {
  process.exit(run(process.execPath, [join(root, 'bench', 'dist', 'main.js'), ...process.argv.slice(3)]));
} else {
  log(`unknown mode ${mode}`);
  process.exit(2);
}
