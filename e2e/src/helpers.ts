/**
 * Shared helpers for the end-to-end specs: @xmpp/client sessions (register + login, stanza waits), a raw
 * socket client for bad-input tests (plain TCP, STARTTLS, direct TLS), raw SASL PLAIN login, metrics.
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect, Socket } from 'node:net';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import { client, xml } from '@xmpp/client';
import { ScramSha256 } from './scram-sha-256';

// The dev certificate is self-signed; WebSocket needs a global constructor under Node 20.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
// eslint-disable-next-line @typescript-eslint/no-require-imports
(globalThis as unknown as { WebSocket: unknown }).WebSocket ??= require('ws');

export { xml };

export const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
export const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';
export const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
export const NS_STREAM = 'http://etherx.jabber.org/streams';
export const NS_STREAMS_ERR = 'urn:ietf:params:xml:ns:xmpp-streams';
export const NS_STANZAS_ERR = 'urn:ietf:params:xml:ns:xmpp-stanzas';

/** Minimal shape of an @xmpp/xml element, as the tests use it. */
export interface XEl {
  name: string;
  attrs: Record<string, string>;
  children: Array<XEl | string>;
  getChild(name: string, ns?: string): XEl | undefined;
  getChildren(name: string, ns?: string): XEl[];
  getChildElements(): XEl[];
  getChildText(name: string, ns?: string): string | null;
  text(): string;
  is(name: string, ns?: string): boolean;
  toString(): string;
}

let counter = 0;
/** A username unique within this test process (and across runs against fresh platforms). */
export function uniqueName(prefix: string): string {
  counter++;
  return `${prefix}${counter}x${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---- @xmpp/client sessions ------------------------------------------------------------------------

export type Mechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-1' | 'PLAIN';

export interface LoginOptions {
  /** xmpp://host:port (STARTTLS), xmpps://host:port (direct TLS), ws://host:port/xmpp-websocket. */
  service: string;
  domain: string;
  username: string;
  password: string;
  /** Resource to request; omitted: the server generates one. */
  resource?: string;
  mechanism?: Mechanism;
  /** Register (XEP-0077, before authentication) first. */
  register?: boolean;
  /**
   * Direct TLS only: send the XMPP domain as SNI (XEP-0368 clients do; @xmpp/client itself sends none
   * for an IP literal or 'localhost'). Default true.
   */
  sni?: boolean;
  timeoutMs?: number;
}

export interface Session {
  /** The @xmpp/client entity. */
  c: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  jid: string;
  bare: string;
  /** Every stanza received, in order (the waits consume from here). */
  inbox: XEl[];
  /** Errors the entity emitted (stream errors, socket errors). */
  errors: Array<Error & { condition?: string }>;
  /** Mechanisms the server offered (as the client library filtered them). */
  offered: string[];
  send(el: XEl): Promise<void>;
  request(el: XEl, timeoutMs?: number): Promise<XEl>;
  stop(): Promise<void>;
}

const live = new Set<Session>();

/** Create an entity with the test defaults: no reconnect, SCRAM-SHA-256 available, errors collected. */
export function makeClient(opts: { service: string; domain: string; resource?: string; credentials: unknown }) {
  const c = client({ service: opts.service, domain: opts.domain, resource: opts.resource, credentials: opts.credentials });
  c.reconnect.stop();
  c.saslFactory.use(ScramSha256);
  // The library's 2 s for the server's answer to our close is short on a 2-core CI machine running a
  // dozen platform processes; the tests still require the answer, just not within 2 s.
  c.timeout = 8000;
  return c;
}

/** Log in (optionally registering first); rejects with the SASL/stream error on failure. */
export async function login(o: LoginOptions): Promise<Session> {
  const inbox: XEl[] = [];
  const errors: Array<Error & { condition?: string }> = [];
  const offered: string[] = [];
  const mechanism = o.mechanism ?? 'SCRAM-SHA-256';
  // eslint-disable-next-line prefer-const
  let c: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  c = makeClient({
    service: o.service,
    domain: o.domain,
    resource: o.resource,
    credentials: async (auth: (cred: unknown, mech: string) => Promise<void>, mechs: string[]) => {
      offered.push(...mechs);
      if (o.register) {
        await c.iqCaller.request(
          xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:register' }, xml('username', {}, o.username), xml('password', {}, o.password))),
        );
      }
      if (!mechs.includes(mechanism)) throw new Error(`server did not offer ${mechanism} (offered: ${mechs.join(', ')})`);
      await auth({ username: o.username, password: o.password }, mechanism);
    },
  });
  const waiters = new Set<() => void>();
  c._waiters = waiters;
  if (o.sni !== false) {
    const base = c.socketParameters;
    c.socketParameters = function (this: unknown, service: string) {
      const params = base.call(this, service);
      if (params && String(service).startsWith('xmpps:')) params.servername = o.domain;
      return params;
    };
  }
  c.on('error', (e: Error) => errors.push(e));
  c.on('stanza', (s: XEl) => {
    inbox.push(s);
    for (const w of [...waiters]) w();
  });
  try {
    const jid = await withTimeout(c.start() as Promise<unknown>, o.timeoutMs ?? 10_000, 'login');
    const full = String(jid);
    const s: Session = {
      c,
      jid: full,
      bare: full.split('/')[0],
      inbox,
      errors,
      offered,
      send: (el) => c.send(el),
      request: (el, t = 5000) => c.iqCaller.request(el, t),
      stop: async () => {
        live.delete(s);
        await closeEntity(c);
      },
    };
    live.add(s);
    return s;
  } catch (e) {
    await closeEntity(c);
    throw e;
  }
}

export function registerAndLogin(o: Omit<LoginOptions, 'register'>): Promise<Session> {
  return login({ ...o, register: true });
}

/** Stop an entity whatever its state; never throws, never hangs. */
export async function closeEntity(c: any): Promise<void> { // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    if (c.status !== 'offline' && c.status !== 'disconnect') await withTimeout(c.stop(), 3000, 'stop');
  } catch {
    /* already gone */
  }
  try {
    c.socket?.socket?.destroy?.();
  } catch {
    /* ignore */
  }
}

/** Stop every session login() opened and that the test did not stop (call in after/afterEach). */
/**
 * stop() an entity and return the server's closing stream element. The element is also taken from the
 * parser itself: @xmpp/connection starts listening for it only after its own close tag is flushed, so on
 * a loaded machine a fast answer can be parsed first and stop() then reports none.
 */
export async function stopSeeingServerClose(c: any): Promise<XEl | undefined> { // eslint-disable-line @typescript-eslint/no-explicit-any
  let seen: XEl | undefined;
  const parser = c.parser;
  const onEnd = (el: XEl) => {
    seen = el;
  };
  parser?.on('end', onEnd);
  try {
    const el = (await c.stop()) as XEl | undefined;
    return el ?? seen;
  } finally {
    parser?.removeListener?.('end', onEnd);
  }
}

export async function stopAllSessions(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop()));
}

/** Wait for (and take from the inbox) the first received stanza matching pred. */
export function waitForStanza(s: Session, pred: (el: XEl) => boolean, timeoutMs = 5000, what = 'stanza'): Promise<XEl> {
  const waiters: Set<() => void> = s.c._waiters;
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const i = s.inbox.findIndex(pred);
      if (i < 0) return false;
      const [el] = s.inbox.splice(i, 1);
      waiters.delete(fn);
      clearTimeout(timer);
      resolve(el);
      return true;
    };
    const fn = () => void check();
    const timer = setTimeout(() => {
      waiters.delete(fn);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} at ${s.jid}; inbox: ${s.inbox.map(String).join('\n')}`));
    }, timeoutMs);
    waiters.add(fn);
    check();
  });
}

