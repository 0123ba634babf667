/**
 * The component listener (XEP-0114) against a real nats-server and real sockets: handshake, every
 * stream and stanza error, the publish into the routing stream, deliveries by session id, the registry
 * entry's life, timeouts and drain. End to end with a real component library: e2e/xep-0114-component.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, Socket } from 'node:net';
import { Writable } from 'node:stream';
import { NatsConnection } from 'nats';
import pino from 'pino';
import {
  ComponentDirectory,
  connectBus,
  decodeEnvelope,
  ensureRouteStream,
  openComponentsBucket,
  partitionOf,
  ROUTE_STREAM,
  routeSubject,
} from '@kxmpp/bus';
import { EdgeConfig, edgeSchema, loadConfig } from '@kxmpp/config';
import { eventually, NatsServerHandle, startNatsServer } from '@kxmpp/testing';
import { parseXml } from '@kxmpp/xmpp-core';
import { ComponentListener } from './component-listener';
import { handshakeDigest } from './component-stream';

const P = 4;
const NS_C = 'jabber:component:accept';
const dec = new TextDecoder();
const enc = new TextEncoder();

class Raw {
  text = '';
  private cursor = 0;
  closed = false;
  private listeners = new Set<() => void>();
  constructor(readonly socket: Socket) {
    socket.on('data', (d) => {
      this.text += d.toString('utf8');
      for (const l of [...this.listeners]) l();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      for (const l of [...this.listeners]) l();
    });
  }
  static open(port: number): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port }, () => resolve(new Raw(s)));
      s.once('error', reject);
    });
  }
  send(s: string): void {
    this.socket.write(s);
  }
  waitFor(re: RegExp, ms = 5000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.text.slice(this.cursor));
        if (m) {
          this.cursor += m.index + m[0].length;
          done();
          resolve(m);
        } else if (this.closed) {
          done();
          reject(new Error(`closed before ${re}; got: ${this.text}`));
        }
      };
      const done = () => {
        this.listeners.delete(check);
        clearTimeout(t);
      };
      const t = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${re}; got: ${this.text}`));
      }, ms);
      this.listeners.add(check);
      check();
    });
  }
  waitClosed(ms = 5000): Promise<void> {
    return eventually(() => this.closed, ms, 'socket closed').then(() => undefined);
  }
}

const header = (to: string | null, xmlns = NS_C) =>
  `<?xml version='1.0'?><stream:stream xmlns='${xmlns}' xmlns:stream='http://etherx.jabber.org/streams'${to === null ? '' : ` to='${to}'`}>`;
const streamError = (condition: string) => new RegExp(`<stream:error><${condition} xmlns=['"]urn:ietf:params:xml:ns:xmpp-streams['"]`);

describe('component listener (XEP-0114, real nats-server and sockets)', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let listener: ComponentListener;
  let config: EdgeConfig;
  const logLines: string[] = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _enc, cb) {
        logLines.push(String(chunk));
        cb();
      },
    }),
  );
  const open: Raw[] = [];

  const makeConfig = (env: Record<string, string> = {}) =>
    loadConfig(edgeSchema, {
      EDGE_ID: 'ce1',
      XMPP_DOMAINS: 'example.com',
      COMPONENTS: 'gw.example.com=s3cret,sms.example.com=other',
      COMPONENT_PORT: '0',
      BIND_HOST: '127.0.0.1',
      ROUTE_PARTITIONS: String(P),
      SESSION_TTL_SECONDS: '5',
      AUTH_TIMEOUT_SECONDS: '1',
      ...env,
    });

  /** Connect, handshake, and return the raw socket and the stream id (= bus session id). */
  async function connectComponent(domain: string, secret: string): Promise<{ raw: Raw; sid: string }> {
    const raw = await Raw.open(listener.port);
    open.push(raw);
    raw.send(header(domain));
    const m = await raw.waitFor(/<stream:stream [^>]*>/);
    const sid = /id='([^']+)'/.exec(m[0])![1];
    raw.send(`<handshake>${handshakeDigest(sid, secret)}</handshake>`);
    await raw.waitFor(/<handshake\/>/);
    return { raw, sid };
  }

  /** Hang up and wait until the listener has seen it (so the next test may take the domain). */
  async function hangUp(c: { raw: Raw; sid: string }): Promise<void> {
    c.raw.socket.destroy();
    await eventually(() => listener.stream(c.sid) === undefined, 5000, 'stream gone');
  }

  /** The last stanza in the routing stream for a sender's partition. */
  async function routed(fromBare: string, id: string) {
    const jsm = await nc.jetstreamManager();
    return eventually(
      async () => {
        const m = await jsm.streams.getMessage(ROUTE_STREAM, { last_by_subj: routeSubject(partitionOf(fromBare, P)) }).catch(() => undefined);
        return m && dec.decode(m.data).includes(`id="${id}"`) ? m : undefined;
      },
      5000,
      `routed stanza ${id}`,
    );
  }

  before(async () => {
    nats = await startNatsServer();
    nc = await connectBus(nats.url, 'component-listener-test');
    await ensureRouteStream(await nc.jetstreamManager(), { partitions: P, storage: 'memory' });
    config = makeConfig();
    listener = new ComponentListener(config, nc, log);
    assert.ok((await listener.start()) > 0);
  });

  after(async () => {
    for (const r of open) r.socket.destroy();
    await listener.stop();
    await nc.close();
    await nats.stop();
  });

  it('opens no port when no component is configured', async () => {
    const none = new ComponentListener(makeConfig({ COMPONENTS: '' }), nc, log);
    assert.equal(none.enabled, false);
    assert.equal(await none.start(), 0);
    await none.stop();
  });

  it('answers a good header with its own (component namespace, id, from) and a good handshake with <handshake/>', async () => {
    const raw = await Raw.open(listener.port);
    open.push(raw);
    raw.send(header('GW.example.com'));
    const m = await raw.waitFor(/<stream:stream [^>]*>/);
    assert.match(m[0], /xmlns='jabber:component:accept'/);
    assert.match(m[0], /from='gw\.example\.com'/);
    assert.doesNotMatch(m[0], /version=/, 'XEP-0114 streams carry no version and no features');
    const sid = /id='([^']+)'/.exec(m[0])![1];
    assert.ok(sid.length >= 16);
    raw.send(`<handshake>${handshakeDigest(sid, 's3cret').toUpperCase()}</handshake>`);
    await raw.waitFor(/<handshake\/>/);
    assert.ok(listener.stream(sid)?.isReady);
    // The registry says so for the routers.
    const dir = new ComponentDirectory(await openComponentsBucket(nc, 5), 5);
    assert.deepEqual(await dir.fetch('gw.example.com'), { edge: 'ce1', sid });
    // Closing the stream releases the domain at once.
    raw.send('</stream:stream>');
    await raw.waitFor(/<\/stream:stream>/);
    await raw.waitClosed();
    await eventually(async () => (await dir.fetch('gw.example.com')) === null, 5000, 'registry entry removed');
    assert.equal(listener.stream(sid), undefined);
  });

  it('a wrong secret gets <not-authorized/>, a close and a log line', async () => {
    const raw = await Raw.open(listener.port);
    open.push(raw);
    raw.send(header('gw.example.com'));
    const m = await raw.waitFor(/<stream:stream [^>]*>/);
    const sid = /id='([^']+)'/.exec(m[0])![1];
    raw.send(`<handshake>${handshakeDigest(sid, 'wrong')}</handshake>`);
    await raw.waitFor(streamError('not-authorized'));
    await raw.waitFor(/<\/stream:stream>/);
    await raw.waitClosed();
    assert.ok(logLines.some((l) => l.includes('component handshake failed') && l.includes('gw.example.com')));
  });

  const headerCases: Array<[string, string, string]> = [
    ['a client namespace', header('gw.example.com', 'jabber:client'), 'invalid-namespace'],
    ['no to', header(null), 'host-unknown'],
    ['an unknown component domain', header('nope.example.com'), 'host-unknown'],
    ['a served (not component) domain', header('example.com'), 'host-unknown'],
    ['a JID instead of a domain', header('a@gw.example.com'), 'host-unknown'],
    ['a wrong stream namespace', `<stream:stream xmlns='${NS_C}' xmlns:stream='urn:wrong' to='gw.example.com'>`, 'invalid-namespace'],
  ];
  for (const [name, h, condition] of headerCases) {
    it(`a header with ${name} gets a header, <${condition}/> and a close`, async () => {
      const raw = await Raw.open(listener.port);
      open.push(raw);
      raw.send(h);
      await raw.waitFor(/<stream:stream [^>]*>/);
      await raw.waitFor(streamError(condition));
      await raw.waitClosed();
    });
  }

  it('anything but <handshake/> before the handshake is not-authorized', async () => {
    const raw = await Raw.open(listener.port);
    open.push(raw);
    raw.send(header('gw.example.com'));
    await raw.waitFor(/<stream:stream [^>]*>/);
    raw.send(`<message to='u@example.com' id='early'><body>x</body></message>`);
    await raw.waitFor(streamError('not-authorized'));
    await raw.waitClosed();
  });

  it('a handshake not completed within AUTH_TIMEOUT_SECONDS gets connection-timeout', async () => {
    const raw = await Raw.open(listener.port);
    open.push(raw);
    raw.send(header('gw.example.com'));
    await raw.waitFor(streamError('connection-timeout'), 5000);
    await raw.waitClosed();
  });

  it('publishes the component\'s stanzas to the routing stream as jabber:client with the envelope, partitioned by the sender', async () => {
    const c = await connectComponent('gw.example.com', 's3cret');
    const { raw, sid } = c;
    raw.send(`<message from='Alice@GW.example.com/legacy' to='Juliet@example.com' id='m1' type='chat'><body>hi &amp; bye</body></message>`);
    const m = await routed('alice@gw.example.com', 'm1');
    const env = decodeEnvelope(m.header)!;
    assert.deepEqual(
      { ...env, ts: 0 },
      // cc: a chat message is eligible for XEP-0280 carbon copies.
      { from: 'alice@gw.example.com/legacy', to: 'juliet@example.com', kind: 'message', type: 'chat', ns: '', edge: 'ce1', sid, ts: 0, cc: true },
    );
    const el = parseXml(dec.decode(m.data));
    assert.equal(el.attrs.xmlns, 'jabber:client');
    assert.equal(el.attrs.from, 'alice@gw.example.com/legacy');
    assert.equal(el.getChildText('body'), 'hi & bye');
    // No 'from' means the component itself; an iq get carries its payload namespace.
    raw.send(`<iq to='example.com' id='q1' type='get'><ping xmlns='urn:xmpp:ping'/></iq>`);
    const q = await routed('gw.example.com', 'q1');
    assert.equal(decodeEnvelope(q.header)!.from, 'gw.example.com');
    assert.equal(decodeEnvelope(q.header)!.ns, 'urn:xmpp:ping');
    await hangUp(c);
  });

  it('writes deliveries addressed to its session id with the component namespace', async () => {
    const c = await connectComponent('gw.example.com', 's3cret');
    const { raw, sid } = c;
    listener.stream(sid)!.deliver(enc.encode(`<message xmlns='jabber:client' from='juliet@example.com/b' to='alice@gw.example.com' id='d1'><body>yo</body></message>`), 'message');
    const m = await raw.waitFor(/<message [^>]*id='d1'[^>]*>/);
    assert.match(m[0], /xmlns='jabber:component:accept'/);
    assert.doesNotMatch(m[0], /jabber:client/);
    await hangUp(c);
  });

  it('answers a stanza without to (bad-request), with a bad to (jid-malformed) or a bad iq (bad-request) with a stanza error, keeping the stream', async () => {
    const c = await connectComponent('gw.example.com', 's3cret');
    const { raw } = c;
    const cases: Array<[string, string, string]> = [
      ['e1', `<message from='a@gw.example.com' id='e1'><body>x</body></message>`, 'bad-request'],
      ['e2', `<message from='a@gw.example.com' to='@bad' id='e2'><body>x</body></message>`, 'jid-malformed'],
      ['e3', `<iq from='a@gw.example.com' to='example.com' id='e3' type='fetch'><q xmlns='x'/></iq>`, 'bad-request'],
      ['e4', `<iq from='a@gw.example.com' to='example.com' id='e4' type='get'/>`, 'bad-request'],
      ['e5', `<presence from='a@gw.example.com' to='u@example.com' id='e5' type='bogus'/>`, 'bad-request'],
    ];
    for (const [id, stanza, condition] of cases) {
      raw.send(stanza);
      const m = await raw.waitFor(new RegExp(`<(message|iq|presence) [^>]*id=["']${id}["'][^>]*>[\\s\\S]*?</(message|iq|presence)>`));
      const el = parseXml(m[0]);
      assert.equal(el.attrs.type, 'error', id);
      assert.equal(el.attrs.xmlns, NS_C, `${id}: in the component namespace`);
      assert.equal(el.attrs.to, 'a@gw.example.com', id);
      assert.ok(el.getChild('error')?.getChild(condition, 'urn:ietf:params:xml:ns:xmpp-stanzas'), `${id}: ${condition} in ${m[0]}`);
    }
    // An error stanza is never answered; the stream is still open.
    raw.send(`<message from='a@gw.example.com' type='error' id='e6'/>`);
    raw.send(`<message from='a@gw.example.com' to='u@example.com' id='ok1'><body>x</body></message>`);
    await routed('a@gw.example.com', 'ok1');
    assert.doesNotMatch(raw.text, /id=["']e6["']/);
    assert.equal(raw.closed, false);
    await hangUp(c);
  });

  const streamCases: Array<[string, string, string]> = [
    ['a from outside the component\'s domain', `<message from='a@other.example.com' to='u@example.com'/>`, 'invalid-from'],
    ['a from of a subdomain', `<message from='a@x.gw.example.com' to='u@example.com'/>`, 'invalid-from'],
    ['a malformed from', `<message from='@gw.example.com' to='u@example.com'/>`, 'invalid-from'],
    ['an element that is no stanza', `<foo to='u@example.com'/>`, 'unsupported-stanza-type'],
    ['a stanza in another namespace', `<message xmlns='jabber:server' from='gw.example.com' to='u@example.com'/>`, 'unsupported-stanza-type'],
    ['a mismatched end tag', `<message from='gw.example.com' to='u@example.com'><body></message>`, 'not-well-formed'],
  ];
  for (const [name, stanza, condition] of streamCases) {
    it(`${name} ends the stream with <${condition}/>`, async () => {
      const c = await connectComponent('gw.example.com', 's3cret');
      c.raw.send(stanza);
      await c.raw.waitFor(streamError(condition));
      await c.raw.waitClosed();
      await eventually(() => listener.stream(c.sid) === undefined, 5000, 'stream gone');
      assert.ok(logLines.some((l) => l.includes('component stream error') && l.includes(condition)));
    });
  }

  it('a second connection for a connected domain gets <conflict/>; the first keeps working; another domain is independent', async () => {
    const first = await connectComponent('gw.example.com', 's3cret');
    const raw = await Raw.open(listener.port);
    open.push(raw);
    raw.send(header('gw.example.com'));
    const m = await raw.waitFor(/<stream:stream [^>]*>/);
    const sid = /id='([^']+)'/.exec(m[0])![1];
    raw.send(`<handshake>${handshakeDigest(sid, 's3cret')}</handshake>`);
    await raw.waitFor(streamError('conflict'));
    await raw.waitClosed();
    first.raw.send(`<message from='gw.example.com' to='u@example.com' id='still'/>`);
    await routed('gw.example.com', 'still');
    const other = await connectComponent('sms.example.com', 'other');
    assert.equal(listener.size, 2);
    await hangUp(first);
    await hangUp(other);
    assert.equal(listener.size, 0);
  });

  it('drain ends every component stream with <system-shutdown/>, refuses new ones and releases the registry', async () => {
    const l2 = new ComponentListener(makeConfig({ EDGE_ID: 'ce2', COMPONENTS: 'drain.example.com=pw' }), nc, log);
    await l2.start();
    const saved = listener;
    listener = l2;
    try {
      const { raw } = await connectComponent('drain.example.com', 'pw');
      const dir = new ComponentDirectory(await openComponentsBucket(nc, 5), 5);
      assert.ok(await dir.fetch('drain.example.com'));
      await l2.drain(2000);
      await raw.waitFor(streamError('system-shutdown'));
      await raw.waitClosed();
      assert.equal(await dir.fetch('drain.example.com'), null);
      await assert.rejects(Raw.open(l2.port).then((r) => r.waitFor(/<stream:stream/, 1000)));
    } finally {
      listener = saved;
      await l2.stop();
    }
  });
});
