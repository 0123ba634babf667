/** Answers for stanzas the routing stream did not take (RoutePublisher failures), off the hot path. */
import type { PublishFailure } from '@kxmpp/bus';
import { Element, parseXml, StanzaError } from '@kxmpp/xmpp-core';

/** The error a sender gets for a stanza the routing stream did not take. */
export function publishError(why: PublishFailure): StanzaError {
  return why === 'overloaded'
    ? new StanzaError('resource-constraint', 'the server is overloaded, try again')
    : new StanzaError('internal-server-error', 'could not route the stanza, try again');
}

/** A stanza this edge serialized, parsed again (for a bounce, off the hot path). */
export function reparse(data: string): Element | null {
  try {
    return parseXml(data);
  } catch {
    return null;
  }
}
