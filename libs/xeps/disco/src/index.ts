export * from './disco.module';
