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

/**
 * A copy of `el` that serializes on its own, for storing a child apart from the stanza it came in: its
 * namespace `ns` written on it, and the prefixes its ancestors declared (the nearest declaration wins, as
 * in XML) declared on it.
 */
export function detachElement(el: Element, ns: string): Element {
  const attrs: Record<string, string> = { ...el.attrs };
  const colon = el.name.indexOf(':');
  if (colon < 0) attrs.xmlns = ns;
  else attrs[`xmlns:${el.name.slice(0, colon)}`] = ns;
  for (let p = el.parent; p; p = p.parent) {
    for (const [k, v] of Object.entries(p.attrs)) if (k.startsWith('xmlns:') && attrs[k] === undefined) attrs[k] = String(v);
  }
  return deepCopy(el, attrs);
}

function deepCopy(el: Element, attrs: Record<string, string> = { ...el.attrs }): Element {
  const out = new Element(el.name, attrs);
  for (const c of el.children) out.cnode(typeof c === 'string' ? c : deepCopy(c));
  return out;
}
