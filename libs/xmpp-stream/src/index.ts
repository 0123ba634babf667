export * from './sasl';
export * from './tls';
