export * from './offline.service';
export * from './offline.app';
export { offlineMetrics } from './offline.metrics';
