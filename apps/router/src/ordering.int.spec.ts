/**
 * The ordering guarantee (RFC 6120 §10.1, docs/adr/0001): 3 router processes, 2 edges, 50 sender ->
 * recipient pairs, 10,000 messages published pipelined as an edge does (RoutePublisher: batches under
 * load). Every message must arrive exactly once and in order per pair, and more than one router must have
 * done the work.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { connect, NatsConnection } from 'nats';
import { deliveriesOf, edgeDeliverySubject, EdgeSessionRegistry, encodeEnvelope, openSessionsBucket, partitionOf, RoutePublisher, routeSubject } from '@kxmpp/bus';
import { eventually, freePort, NatsServerHandle, startNatsServer } from '@kxmpp/testing';

const ROUTERS = 3;
const PAIRS = 50;
const PER_PAIR = 200;
const PARTITIONS = 16;
const enc = new TextEncoder();
const dec = new TextDecoder();

interface Child {
  proc: ChildProcess;
  port: number;
  stderr: string;
}

async function routedBy(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith('xmpp_router_stanzas_total{')) sum += Number(line.split(' ').pop());
  return sum;
}

describe('per-pair ordering across 3 router processes', { timeout: 240_000 }, () => {
  let nats: NatsServerHandle;
  const edges: Record<string, NatsConnection> = {};
  const children: Child[] = [];

  before(async () => {
    nats = await startNatsServer();
    for (const e of ['e1', 'e2']) edges[e] = await connect({ servers: nats.url, name: `fake-edge-${e}` });
    const kv = await openSessionsBucket(edges.e1, 60);
    const regs = { e1: new EdgeSessionRegistry(kv, 60), e2: new EdgeSessionRegistry(kv, 60) };
    for (let p = 0; p < PAIRS; p++) {
      const [se, re] = p % 2 === 0 ? (['e1', 'e2'] as const) : (['e2', 'e1'] as const);
      await regs[se].put({ jid: `s${p}@example.com/phone`, edge: se, sid: `s${p}`, priority: 0, available: true });
      await regs[re].put({ jid: `r${p}@example.com/phone`, edge: re, sid: `r${p}`, priority: 0, available: true });
    }
    const main = join(__dirname, 'main.js');
    for (let i = 0; i < ROUTERS; i++) {
      const port = await freePort();
      const proc = spawn(process.execPath, [main], {
        env: {
          PATH: process.env.PATH,
          NATS_URL: nats.url,
          XMPP_DOMAINS: 'example.com',
          ROUTE_PARTITIONS: String(PARTITIONS),
          ROUTE_STORAGE: 'memory',
          SESSION_TTL_SECONDS: '60',
          METRICS_PORT: String(port),
          METRICS_HOST: '127.0.0.1',
          ROUTER_ID: `router-${i}`,
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const child: Child = { proc, port, stderr: '' };
      proc.stderr?.on('data', (d: Buffer) => (child.stderr += d.toString()));
      children.push(child);
    }
    // Every replica consuming before the first publish, so the work can spread.
    for (const c of children) {
      await eventually(
        async () => {
          if (c.proc.exitCode !== null) throw new Error(`router exited: ${c.stderr}`);
          return (await fetch(`http://127.0.0.1:${c.port}/readyz`).catch(() => null))?.status === 200;
        },
        30_000,
        'router ready',
      );
    }
  });

  after(async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.proc.exitCode !== null || c.proc.signalCode !== null) return resolve();
            c.proc.once('exit', () => resolve());
            c.proc.kill('SIGTERM');
            setTimeout(() => c.proc.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
    for (const nc of Object.values(edges)) await nc.close();
    await nats?.stop();
  });

  it('delivers 10,000 messages exactly once and in order per pair', async (t) => {
    const next = new Array<number>(PAIRS).fill(0);
    const problems: string[] = [];
    let received = 0;
    let messages = 0;
    for (const [edge, nc] of Object.entries(edges)) {
      nc.subscribe(edgeDeliverySubject(edge), {
        callback: (_e, m) => {
          messages++;
          for (const d of deliveriesOf(m)) {
            const body = /<body>(\d+):(\d+)<\/body>/.exec(dec.decode(d.data));
            if (!body) return void problems.push(`unexpected delivery ${dec.decode(d.data).slice(0, 200)}`);
            const [p, seq] = [Number(body[1]), Number(body[2])];
            if (d.targets.join() !== `r${p}`) problems.push(`pair ${p} seq ${seq} delivered to ${d.targets.join()} on ${edge}`);
            if (seq !== next[p]) problems.push(`pair ${p}: expected seq ${next[p]}, got ${seq}`);
            next[p] = Math.max(next[p], seq + 1);
            received++;
          }
        },
      });
    }
    await Promise.all(Object.values(edges).map((nc) => nc.flush()));

    const started = Date.now();
    const publishers = { e1: new RoutePublisher(edges.e1, { ackTimeoutMs: 60_000 }), e2: new RoutePublisher(edges.e2, { ackTimeoutMs: 60_000 }) };
    const failures: string[] = [];
    for (let seq = 0; seq < PER_PAIR; seq++) {
      for (let p = 0; p < PAIRS; p++) {
        const edge = p % 2 === 0 ? 'e1' : 'e2';
        const from = `s${p}@example.com/phone`;
        // Half the pairs address the recipient's full JID, half the bare JID (the priority path).
        const to = p % 4 < 2 ? `r${p}@example.com/phone` : `r${p}@example.com`;
        const xml = `<message xmlns="jabber:client" type="chat" id="m-${p}-${seq}" from="${from}" to="${to}"><body>${p}:${seq}</body></message>`;
        const headers = encodeEnvelope({ from, to, kind: 'message', type: 'chat', ns: '', edge, sid: `s${p}`, ts: Date.now() });
        publishers[edge].publish(routeSubject(partitionOf(`s${p}@example.com`, PARTITIONS)), enc.encode(xml), headers, (why) => failures.push(why));
      }
    }
    await eventually(() => publishers.e1.unacknowledged + publishers.e2.unacknowledged === 0, 60_000, 'all published');
    for (const pub of Object.values(publishers)) pub.close();
    assert.deepEqual(failures, []);
    const published = Date.now();
    await eventually(() => received >= PAIRS * PER_PAIR || problems.length > 0, 120_000, `all messages (got ${received})`);
    const done = Date.now();
    // A short grace period: a duplicate would show up right after the last original.
    await new Promise((r) => setTimeout(r, 500));

    assert.deepEqual(problems.slice(0, 10), []);
    assert.equal(received, PAIRS * PER_PAIR);
    assert.deepEqual(next, new Array<number>(PAIRS).fill(PER_PAIR));

    const perRouter = await Promise.all(children.map((c) => routedBy(c.port)));
    const total = perRouter.reduce((a, b) => a + b, 0);
    assert.equal(total, PAIRS * PER_PAIR, `per router: ${perRouter.join(', ')}`);
    assert.ok(perRouter.filter((x) => x > 0).length > 1, `one router did everything: ${perRouter.join(', ')}`);
    // Pipelined as fast as they go, the stanzas travel in batches (docs/adr/0001, "Batches").
    assert.ok(messages < received / 2, `${received} deliveries came in ${messages} messages`);
    t.diagnostic(
      `ordering: ${received} messages in ${done - started} ms (all published+acked after ${published - started} ms), ${messages} delivery messages; per router ${perRouter.join(', ')}`,
    );
  });

  it('a router killed mid-stream loses nothing and keeps each pair in order (at most one redelivered run per pair)', async (t) => {
    const N = 60; // per pair
    const seen: number[][] = Array.from({ length: PAIRS }, () => []);
    for (const [edge, nc] of Object.entries(edges)) {
      nc.subscribe(edgeDeliverySubject(edge), {
        callback: (_e, m) => {
          for (const d of deliveriesOf(m)) {
            const body = /<body>k(\d+):(\d+)<\/body>/.exec(dec.decode(d.data));
            if (body) seen[Number(body[1])].push(Number(body[2]));
          }
        },
      });
    }
    await Promise.all(Object.values(edges).map((nc) => nc.flush()));
    const victim = children[0];
    const publishers = { e1: new RoutePublisher(edges.e1, { ackTimeoutMs: 60_000 }), e2: new RoutePublisher(edges.e2, { ackTimeoutMs: 60_000 }) };
    const failures: string[] = [];
    for (let seq = 0; seq < N; seq++) {
      if (seq === N / 3) {
        victim.proc.kill('SIGKILL');
        await new Promise((r) => victim.proc.once('exit', r));
      }
      for (let p = 0; p < PAIRS; p++) {
        const edge = p % 2 === 0 ? 'e1' : 'e2';
        const from = `s${p}@example.com/phone`;
        const to = `r${p}@example.com/phone`;
        const xml = `<message xmlns="jabber:client" type="chat" from="${from}" to="${to}"><body>k${p}:${seq}</body></message>`;
        const headers = encodeEnvelope({ from, to, kind: 'message', type: 'chat', ns: '', edge, sid: `s${p}`, ts: Date.now() });
        publishers[edge].publish(routeSubject(partitionOf(`s${p}@example.com`, PARTITIONS)), enc.encode(xml), headers, (why) => failures.push(why));
      }
      // Paced, so the kill lands while stanzas are in flight.
      if (seq % 10 === 9) await new Promise((r) => setTimeout(r, 20));
    }
    await eventually(() => publishers.e1.unacknowledged + publishers.e2.unacknowledged === 0, 60_000, 'all published');
    for (const pub of Object.values(publishers)) pub.close();
    assert.deepEqual(failures, []);
    // Stanzas the dead router held come back after ack_wait (10 s).
    await eventually(() => seen.every((s) => new Set(s).size === N), 60_000, 'every message after the router died');
    let duplicates = 0;
    for (let p = 0; p < PAIRS; p++) {
      // A redelivery repeats what the dead router had in hand (one message of the partition: a stanza or a
      // batch), right after it: a run of already-seen stanzas. First arrivals stay in order.
      const firsts: number[] = [];
      let replays = 0;
      let prevDup: number | null = null;
      for (const v of seen[p]) {
        if (v < firsts.length) {
          duplicates++;
          if (prevDup === null || prevDup + 1 !== v) replays++;
          prevDup = v;
        } else {
          firsts.push(v);
          prevDup = null;
        }
      }
      assert.deepEqual(firsts, Array.from({ length: N }, (_, i) => i), `pair ${p}: ${seen[p].join(',')}`);
      assert.ok(replays <= 1, `pair ${p}: at most one redelivered run, got ${replays}: ${seen[p].join(',')}`);
    }
    t.diagnostic(`router kill: ${PAIRS * N} messages, all delivered in order, ${duplicates} redelivered duplicates`);
  });
});
