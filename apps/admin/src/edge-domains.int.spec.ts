/**
 * A domain added through the admin API is served by a real edge (another NATS connection, as another
 * pod) without a restart: stream header accepted, a dev TLS certificate of its own, logins; sessions
 * listed and kicked through the API; a removed domain's streams end with <host-gone/> (RFC 6120 §4.9.3.5).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { status } from '@grpc/grpc-js';
import type { NatsConnection } from 'nats';
import { connectBus } from '@kxmpp/bus';
import { edgeSchema, loadConfig } from '@kxmpp/config';
import { EdgeService } from '@kxmpp/edge';
import { createLogger } from '@kxmpp/telemetry';
import { eventually, lazyNatsServer } from '@kxmpp/testing';
import { AdminHarness, grpcError, startAdminHarness } from './admin.harness';

/** A raw C2S client: enough XML over TCP to open streams, log in with PLAIN and bind. */
class RawClient {
  private buf = '';
  readonly closed: Promise<void>;

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (this.buf += d));
    sock.on('error', () => undefined);
    this.closed = new Promise((r) => sock.once('close', () => r()));
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ port, host: '127.0.0.1' }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** Received and not yet consumed by expect(). */
  get pending(): string {
    return this.buf;
  }

  send(s: string): void {
    this.sock.write(s);
  }

  /** Wait until the received text matches, and consume it up to the end of the match. */
  async expect(re: RegExp, what: string, ms = 5000): Promise<RegExpExecArray> {
    const m = await eventually(() => re.exec(this.buf), ms, `${what} (got: ${this.buf.slice(-300)})`);
    this.buf = this.buf.slice(m.index + m[0].length);
    return m;
  }

  open(domain: string): void {
    this.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${domain}' version='1.0'>`);
  }

  async login(domain: string, user: string, password: string, resource: string): Promise<string> {
    this.open(domain);
    await this.expect(/<mechanism>PLAIN<\/mechanism>[\s\S]*?<\/stream:features>/, 'SASL features');
    this.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${user}\0${password}`).toString('base64')}</auth>`);
    await this.expect(/<success[^>]*\/?>/, 'SASL success');
    this.open(domain);
    await this.expect(/<bind[\s\S]*?<\/stream:features>/, 'bind feature');
    this.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`);
    return (await this.expect(/<jid>([^<]+)<\/jid>/, 'bound JID'))[1];
  }

  destroy(): void {
    this.sock.destroy();
  }
}

function peerCN(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false }, () => {
      const cn = s.getPeerCertificate().subject.CN;
      s.destroy();
      resolve(String(Array.isArray(cn) ? cn[0] : cn));
    });
    s.on('error', reject);
  });
}

describe('run-time domains on a real edge through the admin API', () => {
  const nats = lazyNatsServer();
  let h: AdminHarness;
  let edgeNc: NatsConnection;
  let edge: EdgeService;

  before(async () => {
    const url = await nats.url();
    h = await startAdminHarness(url);
    edgeNc = await connectBus(url, 'edge-under-test');
    const config = loadConfig(edgeSchema, {
      XMPP_DOMAINS: 'example.com',
      EDGE_ID: 'edge-under-test',
      BIND_HOST: '127.0.0.1',
      C2S_PORT: '0',
      C2S_TLS_PORT: '0',
      S2S_PORT: '0',
      S2S_TLS_PORT: '0',
      HTTP_ENABLED: 'false',
      REQUIRE_TLS: 'false',
      ALLOW_PLAIN_INSECURE: 'true',
      ROUTE_PARTITIONS: '4',
      ROUTE_STORAGE: 'memory',
      LOG_LEVEL: 'silent',
    });
    edge = new EdgeService(config, edgeNc, h.storage.accounts, createLogger('edge', 'silent'));
    await edge.start();
  });

  after(async () => {
    await edge?.stop();
    await edgeNc?.close();
    await h?.stop();
    await nats.stop();
  });

  it('refuses an unknown domain, then serves it once added, with its own certificate', async () => {
    const before = await RawClient.connect(edge.ports.c2s);
    before.open('tenant.example');
    await before.expect(/<host-unknown/, 'host-unknown before the add');
    await before.closed;

    await h.client.call('DomainService', 'AddDomain', { name: 'tenant.example' });
    const t0 = Date.now();
    await eventually(() => edge.domains.has('tenant.example'), 5000, 'the edge sees the domain');
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);

    const c = await RawClient.connect(edge.ports.c2s);
    c.open('tenant.example');
    await c.expect(/<stream:features>[\s\S]*<mechanism>PLAIN<\/mechanism>/, 'features for the new domain');
    c.destroy();

    // A development certificate of its own (TLS_CERT_DIR unset), generated off the event loop.
    await eventually(async () => (await peerCN(edge.ports.c2sTls, 'tenant.example')) === 'tenant.example', 10_000, 'certificate for tenant.example');
    assert.equal(await peerCN(edge.ports.c2sTls, 'example.com'), 'example.com');
  });

  it('logs in an account of the new domain, lists and kicks its session', async () => {
    await h.client.call('AccountService', 'CreateAccount', { jid: 'alice@tenant.example', password: 'secret' });
    const c = await RawClient.connect(edge.ports.c2s);
    assert.equal(await c.login('tenant.example', 'alice', 'secret', 'phone'), 'alice@tenant.example/phone');

    const list = await h.client.call<{ sessions: Array<{ jid: string; edge: string }> }>('SessionService', 'ListSessions', { domain: 'tenant.example' });
    assert.deepEqual(list.sessions.map((s) => [s.jid, s.edge]), [['alice@tenant.example/phone', 'edge-under-test']]);

    await h.client.call('SessionService', 'KickSession', { jid: 'alice@tenant.example/phone', text: 'bye' });
    await c.expect(/<policy-violation[^>]*\/>(<text[^>]*>bye<\/text>)?/, 'policy-violation stream error');
    await c.closed;
  });

  it('ends the sessions of a removed domain with host-gone, and refuses it afterwards', async () => {
    const c = await RawClient.connect(edge.ports.c2s);
    await c.login('tenant.example', 'alice', 'secret', 'laptop');
    const other = await RawClient.connect(edge.ports.c2s);
    other.open('example.com');
    await other.expect(/<stream:features>/, 'config domain stream');

    await h.client.call('DomainService', 'RemoveDomain', { name: 'tenant.example' });
    await c.expect(/<host-gone/, 'host-gone');
    await c.closed;
    assert.equal(edge.domains.has('tenant.example'), false);

    const again = await RawClient.connect(edge.ports.c2s);
    again.open('tenant.example');
    await again.expect(/<host-unknown/, 'host-unknown after the removal');
    // Streams of other domains are untouched; the account itself stays (re-adding the domain serves it).
    assert.doesNotMatch(other.pending, /stream:error/);
    other.destroy();
    assert.ok(await h.storage.accounts.get('tenant.example', 'alice'));
    await assert.rejects(h.client.call('AccountService', 'CreateAccount', { jid: 'bob@tenant.example', password: 'x' }), grpcError(status.NOT_FOUND, /not served/));
  });
});
