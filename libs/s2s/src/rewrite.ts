/**
 * Stanzas travel on the bus serialized in the jabber:client namespace (the edges write them to clients
 * as they are). Leaving for another server or a component, the top element's default namespace is
 * changed; children keep theirs (a forwarded jabber:client message stays one).
 */
const START = /^<([A-Za-z_][\w.-]*)(\s[^>]*?)?(\/?)>/;

export function withStanzaNamespace(data: string, ns: string): string {
  const m = START.exec(data);
  if (!m) return data;
  const attrs = m[2] ?? '';
  const xmlnsAttr = /(\sxmlns\s*=\s*)(['"])([^'"]*)\2/.exec(attrs);
  let newAttrs: string;
  if (xmlnsAttr) {
    if (xmlnsAttr[3] === ns) return data;
    newAttrs = attrs.slice(0, xmlnsAttr.index) + `${xmlnsAttr[1]}${xmlnsAttr[2]}${ns}${xmlnsAttr[2]}` + attrs.slice(xmlnsAttr.index + xmlnsAttr[0].length);
  } else {
    newAttrs = ` xmlns='${ns}'${attrs}`;
  }
  return `<${m[1]}${newAttrs}${m[3]}>${data.slice(m[0].length)}`;
}
