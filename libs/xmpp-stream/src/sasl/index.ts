export * from './sasl.mechanism';
export * from './sasl.factory';
export { ScramServerMechanism } from './scram.mechanism';
export { PlainServerMechanism } from './plain.mechanism';
