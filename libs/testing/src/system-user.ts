/**
 * Running a Debian-packaged peer server as its own system user (`ejabberd`, `prosody`) when the tests
 * or the bench run as root, as the package's service would.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface SystemUserIds {
  uid: number;
  gid: number;
}

/** uid and gid of a system user, or undefined when there is no such user. */
export function systemUserIds(name: string): SystemUserIds | undefined {
  const r = spawnSync('id', [name], { encoding: 'utf8' });
  const m = /uid=(\d+).*gid=(\d+)/.exec(r.stdout ?? '');
  return r.status === 0 && m ? { uid: Number(m[1]), gid: Number(m[2]) } : undefined;
}

/** chown a folder and everything below it. */
export function chownTree(path: string, ids: SystemUserIds): void {
  chownSync(path, ids.uid, ids.gid);
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isDirectory()) chownTree(p, ids);
    else chownSync(p, ids.uid, ids.gid);
  }
}
