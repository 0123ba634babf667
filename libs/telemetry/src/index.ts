export * from './metrics';
export * from './logger';
export * from './health-server';
export * from './hot-metrics';
