/** Reduce a .cpuprofile to where the time goes: self time by function and by package/area. */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

function area(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native/builtin)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + 13).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const m = /\/(apps\/[^/]+|libs\/(?:xeps\/)?[^/]+)\//.exec(url);
  return m ? m[1]! : url;
}

export function summarizeProfile(file: string, top = 15): { total_ms: number; by_area: Record<string, number>; top_functions: { fn: string; where: string; pct: number }[] } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; startTime: number; endTime: number };
  let total = 0;
  const byArea = new Map<string, number>();
  const byFn = new Map<string, number>();
  for (const n of p.nodes) {
    const h = n.hitCount ?? 0;
    if (!h) continue;
    total += h;
    const { functionName, url, lineNumber } = n.callFrame;
    const a = area(url, functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + h);
    const k = `${functionName || '(anonymous)'}\t${url ? `${url.replace(/^.*\/(node_modules|apps|libs)\//, '$1/')}:${lineNumber + 1}` : ''}`;
    byFn.set(k, (byFn.get(k) ?? 0) + h);
  }
  const pct = (h: number) => Math.round((1000 * h) / Math.max(1, total)) / 10;
  const by_area: Record<string, number> = {};
  for (const [k, v] of [...byArea].sort((a, b) => b[1] - a[1]).slice(0, top)) by_area[k] = pct(v);
  return {
    total_ms: Math.round((p.endTime - p.startTime) / 1000),
    by_area,
    top_functions: [...byFn]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => {
        const [fn, where] = k.split('\t');
        return { fn: fn!, where: where!, pct: pct(v) };
      }),
  };
}
