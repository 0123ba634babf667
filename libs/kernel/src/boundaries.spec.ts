/**
 * Module boundaries (STYLE.md rule 1): the core never imports a XEP, libs never import apps, and
 * nothing but tests imports the testing lib. Checked on the workspace's declared dependencies and on
 * the import statements of every source file, tagged by the `nx.tags` of each package.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');

interface Pkg {
  name: string;
  dir: string;
  tags: string[];
  deps: string[];
}

function packages(): Pkg[] {
  const dirs: string[] = [];
  for (const group of ['libs', 'libs/xeps', 'apps']) {
    for (const n of readdirSync(join(root, group))) {
      if (existsSync(join(root, group, n, 'package.json'))) dirs.push(join(root, group, n));
    }
  }
  return dirs.map((dir) => {
    const j = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    return { name: j.name, dir, tags: j.nx?.tags ?? [], deps: Object.keys(j.dependencies ?? {}) };
  });
}

function sources(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (n.endsWith('.ts') && !n.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

// Which tags a package with a given tag may depend on.
const ALLOWED: Record<string, string[]> = {
  'type:core': ['type:core'],
  'type:xep': ['type:core'],
  'type:testing': ['type:core'],
  'type:app': ['type:core', 'type:xep', 'type:app'],
};

describe('module boundaries', () => {
  const pkgs = packages();
  const byName = new Map(pkgs.map((p) => [p.name, p]));

  it('every workspace package is tagged', () => {
    for (const p of pkgs) assert.ok(p.tags.length > 0, `${p.name} has no nx.tags`);
  });

  for (const p of pkgs) {
    it(`${p.name} (${p.tags.join(',')}) imports only what its tag allows`, () => {
      const allowed = new Set(p.tags.flatMap((t) => ALLOWED[t] ?? []));
      const imported = new Set<string>(p.deps.filter((d) => d.startsWith('@kxmpp/')));
      for (const file of sources(join(p.dir, 'src'))) {
        // Contract suites (*.contract.ts) are tests too: only adapter specs import them, never index.ts.
        const isTest = file.endsWith('.spec.ts') || file.endsWith('.contract.ts');
        for (const m of readFileSync(file, 'utf8').matchAll(/from '(@kxmpp\/[a-z0-9-]+)'/g)) {
          const target = byName.get(m[1]);
          if (!target) continue;
          if (isTest && target.tags.includes('type:testing')) continue;
          imported.add(m[1]);
        }
      }
      for (const name of imported) {
        const target = byName.get(name);
        if (!target) continue;
        assert.ok(
          target.tags.some((t) => allowed.has(t)),
          `${p.name} must not depend on ${name} (${target.tags.join(',')})`,
        );
      }
    });
  }
});
