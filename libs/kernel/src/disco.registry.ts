/**
 * Identities and features collected from the wired modules, per target (server vs account) and per
 * domain (XEP-0030 §3.1): the data disco#info answers from. Conditional features are evaluated per query
 * so a configuration change needs no restart of the registry.
 */
import type { DiscoView, FeatureDecl, Identity, IqTarget, XepModule } from './handler';

export class DiscoRegistry implements DiscoView {
  private readonly feats: Record<IqTarget, FeatureDecl[]> = { server: [], account: [] };
  private readonly ids: Record<IqTarget, Identity[]> = { server: [], account: [] };

  constructor(modules: readonly XepModule[] = []) {
    for (const m of modules) this.add(m);
  }

  add(m: XepModule): void {
    this.feats.server.push(...(m.serverFeatures ?? []));
    this.feats.account.push(...(m.accountFeatures ?? []));
    this.ids.server.push(...(m.serverIdentities ?? []));
    this.ids.account.push(...(m.accountIdentities ?? []));
  }

  /** Unique feature vars in code point order (stable answers, and XEP-0115 hashing sorts anyway). */
  features(target: IqTarget, domain: string): string[] {
    const out = new Set<string>();
    for (const f of this.feats[target]) {
      if (typeof f === 'string') out.add(f);
      else if (f.when(domain)) out.add(f.var);
    }
    return [...out].sort();
  }

  identities(target: IqTarget, _domain: string): Identity[] {
    const seen = new Set<string>();
    return this.ids[target].filter((i) => {
      const k = `${i.category}/${i.type}/${i.name ?? ''}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  }
}
