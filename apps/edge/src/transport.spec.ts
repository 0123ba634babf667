/**
 * TcpTransport over a real loopback TLS connection: the paced TLS writes (TLS_TURN_BYTES) keep the byte
 * stream intact and in order, spread a small burst over turns, write a large one at once, and flush
 * what is paced before the connection ends. WebSocketTransport over a real ws server: a message too big or
 * not UTF-8 reaches the stream as a refusal it can still answer. Deliveries queued behind a client that
 * stops reading keep only their own bytes alive, over TLS and plaintext.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { AddressInfo, Server, Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createSecureContext, SecureContext, TLSSocket } from 'node:tls';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createTestCa } from '@kxmpp/testing';
import { WebSocket, WebSocketServer } from 'ws';
import { TcpTransport, TLS_PACE_MAX_BYTES, TLS_TURN_BYTES, WebSocketTransport, XmppWebSocket } from './transport';

interface Pair {
  transport: TcpTransport;
  client: TLSSocket;
  /** Everything the client has read so far. */
  received(): Buffer;
  /** Resolves with all the client read once the server side ended the connection. */
  ended: Promise<Buffer>;
}

const turn = () => new Promise<void>((r) => setImmediate(r));

setFlagsFromString('--expose-gc');
const fullGc = runInNewContext('gc') as () => void;
/** A full collection whose freed ArrayBuffers are gone from process.memoryUsage() (their release lags). */
async function gc(): Promise<void> {
  fullGc();
  await new Promise((r) => setTimeout(r, 50));
  fullGc();
}

describe('TcpTransport: paced TLS writes', () => {
  let dir: string;
  let ctx: SecureContext;
  let server: Server;
  let accepted: Array<(s: Socket) => void> = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kx-transport-'));
    const cert = createTestCa(dir).issue('edge.test');
    ctx = createSecureContext({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) });
    server = createServer((s) => accepted.shift()?.(s));
    return new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  });

  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A direct-TLS (XEP-0368) transport as the edge builds it, and a client connected to it. */
  async function pair(): Promise<Pair> {
    const raw = new Promise<Socket>((r) => accepted.push(r));
    const client = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false });
    const clientReady = new Promise<void>((r) => client.once('secureConnect', () => r()));
    const chunks: Buffer[] = [];
    client.on('data', (d: Buffer) => chunks.push(d));
    const ended = new Promise<Buffer>((r) => client.on('end', () => r(Buffer.concat(chunks))));
    const plain = await raw;
    const tls = new TLSSocket(plain, { isServer: true, secureContext: ctx });
    await new Promise<void>((r) => tls.once('secure', () => r()));
    await clientReady;
    return { transport: new TcpTransport(tls, true), client, received: () => Buffer.concat(chunks), ended };
  }

  it('keeps the byte stream whole and in order across split pieces, strings with multi-byte characters included', async () => {
    const p = await pair();
    const expected: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      // Sizes around the per-turn budget, so that pieces are split inside strings and byte arrays.
      const piece = i % 3 === 0 ? `<message id='${i}'><body>${'ü€😀'.repeat(i % 97)}</body></message>` : Buffer.alloc((i * 37) % 1500, 97 + (i % 26));
      expected.push(typeof piece === 'string' ? Buffer.from(piece) : piece);
      p.transport.write(piece);
      if (i % 50 === 0) await turn();
    }
    p.transport.end();
    assert.deepEqual(await p.ended, Buffer.concat(expected));
  });

  it(`spreads a burst of up to ${TLS_PACE_MAX_BYTES} bytes over turns, about ${TLS_TURN_BYTES} bytes each`, async () => {
    const p = await pair();
    const burst = 4 * TLS_TURN_BYTES;
    p.transport.write(Buffer.alloc(burst, 120));
    assert.equal(p.transport.pacedBytes, burst, 'nothing is encrypted in the turn of the write');
    assert.ok(p.transport.unreadBytes >= burst, 'paced bytes count as unread (MAX_UNREAD_BYTES)');
    const left: number[] = [];
    for (let i = 0; i < 10 && p.transport.pacedBytes > 0; i++) {
      await turn();
      left.push(p.transport.pacedBytes);
    }
    assert.deepEqual(left, [3, 2, 1, 0].map((k) => k * TLS_TURN_BYTES));
    p.transport.end();
    assert.equal((await p.ended).length, burst);
  });

  it(`writes a backlog over ${TLS_PACE_MAX_BYTES} bytes at once (a busy session)`, async () => {
    const p = await pair();
    const big = TLS_PACE_MAX_BYTES + 1;
    p.transport.write(Buffer.alloc(big, 121));
    await turn();
    assert.equal(p.transport.pacedBytes, 0);
    p.transport.end();
    assert.equal((await p.ended).length, big);
  });

  it('end() sends what is still paced before the connection closes (a stream error, the closing tag)', async () => {
    const p = await pair();
    const body = Buffer.alloc(5 * TLS_TURN_BYTES, 122);
    p.transport.write(body);
    p.transport.write('</stream:stream>');
    p.transport.end();
    const got = await p.ended;
    assert.equal(got.length, body.length + '</stream:stream>'.length);
    assert.equal(got.subarray(-16).toString(), '</stream:stream>');
  });

  it('drops what is paced when the connection is destroyed, and writes after it are ignored', async () => {
    const p = await pair();
    p.transport.write(Buffer.alloc(3 * TLS_TURN_BYTES, 97));
    p.transport.destroy();
    p.transport.write('late');
    await turn();
    assert.equal(p.transport.pacedBytes, 0);
  });
});

