/**
 * Stanza errors (RFC 6120 §8.3) and stream errors (RFC 6120 §4.9).
 * Handlers return or throw StanzaError; only the stream layer raises StreamError.
 */
import { NS } from './namespaces';
import { Element, xml } from './xml';

export type StanzaErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait';

/** RFC 6120 §8.3.3 defined conditions with their usual error type (§8.3.3.x "Error Type"). */
export const STANZA_CONDITIONS = {
  'bad-request': 'modify',
  conflict: 'cancel',
  'feature-not-implemented': 'cancel',
  forbidden: 'auth',
  gone: 'cancel',
  'internal-server-error': 'cancel',
  'item-not-found': 'cancel',
  'jid-malformed': 'modify',
  'not-acceptable': 'modify',
  'not-allowed': 'cancel',
  'not-authorized': 'auth',
  'policy-violation': 'modify',
  'recipient-unavailable': 'wait',
  redirect: 'modify',
  'registration-required': 'auth',
  'remote-server-not-found': 'cancel',
  'remote-server-timeout': 'wait',
  'resource-constraint': 'wait',
  'service-unavailable': 'cancel',
  'subscription-required': 'auth',
  'undefined-condition': 'cancel',
  'unexpected-request': 'wait',
} as const satisfies Record<string, StanzaErrorType>;

export type StanzaCondition = keyof typeof STANZA_CONDITIONS;

export class StanzaError extends Error {
  readonly type: StanzaErrorType;
  constructor(readonly condition: StanzaCondition, readonly text?: string, type?: StanzaErrorType, readonly by?: string) {
    super(text ? `${condition}: ${text}` : condition);
    this.name = 'StanzaError';
    this.type = type ?? STANZA_CONDITIONS[condition];
  }

  /** The <error/> child element. */
  toElement(): Element {
    const el = xml('error', { type: this.type, by: this.by }, xml(this.condition, { xmlns: NS.STANZAS_ERR }));
    if (this.text) el.cnode(xml('text', { xmlns: NS.STANZAS_ERR, 'xml:lang': 'en' }, this.text));
    return el;
  }
}

/**
 * The error reply to a stanza (RFC 6120 §8.3.1): same name and id, from/to swapped, type "error",
 * the original payload kept (MAY per §8.3.1, helps clients correlate), plus the <error/> child.
 * Returns null for a stanza of type "error": errors are never answered with errors (§8.3.1 rule 3).
 */
export function errorReply(stanza: Element, err: StanzaError, from?: string): Element | null {
  if (stanza.attrs.type === 'error') return null;
  const reply = xml(stanza.name, {
    xmlns: stanza.attrs.xmlns,
    type: 'error',
    id: stanza.attrs.id,
    from: from ?? stanza.attrs.to,
    to: stanza.attrs.from,
  });
  // Keep the original children for message/presence (helps the sender); for IQs only the first payload.
  const children = stanza.getChildElements();
  if (stanza.name === 'iq') {
    if (children[0]) reply.cnode(cloneElement(children[0]));
  } else {
    for (const c of children) if (!c.is('error')) reply.cnode(cloneElement(c));
  }
  reply.cnode(err.toElement());
  return reply;
}

function cloneElement(el: Element): Element {
  const copy = new Element(el.name, { ...el.attrs });
  for (const c of el.children) copy.cnode(typeof c === 'string' ? c : cloneElement(c));
  return copy;
}

/** RFC 6120 §4.9.3 defined stream error conditions. */
export type StreamCondition =
  | 'bad-format'
  | 'bad-namespace-prefix'
  | 'conflict'
  | 'connection-timeout'
  | 'host-gone'
  | 'host-unknown'
  | 'improper-addressing'
  | 'internal-server-error'
  | 'invalid-from'
  | 'invalid-namespace'
  | 'invalid-xml'
  | 'not-authorized'
  | 'not-well-formed'
  | 'policy-violation'
  | 'remote-connection-failed'
  | 'reset'
  | 'resource-constraint'
  | 'restricted-xml'
  | 'see-other-host'
  | 'system-shutdown'
  | 'undefined-condition'
  | 'unsupported-encoding'
  | 'unsupported-feature'
  | 'unsupported-stanza-type'
  | 'unsupported-version';

export class StreamError extends Error {
  /** `appCondition`: an application-specific condition element (RFC 6120 §4.9.4), after the text. */
  constructor(
    readonly condition: StreamCondition,
    readonly text?: string,
    readonly content?: string,
    readonly appCondition?: Element,
  ) {
    super(text ? `${condition}: ${text}` : condition);
    this.name = 'StreamError';
  }

  /** <stream:error> as sent on a TCP stream; `content` carries e.g. the see-other-host address. */
  toElement(): Element {
    const el = xml('stream:error', null, xml(this.condition, { xmlns: NS.STREAMS_ERR }, this.content ?? null));
    if (this.text) el.cnode(xml('text', { xmlns: NS.STREAMS_ERR, 'xml:lang': 'en' }, this.text));
    if (this.appCondition) el.cnode(this.appCondition);
    return el;
  }
}
