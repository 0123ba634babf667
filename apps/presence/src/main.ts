/** The presence service as its own process: `NATS_URL=nats://... node apps/presence/dist/main.js`. */
import { loadConfigOrExit, serviceSchema } from '@kxmpp/config';
import { runServiceMain } from '@kxmpp/service-host';
import { startPresenceService } from './presence.app';

runServiceMain('presence', loadConfigOrExit(serviceSchema), startPresenceService);
