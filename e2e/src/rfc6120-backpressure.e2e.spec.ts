/**
 * A client that stops reading must not make the edge buffer without bound: once its unread backlog
 * passes the limit, its stream ends with <resource-constraint/> (RFC 6120 §4.9.3.17); the sender and
 * the process are unaffected.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '@kxmpp/testing';
import { startPlatform, Platform } from './platform';
import { fetchMetrics, metricValue, rawLogin, rawRequest, RawClient, uniqueName } from './helpers';

const DOMAIN = 'localhost';

describe('RFC 6120 backpressure: a client that does not read', () => {
  let p: Platform;
  const raws: RawClient[] = [];
  before(async () => {
    p = await startPlatform({ mode: 'all-in-one' });
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
});
