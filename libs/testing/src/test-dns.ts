/**
 * A tiny authoritative DNS server for federation tests (RFC 1035 wire format, RFC 2782 SRV, RFC 6891 OPT),
 * so test domains such as `kx.test` resolve without real DNS: `_xmpp-server._tcp.<domain>` /
 * `_xmpps-server._tcp.<domain>` SRV records (RFC 6120 §3.2.1, XEP-0368) and A records for their targets,
 * served over UDP and TCP on the same free loopback port. Point node's `dns.promises.Resolver`
 * (`setServers([dns.server])`) or Prosody's libunbound (`forward = "127.0.0.1@<port>"`) at it.
 *
 * Answers: A and SRV from the tables; a name that has some record but not of the asked type (or only has
 * records below it) gets an empty NOERROR, so AAAA for an A-only target is NODATA; any other name
 * NXDOMAIN. Negative answers carry an SOA with a zero minimum so resolvers do not cache them, and records
 * default to TTL 0, so changes made with set/delete at run time are seen by the next lookup. Malformed
 * queries get FORMERR (or are dropped when not even the header parses) and are counted, never thrown.
 */
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';

export interface SrvRecord {
  /** Host name of the target ('.' means "service decidedly not available", RFC 2782). */
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

export interface TestDnsOptions {
  /** SRV records by full owner name, e.g. `_xmpp-server._tcp.kx.test`. */
  srv?: Record<string, SrvRecord[]>;
  /** IPv4 addresses by host name, e.g. `{ 'kx.test': '127.0.0.1' }`. */
  a?: Record<string, string | string[]>;
  /** TTL of every answer in seconds (default 0: resolvers do not cache, so run-time changes show at once). */
  ttl?: number;
}

export interface DnsQueryLog {
  name: string;
  type: string;
  transport: 'udp' | 'tcp';
  rcode: 'NOERROR' | 'NXDOMAIN' | 'FORMERR' | 'NOTIMP' | 'REFUSED';
  answers: number;
}

export interface TestDnsHandle {
  host: '127.0.0.1';
  port: number;
  /** `127.0.0.1:<port>`, for `Resolver.setServers([server])`. */
  server: string;
  /** Replace the SRV records of a name (an empty list keeps the name: SRV queries get NODATA). */
  setSrv(name: string, records: SrvRecord[]): void;
  deleteSrv(name: string): void;
  setA(name: string, addresses: string | string[]): void;
  deleteA(name: string): void;
  /**
   * Publish `_xmpp-server._tcp.<domain>` → target:port (and `_xmpps-server._tcp.<domain>` → target:tlsPort when
   * given), and `target` → 127.0.0.1 unless it already has A records. target defaults to the domain.
   */
  publishXmppServer(domain: string, port: number, opts?: { target?: string; tlsPort?: number; address?: string }): void;
  /** Every question answered, oldest first (malformed packets are only counted in `malformed`). */
  readonly queries: DnsQueryLog[];
  /** Packets that could not be parsed. */
  readonly malformed: number;
  stop(): Promise<void>;
}

const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const;
const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([k, v]) => [v, k]));
const CLASS_IN = 1;
const RCODE = { NOERROR: 0, FORMERR: 1, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
type RcodeName = keyof typeof RCODE;
/** UDP payload we accept and advertise in OPT; answers larger than the client's limit are truncated (TC). */
const UDP_PAYLOAD = 1232;

export class DnsFormatError extends Error {}

/** Lower-case, no trailing dot: the key of the tables. */
export function normalizeDnsName(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith('.') && n !== '.' ? n.slice(0, -1) : n;
}

interface Question {
  name: string;
  type: number;
  qclass: number;
  /** Raw bytes of the question section entry, echoed back as received (keeps any 0x20 case pattern). */
  raw: Buffer;
}

interface ParsedQuery {
  id: number;
  flags: number;
  question?: Question;
  /** The client's EDNS UDP payload size when it sent an OPT record. */
  ednsPayload?: number;
}

/** Read a (possibly compressed) domain name at offset; returns the name and the offset after it. */
function readName(buf: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let pos = offset;
  let end = -1;
  let jumps = 0;
  for (;;) {
    if (pos >= buf.length) throw new DnsFormatError('name runs past the packet');
    const len = buf[pos]!;
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new DnsFormatError('truncated compression pointer');
      if (++jumps > 16) throw new DnsFormatError('compression loop');
      if (end < 0) end = pos + 2;
      pos = ((len & 0x3f) << 8) | buf[pos + 1]!;
      continue;
    }
    if (len & 0xc0) throw new DnsFormatError('unknown label type');
    if (pos + 1 + len > buf.length) throw new DnsFormatError('label runs past the packet');
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len));
    pos += 1 + len;
    if (labels.join('.').length > 253) throw new DnsFormatError('name too long');
  }
  return { name: labels.join('.'), end };
}

