/** startTestDns: SRV and A answers over UDP and TCP, NXDOMAIN / NODATA, run-time changes, bad packets. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as dns } from 'node:dns';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { startTestDns, parseDnsQuery, type TestDnsHandle } from './test-dns';

function resolverFor(h: TestDnsHandle): dns.Resolver {
  const r = new dns.Resolver({ timeout: 1000, tries: 1 });
  r.setServers([h.server]);
  return r;
}

/** A raw query packet: id 0x1234, RD, one question. */
function query(name: string, type: number, extra?: Buffer): Buffer {
  const labels = name.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  const h = Buffer.alloc(12);
  h.writeUInt16BE(0x1234, 0);
  h.writeUInt16BE(0x0100, 2);
  h.writeUInt16BE(1, 4);
  if (extra) h.writeUInt16BE(1, 10);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  return Buffer.concat([h, ...labels, Buffer.from([0]), tail, ...(extra ? [extra] : [])]);
}

function udpExchange(port: number, packet: Buffer, timeoutMs = 500): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(null);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.send(packet, port, '127.0.0.1');
  });
}

function tcpExchange(port: number, packets: Buffer[]): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const s = connect({ port, host: '127.0.0.1' }, () => {
      for (const p of packets) {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(p.length);
        // Split the frame to prove the server reassembles.
        s.write(Buffer.concat([len, p.subarray(0, 3)]));
        s.write(p.subarray(3));
      }
    });
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length === packets.length) {
        s.destroy();
        resolve(out);
      }
    });
    s.on('error', reject);
  });
}

const rcode = (res: Buffer) => res.readUInt16BE(2) & 0xf;

