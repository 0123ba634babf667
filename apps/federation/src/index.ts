export * from './federation.service';
export * from './federation.app';