describe('TcpTransport: deliveries queued for a client that stops reading', () => {
  let dir: string;
  let ctx: SecureContext;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kx-transport-slow-'));
    const cert = createTestCa(dir).issue('edge.test');
    ctx = createSecureContext({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const secure of [false, true]) {
    it(`${secure ? 'TLS' : 'plaintext'}: a queued 100-byte delivery does not keep the 128 KiB buffer it was read from alive`, async () => {
      const server = createServer();
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      const accepted = new Promise<Socket>((r) => server.once('connection', r));
      const port = (server.address() as AddressInfo).port;
      const client: Socket = secure ? connect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : new Socket().connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      client.on('data', (d: Buffer) => chunks.push(d));
      let socket: Socket = await accepted;
      if (secure) {
        const tls = new TLSSocket(socket, { isServer: true, secureContext: ctx });
        await new Promise<void>((r) => tls.once('secure', () => r()));
        socket = tls;
      }
      client.pause();
      const t = new TcpTransport(socket, secure);
      // Fill the kernel's buffers, so that what follows waits in the process.
      const filler = Buffer.alloc(16 * 1024 * 1024, 120);
      t.write(filler);
      for (let i = 0; i < 3; i++) await turn();
      assert.ok(socket.writableLength > 0, 'the socket should hold unsent bytes');
      await gc();
      const before = process.memoryUsage().arrayBuffers;
      // Deliveries as the edge gets them, one per NATS message: 100-byte views into 128 KiB buffers.
      const sent: Buffer[] = [];
      for (let i = 0; i < 200; i++) {
        const view = Buffer.alloc(128 * 1024, 48 + (i % 10)).subarray(1000, 1100);
        sent.push(Buffer.from(view));
        t.write(view);
        await turn();
      }
      for (let i = 0; i < 3; i++) await turn();
      await gc();
      const grown = process.memoryUsage().arrayBuffers - before;
      // Kept as they came, the 200 views would hold 26 MB.
      assert.ok(grown < 4 * 1024 * 1024, `20 KB of queued deliveries keep ${(grown / 1e6).toFixed(1)} MB alive`);
      client.resume();
      const want = filler.length + 200 * 100;
      while (chunks.reduce((n, c) => n + c.length, 0) < want) await new Promise((r) => setTimeout(r, 10));
      const got = Buffer.concat(chunks);
      assert.equal(got.length, want);
      assert.ok(got.subarray(filler.length).equals(Buffer.concat(sent)), 'the deliveries arrive whole and in order');
      client.destroy();
      socket.destroy();
      server.close();
    });
  }
});

describe('WebSocketTransport: frames the ws library refuses', () => {
  let wss: WebSocketServer;
  let url = '';
  let accepted: Array<(t: WebSocketTransport) => void> = [];

  before(async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 1024, WebSocket: XmppWebSocket });
    wss.on('connection', (ws) => accepted.shift()?.(new WebSocketTransport(ws, false, '127.0.0.1')));
    await new Promise<void>((r) => wss.once('listening', () => r()));
    url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => wss.close(() => r())));

  /** A client and the server's transport for it; `refusals` records onBadFrame calls, answering each with `reply`. */
  async function pair(reply: string) {
    const got = new Promise<WebSocketTransport>((r) => accepted.push(r));
    const client = new WebSocket(url);
    const frames: string[] = [];
    client.on('message', (d: Buffer) => frames.push(d.toString()));
    const closed = new Promise<number>((r) => client.on('close', (code: number) => r(code)));
    await new Promise<void>((r, j) => {
      client.once('open', () => r());
      client.once('error', j);
    });
    const transport = await got;
    const refusals: string[] = [];
    transport.onBadFrame((why, condition) => {
      refusals.push(condition);
      transport.write(reply);
      transport.end();
    });
    return { client, frames, closed, refusals };
  }

  it('a message over maxPayload: policy-violation, and what the stream writes then reaches the client before the close', async () => {
    const { client, frames, closed, refusals } = await pair('<stream:error/>');
    client.send('x'.repeat(5000));
    await closed;
    assert.deepEqual(refusals, ['policy-violation']);
    assert.deepEqual(frames, ['<stream:error/>']);
  });

  it('a text frame that is not UTF-8: not-well-formed', async () => {
    const { client, frames, closed, refusals } = await pair('<bad/>');
    client.send(Buffer.from([0x3c, 0xff, 0x3e]), { binary: false });
    await closed;
    assert.deepEqual(refusals, ['not-well-formed']);
    assert.deepEqual(frames, ['<bad/>']);
  });

  it('a close the client starts with code 1009 is not a refusal', async () => {
    const { client, closed, refusals } = await pair('<never/>');
    client.close(1009);
    assert.equal(await closed, 1009);
    assert.deepEqual(refusals, []);
  });
});
