/**
 * The test platform itself: a port taken between picking it and the process binding it (by a test
 * running beside this one) makes the harness pick again instead of failing the suite.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, Server } from 'node:net';
import { startNatsServer, NatsServerHandle } from '@kxmpp/testing';
import { EDGE_MAIN, edgeEnv, spawnOnFreePorts } from './platform';

describe('test platform: ports taken by someone else', () => {
  let nats: NatsServerHandle;
  let squatter: Server;
  let taken: number;
  before(async () => {
    nats = await startNatsServer();
    squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    taken = (squatter.address() as { port: number }).port;
  });
  after(async () => {
    squatter.close();
    await nats.stop();
  });

  it('an edge whose C2S port was taken is started again on new ports', async () => {
    let picks = 0;
    const { proc, ports } = await spawnOnFreePorts('edge-harness', EDGE_MAIN, { NATS_URL: nats.url, XMPP_DOMAINS: 'localhost' }, async () => {
      picks++;
      const { ports, env } = await edgeEnv();
      // The first pick hands out a port that is already in use, as a race with another test would.
      const c2s = picks === 1 ? taken : ports.c2s;
      return { ports: { ...ports, c2s }, metrics: ports.metrics, env: { ...env, C2S_PORT: String(c2s) } };
    });
    try {
      assert.equal(picks, 2, 'picked again after EADDRINUSE');
      assert.notEqual(ports.c2s, taken);
      assert.equal(proc.child.exitCode, null, 'the second edge runs');
    } finally {
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
  });

  it('a failure that is not a taken port is reported at once', async () => {
    let picks = 0;
    await assert.rejects(
      spawnOnFreePorts('edge-bad', EDGE_MAIN, { NATS_URL: nats.url, XMPP_DOMAINS: 'not a domain!' }, async () => {
        picks++;
        const { ports, env } = await edgeEnv();
        return { ports, metrics: ports.metrics, env };
      }),
      /exited early/,
    );
    assert.equal(picks, 1);
  });
});
