/**
 * XMPP over WebSocket (RFC 7395) and its discovery (XEP-0156) on the edge's HTTP port: host-meta,
 * @xmpp/client over ws:// chatting with a TCP user, framing (one element per message, <open/> and
 * <close/>), stream errors on malformed frames, and the 'xmpp' subprotocol requirement.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startPlatform, Platform } from './platform';
import { registerAndLogin, rawLogin, RawClient, Session, stopAllSessions, uniqueName, waitForStanza, xml } from './helpers';

const DOMAIN = 'localhost';
const FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';

/** A raw WebSocket with every text message kept as one frame. */
class RawWs {
  frames: string[] = [];
  closed: Promise<{ code: number }>;
  private listeners = new Set<() => void>();
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer, isBinary: boolean) => {
      this.frames.push(isBinary ? `[binary]${d.toString()}` : d.toString());
      for (const l of [...this.listeners]) l();
    });
    this.closed = new Promise((r) => ws.on('close', (code: number) => {
      r({ code });
      for (const l of [...this.listeners]) l();
    }));
  }

  static open(url: string, protocols: string | string[] = 'xmpp'): Promise<RawWs> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols);
      const raw = new RawWs(ws);
      ws.once('open', () => resolve(raw));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    });
  }

  /** A Buffer goes out as it is, in a text frame unless `binary` (the ws library does not check its UTF-8). */
  send(s: string | Buffer, opts: { binary?: boolean } = {}): void {
    this.ws.send(opts.binary && typeof s === 'string' ? Buffer.from(s) : s, { binary: opts.binary === true });
  }

  /** Wait for a frame matching re (searching from frame index `from`); returns its index. */
  waitFrame(re: RegExp, from = 0, timeoutMs = 5000): Promise<number> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.frames.findIndex((f, k) => k >= from && re.test(f));
        if (i >= 0) {
          this.listeners.delete(check);
          clearTimeout(t);
          resolve(i);
        } else if (this.ws.readyState === WebSocket.CLOSED) {
          this.listeners.delete(check);
          clearTimeout(t);
          reject(new Error(`closed before ${re}; frames:\n${this.frames.join('\n')}`));
        }
      };
      const t = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`timeout waiting for ${re}; frames:\n${this.frames.join('\n')}`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    let t: NodeJS.Timeout | undefined;
    const r = await Promise.race([this.closed.then(() => true), new Promise<boolean>((res) => (t = setTimeout(() => res(false), timeoutMs)))]);
    clearTimeout(t);
    return r;
  }
}

