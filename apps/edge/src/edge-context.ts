import type { EdgeConfig } from '@kxmpp/config';
import type { AccountsRepository } from '@kxmpp/store';
import type { Logger } from '@kxmpp/telemetry';
import type { Element } from '@kxmpp/xmpp-core';
import type { C2SStream } from './c2s-stream';
import type { Unacked } from './stream-management';
import type { TlsMaterial } from './tls';

export interface StanzaFacts {
  to: string;
  kind: string;
  type: string;
  ns: string;
  /** XEP-0280: a message eligible for carbon copies. */
  cc?: boolean;
}

/** What a stream needs from its edge: configuration, storage, and the bus side of a session. */
export interface EdgeContext {
  readonly config: EdgeConfig;
  /** Served domains (config and run-time ones); a Set lookup. */
  readonly domains: { has(domain: string): boolean };
  readonly tls: TlsMaterial;
  readonly accounts: AccountsRepository;
  readonly log: Logger;
  readonly resourcePrefix: string;
  registrationOpen(domain: string): boolean;
  partitionOf(bare: string): number;
  /** Claim the session's full JID in the registry, replacing (and kicking) an older holder. */
  bindSession(stream: C2SStream): Promise<void>;
  presenceChanged(stream: C2SStream): void;
  /** The session's registry entry changed otherwise (XEP-0280 carbons): resolves once it is written. */
  sessionChanged(stream: C2SStream): Promise<void>;
  /** Publish a stamped stanza to the routing stream, in call order. */
  publish(stream: C2SStream, data: string, facts: StanzaFacts): void;
  /** `unacked`: XEP-0198 stanzas the client never acknowledged, to be routed again. */
  streamClosed(stream: C2SStream, wasBound: boolean, unacked: Unacked[]): void;
  accountRemoved(domain: string, username: string): void;
}
