export * from './roster.service';
export * from './roster.app';
export { rosterMetrics } from './roster.metrics';
