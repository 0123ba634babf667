import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, edgeSchema, routerSchema, allInOneSchema, ConfigError, registrationOpen } from './config';

describe('config', () => {
  it('applies defaults', () => {
    const c = loadConfig(edgeSchema, {});
    assert.equal(c.C2S_PORT, 5222);
    assert.deepEqual(c.XMPP_DOMAINS, ['localhost']);
    assert.equal(c.XMPP_REGISTRATION, '');
    assert.equal(c.ALLOW_PLAIN_INSECURE, false);
    assert.equal(loadConfig(allInOneSchema, {}).XMPP_REGISTRATION, '*');
  });
  it('parses lists and numbers', () => {
    const c = loadConfig(routerSchema, { XMPP_DOMAINS: 'A.example, b.example', ROUTE_PARTITIONS: '8' });
    assert.deepEqual(c.XMPP_DOMAINS, ['a.example', 'b.example']);
    assert.equal(c.ROUTE_PARTITIONS, 8);
  });
  const bad: Array<[string, Record<string, string>, string]> = [
    ['port out of range', { C2S_PORT: '70000' }, 'C2S_PORT'],
    ['port not a number', { C2S_PORT: 'abc' }, 'C2S_PORT'],
    ['bad NATS url', { NATS_URL: 'not a url' }, 'NATS_URL'],
    ['bad boolean', { ALLOW_PLAIN_INSECURE: 'maybe' }, 'ALLOW_PLAIN_INSECURE'],
    ['bad edge id', { EDGE_ID: 'a.b' }, 'EDGE_ID'],
    ['bad log level', { LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    ['a domain with a slash', { XMPP_DOMAINS: 'a.example,b/c' }, 'XMPP_DOMAINS'],
    ['a domain with an at sign', { XMPP_DOMAINS: 'user@example.com' }, 'XMPP_DOMAINS'],
  ];
  for (const [name, env, variable] of bad) {
    it(`rejects ${name} naming ${variable}`, () => {
      assert.throws(
        () => loadConfig(edgeSchema, env),
        (e: unknown) => e instanceof ConfigError && e.message.includes(variable),
      );
    });
  }
  it('treats an empty variable as unset', () => {
    const c = loadConfig(edgeSchema, { NATS_URL: '', C2S_PORT: '' });
    assert.equal(c.NATS_URL, undefined);
    assert.equal(c.C2S_PORT, 5222);
  });
  it('registration list', () => {
    assert.equal(registrationOpen('*', 'x.example'), true);
    assert.equal(registrationOpen('a.example,b.example', 'b.example'), true);
    assert.equal(registrationOpen('a.example', 'b.example'), false);
    assert.equal(registrationOpen('', 'a.example'), false);
  });
});
