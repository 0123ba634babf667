import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, edgeSchema, routerSchema, allInOneSchema, federationSchema, ConfigError, registrationOpen, parseS2SHosts } from './config';
import { parseComponents } from './config';

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
  it('names internationalized domains as JIDs do (U-labels), however they are written', () => {
    const c = loadConfig(routerSchema, { XMPP_DOMAINS: 'XN--MNCHEN-3YA.example,caf\u00c9.example' });
    assert.deepEqual(c.XMPP_DOMAINS, ['m\u00fcnchen.example', 'caf\u00e9.example']);
    const hosts = parseS2SHosts('xn--mnchen-3ya.example=127.0.0.1:5269');
    assert.deepEqual([...hosts.keys()], ['m\u00fcnchen.example']);
    assert.deepEqual(parseComponents('gw.xn--mnchen-3ya.example=s3cret', true), [{ domain: 'gw.m\u00fcnchen.example', secret: 's3cret' }]);
    assert.equal(registrationOpen('xn--mnchen-3ya.example', 'm\u00fcnchen.example'), true);
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
    ['a domain that is not a valid IDN', { XMPP_DOMAINS: '\u2603.example' }, 'XMPP_DOMAINS'],
    ['a domain with an empty label', { XMPP_DOMAINS: 'a..example' }, 'XMPP_DOMAINS'],
    ['an S2S override without a port', { S2S_HOSTS: 'remote.example=host' }, 'S2S_HOSTS'],
    ['a short dialback secret', { S2S_DIALBACK_SECRET: 'short' }, 'S2S_DIALBACK_SECRET'],
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
  it('federation settings: defaults and overrides', () => {
    const f = loadConfig(federationSchema, { S2S_HOSTS: 'a.test=127.0.0.1:5269', S2S_DNS_SERVERS: '127.0.0.1:5353' });
    assert.deepEqual(f.S2S_HOSTS.get('a.test'), [{ host: '127.0.0.1', port: 5269, directTls: false }]);
    assert.deepEqual(f.S2S_DNS_SERVERS, ['127.0.0.1:5353']);
    assert.equal(f.S2S_DIALBACK, true);
    assert.equal(f.S2S_REQUIRE_TLS, true);
    const e = loadConfig(edgeSchema, {});
    assert.equal(e.S2S_PORT, 5269);
    assert.equal(e.S2S_HOSTS.size, 0);
  });
  it('S2S_HOSTS: several domains, several targets, direct TLS', () => {
    const m = parseS2SHosts('a.test=127.0.0.1:5269|tls://[::1]:5270, B.test=host:1');
    assert.deepEqual(m.get('a.test'), [
      { host: '127.0.0.1', port: 5269, directTls: false },
      { host: '::1', port: 5270, directTls: true },
    ]);
    assert.deepEqual(m.get('b.test'), [{ host: 'host', port: 1, directTls: false }]);
    for (const bad of ['a.test', 'a.test=host', 'a.test=host:0', 'a.test=host:70000', '=host:1']) {
      assert.throws(() => parseS2SHosts(bad), /expected/, bad);
    }
  });
});

describe('config: XEP-0114 components', () => {
  it('has no components and port 5347 by default', () => {
    const c = loadConfig(edgeSchema, {});
    assert.deepEqual(c.COMPONENTS, []);
    assert.equal(c.COMPONENT_PORT, 5347);
    assert.equal(c.COMPONENT_BIND_HOST, undefined);
    assert.deepEqual(loadConfig(routerSchema, {}).COMPONENTS, []);
  });
  it('parses domain=secret pairs, lower-casing domains and keeping the secret after the first =', () => {
    const c = loadConfig(edgeSchema, { COMPONENTS: ' GW.Example.com=s3cret , sms.example.com=a=b==', COMPONENT_PORT: '0' });
    assert.deepEqual(c.COMPONENTS, [
      { domain: 'gw.example.com', secret: 's3cret' },
      { domain: 'sms.example.com', secret: 'a=b==' },
    ]);
    assert.equal(c.COMPONENT_PORT, 0);
  });
  it('gives the router the domains only, with or without secrets', () => {
    assert.deepEqual(loadConfig(routerSchema, { COMPONENTS: 'gw.example.com=s3cret,sms.example.com' }).COMPONENTS, [
      { domain: 'gw.example.com', secret: '' },
      { domain: 'sms.example.com', secret: '' },
    ]);
  });
  it('keeps the secrets in the all-in-one (the edge parse wins over the router one)', () => {
    assert.deepEqual(loadConfig(allInOneSchema, { COMPONENTS: 'gw.example.com=s3cret' }).COMPONENTS, [{ domain: 'gw.example.com', secret: 's3cret' }]);
    assert.throws(() => loadConfig(allInOneSchema, { COMPONENTS: 'gw.example.com' }), ConfigError);
  });
  const bad: Array<[string, string, RegExp]> = [
    ['an entry without a secret', 'gw.example.com', /gw\.example\.com: no secret/],
    ['an empty secret', 'gw.example.com=  ', /gw\.example\.com: no secret/],
    ['an empty domain', '=s3cret', /entry 1: "" is not a domain name/],
    ['a domain with a slash', 'ok.example=x,gw/x=s3cret', /entry 2: "gw\/x" is not a domain name/],
    ['a JID instead of a domain', 'user@gw.example.com=s3cret', /is not a domain name/],
    ['an IP address', '10.0.0.1=s3cret', /is not a domain name/],
    ['a label starting with a hyphen', '-gw.example.com=s3cret', /is not a domain name/],
    ['an empty label', 'gw..example.com=s3cret', /is not a domain name/],
    ['a domain listed twice', 'gw.example.com=a,GW.example.com=b', /gw\.example\.com: listed twice/],
  ];
  for (const [name, value, re] of bad) {
    it(`rejects ${name}, naming COMPONENTS and never echoing secrets`, () => {
      assert.throws(
        () => loadConfig(edgeSchema, { COMPONENTS: value }),
        (e: unknown) => e instanceof ConfigError && e.message.includes('COMPONENTS=(hidden)') && re.test(e.message) && !/s3cret/.test(e.message),
      );
    });
  }
  it('refuses a component domain that is also a served domain', () => {
    assert.throws(
      () => loadConfig(edgeSchema, { XMPP_DOMAINS: 'example.com,gw.example.com', COMPONENTS: 'gw.example.com=s3cret' }),
      (e: unknown) => e instanceof ConfigError && /gw\.example\.com also in XMPP_DOMAINS/.test(e.message) && !/s3cret/.test(e.message),
    );
    assert.throws(() => loadConfig(routerSchema, { XMPP_DOMAINS: 'gw.example.com', COMPONENTS: 'gw.example.com' }), ConfigError);
  });
  it('parseComponents on its own', () => {
    assert.deepEqual(parseComponents('', true), []);
    assert.deepEqual(parseComponents('a.example=x,,b.example.=y', true), [
      { domain: 'a.example', secret: 'x' },
      { domain: 'b.example', secret: 'y' },
    ]);
    assert.throws(() => parseComponents('a.example', true), /no secret/);
  });
});
