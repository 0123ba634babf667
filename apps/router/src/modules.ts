/** The XEP modules this router answers IQs for: the one place they are wired (STYLE.md convention 1). */
import type { NatsConnection } from 'nats';
import { registrationOpen, RouterConfig } from '@kxmpp/config';
import type { XepModule } from '@kxmpp/kernel';
import type { Storage } from '@kxmpp/store';
import { NS } from '@kxmpp/xmpp-core';
import { blockingModule } from '@kxmpp/blocking';
import { disco } from '@kxmpp/disco';
import { lastModule } from '@kxmpp/last';
import { pingModule } from '@kxmpp/ping';
import { privateModule } from '@kxmpp/private';
import { timeModule } from '@kxmpp/time';
import { vcardModule } from '@kxmpp/vcard';
import { versionModule } from '@kxmpp/version';

export interface ModuleDeps {
  storage: Storage;
  nc: NatsConnection;
  startedAt?: Date;
}

export function routerModules(
  config: Pick<RouterConfig, 'SERVER_NAME' | 'SERVER_VERSION' | 'VERSION_SHOW_OS' | 'XMPP_REGISTRATION' | 'SERVICE_PARTITIONS'> & Partial<Pick<RouterConfig, 'COMPONENTS'>>,
  deps: ModuleDeps,
): XepModule[] {
  const components = (config.COMPONENTS ?? []).map((c) => c.domain);
  return [
    // XEP-0030: a domain's items are the XEP-0114 components under it (gw.example.com for example.com).
    disco({ serverItems: (domain) => components.filter((c) => c.endsWith(`.${domain}`)) }),
    pingModule,
    versionModule({ name: config.SERVER_NAME, version: config.SERVER_VERSION, showOs: config.VERSION_SHOW_OS }),
    timeModule,
    vcardModule(deps.storage.vcard),
    privateModule(deps.storage.privateXml),
    lastModule({ repo: deps.storage.lastActivity, roster: deps.storage.roster, startedAt: deps.startedAt ?? new Date() }),
    // Its presence side effects (XEP-0191 §3.3-3.4) go to the presence service's queue.
    blockingModule({ repo: deps.storage.blocklist, nc: deps.nc, servicePartitions: config.SERVICE_PARTITIONS }),
    // XEP-0077 is served by the edge (before and after authentication); disco advertises it where open.
    { name: 'register', serverFeatures: [{ var: NS.REGISTER, when: (d) => registrationOpen(config.XMPP_REGISTRATION, d) }] },
    // XEP-0280: enabled at the edge (kept in the session's registry entry), copies made by the router.
    { name: 'carbons', serverFeatures: [NS.CARBONS] },
    // RFC 6121 §2 (roster service) and §3 (presence service): what an account offers.
    { name: 'im', accountFeatures: ['jabber:iq:roster'] },
  ];
}
