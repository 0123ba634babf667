/** Command-line flags: `--name value` or `--name=value`; booleans as `--flag`. */
import type { ScramMech, TlsMode } from './client';

export type CertKind = 'rsa' | 'ec';

export type Scenario = 'logins' | 'messages' | 'idle';

export type TargetKind = 'ours' | 'ejabberd' | 'prosody';

export interface Config {
  scenarios: Scenario[];
  /** What to measure: our platform (default) or a peer server from the Debian packages. */
  target: TargetKind;
  edges: number;
  /** Replicas of each bus service (presence, roster, offline, federation) beside the edge and router. */
  services: number;
  routers: number;
  /** Full logins to time. */
  logins: number;
  /** Logins running at once. */
  loginConcurrency: number;
  /** Distinct accounts the logins cycle through. */
  loginUsers: number;
  /** Untimed logins before the timed part (at least one per account). */
  loginWarmup: number;
  /** Users in the message test (pairs = users / 2). */
  users: number;
  /** Outstanding messages per sender in the throughput run. */
  window: number;
  /** Offered rate (msg/s, all senders together) in the latency run. */
  rate: number;
  /** Seconds of each timed message run. */
  duration: number;
  /** Seconds to wait for stragglers after a message run before counting them lost. */
  drain: number;
  /** Idle sessions for the memory figure. */
  idle: number;
  /** Distinct accounts for the idle sessions (resources spread over them). */
  idleUsers: number;
  idleBatch: number;
  idlePauseMs: number;
  /**
   * Bytes each idle session sends itself and reads back in one message before it goes idle (0: none): a
   * session that once received more than ~1 KB at once, as after a roster or a few offline messages.
   */
  idleEcho: number;
  /** Settle time before each RSS reading. */
  settleMs: number;
  registerParallel: number;
  tls: TlsMode;
  /** Key type of the server certificate, for every target alike. */
  cert: CertKind;
  mech: ScramMech;
  bodyBytes: number;
  /** Directory for CPU profiles of edge/router (.cpuprofile), or '' for none. */
  cpuProf: string;
  /** Extra environment for the platform processes, KEY=VALUE. */
  env: Record<string, string>;
  /** What-if: NATS clients of the platform without async stack traces (patched in by the preload). */
  natsNoAsyncTraces: boolean;
  /** Overall wall-clock limit in seconds; the run aborts (with what it has) beyond it. */
  timeLimit: number;
}

const HELP = `usage: node bench/dist/main.js [flags]
  --scenario all|logins|messages|idle[,..]  what to run (default all)
  --target ours|ejabberd|prosody  what to measure (default ours); peers are the Debian packages, started
                              with a generated config in a temp dir (see bench/src/peers.ts)
  --edges N --routers N       platform shape (split mode; default 1 and 1)
  --services N                replicas of presence, roster, offline, federation (default 1; 0: edge, router, nats only)
  --logins N                  full logins to time (default 2000)
  --concurrency N             logins in flight (default 50)
  --login-users N             accounts the logins cycle through (default 200)
  --login-warmup N            untimed logins first, JIT and caches warm (default 2000, at least --login-users)
  --pairs N                   users in the message test, N/2 pairs (default 100)
  --window N                  outstanding messages per sender, throughput run (default 20)
  --rate N                    offered msg/s in the latency run (default 2000)
  --duration S                seconds per timed message run (default 10)
  --drain S                   seconds to wait for stragglers before counting loss (default 5)
  --idle K                    idle sessions for the memory figure (default 10000)
  --idle-users N              accounts for the idle sessions (default = K)
  --idle-batch N --idle-pause MS   connection batches for the idle sessions (default 250, 100)
  --idle-echo BYTES           each idle session first sends itself one message of BYTES body bytes and
                              reads it back (default 0: none), like a client that got a roster at login
  --settle MS                 settle time before RSS readings (default 5000)
  --tls direct|starttls       XEP-0368 direct TLS (default) or STARTTLS on the plain port
  --cert rsa|ec               server certificate for every target: RSA-2048 (default; ours uses the one it
                              generates) or ECDSA P-256 (made with openssl, for ours through TLS_CERT_DIR)
  --mech SCRAM-SHA-1|SCRAM-SHA-256   (default SCRAM-SHA-1)
  --body N                    message body bytes (default 64)
  --cpu-prof DIR              write CPU profiles of the platform's node processes to DIR (per timed phase)
  --env KEY=VALUE             extra env for the platform (repeatable)
  --nats-no-async-traces      what-if: patch the platform's nats.js clients to noAsyncTraces (not the default)
  --time-limit S              abort after S seconds (default 900)
`;

