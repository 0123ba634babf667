export * from './scram';
export * from './accounts.port';
export * from './jetstream/accounts.jetstream';
// accounts.contract is left out on purpose: it imports node:test. Adapter specs import it by path.
export * from './accounts.cache';
export * from './roster.port';
export * from './offline.port';
export * from './account-data.port';
export * from './storage';
