// Type declarations for the parts of ltx (which ships none) that the platform uses.

export type Node = Element | string;
export class Element {
  constructor(name: string, attrs?: Record<string, string>);
  name: string;
  attrs: Record<string, string>;
  children: Node[];
  parent: Element | null;
  is(name: string, xmlns?: string): boolean;
  getName(): string;
  getNS(): string | undefined;
  findNS(prefix?: string): string | undefined;
  getAttr(name: string, xmlns?: string): string | undefined;
  getChild(name: string, xmlns?: string): Element | undefined;
  getChildren(name: string, xmlns?: string): Element[];
  getChildElements(): Element[];
  getChildByAttr(attr: string, val: string, xmlns?: string, recursive?: boolean): Element | undefined;
  getText(): string;
  getChildText(name: string, xmlns?: string): string | null;
  root(): Element;
  up(): Element;
  c(name: string, attrs?: Record<string, string>): Element;
  cnode(child: Node): Node;
  append(...nodes: Node[]): void;
  prepend(...nodes: Node[]): void;
  t(text: string): Element;
  remove(el: Element | string, xmlns?: string): Element;
  text(val?: string): string;
  attr(name: string, val?: string): string | undefined;
  toString(): string;
}
export function parse(s: string): Element;
export function escapeXML(s: string): string;
export function unescapeXML(s: string): string;
export function escapeXMLText(s: string): string;
export function unescapeXMLText(s: string): string;
export function createElement(name: string, attrs?: Record<string, string> | null, ...children: Node[]): Element;