describe('startTestDns', () => {
  let h: TestDnsHandle;
  before(async () => {
    h = await startTestDns({
      srv: {
        '_xmpp-server._tcp.kx.test': [{ target: 'edge.kx.test', port: 5269, priority: 10, weight: 5 }],
        '_xmpps-server._tcp.kx.test': [{ target: 'edge.kx.test', port: 5270 }],
      },
      a: { 'edge.kx.test': '127.0.0.1', 'multi.test': ['127.0.0.2', '127.0.0.3'] },
    });
  });
  after(() => h.stop());

  it('answers SRV and A through node:dns', async () => {
    const r = resolverFor(h);
    assert.deepEqual(await r.resolveSrv('_xmpp-server._tcp.kx.test'), [{ name: 'edge.kx.test', port: 5269, priority: 10, weight: 5 }]);
    assert.deepEqual(await r.resolveSrv('_XMPPS-SERVER._tcp.KX.test.'), [{ name: 'edge.kx.test', port: 5270, priority: 0, weight: 0 }]);
    assert.deepEqual(await r.resolve4('edge.kx.test'), ['127.0.0.1']);
    assert.deepEqual((await r.resolve4('multi.test')).sort(), ['127.0.0.2', '127.0.0.3']);
    const logged = h.queries.find((q) => q.name === '_xmpp-server._tcp.kx.test' && q.type === 'SRV');
    assert.equal(logged?.rcode, 'NOERROR');
    assert.equal(logged?.answers, 1);
  });

  it('NXDOMAIN for unknown names, NODATA for a known name without that type (AAAA)', async () => {
    const r = resolverFor(h);
    await assert.rejects(r.resolveSrv('_xmpp-server._tcp.nowhere.test'), (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND');
    await assert.rejects(r.resolve4('nowhere.test'), (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND');
    await assert.rejects(r.resolve6('edge.kx.test'), (e: NodeJS.ErrnoException) => e.code === 'ENODATA');
    await assert.rejects(r.resolveSrv('edge.kx.test'), (e: NodeJS.ErrnoException) => e.code === 'ENODATA');
    await assert.rejects(r.resolve4('_tcp.kx.test'), (e: NodeJS.ErrnoException) => e.code === 'ENODATA', 'an empty non-terminal exists');
    const aaaa = await udpExchange(h.port, query('edge.kx.test', 28));
    assert.ok(aaaa);
    assert.equal(rcode(aaaa), 0);
    assert.equal(aaaa.readUInt16BE(6), 0, 'no answers');
  });

  it('records change at run time', async () => {
    const r = resolverFor(h);
    h.publishXmppServer('late.test', 15269, { tlsPort: 15270 });
    assert.deepEqual(await r.resolveSrv('_xmpp-server._tcp.late.test'), [{ name: 'late.test', port: 15269, priority: 0, weight: 0 }]);
    assert.deepEqual(await r.resolveSrv('_xmpps-server._tcp.late.test'), [{ name: 'late.test', port: 15270, priority: 0, weight: 0 }]);
    assert.deepEqual(await r.resolve4('late.test'), ['127.0.0.1']);
    h.setSrv('_xmpp-server._tcp.late.test', [{ target: 'other.test', port: 1 }]);
    assert.deepEqual(await r.resolveSrv('_xmpp-server._tcp.late.test'), [{ name: 'other.test', port: 1, priority: 0, weight: 0 }]);
    h.deleteSrv('_xmpp-server._tcp.late.test');
    h.deleteA('late.test');
    await assert.rejects(r.resolveSrv('_xmpp-server._tcp.late.test'), (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND');
    // late.test still has a record below it (the XEP-0368 SRV): it exists, without an address.
    await assert.rejects(r.resolve4('late.test'), (e: NodeJS.ErrnoException) => e.code === 'ENODATA');
    h.deleteSrv('_xmpps-server._tcp.late.test');
    await assert.rejects(r.resolve4('late.test'), (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND');
    assert.throws(() => h.setA('x.test', 'not-an-ip'), /not an IPv4 address/);
    assert.throws(() => h.setSrv('_xmpp-server._tcp.x.test', [{ target: 'x.test', port: 70000 }]), /bad SRV port/);
  });

  it('answers over TCP, several queries on one connection', async () => {
    const [srv, a] = await tcpExchange(h.port, [query('_xmpp-server._tcp.kx.test', 33), query('edge.kx.test', 1)]);
    assert.equal(rcode(srv!), 0);
    assert.equal(srv!.readUInt16BE(6), 1);
    assert.equal(a!.readUInt16BE(6), 1);
    assert.deepEqual([...a!.subarray(a!.length - 4)], [127, 0, 0, 1]);
    assert.ok(h.queries.some((q) => q.transport === 'tcp' && q.type === 'SRV'));
  });

  it('echoes EDNS with an OPT record', async () => {
    const opt = Buffer.from([0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]);
    const res = await udpExchange(h.port, query('edge.kx.test', 1, opt));
    assert.ok(res);
    assert.equal(res.readUInt16BE(10), 1, 'one additional record (OPT)');
    assert.equal(parseDnsQuery(res).ednsPayload, 1232);
  });

  it('survives bad packets: FORMERR when the header parses, silence otherwise, still answering after', async () => {
    const before = h.malformed;
    assert.equal(await udpExchange(h.port, Buffer.from([1, 2, 3]), 300), null);
    const cut = query('edge.kx.test', 1).subarray(0, 20);
    const res = await udpExchange(h.port, cut);
    assert.ok(res);
    assert.equal(res.readUInt16BE(0), 0x1234);
    assert.equal(rcode(res), 1, 'FORMERR');
    const loop = Buffer.concat([query('x.test', 1).subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    assert.equal(rcode((await udpExchange(h.port, loop))!), 1);
    const response = query('edge.kx.test', 1);
    response.writeUInt16BE(0x8100, 2);
    assert.equal(await udpExchange(h.port, response, 300), null, 'responses are never answered');
    assert.equal(h.malformed, before + 4);
    assert.deepEqual(await resolverFor(h).resolve4('edge.kx.test'), ['127.0.0.1']);
  });

  it('two servers get their own ports; stop() is idempotent', async () => {
    const other = await startTestDns({ a: { 'kx.test': '127.0.0.9' } });
    try {
      assert.notEqual(other.port, h.port);
      assert.deepEqual(await resolverFor(other).resolve4('kx.test'), ['127.0.0.9']);
    } finally {
      await other.stop();
      await other.stop();
    }
    await assert.rejects(resolverFor(other).resolve4('kx.test'));
  });
});
