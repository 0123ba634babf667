/**
 * Typed configuration for every app, validated at boot. This is the only module that reads process.env.
 * A bad value is reported with the variable's name and the process exits 1 (see loadConfigOrExit).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { prepDomain } from '@kxmpp/xmpp-core';

const csv = (def: string) =>
  z
    .string()
    .default(def)
    .transform((s) => s.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean));

/**
 * Domains in the form JIDs carry (RFC 7622 §3.2, libs/xmpp-core prepDomain): lower case, and an
 * internationalized name as U-labels whether it was written as U-labels or A-labels (xn--), so a
 * configured name matches what a client or a peer sends.
 */
function preparedDomains(list: string[], ctx: z.RefinementCtx): string[] {
  const out: string[] = [];
  for (const d of list) {
    const prepared = prepareDomainName(d);
    if (prepared === null) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${JSON.stringify(d)} is not a valid domain name` });
    else out.push(prepared);
  }
  return out;
}

function prepareDomainName(d: string): string | null {
  try {
    return prepDomain(d);
  } catch {
    return null;
  }
}

const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const port = (def: number) => z.coerce.number().int().min(0).max(65535).default(def);
const positive = (def: number) => z.coerce.number().int().positive().default(def);

export const commonSchema = z.object({
  NATS_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** Served domains (virtual hosts). */
  XMPP_DOMAINS: csv('localhost')
    .refine((d) => d.length > 0, 'at least one domain')
    .refine((d) => d.every((x) => /^[^\s/@:,\\'"<>]{1,253}$/u.test(x) && !x.startsWith('.')), 'domains are DNS names, e.g. example.com')
    .transform(preparedDomains),
  /** Port of /metrics, /healthz, /readyz (0 = pick a free one). */
  METRICS_PORT: port(9100),
  METRICS_HOST: z.string().default('0.0.0.0'),
  /** Number of routing partitions (JetStream consumers); see docs/adr/0001. Must match across the deployment. */
  ROUTE_PARTITIONS: z.coerce.number().int().min(1).max(1024).default(32),
  /** Seconds a session registry entry lives unless its edge refreshes it. */
  SESSION_TTL_SECONDS: z.coerce.number().int().min(3).max(3600).default(30),
  /** JetStream storage for the routing stream: memory is faster, file survives a nats-server restart. */
  ROUTE_STORAGE: z.enum(['memory', 'file']).default('file'),
  NATS_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /** Domains where XEP-0077 in-band registration is open ('*' = all). Off in production unless listed. */
  XMPP_REGISTRATION: z.string().default(''),
  /** Storage adapter for every port (ARCHITECTURE.md, Storage): jetstream (NATS KV/streams) or mongo. */
  STORAGE: z.enum(['jetstream', 'mongo']).default('jetstream'),
  /** MongoDB connection string; required when STORAGE=mongo. */
  MONGODB_URI: z.string().regex(/^mongodb(\+srv)?:\/\//, 'a mongodb:// or mongodb+srv:// URI').optional(),
  /** Partitions of each service's work queue (presence, roster, offline); must match across the deployment. */
  SERVICE_PARTITIONS: z.coerce.number().int().min(1).max(1024).default(16),
});

// ---- XEP-0114 external components (docs/components.md) ----------------------------------------------

/** One entry of COMPONENTS: a component's domain and the shared secret of its handshake. */
export interface ComponentSecret {
  domain: string;
  /** '' in the router's view (it needs the domains only). */
  secret: string;
}

/** A DNS-style domain name: labels of letters, digits, '-' and '_', not an IP address. */
function isDomainName(d: string): boolean {
  if (d.length === 0 || Buffer.byteLength(d) > 253 || /^[0-9.]+$/.test(d)) return false;
  return d.split('.').every((l) => Buffer.byteLength(l) <= 63 && /^[\p{L}\p{N}_](?:[\p{L}\p{N}_-]*[\p{L}\p{N}_])?$/u.test(l));
}

/**
 * Parse COMPONENTS, `domain=secret,domain2=secret2`. The secret is everything after the first '=' (it
 * may contain '=' but not ','). With requireSecret false (the router) a bare `domain` is accepted too and
 * secrets are dropped. Errors name the entry by its domain, never by its secret.
 */
export function parseComponents(spec: string, requireSecret: boolean): ComponentSecret[] {
  const out: ComponentSecret[] = [];
  const entries = spec.split(',').map((s) => s.trim()).filter(Boolean);
  entries.forEach((entry, n) => {
    const eq = entry.indexOf('=');
    let domain = (eq < 0 ? entry : entry.slice(0, eq)).trim().toLowerCase().replace(/\.$/, '');
    const secret = eq < 0 ? '' : entry.slice(eq + 1).trim();
    if (!isDomainName(domain)) throw new Error(`entry ${n + 1}: ${JSON.stringify(domain)} is not a domain name (expected domain=secret)`);
    domain = prepareDomainName(domain) ?? domain;
    if (requireSecret && !secret) throw new Error(`${domain}: no secret (expected ${domain}=<shared secret>)`);
    if (out.some((c) => c.domain === domain)) throw new Error(`${domain}: listed twice`);
    out.push({ domain, secret: requireSecret ? secret : '' });
  });
  return out;
}

const components = (requireSecret: boolean) =>
  z
    .string()
    .default('')
    .transform((v, ctx) => {
      try {
        return parseComponents(v, requireSecret);
      } catch (e) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
        return z.NEVER;
      }
    });

/** The edge accepts components (plain TCP, XEP-0114): keep COMPONENT_PORT on a private network. */
const edgeComponentShape = {
  /** Components and their secrets; the listener opens only when at least one is configured. */
  COMPONENTS: components(true),
  /** 0 = pick a free one. */
  COMPONENT_PORT: port(5347),
  /** Interface of the component listener; default BIND_HOST. */
  COMPONENT_BIND_HOST: z.string().optional(),
};

/** Routers need the component domains only (to tell "not connected" from an unknown domain). */
const routerComponentShape = {
  COMPONENTS: components(false),
};

/** Variables whose values never appear in a configuration error. */
const SECRET_VARS = new Set(['COMPONENTS', 'ADMIN_TOKEN', 'S2S_DIALBACK_SECRET']);


/** Where to reach a remote server, from S2S_HOSTS (replaces the DNS lookup for that domain). */
export interface S2SHostOverride {
  host: string;
  port: number;
  /** XEP-0368 direct TLS instead of STARTTLS (written tls://host:port). */
  directTls: boolean;
}

/** Parse `domain=host:port[|tls://host:port...],domain2=...` (S2S_HOSTS); throws with the bad part named. */
export function parseS2SHosts(spec: string): Map<string, S2SHostOverride[]> {
  const out = new Map<string, S2SHostOverride[]>();
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`"${part}": expected domain=host:port`);
    const name = part.slice(0, eq).trim().toLowerCase();
    const domain = prepareDomainName(name);
    if (domain === null) throw new Error(`"${name}": not a domain name`);
    const targets = part
      .slice(eq + 1)
      .split('|')
      .map((t) => {
        let s = t.trim();
        const directTls = s.startsWith('tls://');
        if (directTls) s = s.slice(6);
        const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(s);
        if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`"${t}": expected host:port or tls://host:port`);
        return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]), directTls };
      });
    out.set(domain, targets);
  }
  return out;
}

