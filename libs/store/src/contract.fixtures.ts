/**
 * What the port contracts share (imported by the *.contract.ts suites only, never by production code).
 * Each case works in its own random domain, so the suites also run against a shared, long-lived database
 * without cleanup between runs.
 */
import { randomBytes } from 'node:crypto';

export interface RepoHandle<T> {
  repo: T;
  close(): Promise<void>;
}

/**
 * Cases an adapter cannot pass on a given backend, by case title, each with the reason (printed as the
 * skip message). Only for a missing server capability, never to hide a wrong result.
 */
export type Skips = Readonly<Record<string, string>>;

export function freshDomain(): string {
  return `t${randomBytes(6).toString('hex')}.example`;
}

/** Key- and subject-hostile and non-ASCII parts, all valid after XMPP preparation. */
export const HOSTILE_NAMES = ['ñandú', 'юзер', '用户', '🦄', 'a.b', 'a*b', 'a>b', 'x=y,z', '$a b'];

/** `it` options that skip a case by name when the adapter declares it cannot run it. */
export function skipIf(skips: Skips | undefined, title: string): { skip?: string } {
  const reason = skips?.[title];
  return reason ? { skip: reason } : {};
}
