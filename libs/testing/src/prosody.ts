/**
 * A real Prosody (Debian's 0.12 package) as a federation peer for tests: one VirtualHost on loopback
 * ports of its own, everything (config, data, pid, log) in a temp folder, run in the foreground as the
 * current user (root too: `run_as_root`). It resolves other domains only through a test DNS server
 * (`startTestDns`): libunbound forwards every query to it (no resolv.conf, no hosts file), so SRV
 * lookups of `_xmpp-server._tcp.<domain>` (RFC 6120 §3.2) and `_xmpps-server._tcp.<domain>` (XEP-0368)
 * land there.
 *
 * S2S authentication modes:
 * - 'certs': `s2s_secure_auth = true`; a peer must show a certificate that chains to `caFile` and names
 *   its domain. Prosody then offers and uses SASL EXTERNAL (XEP-0178); with `dialback` loaded (default)
 *   dialback on top of a valid certificate is accepted too.
 * - 'dialback': `s2s_secure_auth = false` and mod_dialback (XEP-0220): certificates may be unverifiable,
 *   the domain is proven by the dialback callback. TLS still runs and, by default, is required.
 *
 * Needs the Debian packages `prosody` and `lua-unbound` (without lua-unbound Prosody falls back to a
 * resolver that cannot be pointed at the test DNS: startProsody refuses to run then).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port';

export type ProsodyS2SAuth = 'certs' | 'dialback';

export interface ProsodyUser {
  username: string;
  password: string;
}

export interface ProsodyOptions {
  /** The VirtualHost, e.g. `pr.test`. */
  domain: string;
  /** Certificate and key (PEM paths) for the domain, e.g. from `TestCa.issue(domain)`. */
  tls: { cert: string; key: string };
  /** CA certificate (PEM path) Prosody trusts when verifying peers' certificates (`TestCa.caFile`). */
  caFile: string;
  /**
   * Port of the test DNS server on 127.0.0.1 (`TestDnsHandle.port`). Without it every lookup is refused
   * at once (no query leaves the machine), so Prosody cannot open outgoing S2S streams.
   */
  dnsPort?: number;
  /** Default 'certs'. */
  s2sAuth?: ProsodyS2SAuth;
  /** Load mod_dialback (default true; false in 'certs' mode leaves SASL EXTERNAL as the only way in). */
  dialback?: boolean;
  /** `s2s_require_encryption` (default true). */
  s2sRequireEncryption?: boolean;
  /** `c2s_require_encryption` (default true). */
  c2sRequireEncryption?: boolean;
  /** Accounts created (prosodyctl register) before the server starts. */
  users?: ProsodyUser[];
  /** In-band registration (XEP-0077) for clients (default false). */
  allowRegistration?: boolean;
  /** Also listen for direct TLS (XEP-0368) on c2sTlsPort and s2sTlsPort (default false). */
  directTls?: boolean;
  /** More modules to load (names without `mod_`). */
  extraModules?: string[];
  /** Lua appended to the global section (before the VirtualHost). */
  extraConfig?: string;
  /** `s2s_timeout` in seconds (default 5). */
  s2sTimeoutSeconds?: number;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Folder for config, data, pid and log; default a new temp folder, removed by stop(). */
  dir?: string;
  /** Keep the folder after stop() (default: only when KXMPP_KEEP_PROSODY is set). */
  keepDir?: boolean;
  /** Default: $PROSODY_BIN, /usr/bin/prosody. */
  binary?: string;
  /** Default: $PROSODYCTL_BIN, /usr/bin/prosodyctl. */
  prosodyctl?: string;
  startTimeoutMs?: number;
}

export interface ProsodyHandle {
  domain: string;
  /** C2S with STARTTLS. */
  c2sPort: number;
  /** S2S with STARTTLS (the port to publish in `_xmpp-server._tcp.<domain>`). */
  s2sPort: number;
  /** Direct TLS ports, when `directTls` was set. */
  c2sTlsPort?: number;
  s2sTlsPort?: number;
  dir: string;
  configFile: string;
  process: ChildProcess;
  /** The Prosody log so far, then its console output (also after stop()). */
  logs(): string;
  /** Resolve with the first log line matching re (searching what is already logged too). */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Create an account while the server runs (prosodyctl register; internal storage is read per login). */
  register(username: string, password: string): Promise<void>;
  /** SIGTERM, SIGKILL after 3 s; idempotent. */
  stop(): Promise<void>;
}

