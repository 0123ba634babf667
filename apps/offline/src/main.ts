/** The offline service as its own process: `NATS_URL=nats://... node apps/offline/dist/main.js`. */
import { loadConfigOrExit, serviceSchema } from '@kxmpp/config';
import { runServiceMain } from '@kxmpp/service-host';
import { startOfflineService } from './offline.app';

runServiceMain('offline', loadConfigOrExit(serviceSchema), startOfflineService);
