/**
 * The admin API's protobuf definition (proto/kxmpp/admin/v1/admin.proto), loaded at run time with
 * @grpc/proto-loader: no generated code to keep in sync. Server and CLI load it with the same options,
 * so both see camelCase fields, enums and 64-bit integers as JavaScript numbers.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const ADMIN_PACKAGE = 'kxmpp.admin.v1';
export const ADMIN_SERVICES = ['DomainService', 'AccountService', 'SessionService', 'StanzaService', 'RosterService', 'StatsService'] as const;
export type AdminServiceName = (typeof ADMIN_SERVICES)[number];

const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

/** proto/ at the repository root: dist/ and src/ are both two levels below apps/admin/. */
export function protoRoot(): string {
  for (const dir of [resolve(__dirname, '../../../proto'), resolve(process.cwd(), 'proto')]) {
    if (existsSync(join(dir, 'kxmpp/admin/v1/admin.proto'))) return dir;
  }
  throw new Error(`admin.proto not found (looked in ${resolve(__dirname, '../../../proto')} and ./proto)`);
}

export interface AdminProto {
  packageDefinition: protoLoader.PackageDefinition;
  /** Service constructors (clients) with their `.service` definitions (servers). */
  services: Record<AdminServiceName, grpc.ServiceClientConstructor>;
}

let cached: AdminProto | undefined;

export function loadAdminProto(): AdminProto {
  if (cached) return cached;
  const packageDefinition = protoLoader.loadSync('kxmpp/admin/v1/admin.proto', { ...LOADER_OPTIONS, includeDirs: [protoRoot()] });
  const root = grpc.loadPackageDefinition(packageDefinition) as unknown as { kxmpp: { admin: { v1: Record<string, grpc.ServiceClientConstructor> } } };
  const pkg = root.kxmpp.admin.v1;
  const services = Object.fromEntries(ADMIN_SERVICES.map((n) => [n, pkg[n]])) as Record<AdminServiceName, grpc.ServiceClientConstructor>;
  cached = { packageDefinition, services };
  return cached;
}
