/** The roster service as its own process: `NATS_URL=nats://... node apps/roster/dist/main.js`. */
import { loadConfigOrExit, serviceSchema } from '@kxmpp/config';
import { runServiceMain } from '@kxmpp/service-host';
import { startRosterService } from './roster.app';

runServiceMain('roster', loadConfigOrExit(serviceSchema), startRosterService);
