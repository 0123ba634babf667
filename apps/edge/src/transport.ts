/**
 * The two client transports behind one stream layer: a TCP socket (plain with STARTTLS on 5222, direct
 * TLS on 5223, XEP-0368) and a WebSocket (RFC 7395). Writes are batched into one socket write
 * (cork/uncork) on TCP: until the end of the tick in plain text, until the event loop's check phase
 * over TLS, where a burst is also spread over a few turns (see TLS_TURN_BYTES); WebSocket sends one
 * frame per top-level element, as RFC 7395 §3.3.3 requires.
 */
import { Socket } from 'node:net';
import { TLSSocket, SecureContext } from 'node:tls';
import { WebSocket } from 'ws';
import type { Transport as TransportKind } from '@kxmpp/telemetry';
import type { StreamCondition } from '@kxmpp/xmpp-core';

/**
 * Bytes a client may leave unread in its send buffer before the edge gives up on it: a client that
 * stops reading must not make the edge hold an unbounded backlog of deliveries for it.
 */
export const MAX_UNREAD_BYTES = 2 * 1024 * 1024;

/**
 * Over TLS, at most this many bytes are encrypted per event-loop turn. Node's TLS output buffer starts
 * at 1 KB and, once more than that is encrypted before the socket took the previous bytes (which Node
 * confirms one turn later), grows a 16 KB chunk that the connection keeps until it closes. So a session
 * that received a roster or a few messages at once used to cost ~48 KB idle instead of ~33 KB. Spread
 * over turns, the same bytes leave in ~1 KB pieces (docs/operations.md).
 */
export const TLS_TURN_BYTES = 1000;

/**
 * A TLS backlog larger than this is written at once: the session is busy (a history page, a flood of
 * messages), and its latency matters more than its buffer.
 */
export const TLS_PACE_MAX_BYTES = 8 * 1024;

/**
 * Bytes to queue on a socket that may hold them a while. A delivery is a view into the buffer
 * nats.js read it from (up to a whole batch message, 128 KiB): queued as it is behind a client that
 * reads slowly, a 100-byte stanza would keep that whole buffer alive, and MAX_UNREAD_BYTES, which counts
 * the stanzas' own bytes, would bound nothing. A view much smaller than its buffer is copied. (Over TLS
 * the same: a TLS write keeps its cleartext alive until the encrypted bytes have left.)
 */
export function ownBytes(data: Uint8Array): Uint8Array {
  return data.byteLength * 4 < data.buffer.byteLength ? new Uint8Array(data) : data;
}

export interface Transport {
  readonly kind: TransportKind;
  readonly framed: boolean;
  readonly secure: boolean;
  readonly remoteAddress: string;
  readonly canStartTls: boolean;
  write(data: string | Uint8Array): void;
  /** Bytes written but not yet taken by the peer. */
  readonly unreadBytes: number;
  /** Upgrade in place (STARTTLS); data arrives decrypted on the same onData callback afterwards. */
  startTls(ctx: (servername: string | undefined) => SecureContext): Promise<void>;
  /** Flush and close the connection. */
  end(): void;
  /** Close at once. */
  destroy(): void;
  onData(cb: (chunk: Buffer | string) => void): void;
  onClose(cb: () => void): void;
  /**
   * Framing the transport refuses below XML (a WebSocket binary frame, a message over the size limit,
   * a text frame that is not UTF-8), with the stream error it earns; absent where there is none.
   */
  onBadFrame?(cb: (why: string, condition: StreamCondition) => void): void;
  /** Stop delivering data until resume() (used while a STARTTLS handshake or an async step runs). */
  pause(): void;
  resume(): void;
}

export class TcpTransport implements Transport {
  readonly framed = false;
  private dataCb: (chunk: Buffer | string) => void = () => undefined;
  private closeCb: () => void = () => undefined;
  private corked = false;
  /** This turn's writes join bytes the socket has not sent yet. */
  private backlogged = false;
  private closed = false;
  /** TLS: bytes waiting for the next turn's pump, in order (see TLS_TURN_BYTES). */
  private pending: Array<string | Uint8Array> = [];
  /** Byte length of each pending piece (a string's is counted once, here). */
  private pendingLens: number[] = [];
  private pendingBytes = 0;
  private pumpScheduled = false;
  secure: boolean;
  kind: TransportKind;

