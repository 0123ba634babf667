/**
 * Peer XMPP servers for same-machine comparisons (`--target ejabberd|prosody`): the Debian packages
 * (`apt-get install ejabberd prosody`), each started here as a child process with a minimal config
 * generated into a fresh temp dir (config, RSA-2048 self-signed certificate, database, logs), on
 * free loopback ports, and stopped (then the dir removed) at the end. No system service is used.
 *
 * Both get the same shape as our platform gets from the bench: one vhost `localhost`, c2s with
 * STARTTLS on one port and direct TLS (XEP-0368) on another, in-band registration with no throttling,
 * SCRAM-SHA-1, no shapers or rate limits, minimal logging, in-memory (prosody) / mnesia-in-temp-dir
 * (ejabberd) storage.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureOutput, chownTree as chownR, systemUserIds as userIds } from '@kxmpp/testing';
import type { CertKind } from './args';
import { log, sleep } from './stats';

export type PeerKind = 'ejabberd' | 'prosody';

export interface PeerServer {
  kind: PeerKind;
  version: string;
  dir: string;
  c2s: number;
  c2sTls: number;
  /** The server's main OS process (beam.smp / lua5.4): CPU and RSS are read from it. */
  pid: number;
  procName: string;
  /** The generated config file and its text (goes into the JSON for reproducibility). */
  configFile: string;
  configText: string;
  /** How it was started (argv), for the JSON. */
  command: string[];
  user: string;
  child: ChildProcess;
  exited: Promise<number | string>;
  output(): string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** uid/gid of a system user, or undefined if it does not exist (then we run as ourselves). */

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The process named `comm` among pid and its descendants (the launch chain may be sh → erlexec → beam.smp). */
function findProc(pid: number, comm: RegExp): number | undefined {
  if (comm.test(commOf(pid))) return pid;
  let kids: number[] = [];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      kids = kids.concat(
        readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
      );
    }
  } catch {
    return undefined;
  }
  for (const k of kids) {
    const f = findProc(k, comm);
    if (f) return f;
  }
  return undefined;
}

/** openssl's key options for each certificate kind. */
const KEY_ARGS: Record<CertKind, string[]> = {
  rsa: ['-newkey', 'rsa:2048'],
  ec: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
};

