import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from './hot-metrics';

/** The exposition text of a registry, with the metric names made equal. */
async function text(r: Registry, name: string): Promise<string> {
  return (await r.metrics()).split(name).join('m');
}

describe('HotCounter and HotHistogram (prom-client series updated in place)', () => {
  it('a HotCounter exposes what a Counter does for the same increments, mixed with inc(), across a reset()', async () => {
    const [r1, r2] = [new Registry(), new Registry()];
    const plain = new Counter({ name: 'plain_total', help: 'h', labelNames: ['kind', 'outcome'] as const, registers: [r1] });
    const hot = new HotCounter({ name: 'hot_total', help: 'h', labelNames: ['kind', 'outcome'] as const, registers: [r2] });
    const steps: Array<[string, string]> = [['message', 'deliver'], ['iq', 'bounce'], ['message', 'deliver'], ['message', 'drop'], ['iq', 'bounce'], ['message', 'deliver']];
    for (const [k, o] of steps) {
      plain.inc({ kind: k, outcome: o });
      hot.add(k, o);
    }
    plain.inc({ kind: 'presence', outcome: 'deliver' }, 2);
    hot.inc({ kind: 'presence', outcome: 'deliver' }, 1);
    hot.add('presence', 'deliver');
    assert.equal(await text(r2, 'hot_total'), await text(r1, 'plain_total'));
    assert.match(await r2.metrics(), /hot_total\{kind="message",outcome="deliver"\} 3/);
    plain.reset();
    hot.reset();
    plain.inc({ kind: 'iq', outcome: 'bounce' });
    hot.add('iq', 'bounce');
    assert.equal(await text(r2, 'hot_total'), await text(r1, 'plain_total'));
  });

  it('a HotCounter with one label', async () => {
    const [r1, r2] = [new Registry(), new Registry()];
    const plain = new Counter({ name: 'p_total', help: 'h', labelNames: ['kind'] as const, registers: [r1] });
    const hot = new HotCounter({ name: 'q_total', help: 'h', labelNames: ['kind'] as const, registers: [r2] });
    for (const k of ['message', 'iq', 'message']) {
      plain.inc({ kind: k });
      hot.add(k);
    }
    assert.equal(await text(r2, 'q_total'), await text(r1, 'p_total'));
  });

  it('a HotHistogram exposes what a Histogram does: buckets, +Inf, sum and count; an earlier observe() is kept', async () => {
    const [r1, r2] = [new Registry(), new Registry()];
    const buckets = [0.001, 0.01, 0.1];
    const plain = new Histogram({ name: 'ph', help: 'h', labelNames: ['kind'] as const, buckets, registers: [r1] });
    const hot = new HotHistogram({ name: 'qh', help: 'h', labelNames: ['kind'] as const, buckets, registers: [r2] });
    plain.observe({ kind: 'message' }, 0.05);
    hot.observe({ kind: 'message' }, 0.05);
    const values: Array<[string, number]> = [['message', 0.0005], ['message', 0.001], ['iq', 0.02], ['message', 5], ['iq', 0.0001], ['message', 0.01]];
    for (const [k, v] of values) {
      plain.observe({ kind: k }, v);
      hot.add(k, v);
    }
    assert.equal(await text(r2, 'qh'), await text(r1, 'ph'));
    assert.match(await r2.metrics(), /qh_count\{kind="message"\} 5/);
    hot.reset();
    hot.add('iq', 0.5);
    assert.match(await r2.metrics(), /qh_count\{kind="iq"\} 1/);
  });
});