describe('RFC 7395 XMPP over WebSocket and XEP-0156 discovery', () => {
  let p: Platform;
  let wsUrl = '';
  const opened: RawWs[] = [];
  const raws: RawClient[] = [];

  before(async () => {
    p = await startPlatform({ mode: 'all-in-one' });
    wsUrl = `ws://127.0.0.1:${p.edges[0].http}/xmpp-websocket`;
  });

  after(async () => {
    for (const w of opened) w.ws.terminate();
    for (const r of raws) r.destroy();
    await stopAllSessions();
    await p?.stop();
  });

  const openRaw = async (protocols?: string | string[]) => {
    const w = await RawWs.open(wsUrl, protocols);
    opened.push(w);
    return w;
  };

  it('GET /.well-known/host-meta (XRD) names the WebSocket endpoint (XEP-0156 §3)', async () => {
    const res = await fetch(`http://127.0.0.1:${p.edges[0].http}/.well-known/host-meta`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/xrd\+xml/);
    const body = await res.text();
    assert.match(body, /<XRD xmlns=['"]http:\/\/docs.oasis-open.org\/ns\/xri\/xrd-1.0['"]/);
    const link = /<Link\s+rel=["']urn:xmpp:alt-connections:websocket["']\s+href=["']([^"']+)["']/.exec(body);
    assert.ok(link, body);
    assert.equal(link[1], wsUrl);
  });

  it('GET /.well-known/host-meta.json (JRD) names the WebSocket endpoint', async () => {
    const res = await fetch(`http://127.0.0.1:${p.edges[0].http}/.well-known/host-meta.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const body = (await res.json()) as { links: Array<{ rel: string; href: string }> };
    const link = body.links.find((l) => l.rel === 'urn:xmpp:alt-connections:websocket');
    assert.ok(link, JSON.stringify(body));
    assert.equal(link.href, wsUrl);
  });

  it('a WebSocket user and a TCP user chat both ways', async () => {
    const web: Session = await registerAndLogin({ service: wsUrl, domain: DOMAIN, username: uniqueName('web'), password: 'pw', resource: 'browser' });
    const tcp: Session = await registerAndLogin({ service: `xmpp://127.0.0.1:${p.edges[0].c2s}`, domain: DOMAIN, username: uniqueName('tcp'), password: 'pw', resource: 'desk' });
    assert.equal(web.jid.split('/')[1], 'browser');
    await web.send(xml('message', { to: tcp.jid, type: 'chat', id: 'w2t' }, xml('body', {}, 'from the browser ✓')));
    const m1 = await waitForStanza(tcp, (el) => el.attrs.id === 'w2t');
    assert.equal(m1.attrs.from, web.jid);
    assert.equal(m1.getChildText('body'), 'from the browser ✓');
    await tcp.send(xml('message', { to: web.jid, type: 'chat', id: 't2w' }, xml('body', {}, 'from the desktop <3')));
    const m2 = await waitForStanza(web, (el) => el.attrs.id === 't2w');
    assert.equal(m2.attrs.from, tcp.jid);
    assert.equal(m2.getChildText('body'), 'from the desktop <3');
    // Bare JID after presence, too.
    await web.send(xml('presence'));
    await waitForStanza(web, (el) => el.name === 'presence' && el.attrs.from === web.jid);
    await new Promise((r) => setTimeout(r, 150));
    await tcp.send(xml('message', { to: web.bare, type: 'chat', id: 't2wbare' }, xml('body', {}, 'bare')));
    await waitForStanza(web, (el) => el.attrs.id === 't2wbare');
    const res = await web.request(xml('iq', { type: 'get', to: DOMAIN }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.equal(res.attrs.type, 'result');
    await web.stop();
    await tcp.stop();
  });

  it('framing: <open/> answered by <open/> then <stream:features/> with the prefix declared, one element per message (§3.3.3, §3.4)', async () => {
    const w = await openRaw();
    w.send(`<open xmlns='${FRAMING}' to='${DOMAIN}' version='1.0'/>`);
    const i = await w.waitFrame(/^<open /);
    assert.match(w.frames[i], new RegExp(`xmlns=["']${FRAMING}["']`));
    assert.match(w.frames[i], new RegExp(`from=["']${DOMAIN}["']`));
    assert.match(w.frames[i], /version=["']1.0["']/);
    assert.match(w.frames[i], /\/>$/, 'the open element is a complete, self-closed element');
    const f = await w.waitFrame(/<stream:features/, i + 1);
    assert.equal(f, i + 1);
    assert.match(w.frames[f], /^<stream:features xmlns:stream=["']http:\/\/etherx.jabber.org\/streams["']>[\s\S]*<\/stream:features>$/);
    assert.match(w.frames[f], /SCRAM-SHA-256/);
    assert.doesNotMatch(w.frames[f], /starttls/, 'no STARTTLS on WebSocket (§3.7)');
    for (const fr of w.frames) assert.doesNotMatch(fr, /<stream:stream/, 'no stream header on WebSocket');
  });

  it('closing: <close/> from the client is answered with <close/> and the WebSocket closes (§3.6)', async () => {
    const w = await openRaw();
    w.send(`<open xmlns='${FRAMING}' to='${DOMAIN}' version='1.0'/>`);
    await w.waitFrame(/<\/stream:features>/);
    w.send(`<close xmlns='${FRAMING}'/>`);
    await w.waitFrame(/^<close xmlns=["']urn:ietf:params:xml:ns:xmpp-framing["']\s*\/>$/);
    assert.equal(await w.waitClosed(5000), true);
  });

  it('a malformed frame gets a stream error (stream prefix declared) and <close/>, then the WebSocket closes (§3.6.1)', async () => {
    const w = await openRaw();
    w.send(`<open xmlns='${FRAMING}' to='${DOMAIN}' version='1.0'/>`);
    await w.waitFrame(/<\/stream:features>/);
    const before = w.frames.length;
    w.send(`<message><body>oops</message>`);
    const e = await w.waitFrame(/<stream:error/, before);
    assert.match(w.frames[e], /xmlns:stream=["']http:\/\/etherx.jabber.org\/streams["']/);
    assert.match(w.frames[e], /<not-well-formed xmlns=["']urn:ietf:params:xml:ns:xmpp-streams["']/);
    const c = await w.waitFrame(/^<close xmlns=["']urn:ietf:params:xml:ns:xmpp-framing["']\s*\/>$/, e + 1);
    assert.equal(c, e + 1);
    assert.equal(await w.waitClosed(5000), true);
  });

  const refusedFrames: Array<[string, (w: RawWs) => void, string]> = [
    [
      'a binary frame -> bad-format (§3.2: text frames only)',
      (w) => w.send(`<presence/>`, { binary: true }),
      'bad-format',
    ],
    [
      'a message just over MAX_STANZA_BYTES -> policy-violation (RFC 6120 §4.9.3.15)',
      (w) => w.send(`<message to='x@${DOMAIN}'><body>${'x'.repeat(262_144)}</body></message>`),
      'policy-violation',
    ],
    [
      'a 1 MB message, refused by the WebSocket layer before it is read whole -> policy-violation, not a bare close',
      (w) => w.send(`<message to='x@${DOMAIN}'><body>${'x'.repeat(1 << 20)}</body></message>`),
      'policy-violation',
    ],
    [
      'a text frame that is not UTF-8 -> not-well-formed, as on TCP',
      (w) => w.send(Buffer.concat([Buffer.from(`<message to='x@${DOMAIN}'><body>`), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('</body></message>')])),
      'not-well-formed',
    ],
    [
      'a message that ends inside an element -> not-well-formed (§3.3.3: whole elements per message)',
      (w) => w.send(`<message to='x@${DOMAIN}'><body>half`),
      'not-well-formed',
    ],
  ];
  for (const [what, send, condition] of refusedFrames) {
    it(what, async () => {
      const w = await openRaw();
      w.send(`<open xmlns='${FRAMING}' to='${DOMAIN}' version='1.0'/>`);
      await w.waitFrame(/<\/stream:features>/);
      const before = w.frames.length;
      send(w);
      const e = await w.waitFrame(/<stream:error/, before);
      assert.match(w.frames[e], new RegExp(`<${condition} `));
      await w.waitFrame(/^<close /, e + 1);
      assert.equal(await w.waitClosed(5000), true);
    });
  }

  it('a TCP stream header sent over WebSocket gets not-well-formed (not connection-timeout once the auth timeout runs out)', async () => {
    const w = await openRaw();
    w.send(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${DOMAIN}' version='1.0'>`);
    const e = await w.waitFrame(/<stream:error/);
    assert.match(w.frames[e], /<not-well-formed /);
    assert.equal(await w.waitClosed(5000), true);
  });

  it('a flood of WebSocket pings is cut off (more than 60 pongs pending), and the edge serves the next client', async () => {
    const w = await openRaw();
    for (let i = 0; i < 500; i++) w.ws.ping();
    assert.equal((await w.closed).code, 1006, 'the edge drops the connection without a close handshake');
    const next = await openRaw();
    next.send(`<open xmlns='${FRAMING}' to='${DOMAIN}' version='1.0'/>`);
    await next.waitFrame(/<\/stream:features>/);
  });

  it("an <open/> without version -> unsupported-version (§3.4 takes RFC 6120's stream attributes)", async () => {
    const w = await openRaw();
    w.send(`<open xmlns='${FRAMING}' to='${DOMAIN}'/>`);
    const e = await w.waitFrame(/<stream:error/);
    assert.match(w.frames[e], /<unsupported-version /);
    assert.equal(w.frames.some((f) => f.includes('<stream:features')), false);
    assert.equal(await w.waitClosed(5000), true);
  });

  it('a stanza before <open/> is refused with a stream error', async () => {
    const w = await openRaw();
    w.send(`<message to='x@${DOMAIN}'><body>too early</body></message>`);
    await w.waitFrame(/<stream:error/);
    assert.equal(await w.waitClosed(5000), true);
  });

  it('an <open/> to a domain not served -> host-unknown', async () => {
    const w = await openRaw();
    w.send(`<open xmlns='${FRAMING}' to='nowhere.invalid' version='1.0'/>`);
    const e = await w.waitFrame(/<stream:error/);
    assert.match(w.frames[e], /<host-unknown /);
    assert.equal(await w.waitClosed(5000), true);
  });

  it("an upgrade without the 'xmpp' subprotocol is refused (§3.1)", async () => {
    await assert.rejects(RawWs.open(wsUrl, []), (e: Error & { status?: number }) => {
      assert.ok(e.status === undefined || e.status >= 400, `status ${e.status}`);
      return true;
    });
    await assert.rejects(RawWs.open(wsUrl, ['chat', 'soap']));
    // With it (among others) the upgrade succeeds and the server picks 'xmpp'.
    const w = await openRaw(['chat', 'xmpp']);
    assert.equal(w.ws.protocol, 'xmpp');
  });

  it('an upgrade on another path is refused; a plain GET on the endpoint says to upgrade', async () => {
    await assert.rejects(RawWs.open(`ws://127.0.0.1:${p.edges[0].http}/not-xmpp`, 'xmpp'));
    const res = await fetch(wsUrl.replace(/^ws:/, 'http:'));
    assert.equal(res.status, 426);
  });

  it('a WebSocket user and a raw direct-TLS user: messages both ways, the WS side gets one stanza per frame', async () => {
    const t = await rawLogin(p.edges[0].c2sTls, { domain: DOMAIN, username: uniqueName('tlsraw'), password: 'pw', register: true, resource: 'r' });
    raws.push(t);
    // The client on the WS side; its WebSocket's messages are watched directly.
    const web = await registerAndLogin({ service: wsUrl, domain: DOMAIN, username: uniqueName('wsframes'), password: 'pw', resource: 'w' });
    const frames: string[] = [];
    web.c.socket.socket.addEventListener('message', (ev: { data: unknown }) => frames.push(String(ev.data)));
    await t.send(`<message to='${web.jid}' id='m1' type='chat'><body>one</body></message><message to='${web.jid}' id='m2' type='chat'><body>two</body></message>`);
    await waitForStanza(web, (el) => el.attrs.id === 'm1');
    await waitForStanza(web, (el) => el.attrs.id === 'm2');
    const m1 = frames.find((f) => f.includes("id='m1'") || f.includes('id="m1"'));
    assert.ok(m1, frames.join('\n'));
    assert.doesNotMatch(m1, /id=["']m2["']/, 'two stanzas in one WebSocket message');
    await web.send(xml('message', { to: t.jid, type: 'chat', id: 'back' }, xml('body', {}, 'back')));
    await t.waitFor(/<message[^>]*id=["']back["'][\s\S]*?<\/message>/);
    await web.stop();
  });
});
