export * from './last.module';
