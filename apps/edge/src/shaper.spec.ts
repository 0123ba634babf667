import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReadShaper } from './shaper';

describe('ReadShaper (token bucket on bytes read)', () => {
  it('lets a burst through without a pause, then asks for the time the overshoot takes to refill', () => {
    const s = new ReadShaper(1000, 4000, 0);
    assert.equal(s.take(4000, 0), 0, 'the whole bucket at once');
    assert.equal(s.take(500, 0), 500, '500 bytes over at 1000 B/s: half a second');
  });

  it('refills with time, never above the burst size', () => {
    const s = new ReadShaper(1000, 4000, 0);
    assert.equal(s.take(4000, 0), 0);
    assert.equal(s.take(1000, 1000), 0, 'one second refilled 1000 bytes');
    assert.equal(s.take(1, 1000), 1, 'and no more');
    // A long silence refills up to the burst, not beyond.
    assert.equal(s.take(4000, 100_000), 0);
    assert.ok(s.take(100, 100_000) > 0);
  });

  it('a debt is paid back before reading again: the pause covers all of it', () => {
    const s = new ReadShaper(1000, 1000, 0);
    assert.equal(s.take(65_536, 0), 64_536, 'one 64 KB chunk over a 1 KB bucket: 64.5 s');
    assert.equal(s.take(0, 64_536), 0, 'paid back after that long');
  });

  it('a steady sender at the rate is never paused; one at twice the rate gets through the rate plus the burst', () => {
    const steady = new ReadShaper(10_000, 10_000, 0);
    let paused = 0;
    for (let t = 0; t <= 60_000; t += 100) paused += steady.take(1000, t);
    assert.equal(paused, 0);
    const fast = new ReadShaper(10_000, 10_000, 0);
    let t = 0;
    let total = 0;
    while (t < 60_000) {
      total += 2000;
      t += 100 + fast.take(2000, t);
    }
    // 20 KB/s offered, 10 KB/s allowed: the sender got through at most the rate plus the burst.
    assert.ok(total <= (10_000 * t) / 1000 + 10_000 + 2000, `${total} bytes in ${t} ms`);
    assert.ok(total >= (10_000 * t) / 1000 - 2000, `${total} bytes in ${t} ms`);
  });
});