function findBinary(explicit: string | undefined, env: string | undefined, name: string): string {
  for (const p of explicit ? [explicit] : [env, `/usr/bin/${name}`, `/usr/local/bin/${name}`]) {
    if (p && existsSync(p)) return p;
  }
  throw new Error(
    `${name} not found${explicit ? ` at ${explicit}` : ''}: install the Debian packages \`prosody\` and \`lua-unbound\` ` +
      '(apt-get install prosody lua-unbound), or set PROSODY_BIN / PROSODYCTL_BIN',
  );
}

export function prosodyBinary(explicit?: string): string {
  return findBinary(explicit, process.env.PROSODY_BIN, 'prosody');
}

export function prosodyctlBinary(explicit?: string): string {
  return findBinary(explicit, process.env.PROSODYCTL_BIN, 'prosodyctl');
}

/** A Lua literal for a JS value (strings escaped, arrays and plain objects as tables). */
export function luaValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v).replace(/\\u([0-9a-f]{4})/gi, (_, h: string) => `\\u{${h}}`);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`not a Lua number: ${v}`);
    return String(v);
  }
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `{ ${v.map(luaValue).join('; ')} }`;
  if (v && typeof v === 'object') {
    return `{ ${Object.entries(v)
      .map(([k, x]) => `[${luaValue(k)}] = ${luaValue(x)}`)
      .join('; ')} }`;
  }
  throw new Error(`no Lua literal for ${String(v)}`);
}

const DOMAIN_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

interface Ports {
  c2s: number;
  s2s: number;
  c2sTls?: number;
  s2sTls?: number;
}

function buildConfig(o: ProsodyOptions, dir: string, ports: Ports): string {
  const mode = o.s2sAuth ?? 'certs';
  const dialback = o.dialback ?? true;
  if (mode === 'dialback' && !dialback) throw new Error("startProsody: s2sAuth 'dialback' needs mod_dialback (dialback: false given)");
  const modules = ['roster', 'saslauth', 'tls', 'disco', 'ping', 'version', 'time'];
  if (dialback) modules.push('dialback');
  if (o.allowRegistration) modules.push('register');
  modules.push(...(o.extraModules ?? []));
  const ssl = { certificate: resolve(o.tls.cert), key: resolve(o.tls.key), cafile: resolve(o.caFile) };
  const g: Record<string, unknown> = {
    run_as_root: true,
    pidfile: join(dir, 'prosody.pid'),
    data_path: join(dir, 'data'),
    certificates: join(dir, 'certs'),
    log: { [o.logLevel ?? 'debug']: join(dir, 'prosody.log') },
    interfaces: ['127.0.0.1'],
    local_interfaces: ['127.0.0.1'],
    use_ipv6: false,
    c2s_ports: [ports.c2s],
    s2s_ports: [ports.s2s],
    c2s_direct_tls_ports: ports.c2sTls ? [ports.c2sTls] : [],
    s2s_direct_tls_ports: ports.s2sTls ? [ports.s2sTls] : [],
    legacy_ssl_ports: [],
    http_ports: [],
    https_ports: [],
    component_ports: [],
    modules_enabled: modules,
    modules_disabled: ['carbons', 'bosh', 'websocket', 'http', 'admin_telnet', 'admin_shell', 'admin_socket', 'announce', 'motd', 'welcome'],
    authentication: 'internal_hashed',
    storage: 'internal',
    allow_registration: o.allowRegistration ?? false,
    c2s_require_encryption: o.c2sRequireEncryption ?? true,
    s2s_require_encryption: o.s2sRequireEncryption ?? true,
    s2s_secure_auth: mode === 'certs',
    s2s_timeout: o.s2sTimeoutSeconds ?? 5,
    ssl,
  };
  // Never the machine's resolver or the root servers: the test DNS, or (without one) nothing at all.
  g.unbound =
    o.dnsPort !== undefined
      ? {
          resolvconf: false,
          hoststxt: false,
          forward: `127.0.0.1@${o.dnsPort}`,
          // libunbound answers the RFC 6761 `test.` zone itself with NXDOMAIN; send it to the forwarder.
          options: { 'local-zone:': 'test. transparent' },
        }
      : { resolvconf: false, hoststxt: false, options: { 'local-zone:': '. refuse' } };
  const lines = ['-- Written by @kxmpp/testing startProsody(); regenerated on every start.'];
  for (const [k, v] of Object.entries(g)) lines.push(`${k} = ${luaValue(v)}`);
  if (o.extraConfig) lines.push('', o.extraConfig);
  lines.push('', `VirtualHost ${luaValue(o.domain)}`, `\tssl = ${luaValue(ssl)}`, '');
  return lines.join('\n');
}