/** A self-signed certificate for `name` in dir/<name>.crt and .key (the layout TLS_CERT_DIR reads). */
export function makeCert(dir: string, kind: CertKind, name = 'localhost'): { cert: string; key: string; combined: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  sh('openssl', [
    'req', '-x509', ...KEY_ARGS[kind], '-nodes', '-sha256', '-days', '30',
    '-keyout', key, '-out', cert, '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`,
  ]);
  const combined = join(dir, `${name}.pem`);
  writeFileSync(combined, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
  return { cert, key, combined };
}

function dpkgVersion(pkg: string): string {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

/** Listen backlog for the peers' c2s ports (ejabberd's default is 5, which drops SYNs at 50 concurrent logins). */
const BACKLOG = 1024;

export function ejabberdConfig(dir: string, c2s: number, c2sTls: number, certfile: string): string {
  const listener = (port: number, tls: 'starttls' | 'tls') => `  -
    port: ${port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    ${tls === 'tls' ? 'tls: true' : 'starttls: true'}
    backlog: ${BACKLOG}
    max_stanza_size: 1048576
    shaper: none
    access: all
`;
  return `# generated by bench/src/peers.ts (kxmpp bench --target ejabberd)
hosts:
  - localhost
loglevel: warning
hide_sensitive_log_data: true
certfiles:
  - ${certfile}
listen:
${listener(c2s, 'starttls')}${listener(c2sTls, 'tls')}
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha
registration_timeout: infinity
shaper: {}
shaper_rules:
  c2s_shaper: none
  max_user_sessions: 100000
  max_user_offline_messages: 5000
access_rules:
  register:
    allow: all
  local:
    allow: all
  c2s:
    allow: all
modules:
  mod_register:
    access: register
    ip_access: all
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
# dir: ${dir}
`;
}

export function prosodyConfig(dir: string, c2s: number, c2sTls: number): string {
  return `-- generated by bench/src/peers.ts (kxmpp bench --target prosody)
pidfile = "${dir}/prosody.pid"
data_path = "${dir}/data"
certificates = "${dir}/certs"
interfaces = { "127.0.0.1" }
c2s_ports = { ${c2s} }
c2s_direct_tls_ports = { ${c2sTls} }
s2s_ports = { }
network_settings = { tcp_backlog = ${BACKLOG} }
-- A minimal module set: no "limits" (c2s rate limiting), no mod_register_limits throttling below.
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "register"; "ping"; }
modules_disabled = { "s2s"; }
allow_registration = true
min_seconds_between_registrations = 0
registration_throttle_max = 1000000
registration_throttle_period = 1
c2s_require_encryption = true
authentication = "internal_hashed"
storage = "memory"
log = { warn = "*console" }
ssl = { certificate = "${dir}/certs/localhost.crt"; key = "${dir}/certs/localhost.key" }
VirtualHost "localhost"
`;
}

export async function startPeer(kind: PeerKind, cert: CertKind): Promise<PeerServer> {
  const dir = mkdtempSync(join(tmpdir(), `kxmpp-bench-${kind}-`));
  const c2s = await freePort();
  let c2sTls = await freePort();
  while (c2sTls === c2s) c2sTls = await freePort();
  // Run as the package's system user, like the Debian service does (Prosody refuses to run as root).
  const user = kind === 'ejabberd' ? 'ejabberd' : 'prosody';
  const ids = process.getuid?.() === 0 ? userIds(user) : undefined;
  let configFile: string;
  let configText: string;
  let command: string[];
  let env: NodeJS.ProcessEnv;
  let procName: RegExp;
  if (kind === 'ejabberd') {
    if (!existsSync('/usr/sbin/ejabberdctl')) throw new Error('ejabberd is not installed: apt-get install -y --no-install-recommends ejabberd');
    const { combined } = makeCert(dir, cert);
    mkdirSync(join(dir, 'db'));
    mkdirSync(join(dir, 'logs'));
    configFile = join(dir, 'ejabberd.yml');
    configText = ejabberdConfig(dir, c2s, c2sTls, combined);
    writeFileSync(configFile, configText);
    // What `ejabberdctl foreground` runs (see /usr/sbin/ejabberdctl, /etc/ejabberd/ejabberdctl.cfg),
    // minus `-sname ejabberd@localhost`: no Erlang distribution, so no epmd and no cookie to manage.
    command = ['/usr/bin/erl', '+K', 'true', '+P', '250000', '-env', 'ERL_CRASH_DUMP_BYTES', '0', '-mnesia', 'dir', `"${dir}/db"`, '-s', 'ejabberd', '-noinput'];
    env = {
      ...process.env,
      HOME: dir,
      ERL_LIBS: '/usr/lib/x86_64-linux-gnu',
      EJABBERD_CONFIG_PATH: configFile,
      EJABBERD_LOG_PATH: join(dir, 'logs', 'ejabberd.log'),
      ERL_CRASH_DUMP: join(dir, 'logs', 'erl_crash.dump'),
    };
    procName = /^beam/;
  } else {
    if (!existsSync('/usr/bin/prosody')) throw new Error('prosody is not installed: apt-get install -y --no-install-recommends prosody');
    mkdirSync(join(dir, 'certs'));
    mkdirSync(join(dir, 'data'));
    makeCert(join(dir, 'certs'), cert);
    configFile = join(dir, 'prosody.cfg.lua');
    configText = prosodyConfig(dir, c2s, c2sTls);
    writeFileSync(configFile, configText);
    command = ['/usr/bin/prosody', '--config', configFile, '-F'];
    env = { ...process.env, HOME: dir };
    procName = /^lua/;
  }
  if (ids) chownR(dir, ids);
  const child = spawn(command[0]!, command.slice(1), {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
  });
  const captured = captureOutput(child);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const logTail = () => {
    const f = join(dir, 'logs', 'ejabberd.log');
    return existsSync(f) ? readFileSync(f, 'utf8').slice(-3000) : '';
  };
  const output = () => captured() + logTail();

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const pid = child.pid;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM'); // both shut down cleanly on SIGTERM (Erlang: init:stop/0)
      const t = Date.now();
      while (child.exitCode === null && child.signalCode === null && Date.now() - t < 15_000) await sleep(100);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.race([exited, sleep(5000)]);
    }
    if (pid && existsSync(`/proc/${pid}`)) log(`${kind}: WARNING pid ${pid} still present after stop`);
    rmSync(dir, { recursive: true, force: true });
  };

  // Wait for both ports (ejabberd takes a few seconds to start its applications).
  const deadline = Date.now() + 60_000;
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${kind} exited early (${child.exitCode ?? child.signalCode}):\n${output().slice(-4000)}`);
      if ((await portOpen(c2s)) && (await portOpen(c2sTls))) break;
      if (Date.now() > deadline) throw new Error(`${kind}: ports ${c2s}/${c2sTls} not open after 60 s:\n${output().slice(-4000)}`);
      await sleep(200);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const pid = findProc(child.pid!, procName) ?? child.pid!;
  const version = dpkgVersion(kind);
  log(`${kind} ${version} up: c2s ${c2s} (STARTTLS), ${c2sTls} (direct TLS), ${commOf(pid)} pid ${pid}, user ${ids ? user : 'current'}, dir ${dir}`);
  return { kind, version, dir, c2s, c2sTls, pid, procName: commOf(pid), configFile, configText, command, user: ids ? user : 'current', child, exited, output, stop };
}
