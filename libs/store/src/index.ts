export * from './scram';
export * from './accounts.port';
export * from './jetstream/accounts.jetstream';
// accounts.contract is left out on purpose: it imports node:test. Adapter specs import it by path.
export * from './accounts.cache';
export * from './roster.port';
export * from './offline.port';
export * from './account-data.port';
export * from './storage';
export * from './storage.factory';
export * from './jetstream/roster.jetstream';
export * from './jetstream/offline.jetstream';
export * from './jetstream/account-data.jetstream';
export { JS_NAMES } from './jetstream/names.jetstream';
// Mongo adapters are loaded by openStorage on demand (no mongoose for NATS-only installs); only names here.
export { ACCOUNTS_CHANGED_SUBJECT, MONGO_COLLECTIONS } from './mongo/common.mongo';
