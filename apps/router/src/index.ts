export * from './routing.decide';
export * from './router.service';
export * from './router.module';
export * from './modules';