/**
 * Federation settings, shared by the edge (inbound S2S, dialback verification) and the federation
 * service (outbound S2S). docs/federation.md explains each.
 */
const s2sShape = {
  /** Static targets per remote domain, instead of DNS SRV (private peers, tests). */
  S2S_HOSTS: z
    .string()
    .default('')
    .transform((v, ctx) => {
      try {
        return parseS2SHosts(v);
      } catch (e) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
        return z.NEVER;
      }
    }),
  /** DNS servers for SRV/A lookups of remote domains ("ip" or "ip:port"); default the system's. */
  S2S_DNS_SERVERS: csv(''),
  /** Extra CA certificates (PEM files, comma-separated) trusted for remote servers' certificates. */
  S2S_CA_FILES: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean)),
  /** Trust the public CAs (Node's bundled roots) for remote servers' certificates. */
  S2S_TRUST_SYSTEM_CA: bool(true),
  /** Server dialback (XEP-0220) when certificates do not authenticate a peer, both directions. */
  S2S_DIALBACK: bool(true),
  /** TLS on every S2S stream (RFC 6120 §5.3.1); off only for a lab. */
  S2S_REQUIRE_TLS: bool(true),
  /** Dialback secret shared by every edge and federation replica; when unset one is kept in NATS KV. */
  S2S_DIALBACK_SECRET: z.string().min(16, 'at least 16 characters').optional(),
  S2S_CONNECT_TIMEOUT_SECONDS: positive(15),
  /** Seconds an S2S stream may stay unused before it is closed. */
  S2S_IDLE_SECONDS: positive(300),
};

