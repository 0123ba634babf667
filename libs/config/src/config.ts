/**
 * Typed configuration for every app, validated at boot. This is the only module that reads process.env.
 * A bad value is reported with the variable's name and the process exits 1 (see loadConfigOrExit).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';

const csv = (def: string) =>
  z
    .string()
    .default(def)
    .transform((s) => s.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean));

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
    .refine((d) => d.every((x) => /^[^\s/@:,\\'"<>]{1,253}$/u.test(x) && !x.startsWith('.')), 'domains are DNS names, e.g. example.com'),
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
  /** Seconds a connection may stay unauthenticated before connection-timeout. */
  AUTH_TIMEOUT_SECONDS: positive(60),
  /** Seconds an authenticated stream may stay silent before connection-timeout. */
  IDLE_TIMEOUT_SECONDS: positive(600),
  /** Failed SASL attempts per connection before each further failure is delayed. */
  AUTH_FAILURE_FREE: z.coerce.number().int().min(0).default(2),
  AUTH_FAILURE_DELAY_MS: z.coerce.number().int().min(0).default(1000),
  AUTH_MAX_FAILURES: positive(5),
  /** Account records cached per edge for logins (0 disables); changes elsewhere evict through a KV watch. */
  ACCOUNT_CACHE_SIZE: z.coerce.number().int().min(0).default(10_000),
  ACCOUNT_CACHE_TTL_SECONDS: z.coerce.number().int().min(1).default(60),
  /** Offer the optional RFC 3921 session feature (some old clients need it). */
  LEGACY_SESSION: bool(true),
  /** Seconds to drain sessions on SIGTERM. */
  DRAIN_SECONDS: positive(25),
});

export const routerSchema = commonSchema.extend({
  ROUTER_ID: z.string().default(`${hostname()}-${randomBytes(3).toString('hex')}`),
  SERVER_NAME: z.string().default('kxmpp'),
  SERVER_VERSION: z.string().default('0.1.0'),
  /** Include the OS in XEP-0092 answers. */
  VERSION_SHOW_OS: bool(false),
});

/** Presence, roster and offline services (one schema: they share their settings). */
export const serviceSchema = commonSchema.extend({
  SERVICE_ID: z.string().default(`${hostname()}-${randomBytes(3).toString('hex')}`),
  /** Messages kept per offline user; beyond it the sender gets resource-constraint (XEP-0160). */
  OFFLINE_MAX_MESSAGES: z.coerce.number().int().min(0).max(100_000).default(1000),
});

/** The gRPC admin API (apps/admin). */
export const adminSchema = commonSchema.extend({
  ADMIN_GRPC_PORT: port(50051),
  ADMIN_GRPC_HOST: z.string().default('0.0.0.0'),
  /** Bearer token every admin request must carry (metadata `authorization: Bearer <token>`). */
  ADMIN_TOKEN: z.string().min(16, 'at least 16 characters'),
});

export const allInOneSchema = edgeSchema.merge(routerSchema).merge(serviceSchema).extend({
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
});

export type CommonConfig = z.infer<typeof commonSchema>;
export type EdgeConfig = z.infer<typeof edgeSchema>;
export type RouterConfig = z.infer<typeof routerSchema>;
export type AllInOneConfig = z.infer<typeof allInOneSchema>;
export type ServiceConfig = z.infer<typeof serviceSchema>;
export type AdminConfig = z.infer<typeof adminSchema>;

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
      res.error.issues.map((i) => `${i.path.join('.') || '(root)'}=${JSON.stringify(env[String(i.path[0])] ?? null)}: ${i.message}`),
    );
  }
  const data = res.data as { STORAGE?: string; MONGODB_URI?: string };
  if (data.STORAGE === 'mongo' && !data.MONGODB_URI) throw new ConfigError(['MONGODB_URI=null: required when STORAGE=mongo']);
  return res.data;
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
  return list.includes('*') || list.includes(domain);
}
