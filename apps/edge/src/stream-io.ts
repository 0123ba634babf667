/**
 * The wiring every stream kind of the edge shares (client, server-to-server, component): a parser with
 * the configured limits fed from the transport, activity stamps for the idle sweeps, and a handler
 * failure turned into <internal-server-error/> instead of a crashed process.
 */
import type { EdgeConfig } from '@kxmpp/config';
import type { Logger } from '@kxmpp/telemetry';
import { NS, StreamError, StreamParserHandler, XmlStreamParser } from '@kxmpp/xmpp-core';
import type { Transport } from './transport';

export interface StreamWiring {
  transport: Transport;
  config: Pick<EdgeConfig, 'MAX_STANZA_BYTES' | 'MAX_XML_DEPTH' | 'MAX_XML_ATTRIBUTES'>;
  log: Logger;
  sid: string;
  /** For the log line when a handler throws, e.g. 's2s stream'. */
  what: string;
  handler: Omit<StreamParserHandler, 'onWhitespace'>;
  /** Input arrived (bytes or whitespace keep-alives). */
  touch(): void;
  fail(err: StreamError): void;
  closed(): void;
}

export function wireStream(w: StreamWiring): XmlStreamParser {
  const parser = new XmlStreamParser(
    { ...w.handler, onWhitespace: () => w.touch() },
    {
      framed: w.transport.framed,
      limits: { maxStanzaBytes: w.config.MAX_STANZA_BYTES, maxDepth: w.config.MAX_XML_DEPTH, maxAttributes: w.config.MAX_XML_ATTRIBUTES },
    },
  );
  w.transport.onData((chunk) => {
    w.touch();
    try {
      parser.write(chunk);
    } catch (e) {
      w.log.error({ err: e, sid: w.sid }, `${w.what} handler failed`);
      w.fail(new StreamError('internal-server-error'));
    }
  });
  w.transport.onClose(() => w.closed());
  w.transport.onBadFrame?.((why) => {
    w.log.info({ sid: w.sid, remote: w.transport.remoteAddress, why }, `${w.what}: frame refused`);
    w.fail(new StreamError('bad-format', why));
  });
  return parser;
}

/**
 * What a stream header's element name and its namespace declarations earn (RFC 6120 §4.8, §11.2.1), the
 * same for every stream kind: a prefix nobody declared is bad-namespace-prefix (§4.9.3.2); an element
 * other than <stream> in the streams namespace is invalid-namespace (§4.9.3.10). Null when it is right.
 */
export function streamElementError(name: string, attrs: Record<string, string>): StreamError | null {
  const colon = name.indexOf(':');
  const prefix = colon < 0 ? '' : name.slice(0, colon);
  const ns = prefix ? attrs[`xmlns:${prefix}`] : attrs.xmlns;
  if (prefix && ns === undefined) return new StreamError('bad-namespace-prefix', `the prefix ${prefix} is not declared`);
  if (name.slice(colon + 1) !== 'stream' || ns !== NS.STREAM) return new StreamError('invalid-namespace', 'stream element not in the streams namespace');
  return null;
}

/**
 * The error for a top-level element that is not a stanza this stream takes. A stanza written with a
 * namespace prefix (`<c:message xmlns:c='jabber:client'>`) is bad-namespace-prefix: the content namespace
 * is the stream's default one and carries no prefix (RFC 6120 §4.8); the parser does not resolve prefixes.
 * Anything else is unsupported-stanza-type (§4.9.3.24).
 */
export function notAStanzaError(name: string, where: string): StreamError {
  const local = name.slice(name.indexOf(':') + 1);
  if (local !== name && (local === 'message' || local === 'presence' || local === 'iq')) {
    return new StreamError('bad-namespace-prefix', `<${name}/>: stanzas are written without a namespace prefix`);
  }
  return new StreamError('unsupported-stanza-type', `<${name}/> is not ${where}`);
}