  constructor(private socket: Socket, direct: boolean) {
    this.secure = direct;
    this.kind = direct ? 'tls' : 'tcp';
    this.attach(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  get canStartTls(): boolean {
    return !this.secure;
  }

  get unreadBytes(): number {
    return this.socket.writableLength + this.pendingBytes;
  }

  /** TLS: bytes written but held for a later turn (TLS_TURN_BYTES), not yet handed to the socket. */
  get pacedBytes(): number {
    return this.pendingBytes;
  }

  private attach(s: Socket): void {
    s.on('data', (d: Buffer) => this.dataCb(d));
    s.on('error', () => s.destroy());
    s.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.closeCb();
    });
  }

  write(data: string | Uint8Array): void {
    if (this.closed || this.socket.destroyed) return;
    if (this.secure) {
      const len = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
      this.pending.push(data);
      this.pendingLens.push(len);
      this.pendingBytes += len;
      // Over TLS, write in the check phase: by then Node has handed what the TLS layer wrote on its own
      // (the handshake's last flight, TLS 1.3 session tickets) to the socket. Encrypting our bytes
      // behind those in the same turn grows the TLS output buffer as a burst does (TLS_TURN_BYTES).
      if (!this.pumpScheduled) {
        this.pumpScheduled = true;
        setImmediate(this.pump);
      }
      return;
    }
    const socket = this.socket;
    if (!this.corked) {
      this.corked = true;
      // Bytes still unsent from an earlier turn: the client reads slower than we write, so what joins
      // them will be kept a while (ownBytes).
      this.backlogged = socket.writableLength > 0;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    socket.write(this.backlogged && typeof data !== 'string' ? ownBytes(data) : data);
  }

  /** One turn's share of the TLS backlog, in one socket write; all of it when it is large or the end is near. */
  private readonly pump = (all = false): void => {
    this.pumpScheduled = false;
    const socket = this.socket;
    if (this.closed || socket.destroyed || socket.writableEnded) {
      this.pending = [];
      this.pendingLens = [];
      this.pendingBytes = 0;
      return;
    }
    const budget = all || this.pendingBytes > TLS_PACE_MAX_BYTES ? Infinity : TLS_TURN_BYTES;
    let sent = 0;
    // A TLS write holds what it was given until the encrypted bytes are sent, so the same as in write().
    const backlogged = socket.writableLength > 0;
    socket.cork();
    while (this.pending.length > 0 && sent < budget) {
      const d = this.pending[0];
      const len = this.pendingLens[0];
      if (sent + len <= budget) {
        socket.write(backlogged && typeof d !== 'string' ? ownBytes(d) : d);
        this.pending.shift();
        this.pendingLens.shift();
        sent += len;
        continue;
      }
      // Split the piece: TLS carries a byte stream, where the piece boundaries mean nothing.
      const b = typeof d === 'string' ? Buffer.from(d) : backlogged ? ownBytes(d) : d;
      const take = budget - sent;
      socket.write(b.subarray(0, take));
      this.pending[0] = b.subarray(take);
      this.pendingLens[0] = len - take;
      sent += take;
    }
    this.pendingBytes -= sent;
    socket.uncork();
    if (this.pending.length > 0 && !this.pumpScheduled) {
      this.pumpScheduled = true;
      setImmediate(this.pump);
    }
  };

  /** The TLS socket once TLS is up (peer certificate checks on S2S streams). */
  get tlsSocket(): TLSSocket | null {
    return this.socket instanceof TLSSocket ? this.socket : null;
  }

  /** `requestCert`: ask the peer for its certificate (S2S: SASL EXTERNAL), without refusing a peer that has none. */
  async startTls(ctx: (servername: string | undefined) => SecureContext, opts: { requestCert?: boolean } = {}): Promise<void> {
    const plain = this.socket;
    // <proceed/> must reach the client before the handshake starts.
    if (this.corked) {
      this.corked = false;
      plain.uncork();
    }
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const tls = new TLSSocket(plain, {
      isServer: true,
      secureContext: ctx(undefined),
      SNICallback: (name, cb) => cb(null, ctx(name)),
      ...(opts.requestCert ? { requestCert: true, rejectUnauthorized: false } : {}),
    });
    this.socket = tls;
    this.attach(tls);
    await new Promise<void>((resolve, reject) => {
      tls.once('secure', () => resolve());
      tls.once('error', reject);
      tls.once('close', () => reject(new Error('closed during TLS handshake')));
    });
    this.secure = true;
  }

  end(): void {
    if (this.socket.destroyed) return;
    // What is still paced goes out first (a stream error, the closing tag).
    if (this.pendingBytes > 0) this.pump(true);
    this.socket.end();
    // Do not wait forever for the peer's FIN.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  onData(cb: (chunk: Buffer | string) => void): void {
    this.dataCb = cb;
  }

  onClose(cb: () => void): void {
    this.closeCb = cb;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }
}

/**
 * The ws library refuses a message over its maxPayload (close code 1009) or a text frame that is not
 * UTF-8 (1007) by closing the WebSocket at once and only then emitting 'error', when nothing more can be
 * sent. An XMPP client is owed a stream error first (RFC 7395 §3.6.1; RFC 6120 §4.9.3.15 for size,
 * §4.9.3.13 for bad bytes, as on TCP), so the edge's WebSockets hear of the refusal in close(), while
 * the stream can still write. A close the peer started (its close frame carried that code) is not a
 * refusal and passes through.
 */
export class XmppWebSocket extends WebSocket {
  onRefused?: (code: 1007 | 1009) => void;