export const edgeSchema = commonSchema.extend({
  EDGE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, - and _ only')
    .default(`${hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40)}-${randomBytes(3).toString('hex')}`),
  BIND_HOST: z.string().default('0.0.0.0'),
  C2S_PORT: port(5222),
  C2S_TLS_PORT: port(5223),
  /** WebSocket (RFC 7395) and XEP-0156 host-meta; 0 = pick a free one, -1 is not allowed: use HTTP_ENABLED. */
  HTTP_PORT: port(5280),
  HTTP_ENABLED: bool(true),
  /** Folder with <domain>.crt and <domain>.key (PEM) per served domain; if unset a dev certificate is generated. */
  TLS_CERT_DIR: z.string().optional(),
  /** Allow SASL PLAIN without TLS (loopback development only). */
  ALLOW_PLAIN_INSECURE: bool(false),
  /** Require STARTTLS before authentication on 5222. */
  REQUIRE_TLS: bool(true),
  MAX_STANZA_BYTES: positive(262_144),
  MAX_XML_DEPTH: positive(32),
  MAX_XML_ATTRIBUTES: positive(64),
  /**
   * Bytes per second a client connection may send, on average (0: no limit). Above it the edge stops
   * reading the connection for a while: the client is slowed, not disconnected.
   */
  C2S_MAX_BYTES_PER_SECOND: z.coerce.number().int().min(0).default(65_536),
  /** Bytes a client may send at once above that rate (the bucket's size). */
  C2S_BURST_BYTES: positive(262_144),
  /** Seconds a connection may stay unauthenticated before connection-timeout. */
  AUTH_TIMEOUT_SECONDS: positive(60),
  /** Seconds an authenticated stream may stay silent before connection-timeout. */
  IDLE_TIMEOUT_SECONDS: positive(600),
  /** Failed SASL attempts per connection before each further failure is delayed. */
  AUTH_FAILURE_FREE: z.coerce.number().int().min(0).default(2),
  AUTH_FAILURE_DELAY_MS: z.coerce.number().int().min(0).default(1000),
  /** Failed SASL exchanges (any cause, aborted ones too) before the stream ends with policy-violation. */
  AUTH_MAX_FAILURES: positive(5),
  /** Account records cached per edge for logins (0 disables); changes elsewhere evict through a KV watch. */
  ACCOUNT_CACHE_SIZE: z.coerce.number().int().min(0).default(10_000),
  ACCOUNT_CACHE_TTL_SECONDS: z.coerce.number().int().min(1).default(60),
  /**
   * Offer XEP-0198 stream management (acknowledgements; no resumption): what a client has not
   * acknowledged when its stream ends is routed again (another resource, offline storage, or an error).
   */
  STREAM_MANAGEMENT: bool(true),
  /**
   * Seconds a stream management client may leave our <r/> unanswered before its stream is taken for dead
   * and ended (connection-timeout), so what was on its way to it is routed again without waiting for TCP.
   */
  SM_ACK_TIMEOUT_SECONDS: positive(60),
  /** Offer the optional RFC 3921 session feature (some old clients need it). */
  LEGACY_SESSION: bool(true),
  /** Seconds to drain sessions on SIGTERM. */
  DRAIN_SECONDS: positive(25),
  ...edgeComponentShape,
  /** Inbound server-to-server streams (federation) on S2S_PORT. */
  S2S_ENABLED: bool(true),
  S2S_PORT: port(5269),
  /** Inbound S2S with TLS from the first byte (XEP-0368, `_xmpps-server` SRV records) on S2S_TLS_PORT. */
  S2S_DIRECT_TLS: bool(true),
  S2S_TLS_PORT: port(5270),
  /**
   * Bytes per second one inbound server-to-server stream may send, on average (0: no limit); above it
   * the edge stops reading the stream for a while. A stream carries all of a peer server's users.
   */
  S2S_IN_MAX_BYTES_PER_SECOND: z.coerce.number().int().min(0).default(262_144),
  S2S_IN_BURST_BYTES: positive(1_048_576),
  ...s2sShape,
});

export const routerSchema = commonSchema.extend({
  ROUTER_ID: z.string().default(`${hostname()}-${randomBytes(3).toString('hex')}`),
  SERVER_NAME: z.string().default('kxmpp'),
  SERVER_VERSION: z.string().default('0.1.0'),
  /** Include the OS in XEP-0092 answers. */
  VERSION_SHOW_OS: bool(false),
  /** Stanzas for other domains go to the federation service; false: they bounce remote-server-not-found. */
  FEDERATION_ENABLED: bool(true),
  ...routerComponentShape,
});

/** Presence, roster and offline services (one schema: they share their settings). */
export const serviceSchema = commonSchema.extend({
  SERVICE_ID: z.string().default(`${hostname()}-${randomBytes(3).toString('hex')}`),
  /** Messages kept per offline user; beyond it the sender gets resource-constraint (XEP-0160). */
  OFFLINE_MAX_MESSAGES: z.coerce.number().int().min(0).max(100_000).default(1000),
});

