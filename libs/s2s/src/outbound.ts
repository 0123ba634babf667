/**
 * The initiating side of a server-to-server stream (RFC 6120, XEP-0220, XEP-0368). Two uses:
 * - 'session': connect, STARTTLS (or direct TLS), authenticate our domain to the remote one with SASL
 *   EXTERNAL when our certificate is accepted, else with dialback (db:result), then carry stanzas.
 * - 'verify': the receiving side of dialback asking the authoritative server whether a key is valid
 *   (db:verify) on a connection of its own.
 * The remote's certificate is checked against the configured trust anchors; when it does not verify,
 * only dialback may authenticate (and only if allowed), and SASL EXTERNAL is never offered our way.
 */
import { connect as netConnect, Socket } from 'node:net';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { Element, escapeXML, NS, StreamError, XmlStreamParser } from '@kxmpp/xmpp-core';
import { aLabels, type Pems } from '@kxmpp/xmpp-stream';
import { checkPeerCertificate } from './identity';
import { NS_DIALBACK } from './namespaces';
import type { S2STarget } from './resolve';

export interface OutboundLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface OutboundOptions {
  /** Our domain (the originating server). */
  local: string;
  /** The remote domain (the receiving server). */
  remote: string;
  targets: S2STarget[];
  /** Our certificate for `local` (presented as the client certificate, for SASL EXTERNAL). */
  pems: Pems;
  /** Trust anchors for the remote's certificate. */
  ca: string[];
  /** Refuse a peer that offers no TLS (RFC 6120 §5.3.1 recommends TLS for every stream). */
  requireTls: boolean;
  /** Authenticate with dialback when certificates do not do it (XEP-0220). */
  allowDialback: boolean;
  /** The dialback key for a stream id the remote gave us (we are the originating server). */
  dialbackKey(streamId: string): string;
  timeoutMs: number;
  maxStanzaBytes: number;
  log: OutboundLogger;
}

/** Why a stream could not be set up, as the stanza error its queued stanzas bounce with. */
export class S2SConnectError extends Error {
  constructor(readonly condition: 'remote-server-not-found' | 'remote-server-timeout', message: string) {
    super(message);
    this.name = 'S2SConnectError';
  }
}

type Phase = 'connecting' | 'features' | 'starttls' | 'sasl' | 'dialback' | 'ready' | 'closed';

/** One connection attempt's socket with its own parser; replaced on STARTTLS and SASL success. */
export class OutboundStream {
  private socket: Socket | TLSSocket | null = null;
  private parser!: XmlStreamParser;
  private phase: Phase = 'connecting';
  private remoteStreamId = '';
  private certOk = false;
  private secure = false;
  private triedExternal = false;
  private readyResolve!: () => void;
  private readyReject!: (e: Error) => void;
  /** Resolves once stanzas may be written; rejects with S2SConnectError. */
  readonly ready: Promise<void>;
  /** How we authenticated (for logs and metrics). */
  method: 'sasl-external' | 'dialback' | '' = '';
  private closeHandlers: Array<(why: string) => void> = [];
  private verifyWaiters = new Map<string, (valid: boolean) => void>();
  private timer?: NodeJS.Timeout;
  readonly id = randomBytes(6).toString('hex');
  lastUsed = Date.now();