  override close(code?: number, data?: string | Buffer): void {
    const peerClosed = (this as unknown as { _closeFrameReceived?: boolean })._closeFrameReceived === true;
    if ((code === 1009 || code === 1007) && this.readyState === WebSocket.OPEN && !peerClosed && this.onRefused) {
      const refused = this.onRefused;
      this.onRefused = undefined;
      refused(code);
    }
    super.close(code, data);
  }
}

export class WebSocketTransport implements Transport {
  readonly kind = 'websocket' as const;
  readonly framed = true;
  readonly canStartTls = false;
  private dataCb: (chunk: Buffer | string) => void = () => undefined;
  private closeCb: () => void = () => undefined;
  private badFrameCb: (why: string, condition: StreamCondition) => void = () => undefined;
  private closed = false;
  private refused = false;
  private queue: Array<Buffer | string> | null = null;

  constructor(private readonly ws: WebSocket, readonly secure: boolean, readonly remoteAddress: string) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      // RFC 7395 §3.2: XMPP messages are text frames (whose UTF-8 the ws library has checked).
      if (isBinary) return this.badFrameCb('XMPP over WebSocket is sent in text frames, not binary ones (RFC 7395 §3.2)', 'bad-format');
      if (this.queue) this.queue.push(data);
      else this.dataCb(data);
    });
    if (ws instanceof XmppWebSocket) {
      ws.onRefused = (code) => {
        this.refused = true;
        if (code === 1009) this.badFrameCb('WebSocket message larger than the stanza size limit', 'policy-violation');
        else this.badFrameCb('WebSocket text frame that is not UTF-8', 'not-well-formed');
      };
    }
    // After a refusal the stream error and the close frame are on their way out, and end() bounds the
    // wait for the peer's close; any other error drops the connection.
    ws.on('error', () => {
      if (!this.refused) ws.terminate();
    });
    ws.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.closeCb();
    });
  }

  get unreadBytes(): number {
    return this.ws.bufferedAmount;
  }

  write(data: string | Uint8Array): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    // Text frames always (RFC 7395 §3.2).
    this.ws.send(typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  }

  async startTls(): Promise<void> {
    throw new Error('STARTTLS is not available on WebSocket');
  }

  end(): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(1000);
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }

  destroy(): void {
    this.ws.terminate();
  }

  onData(cb: (chunk: Buffer | string) => void): void {
    this.dataCb = cb;
  }

  onClose(cb: () => void): void {
    this.closeCb = cb;
  }

  onBadFrame(cb: (why: string, condition: StreamCondition) => void): void {
    this.badFrameCb = cb;
  }

  /** Frames already read while paused wait here; the socket itself stops reading, so this stays small. */
  pause(): void {
    this.queue ??= [];
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
    const q = this.queue;
    this.queue = null;
    if (q) for (const d of q) this.dataCb(d);
  }
}