/** Resolve true if no stanza matching pred arrives within ms (consumes nothing). */
export async function noStanza(s: Session, pred: (el: XEl) => boolean, ms = 700): Promise<XEl | null> {
  await sleep(ms);
  return s.inbox.find(pred) ?? null;
}

/** Wait until the entity emitted an error (e.g. a stream error); resolves with it. */
export async function waitForError(s: Session, timeoutMs = 5000): Promise<Error & { condition?: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (s.errors.length) return s.errors[0];
    await sleep(20);
  }
  throw new Error(`no error on ${s.jid} within ${timeoutMs} ms`);
}

export async function waitForStatus(c: any, statuses: string[], timeoutMs = 5000): Promise<string> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (statuses.includes(c.status)) return c.status;
    await sleep(20);
  }
  throw new Error(`status stayed ${c.status}, expected one of ${statuses.join(', ')}`);
}

export function stanzaErrorCondition(el: XEl): string | undefined {
  const err = el.getChild('error');
  return err?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS_ERR && c.name !== 'text')?.name;
}

/** The rejection of an IQ request (StanzaError from @xmpp/iq) or a timeout, as a condition string. */
/** `type` is the <error/> element's type (cancel, modify, auth, wait). */
export async function iqErrorCondition(p: Promise<unknown>): Promise<{ condition: string; type?: string }> {
  try {
    const r = await p;
    throw new Error(`expected an IQ error, got a result: ${String(r)}`);
  } catch (e) {
    const err = e as { condition?: string; element?: XEl; message: string; name?: string };
    if (err.name === 'TimeoutError') throw new Error('no reply to the IQ before the timeout: it vanished (expected an error reply)');
    if (!err.condition) throw e;
    return { condition: err.condition, type: err.element?.attrs.type };
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]);
}

