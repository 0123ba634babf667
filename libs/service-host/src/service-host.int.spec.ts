/**
 * The service host against a real nats-server and the jetstream storage adapter: what it makes it
 * closes (in reverse order, the service first), what it is given it leaves open, /readyz follows the
 * service, the connection and the extra check, and a boot that fails releases what it had made.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, NatsConnection } from 'nats';
import { loadConfig, serviceSchema } from '@kxmpp/config';
import { openStorage, Storage } from '@kxmpp/store';
import { createLogger } from '@kxmpp/telemetry';
import { freePort, NatsServerHandle, startNatsServer } from '@kxmpp/testing';
import { HostedService, ServiceContext, startServiceApp } from './service-host';

/** A service that records what happens to it, in one list shared with the test's resources. */
class Recorder implements HostedService {
  ready = false;
  constructor(private readonly events: string[], readonly ctx: ServiceContext<unknown>) {}
  async start(): Promise<void> {
    this.events.push('service.start');
    this.ready = true;
  }
  async stop(): Promise<void> {
    this.events.push('service.stop');
    this.ready = false;
  }
}

async function readyz(port: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
}

describe('startServiceApp', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let storage: Storage;
  const log = createLogger('host-test', 'silent');
  const base = (over: Record<string, string> = {}) => loadConfig(serviceSchema, { XMPP_DOMAINS: 'example.com', SERVICE_ID: 't1', LOG_LEVEL: 'silent', ...over });

  before(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    storage = await openStorage({ kind: 'jetstream', nc });
  });

  after(async () => {
    await storage?.close();
    await nc?.close();
    await nats?.stop();
  });

  it('standalone: makes its own connection and health server, /readyz follows the service and the extra check, stop closes all', async () => {
    const metrics = await freePort();
    const events: string[] = [];
    let extra = true;
    const running = await startServiceApp({
      name: 'recorder',
      config: { ...base({ METRICS_PORT: String(metrics), METRICS_HOST: '127.0.0.1' }), NATS_URL: nats.url },
      create: (ctx) => new Recorder(events, ctx),
      ready: () => extra,
    });
    const own = running.service.ctx.nc;
    assert.notEqual(own, nc);
    assert.equal(own.isClosed(), false);
    assert.equal(await readyz(metrics), 200);
    extra = false;
    assert.equal(await readyz(metrics), 503, 'the extra readiness check counts');
    extra = true;
    const text = await (await fetch(`http://127.0.0.1:${metrics}/readyz`)).text();
    assert.equal(text, 'ready\n');
    await running.stop();
    await running.stop(); // idempotent
    assert.deepEqual(events, ['service.start', 'service.stop']);
    assert.equal(own.isClosed(), true, 'its own connection is drained');
    await assert.rejects(fetch(`http://127.0.0.1:${metrics}/readyz`), 'its health server is closed');
  });

  it('shared: uses the given connection, storage and logger and closes none of them; releases in reverse order, the service first', async () => {
    const events: string[] = [];
    const running = await startServiceApp({
      name: 'recorder',
      config: base(),
      deps: { nc, storage, log, serveHealth: false },
      create: (ctx) => {
        ctx.onClose(() => void events.push('first.close'));
        ctx.onClose(async () => void events.push('second.close'));
        return new Recorder(events, ctx);
      },
    });
    assert.equal(running.service.ctx.nc, nc);
    assert.equal(running.service.ctx.storage, storage);
    assert.equal(running.service.ready, true);
    await running.stop();
    assert.deepEqual(events, ['service.start', 'service.stop', 'second.close', 'first.close']);
    assert.equal(nc.isClosed(), false);
    // The shared storage still works.
    assert.equal((await storage.roster.get('example.com', 'nobody')).items.length, 0);
  });

  it('a factory that throws: the start rejects and what was made so far is released', async () => {
    const events: string[] = [];
    let made: NatsConnection | undefined;
    await assert.rejects(
      startServiceApp({
        name: 'broken',
        config: { ...base(), NATS_URL: nats.url },
        deps: { serveHealth: false },
        create: (ctx) => {
          made = ctx.nc;
          ctx.onClose(() => void events.push('partial.close'));
          throw new Error('cannot build');
        },
      }),
      /cannot build/,
    );
    assert.deepEqual(events, ['partial.close']);
    assert.ok(made);
    await made.closed();
    assert.equal(made.isClosed(), true, 'its own connection is closed again');
  });

  it('refuses to start without a connection or NATS_URL', async () => {
    await assert.rejects(
      startServiceApp({ name: 'lost', config: base(), deps: { serveHealth: false }, create: (ctx) => new Recorder([], ctx) }),
      /NATS_URL is required/,
    );
  });
});
