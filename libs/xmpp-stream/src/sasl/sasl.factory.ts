/** Which SASL mechanisms a stream offers (RFC 6120 §6.3.3, §6.4.1) and their construction. */
import { isScramMech } from '@kxmpp/store';
import { PlainServerMechanism } from './plain.mechanism';
import type { SaslContext, SaslMechanism } from './sasl.mechanism';
import { ScramServerMechanism } from './scram.mechanism';

/** Strongest first: clients tend to pick the first one they support. */
export function offeredMechanisms(opts: { secure: boolean; allowPlainInsecure: boolean }): string[] {
  const mechs = ['SCRAM-SHA-256', 'SCRAM-SHA-1'];
  if (opts.secure || opts.allowPlainInsecure) mechs.push('PLAIN');
  return mechs;
}

/**
 * A fresh mechanism instance for one exchange; null for a name this server does not implement.
 * The stream layer first checks the name against what it offered on this stream (PLAIN on an
 * insecure stream is refused there, with <mechanism-too-weak/> or <invalid-mechanism/>).
 */
export function createSaslMechanism(name: string, ctx: SaslContext): SaslMechanism | null {
  if (isScramMech(name)) return new ScramServerMechanism(name, ctx);
  if (name === 'PLAIN') return new PlainServerMechanism(ctx);
  return null;
}
