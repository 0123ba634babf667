/**
 * A lean raw-socket XMPP client for load generation: node:net + node:tls + node:crypto, no XMPP library.
 *
 * It speaks just enough RFC 6120 to log in (direct TLS per XEP-0368, or STARTTLS), authenticate with
 * SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802 / RFC 7677, client side implemented here), register in-band
 * (XEP-0077) and bind a resource, then exchange stanzas. Incoming XML is cut into top-level elements
 * with indexOf scanning: we control what the server is asked, so no general XML parser is needed.
 */
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { connect as netConnect, Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, SecureContext, TLSSocket } from 'node:tls';

export type ScramMech = 'SCRAM-SHA-1' | 'SCRAM-SHA-256';
export type TlsMode = 'direct' | 'starttls';

export interface Target {
  host: string;
  /** Plain c2s port (STARTTLS). */
  c2s: number;
  /** Direct TLS port (XEP-0368). */
  c2sTls: number;
  domain: string;
  tls: TlsMode;
  mech: ScramMech;
}

export class XmppError extends Error {}

/**
 * One TLS context for every connection of this process, as a real client keeps. Without it each
 * tls.connect() builds its own: a fifth of this client's CPU in the logins scenario, taken from the
 * server under test on the same two cores. (Sessions are not resumed: every login is a full handshake.)
 */
let sharedContext: SecureContext | null = null;
function clientContext(): SecureContext {
  return (sharedContext ??= createSecureContext({}));
}

/** Top-level element handler: name (e.g. 'message'), the whole element text. */
export type ElementHandler = (name: string, xml: string) => void;

const HEADER = (domain: string) =>
  `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}' version='1.0'>`;