export function parseArgs(argv: string[]): Config {
  const cfg: Config = {
    scenarios: ['logins', 'messages', 'idle'],
    target: 'ours',
    edges: 1,
    services: 1,
    routers: 1,
    logins: 2000,
    loginConcurrency: 50,
    loginUsers: 200,
    loginWarmup: 2000,
    users: 100,
    window: 20,
    rate: 2000,
    duration: 10,
    drain: 5,
    idle: 10000,
    idleUsers: 0,
    idleBatch: 250,
    idlePauseMs: 100,
    idleEcho: 0,
    settleMs: 5000,
    registerParallel: 32,
    tls: 'direct',
    cert: 'rsa',
    mech: 'SCRAM-SHA-1',
    bodyBytes: 64,
    cpuProf: '',
    env: {},
    timeLimit: 900,
    natsNoAsyncTraces: false,
  };
  const int = (name: string, v: string, min = 0): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name}: expected a number >= ${min}, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!;
    let v: string | undefined;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}\n${HELP}`);
    a = a.slice(2);
    const eq = a.indexOf('=');
    if (eq !== -1) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const val = (): string => {
      if (v !== undefined) return v;
      const n = argv[++i];
      if (n === undefined) throw new Error(`--${a} needs a value`);
      return n;
    };
    switch (a) {
      case 'help':
      case 'h':
        process.stdout.write(HELP);
        process.exit(0);
        break;
      case 'scenario': {
        const s = val();
        cfg.scenarios = s === 'all' ? ['logins', 'messages', 'idle'] : (s.split(',') as Scenario[]);
        for (const x of cfg.scenarios) if (!['logins', 'messages', 'idle'].includes(x)) throw new Error(`unknown scenario ${x}`);
        break;
      }
      case 'target': {
        const t = val();
        if (t !== 'ours' && t !== 'ejabberd' && t !== 'prosody') throw new Error('--target: ours, ejabberd or prosody');
        cfg.target = t;
        break;
      }
      case 'edges': cfg.edges = int(a, val(), 1); break;
      case 'services': cfg.services = int(a, val(), 0); break;
      case 'routers': cfg.routers = int(a, val(), 1); break;
      case 'logins': cfg.logins = int(a, val(), 1); break;
      case 'concurrency': cfg.loginConcurrency = int(a, val(), 1); break;
      case 'login-users': cfg.loginUsers = int(a, val(), 1); break;
      case 'login-warmup': cfg.loginWarmup = int(a, val(), 0); break;
      case 'pairs':
      case 'users': {
        cfg.users = int(a, val(), 2);
        if (cfg.users % 2) cfg.users++;
        break;
      }
      case 'window': cfg.window = int(a, val(), 1); break;
      case 'rate': cfg.rate = int(a, val(), 1); break;
      case 'duration': cfg.duration = int(a, val(), 1); break;
      case 'drain': cfg.drain = int(a, val(), 0); break;
      case 'idle': cfg.idle = int(a, val(), 1); break;
      case 'idle-users': cfg.idleUsers = int(a, val(), 1); break;
      case 'idle-batch': cfg.idleBatch = int(a, val(), 1); break;
      case 'idle-pause': cfg.idlePauseMs = int(a, val(), 0); break;
      case 'idle-echo': cfg.idleEcho = int(a, val(), 0); break;
      case 'settle': cfg.settleMs = int(a, val(), 0); break;
      case 'register-parallel': cfg.registerParallel = int(a, val(), 1); break;
      case 'tls': {
        const t = val();
        if (t !== 'direct' && t !== 'starttls') throw new Error('--tls: direct or starttls');
        cfg.tls = t;
        break;
      }
      case 'cert': {
        const c = val();
        if (c !== 'rsa' && c !== 'ec') throw new Error('--cert: rsa or ec');
        cfg.cert = c;
        break;
      }
      case 'mech': {
        const m = val().toUpperCase();
        if (m !== 'SCRAM-SHA-1' && m !== 'SCRAM-SHA-256') throw new Error('--mech: SCRAM-SHA-1 or SCRAM-SHA-256');
        cfg.mech = m;
        break;
      }
      case 'body': cfg.bodyBytes = int(a, val(), 0); break;
      case 'cpu-prof': cfg.cpuProf = val(); break;
      case 'env': {
        const kv = val();
        const e = kv.indexOf('=');
        if (e < 1) throw new Error(`--env KEY=VALUE, got ${kv}`);
        cfg.env[kv.slice(0, e)] = kv.slice(e + 1);
        break;
      }
      case 'nats-no-async-traces': cfg.natsNoAsyncTraces = true; break;
      case 'time-limit': cfg.timeLimit = int(a, val(), 10); break;
      default:
        throw new Error(`unknown flag --${a}\n${HELP}`);
    }
  }
  if (!cfg.idleUsers) cfg.idleUsers = cfg.idle;
  return cfg;
}