/** Parse the parts of a query we answer from; throws DnsFormatError when the packet is malformed. */
export function parseDnsQuery(buf: Buffer): ParsedQuery {
  if (buf.length < 12) throw new DnsFormatError('shorter than a header');
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  const q: ParsedQuery = { id, flags };
  let pos = 12;
  if (qd > 1) throw Object.assign(new DnsFormatError('more than one question'), { query: q });
  try {
    if (qd === 1) {
      const { name, end } = readName(buf, pos);
      if (end + 4 > buf.length) throw new DnsFormatError('question runs past the packet');
      q.question = { name, type: buf.readUInt16BE(end), qclass: buf.readUInt16BE(end + 2), raw: buf.subarray(pos, end + 4) };
      pos = end + 4;
    }
    // Skip answer and authority records (a query should have none), then look for OPT in additional.
    for (let i = 0; i < an + ns + ar; i++) {
      const { end } = readName(buf, pos);
      if (end + 10 > buf.length) throw new DnsFormatError('record runs past the packet');
      const type = buf.readUInt16BE(end);
      const rdlen = buf.readUInt16BE(end + 8);
      if (end + 10 + rdlen > buf.length) throw new DnsFormatError('rdata runs past the packet');
      if (i >= an + ns && type === TYPE.OPT) q.ednsPayload = Math.max(512, buf.readUInt16BE(end + 2));
      pos = end + 10 + rdlen;
    }
  } catch (e) {
    throw Object.assign(e as Error, { query: q });
  }
  return q;
}