  constructor(private readonly o: OutboundOptions, private readonly mode: 'session' | 'verify' = 'session') {
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => undefined);
  }

  get isReady(): boolean {
    return this.phase === 'ready';
  }

  get isClosed(): boolean {
    return this.phase === 'closed';
  }

  onClose(cb: (why: string) => void): void {
    this.closeHandlers.push(cb);
  }

  /**
   * Connect to the first target that accepts a TCP (or TLS) connection, then negotiate on it; a
   * negotiation failure ends the attempt (the remote answered: another target would answer the same).
   */
  async open(): Promise<void> {
    this.timer = setTimeout(() => this.giveUp(new S2SConnectError('remote-server-timeout', `no stream to ${this.o.remote} within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
    this.timer.unref();
    let lastErr = `${this.o.remote} has no XMPP server (no usable SRV target)`;
    for (const t of this.o.targets) {
      if (this.phase === 'closed') break;
      try {
        await this.connectTo(t);
        return await this.ready;
      } catch (e) {
        lastErr = `${t.host}:${t.port}: ${(e as Error).message}`;
        this.o.log.debug({ remote: this.o.remote, reason: lastErr }, 's2s target failed');
      }
    }
    this.giveUp(new S2SConnectError('remote-server-not-found', `cannot reach ${this.o.remote}: ${lastErr}`));
    return this.ready;
  }

  /** Write a stanza (already in the jabber:server namespace). */
  write(data: string | Uint8Array): boolean {
    if (this.phase !== 'ready' || !this.socket || this.socket.destroyed) return false;
    this.lastUsed = Date.now();
    this.socket.write(data);
    return true;
  }

  get unreadBytes(): number {
    return this.socket?.writableLength ?? 0;
  }

  /** XEP-0220 §2.3: ask this (authoritative) server about a key; 'verify' mode streams only. */
  verify(from: string, to: string, id: string, key: string): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      this.verifyWaiters.set(id, resolve);
      this.send(`<db:verify from='${escapeXML(from)}' to='${escapeXML(to)}' id='${escapeXML(id)}'>${escapeXML(key)}</db:verify>`);
    });
  }

  /** Close politely (stream end), then hard after 2 s. */
  close(why = 'closed'): void {
    if (this.phase === 'closed') return;
    if (this.socket && !this.socket.destroyed) {
      this.socket.end('</stream:stream>');
      const s = this.socket;
      setTimeout(() => s.destroy(), 2000).unref();
    }
    this.finish(why);
  }

  // ---------------------------------------------------------------------------------------------

  private connectTo(t: S2STarget): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const sock = t.directTls
        ? tlsConnect({ host: t.host, port: t.port, servername: aLabels(this.o.remote), ALPNProtocols: ['xmpp-server'], ...this.tlsOptions() })
        : netConnect({ host: t.host, port: t.port });
      const onError = (e: Error) => {
        sock.destroy();
        reject(e);
      };
      sock.once('error', onError);
      sock.once(t.directTls ? 'secureConnect' : 'connect', () => {
        sock.off('error', onError);
        if (this.phase === 'closed') {
          sock.destroy();
          return reject(new Error('given up'));
        }
        this.attach(sock);
        if (t.directTls) this.afterTls(sock as TLSSocket);
        this.phase = 'features';
        this.openStream();
        resolve();
      });
    });
  }

  private tlsOptions() {
    return { cert: this.o.pems.cert, key: this.o.pems.key, ca: this.o.ca, rejectUnauthorized: false, minVersion: 'TLSv1.2' as const };
  }

  private attach(sock: Socket): void {
    this.socket = sock;
    this.parser = new XmlStreamParser(
      {
        onStreamStart: (_name, attrs) => {
          this.remoteStreamId = attrs.id ?? '';
          if (attrs.xmlns !== NS.SERVER) this.fail(`remote stream namespace is ${attrs.xmlns ?? 'missing'}`);
        },
        onElement: (el) => {
          try {
            this.onElement(el);
          } catch (e) {
            this.fail(`bad answer: ${(e as Error).message}`);
          }
        },
        onStreamEnd: () => this.fail('remote closed the stream'),
        onError: (err: StreamError) => this.fail(`unparsable input: ${err.message}`),
      },
      { limits: { maxStanzaBytes: this.o.maxStanzaBytes } },
    );
    sock.on('data', (d: Buffer) => {
      if (this.socket === sock) this.parser.write(d);
    });
    sock.on('error', (e) => this.o.log.debug({ remote: this.o.remote, reason: e.message }, 's2s socket error'));
    sock.on('close', () => {
      if (this.socket === sock) this.fail('connection closed');
    });
  }

  private send(s: string): void {
    if (this.socket && !this.socket.destroyed) this.socket.write(s);
  }

  private openStream(): void {
    this.send(
      `<?xml version='1.0'?><stream:stream xmlns='${NS.SERVER}' xmlns:stream='${NS.STREAM}' xmlns:db='${NS_DIALBACK}' ` +
        `from='${escapeXML(this.o.local)}' to='${escapeXML(this.o.remote)}' version='1.0' xml:lang='en'>`,
    );
  }

  private afterTls(sock: TLSSocket): void {
    this.secure = true;
    const v = checkPeerCertificate(sock, this.o.remote);
    this.certOk = v.ok;
    if (!v.ok) this.o.log.info({ remote: this.o.remote, reason: v.reason }, 'remote certificate does not verify; only dialback may authenticate');
  }

  private onElement(el: Element): void {
    if (el.name === 'stream:error' || (el.name === 'error' && el.attrs.xmlns === NS.STREAM)) {
      const cond = el.children.find((c): c is Element => typeof c !== 'string' && c.attrs.xmlns === NS.STREAMS_ERR);
      return this.fail(`stream error from remote: ${cond?.name ?? 'unknown'}`);
    }
    switch (this.phase) {
      case 'features':
        if (el.name === 'stream:features' || el.name === 'features') return this.onFeatures(el);
        return;
      case 'starttls':
        if (el.name === 'proceed' && el.attrs.xmlns === NS.TLS) return this.startTls();
        return this.fail('remote refused STARTTLS');
      case 'sasl':
        if (el.name === 'success' && el.attrs.xmlns === NS.SASL) return this.restart('sasl-external');
        if (el.name === 'failure' && el.attrs.xmlns === NS.SASL) {
          this.o.log.info({ remote: this.o.remote }, 'SASL EXTERNAL refused; trying dialback');
          return this.dialbackOrFail();
        }
        return;
      case 'dialback':
        if (el.name === 'db:result' || (el.name === 'result' && el.attrs.xmlns === NS_DIALBACK)) {
          if (el.attrs.type === 'valid') {
            this.method = 'dialback';
            return this.becomeReady();
          }
          return this.fail(`dialback ${el.attrs.type ?? 'answer'} from ${this.o.remote}`);
        }
        return;
      case 'ready':
        if (this.mode === 'verify' && (el.name === 'db:verify' || (el.name === 'verify' && el.attrs.xmlns === NS_DIALBACK))) {
          const w = this.verifyWaiters.get(el.attrs.id ?? '');
          if (w) {
            this.verifyWaiters.delete(el.attrs.id ?? '');
            w(el.attrs.type === 'valid');
          }
        }
        // Anything else on an outbound stream (no XEP-0288 here) is ignored.
        return;
      default:
        return;
    }
  }

  private onFeatures(el: Element): void {
    const child = (name: string, ns: string) => el.children.find((c): c is Element => typeof c !== 'string' && c.name === name && c.attrs.xmlns === ns);
    const starttls = child('starttls', NS.TLS);
    if (!this.secure) {
      if (starttls) {
        this.phase = 'starttls';
        this.send(`<starttls xmlns='${NS.TLS}'/>`);
        return;
      }
      if (this.o.requireTls) return this.fail(`${this.o.remote} offers no TLS`);
    }
    if (this.mode === 'verify') return this.becomeReady();
    if (this.method === 'sasl-external') return this.becomeReady();
    const mechs = child('mechanisms', NS.SASL);
    const external = mechs?.children.some((c) => typeof c !== 'string' && c.name === 'mechanism' && c.text().trim() === 'EXTERNAL');
    if (external && this.certOk && !this.triedExternal) {
      this.triedExternal = true;
      this.phase = 'sasl';
      this.send(`<auth xmlns='${NS.SASL}' mechanism='EXTERNAL'>=</auth>`);
      return;
    }
    // XEP-0220 §2.1: dialback is advertised by the feature or (older servers) by xmlns:db on the header;
    // we try it either way, the remote answers with an error if it does not do it.
    this.dialbackOrFail();
  }

  private dialbackOrFail(): void {
    if (!this.o.allowDialback) return this.fail(`cannot authenticate to ${this.o.remote}: certificate not accepted and dialback disabled`);
    if (!this.certOk && this.o.requireTls && !this.secure) return this.fail('no TLS');
    this.phase = 'dialback';
    const key = this.o.dialbackKey(this.remoteStreamId);
    this.send(`<db:result from='${escapeXML(this.o.local)}' to='${escapeXML(this.o.remote)}'>${key}</db:result>`);
  }

  private startTls(): void {
    const plain = this.socket as Socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const tls = tlsConnect({ socket: plain, servername: aLabels(this.o.remote), ...this.tlsOptions() });
    tls.once('secureConnect', () => {
      this.afterTls(tls);
      this.phase = 'features';
      this.openStream();
    });
    this.attach(tls);
  }

  private restart(method: 'sasl-external'): void {
    this.method = method;
    this.phase = 'features';
    this.parser.reset();
    this.openStream();
  }

  private becomeReady(): void {
    this.phase = 'ready';
    if (this.timer) clearTimeout(this.timer);
    this.o.log.info({ remote: this.o.remote, local: this.o.local, method: this.method || this.mode, id: this.id }, 's2s stream ready');
    this.readyResolve();
  }

  private fail(reason: string): void {
    if (this.phase === 'closed') return;
    const wasReady = this.phase === 'ready';
    this.socket?.destroy();
    if (!wasReady) {
      this.o.log.info({ remote: this.o.remote, reason }, 's2s stream setup failed');
      this.giveUp(new S2SConnectError('remote-server-not-found', reason));
      return;
    }
    this.o.log.info({ remote: this.o.remote, reason, id: this.id }, 's2s stream closed');
    this.finish(reason);
  }

  private giveUp(e: S2SConnectError): void {
    if (this.phase === 'closed') return;
    this.socket?.destroy();
    this.readyReject(e);
    this.finish(e.message);
  }

  private finish(why: string): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.readyReject(new S2SConnectError('remote-server-not-found', why));
    for (const w of this.verifyWaiters.values()) w(false);
    this.verifyWaiters.clear();
    for (const h of this.closeHandlers) h(why);
  }
}
