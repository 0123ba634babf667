/** A small promise-based client of the admin API, for xmppctl, tests and tooling. */
import * as grpc from '@grpc/grpc-js';
import { AdminServiceName, loadAdminProto } from './proto';

export interface AdminClientOptions {
  /** host:port */
  server: string;
  token?: string;
  /** TLS to the server (e.g. through an ingress); default plaintext. */
  tls?: boolean;
  /** PEM of the CA that signed the server's certificate (with tls). */
  ca?: Buffer;
}

export class AdminClient {
  private readonly clients = new Map<AdminServiceName, grpc.Client>();
  private readonly creds: grpc.ChannelCredentials;

  constructor(private readonly opts: AdminClientOptions) {
    this.creds = opts.tls ? grpc.credentials.createSsl(opts.ca ?? null) : grpc.credentials.createInsecure();
  }

  private client(service: AdminServiceName): grpc.Client {
    let c = this.clients.get(service);
    if (!c) {
      const Ctor = loadAdminProto().services[service];
      const first = this.clients.values().next().value as grpc.Client | undefined;
      // One HTTP/2 connection for every service.
      c = new Ctor(this.opts.server, this.creds, first ? { channelOverride: first.getChannel() } : {});
      this.clients.set(service, c);
    }
    return c;
  }

  /**
   * Resolve once connected; reject (code UNAVAILABLE) at the first failed connection attempt or when
   * timeoutMs passes, instead of retrying with backoff as a call would.
   */
  waitForReady(timeoutMs: number): Promise<void> {
    const channel = this.client('StatsService').getChannel();
    const deadline = Date.now() + timeoutMs;
    const fail = (why: string) => Object.assign(new Error(`cannot reach the admin API at ${this.opts.server}: ${why}`), { code: grpc.status.UNAVAILABLE });
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const state = channel.getConnectivityState(true);
        if (state === grpc.connectivityState.READY) return resolve();
        if (state === grpc.connectivityState.TRANSIENT_FAILURE) return reject(fail('connection failed'));
        if (state === grpc.connectivityState.SHUTDOWN) return reject(fail('client closed'));
        channel.watchConnectivityState(state, deadline, (err) => (err ? reject(fail(`no connection within ${timeoutMs} ms`)) : check()));
      };
      check();
    });
  }

  /** One unary call; rejects with a grpc.ServiceError (code, details). */
  call<Res = Record<string, unknown>>(service: AdminServiceName, method: string, request: object, timeoutMs = 10_000): Promise<Res> {
    const c = this.client(service) as unknown as Record<string, (req: object, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Res) => void) => void>;
    if (typeof c[method] !== 'function') return Promise.reject(new Error(`no method ${service}.${method}`));
    const md = new grpc.Metadata();
    if (this.opts.token !== undefined) md.set('authorization', `Bearer ${this.opts.token}`);
    return new Promise((resolve, reject) => c[method](request, md, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res))));
  }

  close(): void {
    const first = this.clients.values().next().value as grpc.Client | undefined;
    for (const c of this.clients.values()) if (c !== first) c.close();
    first?.close();
    this.clients.clear();
  }
}