export class XmppConn {
  private sock: Socket | TLSSocket;
  private buf = '';
  private queue: { name: string; xml: string }[] = [];
  private waiter: { resolve: (e: { name: string; xml: string }) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | null = null;
  private out = '';
  private flushScheduled = false;
  private closedErr: Error | null = null;
  /** Once set, elements bypass the queue and go here (the hot path). */
  onElement: ElementHandler | null = null;
  readonly closed: Promise<void>;
  jid = '';

  private constructor(sock: Socket | TLSSocket) {
    this.sock = sock;
    this.closed = new Promise((resolve) => {
      this.attach(sock, resolve);
    });
  }

  private attach(sock: Socket | TLSSocket, onClose?: () => void): void {
    sock.setEncoding('utf8');
    sock.setNoDelay(true);
    sock.on('data', (d: string) => this.onData(d));
    sock.on('error', (e) => this.fail(e));
    if (onClose) {
      sock.on('close', () => {
        this.fail(new XmppError('connection closed'));
        onClose();
      });
    }
  }

  /** TCP (+TLS) connect; resolves once the transport is ready (TLS handshake done for direct TLS). */
  static open(t: Target, timeoutMs = 30_000): Promise<XmppConn> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new XmppError('connect timeout'));
      }, timeoutMs);
      const done = (err?: Error) => {
        clearTimeout(timer);
        sock.removeListener('error', done);
        if (err) {
          sock.destroy();
          reject(err);
        } else {
          if (sock instanceof TLSSocket) noteTls(sock, 'direct');
          resolve(new XmppConn(sock));
        }
      };
      const sock: Socket =
        t.tls === 'direct'
          ? tlsConnect({ host: t.host, port: t.c2sTls, servername: t.domain, rejectUnauthorized: false, ALPNProtocols: ['xmpp-client'], secureContext: clientContext() }, () => done())
          : netConnect({ host: t.host, port: t.c2s }, () => done());
      sock.once('error', done);
    });
  }

  private fail(e: Error): void {
    if (!this.closedErr) this.closedErr = e;
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      clearTimeout(w.timer);
      w.reject(this.closedErr);
    }
  }

  private onData(d: string): void {
    const b = this.buf.length ? this.buf + d : d;
    let p = 0;
    const n = b.length;
    for (;;) {
      const lt = b.indexOf('<', p);
      if (lt === -1) {
        p = n;
        break;
      }
      const c1 = b.charCodeAt(lt + 1);
      if (c1 === 63 /* ? */) {
        const e = b.indexOf('?>', lt);
        if (e === -1) {
          p = lt;
          break;
        }
        p = e + 2;
        continue;
      }
      const gt = b.indexOf('>', lt);
      if (gt === -1) {
        p = lt;
        break;
      }
      let ne = lt + 1;
      while (ne < gt) {
        const c = b.charCodeAt(ne);
        if (c === 32 || c === 47 || c === 62 || c === 9 || c === 10 || c === 13) break;
        ne++;
      }
      if (c1 === 47 /* / */) {
        // A stray closing tag at top level: only </stream:stream> is expected.
        this.emit(b.slice(lt + 1, gt), b.slice(lt, gt + 1));
        p = gt + 1;
        continue;
      }
      const name = b.slice(lt + 1, ne);
      if (name === 'stream:stream') {
        this.emit('stream:stream', b.slice(lt, gt + 1));
        p = gt + 1;
        continue;
      }
      let end: number;
      if (b.charCodeAt(gt - 1) === 47) end = gt + 1;
      else {
        const close = b.indexOf(`</${name}>`, gt);
        if (close === -1) {
          p = lt;
          break;
        }
        end = close + name.length + 3;
      }
      this.emit(name, b.slice(lt, end));
      p = end;
    }
    this.buf = p >= n ? '' : b.slice(p);
  }

  private emit(name: string, xml: string): void {
    if (this.onElement) return this.onElement(name, xml);
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      clearTimeout(w.timer);
      w.resolve({ name, xml });
    } else this.queue.push({ name, xml });
  }

  /** The next top-level element (or stream header / close). */
  next(timeoutMs = 30_000): Promise<{ name: string; xml: string }> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    if (this.closedErr) return Promise.reject(this.closedErr);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new XmppError('timeout waiting for the server'));
      }, timeoutMs);
      this.waiter = { resolve, reject, timer };
    });
  }

  /** Next element, which must be named `name` (a stream error or anything else throws). */
  async expect(name: string, timeoutMs?: number): Promise<string> {
    const e = await this.next(timeoutMs);
    if (e.name !== name) throw new XmppError(`expected <${name}>, got ${e.xml.slice(0, 300)}`);
    return e.xml;
  }

  /** Write now (negotiation). */
  write(s: string): void {
    this.sock.write(s);
  }

  /** Queue a write; everything queued in this tick leaves in one socket write (hot path). */
  send(s: string): void {
    this.out += s;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const s = this.out;
    this.out = '';
    if (s && !this.sock.destroyed) this.sock.write(s);
  };

  /** Open the stream and return the features element. */
  async openStream(domain: string): Promise<string> {
    this.write(HEADER(domain));
    await this.expect('stream:stream');
    return this.expect('stream:features');
  }

  /** RFC 6120 §5: upgrade the plain socket in place. */
  async startTls(domain: string): Promise<void> {
    this.write(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`);
    await this.expect('proceed');
    const plain = this.sock;
    plain.removeAllListeners('data');
    plain.removeAllListeners('error');
    this.buf = '';
    const tls = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ socket: plain, servername: domain, rejectUnauthorized: false, secureContext: clientContext() }, () => resolve(s));
      s.once('error', reject);
    });
    this.sock = tls;
    noteTls(tls, 'starttls');
    this.attach(tls);
  }

  /** Close politely: send </stream:stream>, wait for the server to close (or give up after timeoutMs). */
  async close(timeoutMs = 5000): Promise<void> {
    this.onElement = () => undefined;
    if (!this.sock.destroyed) {
      this.sock.write('</stream:stream>');
      this.sock.end();
    }
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.closed, new Promise<void>((r) => (t = setTimeout(r, timeoutMs)))]);
    clearTimeout(t);
    this.sock.destroy();
  }

  destroy(): void {
    this.sock.destroy();
  }
}

// ---- SCRAM client (RFC 5802 §3, §5; RFC 7677) --------------------------------------------------

const HASH: Record<ScramMech, { alg: 'sha1' | 'sha256'; len: number }> = {
  'SCRAM-SHA-1': { alg: 'sha1', len: 20 },
  'SCRAM-SHA-256': { alg: 'sha256', len: 32 },
};

interface ScramKeys {
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/**
 * SaltedPassword-derived keys, cached per (mechanism, user, salt, iterations): RFC 5802 §5.1 lets a
 * client store ClientKey/ServerKey instead of the password. Keeps PBKDF2 off this shared CPU when the
 * same account logs in repeatedly; the server's work per login is unchanged.
 */
const keyCache = new Map<string, ScramKeys>();
export const scramStats = { pbkdf2: 0, cached: 0 };

/** What the first TLS handshake negotiated (protocol, cipher, server key), for the JSON: servers may differ. */
export const tlsSeen: { protocol?: string; cipher?: string; group?: string; cert_key_bits?: number; mode?: string } = {};
function noteTls(s: TLSSocket, mode: string): void {
  if (tlsSeen.protocol) return;
  const eph = s.getEphemeralKeyInfo() as { name?: string; type?: string } | null;
  const cert = s.getPeerCertificate() as { bits?: number } | null;
  Object.assign(tlsSeen, {
    protocol: s.getProtocol() ?? undefined,
    cipher: s.getCipher()?.name,
    group: eph?.name ?? eph?.type,
    cert_key_bits: cert?.bits,
    mode,
  });
}

function saslName(s: string): string {
  return s.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

async function scramKeys(mech: ScramMech, user: string, password: string, salt: string, iterations: number): Promise<ScramKeys> {
  const key = `${mech}\0${user}\0${salt}\0${iterations}`;
  const hit = keyCache.get(key);
  if (hit) {
    scramStats.cached++;
    return hit;
  }
  const { alg, len } = HASH[mech];
  const salted = await new Promise<Buffer>((res, rej) =>
    pbkdf2(password.normalize('NFKC'), Buffer.from(salt, 'base64'), iterations, len, alg, (e, k) => (e ? rej(e) : res(k))),
  );
  scramStats.pbkdf2++;
  const clientKey = createHmac(alg, salted).update('Client Key').digest();
  const keys = {
    clientKey,
    storedKey: createHash(alg).update(clientKey).digest(),
    serverKey: createHmac(alg, salted).update('Server Key').digest(),
  };
  keyCache.set(key, keys);
  return keys;
}

function textOf(xml: string): string {
  const a = xml.indexOf('>');
  const b = xml.lastIndexOf('</');
  if (a === -1 || b === -1 || b < a || xml.charCodeAt(a - 1) === 47) return '';
  return xml.slice(a + 1, b).trim();
}

export async function scramAuth(c: XmppConn, mech: ScramMech, user: string, password: string): Promise<void> {
  const { alg } = HASH[mech];
  const gs2 = 'n,,';
  const cnonce = randomBytes(18).toString('base64');
  const clientFirstBare = `n=${saslName(user)},r=${cnonce}`;
  c.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='${mech}'>${Buffer.from(gs2 + clientFirstBare).toString('base64')}</auth>`);
  const ch = await c.next();
  if (ch.name !== 'challenge') throw new XmppError(`SASL: expected challenge, got ${ch.xml.slice(0, 200)}`);
  const serverFirst = Buffer.from(textOf(ch.xml), 'base64').toString('utf8');
  let r = '';
  let s = '';
  let i = 0;
  for (const part of serverFirst.split(',')) {
    if (part.startsWith('r=')) r = part.slice(2);
    else if (part.startsWith('s=')) s = part.slice(2);
    else if (part.startsWith('i=')) i = Number(part.slice(2));
  }
  if (!r.startsWith(cnonce) || !s || !(i > 0)) throw new XmppError(`SASL: bad server-first-message ${serverFirst}`);
  const keys = await scramKeys(mech, user, password, s, i);
  const withoutProof = `c=${Buffer.from(gs2).toString('base64')},r=${r}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const sig = createHmac(alg, keys.storedKey).update(authMessage).digest();
  const proof = Buffer.alloc(sig.length);
  for (let k = 0; k < sig.length; k++) proof[k] = keys.clientKey[k]! ^ sig[k]!;
  c.write(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${Buffer.from(`${withoutProof},p=${proof.toString('base64')}`).toString('base64')}</response>`);
  const res = await c.next();
  if (res.name !== 'success') throw new XmppError(`SASL: ${res.xml.slice(0, 300)}`);
  const serverFinal = Buffer.from(textOf(res.xml), 'base64').toString('utf8');
  const expected = createHmac(alg, keys.serverKey).update(authMessage).digest('base64');
  if (serverFinal !== `v=${expected}`) throw new XmppError(`SASL: server signature mismatch (${serverFinal})`);
}

