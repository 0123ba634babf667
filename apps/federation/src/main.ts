/** The federation service as its own process: `NATS_URL=nats://... node apps/federation/dist/main.js`. */
import { federationSchema, loadConfigOrExit } from '@kxmpp/config';
import { runServiceMain } from '@kxmpp/service-host';
import { startFederationService } from './federation.app';

runServiceMain('federation', loadConfigOrExit(federationSchema), startFederationService);
