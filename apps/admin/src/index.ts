export * from './admin.service';
export type { AdminServiceConfig } from './admin.context';
export * from './admin.client';
export { loadAdminProto, ADMIN_PACKAGE, ADMIN_SERVICES } from './proto';
