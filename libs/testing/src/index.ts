export * from './free-port';
export * from './wait';
export * from './nats-server';
export * from './jongodb';
