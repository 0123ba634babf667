/**
 * The edge's HTTP port: XMPP over WebSocket (RFC 7395) on /xmpp-websocket, and XEP-0156 discovery
 * (/.well-known/host-meta and host-meta.json) so clients find the WebSocket endpoint.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { C2SStream } from './c2s-stream';
import type { EdgeService } from './edge.service';
import { WebSocketTransport, XmppWebSocket } from './transport';

export const WS_PATH = '/xmpp-websocket';

export class HttpFront {
  private readonly server: Server;
  private readonly wss: WebSocketServer;

  constructor(private readonly edge: EdgeService) {
    this.wss = new WebSocketServer({
      noServer: true,
      // A message over this is refused before it is buffered whole; XmppWebSocket turns the refusal
      // into a policy-violation stream error.
      maxPayload: edge.config.MAX_STANZA_BYTES + 1024,
      WebSocket: XmppWebSocket,
      // Ping floods: the ws library drops a client with 60 automatic pongs not yet written out (its
      // maxPendingAutoPongs, not in its type definitions), as the edge drops one that stops reading
      // (MAX_UNREAD_BYTES). A burst of ~100 pings is enough (rfc7395-websocket e2e spec).
      // RFC 7395 §3.1: the subprotocol is "xmpp"; a client that does not offer it is refused.
      handleProtocols: (protocols) => (protocols.has('xmpp') ? 'xmpp' : false),
    });
    this.server = createServer((req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req, socket, head) => {
      const path = (req.url ?? '').split('?')[0];
      const offered = String(req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((s) => s.trim());
      if (path !== WS_PATH || !offered.includes('xmpp')) {
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const secure = req.socket instanceof TLSSocket;
        const stream = new C2SStream(new WebSocketTransport(ws, secure, req.socket.remoteAddress ?? ''), this.edge);
        this.edge.adopt(stream);
      });
    });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const host = String(req.headers.host ?? `localhost:${this.edge.ports.http}`).replace(/[^A-Za-z0-9.:[\]-]/g, '');
    const scheme = req.headers['x-forwarded-proto'] === 'https' ? 'wss' : 'ws';
    const href = `${scheme}://${host}${WS_PATH}`;
    if (path === '/.well-known/host-meta') {
      res.writeHead(200, { 'content-type': 'application/xrd+xml', 'access-control-allow-origin': '*' });
      res.end(
        `<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n` +
          `  <Link rel="urn:xmpp:alt-connections:websocket" href="${href}"/>\n</XRD>\n`,
      );
    } else if (path === '/.well-known/host-meta.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' });
      res.end(JSON.stringify({ links: [{ rel: 'urn:xmpp:alt-connections:websocket', href }] }));
    } else if (path === WS_PATH) {
      res.writeHead(426, { upgrade: 'websocket', 'content-type': 'text/plain' });
      res.end('Use a WebSocket with the "xmpp" subprotocol (RFC 7395)\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  async close(): Promise<void> {
    this.server.closeIdleConnections?.();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
