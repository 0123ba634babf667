/** /metrics, /healthz and /readyz on one small HTTP server per process. */
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { registry } from './metrics';

export type ReadinessCheck = () => boolean;

export class HealthServer {
  private server?: Server;
  private readonly checks = new Map<string, ReadinessCheck>();
  private draining = false;

  /** Register a named readiness condition; /readyz is 200 only when all hold and we are not draining. */
  addReadiness(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  setDraining(): void {
    this.draining = true;
  }

  async listen(port: number, host = '0.0.0.0'): Promise<number> {
    this.server = createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      if (url === '/metrics') {
        registry
          .metrics()
          .then((body) => {
            res.writeHead(200, { 'content-type': registry.contentType });
            res.end(body);
          })
          .catch((e: Error) => {
            res.writeHead(500);
            res.end(e.message);
          });
      } else if (url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok\n');
      } else if (url === '/readyz') {
        const failing = [...this.checks].filter(([, c]) => !c()).map(([n]) => n);
        if (this.draining) failing.push('draining');
        res.writeHead(failing.length ? 503 : 200, { 'content-type': 'text/plain' });
        res.end(failing.length ? `not ready: ${failing.join(', ')}\n` : 'ready\n');
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections?.();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }
}
