export * from './edge.service';
export * from './edge.module';
export * from './c2s-stream';
export { WS_PATH } from './http';