// ---- raw sockets -----------------------------------------------------------------------------------

export function streamHeader(to: string | null, opts: { xmlns?: string; streamNs?: string; version?: string | null; decl?: boolean } = {}): string {
  const toAttr = to === null ? '' : ` to='${to}'`;
  const version = opts.version === null ? '' : ` version='${opts.version ?? '1.0'}'`;
  return (
    (opts.decl === false ? '' : "<?xml version='1.0'?>") +
    `<stream:stream xmlns='${opts.xmlns ?? 'jabber:client'}' xmlns:stream='${opts.streamNs ?? NS_STREAM}'${toAttr}${version}>`
  );
}

/** Regex source matching attribute name=value with either quote. */
export function attrRe(name: string, value: string): string {
  return `${name}=["']${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}["']`;
}

/** A regex for <stream:error><condition .../> ... </stream:error>. */
export function streamErrorRe(condition: string): RegExp {
  return new RegExp(`<stream:error[^>]*>\\s*<${condition}\\s+xmlns=["']${NS_STREAMS_ERR}["']`);
}

export class RawClient {
  private received = '';
  private cursor = 0;
  private closedFlag = false;
  private listeners = new Set<() => void>();
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  socket: Socket | TLSSocket;
  jid = '';
  lastError: Error | null = null;

  private constructor(socket: Socket | TLSSocket) {
    this.socket = socket;
    this.closed = new Promise((r) => (this.resolveClosed = r));
    this.attach(socket);
  }

  /** allowHalfOpen: do not answer the server's FIN with ours (a slow or dead peer that never closes). */
  static connect(port: number, opts: { tls?: boolean; servername?: string; host?: string; allowHalfOpen?: boolean } = {}): Promise<RawClient> {
    const host = opts.host ?? '127.0.0.1';
    const allowHalfOpen = opts.allowHalfOpen ?? false;
    return new Promise((resolve, reject) => {
      const s = opts.tls
        ? tlsConnect({ host, port, servername: opts.servername ?? 'localhost', rejectUnauthorized: false, allowHalfOpen } as unknown as Parameters<typeof tlsConnect>[0])
        : netConnect({ host, port, allowHalfOpen });
      const ok = () => {
        s.off('error', reject);
        resolve(new RawClient(s));
      };
      s.once(opts.tls ? 'secureConnect' : 'connect', ok);
      s.once('error', reject);
    });
  }

  private attach(s: Socket): void {
    s.on('data', (d: Buffer) => {
      this.received += d.toString('utf8');
      this.notify();
    });
    s.on('error', (e) => {
      this.lastError = e;
    });
    s.on('close', () => {
      if (this.socket !== s) return;
      this.closedFlag = true;
      this.resolveClosed();
      this.notify();
    });
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  get text(): string {
    return this.received;
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** Write; resolves when flushed or when the peer is gone (errors are swallowed: bad-input tests expect them). */
  send(data: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.write(data, () => resolve());
    });
  }

