export * from './handler';
export * from './disco.registry';
export * from './iq-router';