function encodeName(name: string): Buffer {
  const n = normalizeDnsName(name);
  if (n === '' || n === '.') return Buffer.from([0]);
  const parts: Buffer[] = [];
  for (const label of n.split('.')) {
    const b = Buffer.from(label, 'latin1');
    if (b.length === 0 || b.length > 63) throw new Error(`bad DNS label in ${JSON.stringify(name)}`);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function record(name: Buffer, type: number, ttl: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(CLASS_IN, 2);
  fixed.writeUInt32BE(ttl >>> 0, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([name, fixed, rdata]);
}

function ipv4(addr: string): Buffer {
  const parts = addr.split('.').map((p) => Number(p));
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${JSON.stringify(addr)}`);
  }
  return Buffer.from(parts);
}

function srvRdata(r: SrvRecord): Buffer {
  const fixed = Buffer.alloc(6);
  fixed.writeUInt16BE(r.priority ?? 0, 0);
  fixed.writeUInt16BE(r.weight ?? 0, 2);
  fixed.writeUInt16BE(r.port, 4);
  return Buffer.concat([fixed, encodeName(r.target)]);
}

function soaRdata(zone: string): Buffer {
  const nums = Buffer.alloc(20);
  nums.writeUInt32BE(1, 0); // serial
  nums.writeUInt32BE(60, 4); // refresh
  nums.writeUInt32BE(60, 8); // retry
  nums.writeUInt32BE(60, 12); // expire
  nums.writeUInt32BE(0, 16); // minimum: negative answers are not cached
  return Buffer.concat([encodeName(`ns.${zone}`), encodeName(`hostmaster.${zone}`), nums]);
}

function validateSrv(name: string, records: SrvRecord[]): SrvRecord[] {
  for (const r of records) {
    if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535) throw new Error(`bad SRV port for ${name}: ${r.port}`);
    encodeName(r.target);
  }
  return records.map((r) => ({ ...r }));
}

export async function startTestDns(opts: TestDnsOptions = {}): Promise<TestDnsHandle> {
  const ttl = opts.ttl ?? 0;
  const srv = new Map<string, SrvRecord[]>();
  const a = new Map<string, string[]>();
  for (const [name, records] of Object.entries(opts.srv ?? {})) srv.set(normalizeDnsName(name), validateSrv(name, records));
  for (const [name, addrs] of Object.entries(opts.a ?? {})) {
    const list = Array.isArray(addrs) ? addrs : [addrs];
    list.forEach(ipv4);
    a.set(normalizeDnsName(name), [...list]);
  }
  const queries: DnsQueryLog[] = [];
  let malformed = 0;

  function header(id: number, queryFlags: number, rcode: number, counts: [number, number, number, number], tc = false): Buffer {
    const h = Buffer.alloc(12);
    h.writeUInt16BE(id, 0);
    const opcode = queryFlags & 0x7800;
    const rd = queryFlags & 0x0100;
    // QR, the query's opcode, AA, TC when truncated, the query's RD, RA, rcode.
    h.writeUInt16BE(0x8000 | opcode | 0x0400 | (tc ? 0x0200 : 0) | rd | 0x0080 | (rcode & 0xf), 2);
    counts.forEach((c, i) => h.writeUInt16BE(c, 4 + i * 2));
    return h;
  }

  function opt(): Buffer {
    // Root name, type OPT, class = our UDP payload size, extended rcode/version/flags 0, no options.
    const b = Buffer.alloc(11);
    b.writeUInt16BE(TYPE.OPT, 1);
    b.writeUInt16BE(UDP_PAYLOAD, 3);
    return b;
  }

  /** Build the response to one query packet; undefined when nothing sensible can be answered. */
  function answer(packet: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    let q: ParsedQuery;
    try {
      q = parseDnsQuery(packet);
    } catch (e) {
      malformed++;
      const partial = (e as { query?: ParsedQuery }).query;
      // Not even a header, or a response: drop it, as servers do.
      if (!partial || (partial.flags & 0x8000) !== 0) return undefined;
      return Buffer.concat([header(partial.id, partial.flags, RCODE.FORMERR, [0, 0, 0, 0])]);
    }
    const withOpt = q.ednsPayload !== undefined;
    const reply = (rcode: RcodeName, answers: Buffer[], authority: Buffer[], question: Question | undefined): Buffer => {
      if (question) {
        queries.push({
          name: normalizeDnsName(question.name),
          type: TYPE_NAMES.get(question.type) ?? String(question.type),
          transport,
          rcode,
          answers: answers.length,
        });
      }
      const qd = question ? [question.raw] : [];
      const ar = withOpt ? [opt()] : [];
      const full = Buffer.concat([
        header(q.id, q.flags, RCODE[rcode], [qd.length, answers.length, authority.length, ar.length]),
        ...qd,
        ...answers,
        ...authority,
        ...ar,
      ]);
      const limit = transport === 'tcp' ? 65535 : (q.ednsPayload ?? 512);
      if (full.length <= limit) return full;
      // Too big for the client's UDP limit: header and question only, TC set, so it retries over TCP.
      return Buffer.concat([header(q.id, q.flags, RCODE[rcode], [qd.length, 0, 0, ar.length], true), ...qd, ...ar]);
    };
    if ((q.flags & 0x8000) !== 0) {
      // A response, not a query: never answer it (that is how reflection loops start).
      malformed++;
      return undefined;
    }
    const opcode = (q.flags >> 11) & 0xf;
    if (opcode !== 0) return reply('NOTIMP', [], [], q.question);
    if (!q.question) return reply('FORMERR', [], [], undefined);
    const question = q.question;
    if (question.qclass !== CLASS_IN && question.qclass !== 255) return reply('REFUSED', [], [], question);
    const name = normalizeDnsName(question.name);
    const owner = question.raw.subarray(0, question.raw.length - 4);
    const answers: Buffer[] = [];
    if (question.type === TYPE.A || question.type === TYPE.ANY) {
      for (const addr of a.get(name) ?? []) answers.push(record(owner, TYPE.A, ttl, ipv4(addr)));
    }
    if (question.type === TYPE.SRV || question.type === TYPE.ANY) {
      for (const r of srv.get(name) ?? []) answers.push(record(owner, TYPE.SRV, ttl, srvRdata(r)));
    }
    if (answers.length > 0) return reply('NOERROR', answers, [], question);
    // A name exists when it owns records or is an empty non-terminal above one (`_tcp.kx.test`).
    const exists = [...a.keys(), ...srv.keys()].some((k) => k === name || k.endsWith(`.${name}`));
    const zone = name.split('.').slice(-2).join('.') || '.';
    const soa = record(encodeName(zone), TYPE.SOA, 0, soaRdata(zone));
    return reply(exists ? 'NOERROR' : 'NXDOMAIN', [], [soa], question);
  }

  const { udp, tcp, port } = await bindPair();
  const conns = new Set<Socket>();

  udp.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    const res = answer(msg, 'udp');
    if (res) udp.send(res, rinfo.port, rinfo.address);
  });
  udp.on('error', () => {
    /* a send to a vanished client: nothing to do */
  });

  tcp.on('connection', (sock) => {
    conns.add(sock);
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const res = answer(msg, 'tcp');
        if (!res) {
          sock.destroy();
          return;
        }
        const framed = Buffer.alloc(2 + res.length);
        framed.writeUInt16BE(res.length, 0);
        res.copy(framed, 2);
        sock.write(framed);
      }
    });
  });

  let stopped = false;
  const handle: TestDnsHandle = {
    host: '127.0.0.1',
    port,
    server: `127.0.0.1:${port}`,
    setSrv(name, records) {
      srv.set(normalizeDnsName(name), validateSrv(name, records));
    },
    deleteSrv(name) {
      srv.delete(normalizeDnsName(name));
    },
    setA(name, addresses) {
      const list = Array.isArray(addresses) ? addresses : [addresses];
      list.forEach(ipv4);
      a.set(normalizeDnsName(name), [...list]);
    },
    deleteA(name) {
      a.delete(normalizeDnsName(name));
    },
    publishXmppServer(domain, p, o = {}) {
      const target = o.target ?? domain;
      handle.setSrv(`_xmpp-server._tcp.${domain}`, [{ target, port: p }]);
      if (o.tlsPort !== undefined) handle.setSrv(`_xmpps-server._tcp.${domain}`, [{ target, port: o.tlsPort }]);
      if (!a.has(normalizeDnsName(target)) || o.address) handle.setA(target, o.address ?? '127.0.0.1');
    },
    queries,
    get malformed() {
      return malformed;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const c of conns) c.destroy();
      await Promise.all([
        new Promise<void>((r) => udp.close(() => r())),
        new Promise<void>((r) => tcp.close(() => r())),
      ]);
    },
  };
  return handle;
}

/** A UDP socket on a free loopback port and a TCP server on the same port number (retried if TCP's is taken). */
async function bindPair(): Promise<{ udp: UdpSocket; tcp: Server; port: number }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, '127.0.0.1', () => {
        udp.off('error', reject);
        resolve(udp.address().port);
      });
    });
    const tcp = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      const onErr = () => resolve(false);
      tcp.once('error', onErr);
      tcp.listen(port, '127.0.0.1', () => {
        tcp.off('error', onErr);
        resolve(true);
      });
    });
    if (ok) return { udp, tcp, port };
    await new Promise<void>((r) => udp.close(() => r()));
  }
  throw new Error('test DNS: could not bind UDP and TCP on one free port');
}
