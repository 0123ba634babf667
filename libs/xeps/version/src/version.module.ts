/** XEP-0092 Software Version of the server (§2); the OS only when the operator opts in (§2, security: fingerprinting). */
import { type as osType, release } from 'node:os';
import { NS, xml } from '@kxmpp/xmpp-core';
import type { XepModule } from '@kxmpp/kernel';

export interface VersionOptions {
  name: string;
  version: string;
  showOs: boolean;
}

export function versionModule(opts: VersionOptions): XepModule {
  const os = opts.showOs ? `${osType()} ${release()}` : undefined;
  return {
    name: 'version',
    serverFeatures: [NS.VERSION],
    iq: [
      {
        name: 'query',
        xmlns: NS.VERSION,
        type: 'get',
        targets: ['server'],
        handler: async () => xml('query', { xmlns: NS.VERSION }, xml('name', null, opts.name), xml('version', null, opts.version), os ? xml('os', null, os) : null),
      },
    ],
  };
}
