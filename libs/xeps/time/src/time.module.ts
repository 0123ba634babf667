/** XEP-0202 Entity Time of the server: UTC in XEP-0082 format with a Z suffix, tzo +00:00 (§3-4). */
import { NS, xml } from '@kxmpp/xmpp-core';
import type { XepModule } from '@kxmpp/kernel';

export function entityTime(now: Date = new Date()): { tzo: string; utc: string } {
  // XEP-0082 allows fractional seconds; drop them for the widest client compatibility.
  return { tzo: '+00:00', utc: now.toISOString().replace(/\.\d{3}Z$/, 'Z') };
}

export const timeModule: XepModule = {
  name: 'time',
  serverFeatures: [NS.TIME],
  iq: [
    {
      name: 'time',
      xmlns: NS.TIME,
      type: 'get',
      targets: ['server'],
      handler: async () => {
        const t = entityTime();
        return xml('time', { xmlns: NS.TIME }, xml('tzo', null, t.tzo), xml('utc', null, t.utc));
      },
    },
  ],
};
