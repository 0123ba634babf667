/**
 * The only module that imports ltx: the rest of the platform uses these re-exports, so a change of XML
 * library touches one file.
 */
import * as ltx from 'ltx';

export type Element = ltx.Element;
export const Element = ltx.Element;
export type Attrs = Record<string, string | number | undefined | null>;

/** Build an element: xml('iq', { type: 'result' }, xml('query', { xmlns })). */
export function xml(name: string, attrs?: Attrs | null, ...children: Array<Element | string | null | undefined | false>): Element {
  const clean: Record<string, string> = {};
  if (attrs) for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) clean[k] = String(v);
  const el = new ltx.Element(name, clean);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.cnode(c as Element);
  return el;
}

export const escapeXML: (s: string) => string = ltx.escapeXML;
export const escapeXMLText: (s: string) => string = ltx.escapeXMLText;

/** Parse one complete XML document (used off the hot path: error bounces, IQ handlers, tests). */
export function parseXml(s: string): Element {
  return ltx.parse(s) as Element;
}
