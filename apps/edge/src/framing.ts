/**
 * How stream-level elements are written on each transport: the TCP stream header and <stream:error/>
 * (RFC 6120 §4) versus the WebSocket <open/>, <close/> framing (RFC 7395 §3.3).
 */
import { NS, StreamError, escapeXML, Element } from '@kxmpp/xmpp-core';

export interface Framer {
  open(from: string, id: string, withVersion: boolean): string;
  /** The features element, with the stream prefix declared where the transport needs it. */
  features(children: string): string;
  error(err: StreamError): string;
  close(): string;
}

export const tcpFramer: Framer = {
  open(from, id, withVersion) {
    return (
      `<?xml version='1.0'?><stream:stream xmlns='${NS.CLIENT}' xmlns:stream='${NS.STREAM}' ` +
      `id='${escapeXML(id)}' from='${escapeXML(from)}'${withVersion ? " version='1.0'" : ''} xml:lang='en'>`
    );
  },
  features(children) {
    return `<stream:features>${children}</stream:features>`;
  },
  error(err) {
    return err.toElement().toString();
  },
  close() {
    return '</stream:stream>';
  },
};

export const wsFramer: Framer = {
  open(from, id) {
    return `<open xmlns='${NS.FRAMING}' id='${escapeXML(id)}' from='${escapeXML(from)}' version='1.0' xml:lang='en'/>`;
  },
  features(children) {
    return `<stream:features xmlns:stream='${NS.STREAM}'>${children}</stream:features>`;
  },
  error(err) {
    const el: Element = err.toElement();
    el.attrs['xmlns:stream'] = NS.STREAM;
    return el.toString();
  },
  close() {
    return `<close xmlns='${NS.FRAMING}'/>`;
  },
};
