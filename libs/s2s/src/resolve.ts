/**
 * Where to connect for a remote domain (RFC 6120 §3.2.1, XEP-0368): SRV records for
 * _xmpps-server._tcp (direct TLS) and _xmpp-server._tcp (STARTTLS), ordered by priority then weighted at
 * random within a priority; the domain itself on 5269 when there are none. A static override per
 * domain (config) replaces the lookup, for private peers and tests.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { aLabels } from '@kxmpp/xmpp-stream';

export interface S2STarget {
  host: string;
  port: number;
  /** XEP-0368: TLS from the first byte instead of STARTTLS. */
  directTls: boolean;
}

export interface ResolveOptions {
  /** domain -> targets, skipping DNS. */
  overrides?: ReadonlyMap<string, S2STarget[]>;
  /** DNS servers ("ip" or "ip:port"); default: the system's. */
  dnsServers?: string[];
  timeoutMs?: number;
}

interface Srv {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** RFC 2782 ordering: ascending priority; within one, a weighted random permutation. */
export function orderSrv<T extends Srv>(records: T[], random: () => number = Math.random): T[] {
  const byPriority = new Map<number, T[]>();
  for (const r of records) {
    const list = byPriority.get(r.priority);
    if (list) list.push(r);
    else byPriority.set(r.priority, [r]);
  }
  const out: T[] = [];
  for (const p of [...byPriority.keys()].sort((a, b) => a - b)) {
    const pool = [...byPriority.get(p)!];
    while (pool.length > 0) {
      const total = pool.reduce((s, r) => s + r.weight, 0);
      let pick = 0;
      if (total > 0) {
        let x = random() * total;
        pick = pool.findIndex((r) => (x -= r.weight) < 0);
        if (pick < 0) pick = pool.length - 1;
      }
      out.push(pool.splice(pick, 1)[0]);
    }
  }
  return out;
}

export class S2SResolver {
  private readonly resolver: Resolver;

  constructor(private readonly opts: ResolveOptions = {}) {
    this.resolver = new Resolver({ timeout: opts.timeoutMs ?? 5000, tries: 2 });
    if (opts.dnsServers?.length) this.resolver.setServers(opts.dnsServers);
  }

  /**
   * Targets to try in order: empty only when the domain says it has no XMPP service (a "." SRV record)
   * or, with our own DNS servers, when no target has an address.
   */
  async resolve(domain: string): Promise<S2STarget[]> {
    const fixed = this.opts.overrides?.get(domain);
    if (fixed) return fixed;
    const targets = await this.lookup(domain);
    if (!this.opts.dnsServers?.length) return targets;
    // With DNS servers of our own, host names are resolved by them too (not by the system's getaddrinfo).
    const out: S2STarget[] = [];
    for (const t of targets) {
      if (isIP(t.host)) {
        out.push(t);
        continue;
      }
      const addrs = await this.resolver.resolve4(t.host).catch(() => [] as string[]);
      for (const a of addrs) out.push({ ...t, host: a });
    }
    return out;
  }

  /** `domain` as JIDs carry it (U-labels); DNS is asked in A-labels. */
  private async lookup(jidDomain: string): Promise<S2STarget[]> {
    const domain = aLabels(jidDomain);
    const [tls, plain] = await Promise.all([this.srv(`_xmpps-server._tcp.${domain}`), this.srv(`_xmpp-server._tcp.${domain}`)]);
    // RFC 2782 §"Usage rules": a single record with target "." means the service is decidedly not available.
    const all = [...tls.map((r) => ({ ...r, directTls: true })), ...plain.map((r) => ({ ...r, directTls: false }))];
    if (all.length === 1 && all[0].name === '.') return [];
    const ordered = orderSrv(all.filter((r) => r.name !== '.' && r.name !== ''));
    if (ordered.length > 0) return ordered.map((r) => ({ host: r.name, port: r.port, directTls: r.directTls }));
    if (tls.length + plain.length > 0) return []; // only "." records
    return [{ host: domain, port: 5269, directTls: false }];
  }

  private async srv(name: string): Promise<Srv[]> {
    try {
      return await this.resolver.resolveSrv(name);
    } catch {
      return [];
    }
  }
}
