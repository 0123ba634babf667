/** The XEP modules this router answers IQs for: the one place they are wired (STYLE.md convention 1). */
import { registrationOpen, RouterConfig } from '@kxmpp/config';
import type { XepModule } from '@kxmpp/kernel';
import { NS } from '@kxmpp/xmpp-core';
import { discoModule } from '@kxmpp/disco';
import { pingModule } from '@kxmpp/ping';
import { timeModule } from '@kxmpp/time';
import { versionModule } from '@kxmpp/version';

export function routerModules(config: Pick<RouterConfig, 'SERVER_NAME' | 'SERVER_VERSION' | 'VERSION_SHOW_OS' | 'XMPP_REGISTRATION'>): XepModule[] {
  return [
    discoModule,
    pingModule,
    versionModule({ name: config.SERVER_NAME, version: config.SERVER_VERSION, showOs: config.VERSION_SHOW_OS }),
    timeModule,
    // XEP-0077 is served by the edge (before and after authentication); disco advertises it where open.
    { name: 'register', serverFeatures: [{ var: NS.REGISTER, when: (d) => registrationOpen(config.XMPP_REGISTRATION, d) }] },
  ];
}
