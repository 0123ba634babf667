export * from './namespaces';
export * from './xml';
export * from './errors';
export * from './jid';
export * from './stream-parser';
