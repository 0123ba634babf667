/**
 * Flow control at the edge, both ways. A client that stops reading must not make the edge buffer without
 * bound: once its unread backlog passes the limit, its stream ends with <resource-constraint/> (RFC 6120
 * §4.9.3.17); the sender and the process are unaffected. A client that sends faster than its byte rate
 * (C2S_MAX_BYTES_PER_SECOND), or faster than the routing stream accepts its stanzas, is slowed by TCP
 * flow control: the edge stops reading it for a while, and nothing it sent is lost or reordered.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'nats';
import { ROUTE_STREAM } from '@kxmpp/bus';
import { eventually } from '@kxmpp/testing';
import { startPlatform, Platform } from './platform';
import { fetchMetrics, metricValue, rawLogin, rawRequest, RawClient, uniqueName } from './helpers';

const DOMAIN = 'localhost';

const ping = (id: string) => `<iq type='get' id='${id}' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>`;

/** Wait until `to` has received every message of `ids`, and return the ids in the order they came. */
async function arrivals(to: RawClient, ids: string[], timeoutMs: number): Promise<string[]> {
  const last = ids[ids.length - 1];
  await to.waitFor(new RegExp(`id=["']${last}["']`), timeoutMs);
  return [...to.text.matchAll(/<message [^>]*id=["'](m\d+)["']/g)].map((m) => m[1]).filter((id) => ids.includes(id));
}

describe('RFC 6120 backpressure: a client that does not read', () => {
  let p: Platform;
  const raws: RawClient[] = [];
  before(async () => {
    // The sender below must outpace its victim's reading by megabytes: no byte rate for it.
    p = await startPlatform({ mode: 'all-in-one', env: { C2S_MAX_BYTES_PER_SECOND: '0' } });
  });
  after(async () => {
    for (const r of raws) r.destroy();
    await p.stop();
  });

  it('is disconnected with resource-constraint instead of growing the edge, and the sender keeps working', async () => {
    const port = p.edges[0].c2sTls;
    const victim = await rawLogin(port, { domain: DOMAIN, username: uniqueName('slow'), password: 'pw', register: true, resource: 'r' });
    const sender = await rawLogin(port, { domain: DOMAIN, username: uniqueName('fast'), password: 'pw', register: true, resource: 'r' });
    raws.push(victim, sender);
    const before = metricValue(await fetchMetrics(p.edges[0].metrics), 'xmpp_edge_stream_errors_total', { condition: 'resource-constraint' });
    // The victim stops reading; its kernel buffers fill, then the edge's.
    victim.socket.pause();
    const body = 'x'.repeat(8192);
    for (let i = 0; i < 800; i++) {
      await sender.send(`<message to='${victim.jid}' type='chat' id='m${i}'><body>${body}</body></message>`);
    }
    await eventually(
      async () =>
        metricValue(await fetchMetrics(p.edges[0].metrics), 'xmpp_edge_stream_errors_total', { condition: 'resource-constraint' }) > before,
      20_000,
      'resource-constraint stream error for the slow reader',
    );
    victim.socket.resume();
    assert.equal(await victim.waitClose(10_000), true, 'the slow reader is disconnected');
    // The sender's stream is still served.
    const pong = await rawRequest(sender, 'ping1', `<iq type='get' id='ping1' to='${DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    assert.match(pong, /type=['"]result['"]/);
    assert.equal(p.procs[0].child.exitCode, null);
  });

  it('a client that asks for stream management acks (<r/>) without reading the answers is disconnected with resource-constraint', async () => {
    const port = p.edges[0].c2sTls;
    const r = await rawLogin(port, { domain: DOMAIN, username: uniqueName('asker'), password: 'pw', register: true, resource: 'r' });
    raws.push(r);
    await r.send(`<enable xmlns='urn:xmpp:sm:3'/>`);
    await r.waitFor(/<enabled /);
    const before = metricValue(await fetchMetrics(p.edges[0].metrics), 'xmpp_edge_stream_errors_total', { condition: 'resource-constraint' });
    r.socket.pause();
    const burst = `<r xmlns='urn:xmpp:sm:3'/>`.repeat(10_000);
    for (let i = 0; i < 40 && !r.isClosed; i++) await r.send(burst);
    await eventually(
      async () => metricValue(await fetchMetrics(p.edges[0].metrics), 'xmpp_edge_stream_errors_total', { condition: 'resource-constraint' }) > before,
      20_000,
      'resource-constraint for the client that does not read its acks',
    );
    r.socket.resume();
    assert.equal(await r.waitClose(10_000), true);
    assert.equal(p.procs[0].child.exitCode, null);
  });

  it('a session stops reading while 128 of its stanzas wait for the routing stream, and loses none of them', async () => {
    const port = p.edges[0].c2sTls;
    const from = await rawLogin(port, { domain: DOMAIN, username: uniqueName('eager'), password: 'pw', register: true, resource: 'r' });
    const to = await rawLogin(port, { domain: DOMAIN, username: uniqueName('patient'), password: 'pw', register: true, resource: 'r' });
    raws.push(from, to);
    const metric = async () => metricValue(await fetchMetrics(p.edges[0].metrics), 'xmpp_edge_reads_paused_total', { reason: 'inflight' });
    const before = await metric();
    const ids = Array.from({ length: 400 }, (_, i) => `m${i}`);
    // nats-server stops: nothing the edge publishes is acknowledged until it goes on.
    p.nats.process.kill('SIGSTOP');
    try {
      await from.send(ids.map((id) => `<message to='${to.jid}' type='chat' id='${id}'><body>${id}</body></message>`).join(''));
      await eventually(async () => (await metric()) > before, 5000, 'the session paused for its stanzas in flight');
    } finally {
      p.nats.process.kill('SIGCONT');
    }
    assert.deepEqual(await arrivals(to, ids, 15_000), ids, 'all of them, once, in order');
    assert.match(await rawRequest(from, 'ping2', ping('ping2')), /type=['"]result['"]/);
  });
});

describe('RFC 6120 flow control: a client over its byte rate', () => {
  let p: Platform;
  const raws: RawClient[] = [];
  const RATE = 16_384;
  before(async () => {
    p = await startPlatform({ mode: 'all-in-one', env: { C2S_MAX_BYTES_PER_SECOND: String(RATE), C2S_BURST_BYTES: String(RATE) } });
  });
  after(async () => {
    for (const r of raws) r.destroy();
    await p.stop();
  });

  it('is slowed, not cut off: every message arrives in order, no sooner than the rate allows, and others are served meanwhile', async () => {
    const port = p.edges[0].c2sTls;
    const from = await rawLogin(port, { domain: DOMAIN, username: uniqueName('chatty'), password: 'pw', register: true, resource: 'r' });
    const to = await rawLogin(port, { domain: DOMAIN, username: uniqueName('reader'), password: 'pw', register: true, resource: 'r' });
    const other = await rawLogin(port, { domain: DOMAIN, username: uniqueName('other'), password: 'pw', register: true, resource: 'r' });
    raws.push(from, to, other);
    const metric = async () => metricValue(await fetchMetrics(p.edges[0].metrics), 'xmpp_edge_reads_paused_total', { reason: 'rate' });
    const before = await metric();
    const body = 'y'.repeat(2000);
    const ids = Array.from({ length: 40 }, (_, i) => `m${i}`);
    const sent = Date.now();
    // ~82 KB at once: the first 16 KB go through, the rest at 16 KB/s, so the last arrives after ~4 s.
    void from.send(ids.map((id) => `<message to='${to.jid}' type='chat' id='${id}'><body>${body}</body></message>`).join(''));
    await eventually(async () => (await metric()) > before, 5000, 'the sender paused for its rate');
    assert.match(await rawRequest(other, 'o1', ping('o1')), /type=['"]result['"]/);
    assert.equal(new RegExp(`id=["']${ids[ids.length - 1]}["']`).test(to.text), false, 'another client was answered while the sender was still held back');
    const got = await arrivals(to, ids, 30_000);
    const elapsed = Date.now() - sent;
    assert.deepEqual(got, ids);
    const bytes = ids.length * (body.length + 80);
    assert.ok(elapsed >= ((bytes - RATE) / RATE) * 1000 * 0.75, `${bytes} bytes took ${elapsed} ms at ${RATE} B/s`);
    assert.equal(from.isClosed, false);
    assert.match(await rawRequest(from, 'f1', ping('f1')), /type=['"]result['"]/);
    assert.equal(p.procs[0].child.exitCode, null);
  });
});

describe('the routing stream refuses what an edge publishes', () => {
  let p: Platform;
  const raws: RawClient[] = [];
  before(async () => {
    p = await startPlatform({ mode: 'split', env: { C2S_MAX_BYTES_PER_SECOND: '0' } });
  });
  after(async () => {
    for (const r of raws) r.destroy();
    await p.stop();
  });

  it('every stanza, alone or in a batch, goes back to its sender as internal-server-error, and the edge stays up', async () => {
    const port = p.edges[0].c2sTls;
    const from = await rawLogin(port, { domain: DOMAIN, username: uniqueName('refused'), password: 'pw', register: true, resource: 'r' });
    raws.push(from);
    // No stream takes xmpp.route.* any more: JetStream answers every publish with "no responders".
    const nc = await connect({ servers: p.nats.url });
    await (await nc.jetstreamManager()).streams.delete(ROUTE_STREAM);
    await nc.close();
    // One write: the first goes alone, the others wait for its answer and go as one batch.
    const ids = Array.from({ length: 20 }, (_, i) => `x${i}`);
    await from.send(ids.map((id) => `<message to='nobody@${DOMAIN}' type='chat' id='${id}'><body>${id}</body></message>`).join(''));
    for (const id of ids) {
      const m = await from.waitFor(new RegExp(`<message[^>]*id=["']${id}["'][^>]*>[\\s\\S]*?</message>`), 10_000);
      assert.match(m[0], /type=["']error["']/, id);
      assert.match(m[0], /<internal-server-error /, id);
      assert.match(m[0], new RegExp(`<body>${id}</body>`), `${id}: the bounce carries the original`);
    }
    assert.equal(p.procs.find((x) => x.name.startsWith('edge'))?.child.exitCode, null);
  });
});
