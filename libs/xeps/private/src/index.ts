export * from './private.module';
