/**
 * XEP-0191 §5 JID matching (the XEP-0016 §2.1 rules), compiled once per blocklist so a check is at
 * most four Set lookups:
 *  1. user@domain/resource: only that full JID;
 *  2. user@domain: that bare JID and every resource of it;
 *  3. domain/resource: only that JID (no localpart);
 *  4. domain: the domain itself and every JID at it (user@domain, user@domain/res, domain/res);
 *     subdomains do not match (version 1.3 of the XEP dropped them).
 */
import { Jid } from '@kxmpp/xmpp-core';

export interface BlocklistMatcher {
  readonly size: number;
  matches(other: Jid): boolean;
}

const EMPTY: BlocklistMatcher = { size: 0, matches: () => false };

class SetMatcher implements BlocklistMatcher {
  readonly full = new Set<string>();
  readonly bare = new Set<string>();
  readonly domainResource = new Set<string>();
  readonly domain = new Set<string>();
  size = 0;

  matches(o: Jid): boolean {
    if (this.domain.has(o.domain)) return true;
    if (o.local) {
      const bare = `${o.local}@${o.domain}`;
      if (this.bare.has(bare)) return true;
      return o.resource !== '' && this.full.has(`${bare}/${o.resource}`);
    }
    return o.resource !== '' && this.domainResource.has(`${o.domain}/${o.resource}`);
  }
}

/** Entries that do not parse as JIDs are skipped (the module never stores one). */
export function compileBlocklist(jids: readonly string[]): BlocklistMatcher {
  if (jids.length === 0) return EMPTY;
  const m = new SetMatcher();
  for (const s of jids) {
    const j = Jid.tryParse(s);
    if (!j) continue;
    if (j.local && j.resource) m.full.add(j.toString());
    else if (j.local) m.bare.add(j.toString());
    else if (j.resource) m.domainResource.add(j.toString());
    else m.domain.add(j.domain);
    m.size++;
  }
  return m.size === 0 ? EMPTY : m;
}
