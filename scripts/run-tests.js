#!/usr/bin/env node
// Runs every compiled test (dist/**/*.spec.js in each workspace package) with Node's built-in runner.
// Usage: node scripts/run-tests.js [substring-filter...]
'use strict';
const { readdirSync, statSync, existsSync } = require('node:fs');
const { join, relative } = require('node:path');
const { spawnSync } = require('node:child_process');

const root = join(__dirname, '..');
const pkgDirs = [];
for (const group of ['libs', 'libs/xeps', 'apps', 'e2e', 'bench']) {
  const dir = join(root, group);
  if (!existsSync(dir)) continue;
  if (existsSync(join(dir, 'package.json'))) { pkgDirs.push(dir); continue; }
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (existsSync(join(p, 'package.json'))) pkgDirs.push(p);
  }
}

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.spec.js')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
let files = [];
for (const d of pkgDirs) if (existsSync(join(d, 'dist'))) collect(join(d, 'dist'), files);
files = files.map((f) => relative(root, f)).sort();
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no compiled tests found: run the build first');
  process.exit(1);
}
const res = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=300000', ...files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(res.status ?? 1);