/** The federation service (apps/federation): outbound S2S streams. */
export const federationSchema = commonSchema.extend({
  /** This replica's name (partition leases, logs). */
  SERVICE_ID: z.string().default(`${hostname()}-${randomBytes(3).toString('hex')}`),
  /** Folder with <domain>.crt and .key per served domain (as the edge); unset: a generated certificate. */
  TLS_CERT_DIR: z.string().optional(),
  MAX_STANZA_BYTES: positive(262_144),
  /** Stanzas in flight per federation partition (waiting for a stream to come up or being written). */
  S2S_QUEUE_PER_PARTITION: z.coerce.number().int().min(1).max(10_000).default(256),
  ...s2sShape,
  // Component domains (XEP-0114) may send to other servers too: their stanzas are accepted here.
  ...routerComponentShape,
});

/** The gRPC admin API (apps/admin). */
export const adminSchema = commonSchema.extend({
  ADMIN_GRPC_PORT: port(50051),
  ADMIN_GRPC_HOST: z.string().default('0.0.0.0'),
  /** Bearer token every admin request must carry (metadata `authorization: Bearer <token>`). */
  ADMIN_TOKEN: z.string().min(16, 'at least 16 characters'),
});

export const allInOneSchema = edgeSchema.merge(routerSchema).merge(serviceSchema).merge(federationSchema).extend({
  /** Admin API token; when unset the all-in-one makes one and writes it to <DATA_DIR>/admin-token. */
  ADMIN_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  ADMIN_GRPC_PORT: port(50051),
  ADMIN_GRPC_HOST: z.string().default('127.0.0.1'),
  /** Replicas of each service (presence, roster, offline) inside the all-in-one. */
  SERVICE_REPLICAS: z.coerce.number().int().min(1).max(8).default(1),
  XMPP_REGISTRATION: z.string().default('*'),
  /** Where the embedded nats-server keeps its JetStream data when NATS_URL is not set. */
  DATA_DIR: z.string().default('.data'),
  /** Loopback port of the embedded nats-server (a free one is picked if it is taken). */
  EMBEDDED_NATS_PORT: port(4223),
  /** Path of the nats-server binary for the embedded default (default: the Debian package's). */
  NATS_SERVER_BIN: z.string().optional(),
  METRICS_PORT: port(9100),
  ROUTERS: z.coerce.number().int().min(1).max(16).default(1),
  // The edge's COMPONENTS (with secrets): the router's domain-only parse must not replace it.
  ...edgeComponentShape,
});

export type CommonConfig = z.infer<typeof commonSchema>;
export type EdgeConfig = z.infer<typeof edgeSchema>;
export type RouterConfig = z.infer<typeof routerSchema>;
export type AllInOneConfig = z.infer<typeof allInOneSchema>;
export type ServiceConfig = z.infer<typeof serviceSchema>;
export type AdminConfig = z.infer<typeof adminSchema>;
export type FederationConfig = z.infer<typeof federationSchema>;

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Parse and validate; throws ConfigError naming each bad variable. */
export function loadConfig<S extends z.ZodTypeAny>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // An empty variable (VAR=) means "not set", as shells and Kubernetes manifests often write it.
  const set = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const res = schema.safeParse(set);
  if (!res.success) {
    throw new ConfigError(
      res.error.issues.map((i) => `${i.path.join('.') || '(root)'}=${shownValue(env, String(i.path[0]))}: ${i.message}`),
    );
  }
  const data = res.data as { STORAGE?: string; MONGODB_URI?: string };
  if (data.STORAGE === 'mongo' && !data.MONGODB_URI) throw new ConfigError(['MONGODB_URI=null: required when STORAGE=mongo']);
  const comp = res.data as { XMPP_DOMAINS?: string[]; COMPONENTS?: ComponentSecret[] };
  const clash = (comp.COMPONENTS ?? []).filter((c) => comp.XMPP_DOMAINS?.includes(c.domain)).map((c) => c.domain);
  if (clash.length) throw new ConfigError([`COMPONENTS=(hidden): ${clash.join(', ')} also in XMPP_DOMAINS: a component needs a domain of its own`]);
  return res.data;
}

function shownValue(env: NodeJS.ProcessEnv, name: string): string {
  if (SECRET_VARS.has(name) && env[name] !== undefined) return '(hidden)';
  return JSON.stringify(env[name] ?? null);
}

/** For main.ts: a clear message on stderr and exit code 1 on a bad value. */
export function loadConfigOrExit<S extends z.ZodTypeAny>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  try {
    return loadConfig(schema, env);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(1);
  }
}

/** Whether XEP-0077 registration is open for a domain, from the XMPP_REGISTRATION list. */
export function registrationOpen(setting: string, domain: string): boolean {
  const list = setting.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  return list.includes('*') || list.some((d) => d === domain || prepareDomainName(d) === domain);
}
