export * from './blocking.protocol';
export * from './blocklist.match';
export * from './blocking.module';
export * from './blocking.policy';
