export * from './dialback';
export * from './identity';
export * from './namespaces';
export * from './outbound';
export * from './resolve';
export * from './rewrite';
