export * from './ping.module';