  /** Wait for the pattern in what arrived after the previous match; the cursor moves past the match. */
  waitFor(re: RegExp, timeoutMs = 5000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const rest = this.received.slice(this.cursor);
        const m = re.exec(rest);
        if (m) {
          this.cursor += m.index + m[0].length;
          done();
          resolve(m);
          return true;
        }
        return false;
      };
      const done = () => {
        this.listeners.delete(fn);
        clearTimeout(timer);
      };
      const fn = () => {
        if (check()) return;
        if (this.closedFlag) {
          done();
          reject(new Error(`connection closed before ${re}; received:\n${this.received.slice(-3000)}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re}; received:\n${this.received.slice(-3000)}`));
      }, timeoutMs);
      this.listeners.add(fn);
      fn();
    });
  }

  /** Resolve true once the connection is closed, false after timeoutMs. */
  async waitClose(timeoutMs = 5000): Promise<boolean> {
    if (this.closedFlag) return true;
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((res) => (timer = setTimeout(() => res(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return r;
  }

  /** Negotiate STARTTLS on a plain stream whose features were received; the caller reopens the stream. */
  async startTls(servername = 'localhost'): Promise<void> {
    await this.send(`<starttls xmlns='${NS_TLS}'/>`);
    await this.waitFor(/<proceed[^>]*\/>/);
    await this.startTlsAfterProceed(servername);
  }

  /** The TLS handshake on the plain socket, once <proceed/> was received. */
  async startTlsAfterProceed(servername = 'localhost'): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const tls = await new Promise<TLSSocket>((resolve, reject) => {
      const t = tlsConnect({ socket: plain, servername, rejectUnauthorized: false });
      t.once('secureConnect', () => resolve(t));
      t.once('error', reject);
    });
    this.socket = tls;
    this.attach(tls);
  }

  /** STARTTLS presenting a client certificate (S2S: SASL EXTERNAL), files in PEM. */
  async startTlsWithCert(servername: string, certFile: string, keyFile: string): Promise<void> {
    await this.send(`<starttls xmlns='${NS_TLS}'/>`);
    await this.waitFor(/<proceed[^>]*\/>/);
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const tls = await new Promise<TLSSocket>((resolve, reject) => {
      const t = tlsConnect({ socket: plain, servername, rejectUnauthorized: false, cert: readFileSync(certFile), key: readFileSync(keyFile) });
      t.once('secureConnect', () => resolve(t));
      t.once('error', reject);
    });
    this.socket = tls;
    this.attach(tls);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

/** Open a stream (raw) and wait for its features; returns the features XML. */
export async function rawOpen(r: RawClient, domain: string): Promise<string> {
  await r.send(streamHeader(domain));
  const m = await r.waitFor(/<stream:features[^>]*>([\s\S]*?)<\/stream:features>/);
  return m[1];
}

let rawIds = 0;

/**
 * Raw login over direct TLS with SASL PLAIN, optionally registering (XEP-0077) first; binds `resource`.
 * Leaves the cursor after the bind result.
 */
export async function rawLogin(
  tlsPort: number,
  o: { domain: string; username: string; password: string; resource?: string; register?: boolean; allowHalfOpen?: boolean },
): Promise<RawClient> {
  const r = await RawClient.connect(tlsPort, { tls: true, servername: o.domain, allowHalfOpen: o.allowHalfOpen });
  try {
    await rawOpen(r, o.domain);
    if (o.register) {
      const id = `reg${++rawIds}`;
      await r.send(
        `<iq type='set' id='${id}'><query xmlns='jabber:iq:register'><username>${o.username}</username><password>${o.password}</password></query></iq>`,
      );
      await r.waitFor(new RegExp(`<iq[^>]*${attrRe('type', 'result')}[^>]*${attrRe('id', id)}|<iq[^>]*${attrRe('id', id)}[^>]*${attrRe('type', 'result')}`));
    }
    await r.send(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${b64(`\0${o.username}\0${o.password}`)}</auth>`);
    await r.waitFor(/<success[^>]*(\/>|>[^<]*<\/success>)/);
    const features = await rawOpen(r, o.domain);
    if (!features.includes('bind')) throw new Error(`no bind feature after auth: ${features}`);
    const id = `bind${++rawIds}`;
    const res = o.resource ? `<resource>${o.resource}</resource>` : '';
    await r.send(`<iq type='set' id='${id}'><bind xmlns='${NS_BIND}'>${res}</bind></iq>`);
    const m = await r.waitFor(/<jid>([^<]+)<\/jid>/);
    r.jid = m[1];
    return r;
  } catch (e) {
    r.destroy();
    throw e;
  }
}

// ---- metrics ---------------------------------------------------------------------------------------

export async function fetchMetrics(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

/** Sum of a metric's samples whose labels include every given label (0 when absent). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+([-+0-9.eE]+|NaN|\+Inf)/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls: Record<string, string> = {};
    for (const kv of (m[3] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) ls[kv[1]] = kv[2];
    if (Object.entries(labels).every(([k, v]) => ls[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

/** Send a raw IQ (its id given) and wait for the reply with that id; returns the reply's XML text. */
export async function rawRequest(r: RawClient, id: string, iq: string, timeoutMs = 5000): Promise<string> {
  await r.send(iq);
  const m = await r.waitFor(new RegExp(`<iq(?=[^>]*${attrRe('id', id)})[^>]*?(?:/>|>[\\s\\S]*?</iq>)`), timeoutMs);
  return m[0];
}

/** Raw XEP-0077 registration before authentication on a fresh direct-TLS stream; returns the reply and the features. */
export async function rawRegister(
  tlsPort: number,
  o: { domain: string; username: string; password: string },
): Promise<{ reply: string; features: string }> {
  const r = await RawClient.connect(tlsPort, { tls: true, servername: o.domain });
  try {
    const features = await rawOpen(r, o.domain);
    const id = `rr${++rawIds}`;
    const reply = await rawRequest(
      r,
      id,
      `<iq type='set' id='${id}'><query xmlns='jabber:iq:register'><username>${o.username}</username><password>${o.password}</password></query></iq>`,
    );
    return { reply, features };
  } finally {
    r.destroy();
  }
}
