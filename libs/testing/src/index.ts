export * from './free-port';
export * from './wait';
export * from './nats-server';
export * from './jongodb';
export * from './test-dns';
export * from './test-ca';
export * from './prosody';
export * from './ejabberd';