function run(bin: string, args: string[], timeoutMs = 15_000): Promise<string> {
  return new Promise((resolveRun, reject) => {
    execFile(bin, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`.trim();
      if (err) reject(new Error(`${bin} ${args.join(' ')} failed: ${out || err.message}`));
      else resolveRun(out);
    });
  });
}

function validateUser(u: ProsodyUser): void {
  if (!/^[^\s@/"&'<>:]+$/.test(u.username)) throw new Error(`startProsody: bad username ${JSON.stringify(u.username)}`);
  if (!u.password) throw new Error(`startProsody: user ${u.username} needs a password`);
}

/**
 * Start Prosody and resolve once its C2S and S2S ports accept connections. Rejects (with Prosody's log)
 * when the binary is missing, the config is refused, Prosody exits early, or a module or port fails.
 */
export async function startProsody(opts: ProsodyOptions): Promise<ProsodyHandle> {
  if (!DOMAIN_RE.test(opts.domain)) throw new Error(`startProsody: bad domain ${JSON.stringify(opts.domain)}`);
  for (const [what, p] of [
    ['certificate', opts.tls?.cert],
    ['key', opts.tls?.key],
    ['caFile', opts.caFile],
  ] as const) {
    if (!p || !existsSync(p)) throw new Error(`startProsody: ${what} file not found: ${p}`);
  }
  for (const u of opts.users ?? []) validateUser(u);
  const bin = prosodyBinary(opts.binary);
  const ctl = prosodyctlBinary(opts.prosodyctl);

  const ownDir = !opts.dir;
  const dir = resolve(opts.dir ?? mkdtempSync(join(tmpdir(), 'kxmpp-prosody-')));
  mkdirSync(join(dir, 'data'), { recursive: true });
  mkdirSync(join(dir, 'certs'), { recursive: true });
  const removeDir = () => {
    if (ownDir && !opts.keepDir && !process.env.KXMPP_KEEP_PROSODY) rmSync(dir, { recursive: true, force: true });
  };
  const ports: Ports = { c2s: await freePort(), s2s: await freePort() };
  if (opts.directTls) {
    ports.c2sTls = await freePort();
    ports.s2sTls = await freePort();
  }
  const configFile = join(dir, 'prosody.cfg.lua');
  const logFile = join(dir, 'prosody.log');
  writeFileSync(configFile, buildConfig(opts, dir, ports));

  const ctlArgs = (u: ProsodyUser) => ['--config', configFile, 'register', u.username, opts.domain, u.password];
  try {
    // prosodyctl checks the config as it loads it: a bad config fails here, before any server runs.
    await Promise.all((opts.users ?? []).map((u) => run(ctl, ctlArgs(u))));
  } catch (e) {
    removeDir();
    throw new Error(`startProsody(${opts.domain}): ${(e as Error).message}`);
  }

  let console_ = '';
  let logText = '';
  const proc = spawn(bin, ['-F', '--config', configFile], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer) => {
    if (console_.length < 100_000) console_ += d.toString();
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const spawnError = new Promise<Error>((r) => proc.once('error', r));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const isRunning = () => proc.exitCode === null && proc.signalCode === null;

  // The log can grow to megabytes at debug level: read only what was appended since the last look.
  let logOffset = 0;
  const decoder = new StringDecoder('utf8');
  const readLog = (): string => {
    try {
      const size = statSync(logFile).size;
      if (size > logOffset) {
        const fd = openSync(logFile, 'r');
        try {
          const chunk = Buffer.alloc(size - logOffset);
          const n = readSync(fd, chunk, 0, chunk.length, logOffset);
          logOffset += n;
          logText += decoder.write(chunk.subarray(0, n));
        } finally {
          closeSync(fd);
        }
      }
    } catch {
      /* not written yet, or the folder is gone after stop(): keep what we read last */
    }
    return logText;
  };
  const logs = () => {
    const text = readLog();
    return console_ ? `${text}\n--- console ---\n${console_}` : text;
  };

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (isRunning()) {
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(3000, undefined, { ref: false })]);
      if (isRunning()) {
        proc.kill('SIGKILL');
        await Promise.race([exited, sleep(1000, undefined, { ref: false })]);
      }
    }
    logs();
    removeDir();
  };

  const fail = async (why: string): Promise<never> => {
    const text = logs();
    await stop();
    throw new Error(`startProsody(${opts.domain}): ${why} (config ${configFile})\n${text.slice(-8000)}`);
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  const wanted = [ports.c2s, ports.s2s, ports.c2sTls, ports.s2sTls].filter((p): p is number => p !== undefined);
  for (;;) {
    const early = await Promise.race([spawnError.then((e) => e), exited.then(() => 'exit' as const), sleep(100).then(() => undefined)]);
    if (early instanceof Error) return fail(`could not run ${bin}: ${early.message}`);
    if (early === 'exit' || !isRunning()) return fail(`prosody exited early (code ${proc.exitCode}, signal ${proc.signalCode})`);
    const text = logs();
    if (/Old DNS resolver library will be used|lua-unbound/.test(text)) {
      return fail('lua-unbound is missing (apt-get install lua-unbound): Prosody could not use the test DNS');
    }
    const startupError = startupErrorIn(text);
    if (startupError) return fail(startupError);
    const up = await Promise.all(wanted.map((p) => accepts(p)));
    // The kernel accepts as soon as a port listens, before Prosody has finished loading modules. Its log
    // line for one of our probe connections proves its event loop runs, so every module (and any load
    // error, logged earlier in the same file) is done; at warn/error levels there is no such line.
    const served = (opts.logLevel ?? 'debug') === 'warn' || opts.logLevel === 'error' || /\t(Client connected|Incoming s2s connection)/.test(logs());
    if (up.every(Boolean) && served) {
      const late = startupErrorIn(logs());
      if (late) return fail(late);
      break;
    }
    if (Date.now() > deadline) return fail(`ports ${wanted.join(', ')} not accepting after ${opts.startTimeoutMs ?? 15_000} ms`);
  }

  return {
    domain: opts.domain,
    c2sPort: ports.c2s,
    s2sPort: ports.s2s,
    c2sTlsPort: ports.c2sTls,
    s2sTlsPort: ports.s2sTls,
    dir,
    configFile,
    process: proc,
    logs,
    async waitForLog(re, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      let scanned = 0;
      for (;;) {
        const text = readLog();
        const end = text.lastIndexOf('\n') + 1;
        const line = text
          .slice(scanned, end)
          .split('\n')
          .find((l) => l.search(re) !== -1);
        if (line !== undefined) return line;
        scanned = Math.max(scanned, end);
        if (Date.now() > until) throw new Error(`Prosody ${opts.domain} logged nothing matching ${re} in ${timeoutMs} ms`);
        await sleep(50);
      }
    },
    async register(username, password) {
      validateUser({ username, password });
      await run(ctl, ctlArgs({ username, password }));
    },
    stop,
  };
}

/** The first line saying a port or a module failed at startup (Prosody logs these and runs on). */
function startupErrorIn(log: string): string | undefined {
  return /^.*(Failed to open server port|\tmodulemanager\terror\t|Error initializing module|Unable to load module).*$/m.exec(log)?.[0];
}

function accepts(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('error', () => r(false));
  });
}
