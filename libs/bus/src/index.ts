export * from './subjects';
export * from './envelope';
export * from './connection';
export * from './session-registry';
export * from './route-publisher';
export * from './work-queue';
export * from './deliverer';
export * from './domains';
