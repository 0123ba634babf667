export * from './sasl';
