export * from './version.module';
