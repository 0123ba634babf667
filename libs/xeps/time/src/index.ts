export * from './time.module';
