import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { natsServerEnv, platformNodeFlags } from './runtime';

describe('runtime settings', () => {
  it('nats-server gets half the cores, at least one, and keeps the rest of the environment', () => {
    assert.equal(natsServerEnv({ PATH: '/bin' }, 2).GOMAXPROCS, '1');
    assert.equal(natsServerEnv({}, 1).GOMAXPROCS, '1');
    assert.equal(natsServerEnv({}, 8).GOMAXPROCS, '4');
    assert.equal(natsServerEnv({ PATH: '/bin' }, 2).PATH, '/bin');
  });

  it("an operator's GOMAXPROCS and GOGC win; GOGC is 400 otherwise", () => {
    assert.equal(natsServerEnv({ GOMAXPROCS: '3' }, 2).GOMAXPROCS, '3');
    assert.equal(natsServerEnv({}, 2).GOGC, '400');
    assert.equal(natsServerEnv({ GOGC: '150' }, 2).GOGC, '150');
  });

  it('one V8 background thread only on small machines', () => {
    assert.deepEqual(platformNodeFlags(2), ['--v8-pool-size=1']);
    assert.deepEqual(platformNodeFlags(1), ['--v8-pool-size=1']);
    assert.deepEqual(platformNodeFlags(4), []);
  });
});