// ---- whole flows -----------------------------------------------------------------------------

/** Connect, secure the stream; resolves with the pre-auth features. */
export async function connectSecure(t: Target): Promise<{ c: XmppConn; features: string }> {
  const c = await XmppConn.open(t);
  try {
    let features = await c.openStream(t.domain);
    if (t.tls === 'starttls') {
      if (!features.includes('urn:ietf:params:xml:ns:xmpp-tls')) throw new XmppError('no STARTTLS offered');
      await c.startTls(t.domain);
      features = await c.openStream(t.domain);
    }
    return { c, features };
  } catch (e) {
    c.destroy();
    throw e;
  }
}

export type RegisterResult = 'created' | 'exists';

/** XEP-0077 §3.1 in-band registration on a fresh secured stream; closes the connection. */
export async function register(t: Target, user: string, password: string): Promise<RegisterResult> {
  const { c } = await connectSecure(t);
  try {
    c.write(
      `<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>${user}</username><password>${password}</password></query></iq>`,
    );
    const r = await c.expect('iq');
    if (/type=["']result["']/.test(r)) return 'created';
    if (r.includes('<conflict')) return 'exists';
    throw new XmppError(`registration of ${user} failed: ${r.slice(0, 300)}`);
  } finally {
    await c.close(2000);
  }
}

/** Register many accounts, `parallel` at a time; existing accounts count as success. */
export async function registerAll(
  t: Target,
  users: string[],
  password: string,
  parallel: number,
  progress?: (done: number) => void,
): Promise<{ created: number; existed: number }> {
  let next = 0;
  let created = 0;
  let existed = 0;
  const worker = async () => {
    while (next < users.length) {
      const u = users[next++]!;
      let attempt = 0;
      for (;;) {
        try {
          const r = await register(t, u, password);
          if (r === 'created') created++;
          else existed++;
          break;
        } catch (e) {
          if (++attempt >= 3) throw e;
          await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
      const done = created + existed;
      if (progress && done % 500 === 0) progress(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, users.length) }, worker));
  return { created, existed };
}

export interface LoginOptions {
  resource: string;
  /** Send initial presence after binding. */
  presence?: boolean;
}

/** A full login: connect, TLS, SCRAM, stream restart, bind. Returns the bound connection. */
export async function login(t: Target, user: string, password: string, opts: LoginOptions): Promise<XmppConn> {
  const { c, features } = await connectSecure(t);
  try {
    if (!features.includes(`>${t.mech}<`)) throw new XmppError(`${t.mech} not offered: ${features.slice(0, 300)}`);
    await scramAuth(c, t.mech, user, password);
    const f2 = await c.openStream(t.domain);
    if (!f2.includes('urn:ietf:params:xml:ns:xmpp-bind')) throw new XmppError(`no bind feature: ${f2.slice(0, 200)}`);
    c.write(
      `<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${opts.resource}</resource></bind></iq>`,
    );
    const r = await c.expect('iq');
    const a = r.indexOf('<jid>');
    const b = r.indexOf('</jid>');
    if (a === -1 || b === -1) throw new XmppError(`bind failed: ${r.slice(0, 300)}`);
    c.jid = r.slice(a + 5, b);
    if (opts.presence) c.write('<presence/>');
    return c;
  } catch (e) {
    c.destroy();
    throw e;
  }
}
