import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Jid, NS, parseXml } from '@kxmpp/xmpp-core';
import { Kernel } from '@kxmpp/kernel';
import { entityTime, timeModule } from './time.module';

describe('XEP-0202 time', () => {
  const rows: Array<[string, string]> = [
    ['2024-02-29T23:59:59.999Z', '2024-02-29T23:59:59Z'],
    ['1970-01-01T00:00:00.000Z', '1970-01-01T00:00:00Z'],
  ];
  for (const [iso, utc] of rows) it(`formats ${iso}`, () => assert.deepEqual(entityTime(new Date(iso)), { tzo: '+00:00', utc }));
  it('answers with tzo and utc', async () => {
    const r = await new Kernel([timeModule]).handleIq({
      stanza: parseXml(`<iq type="get" id="t1"><time xmlns="${NS.TIME}"/></iq>`),
      from: Jid.parse('romeo@example.com/orchard'),
      to: Jid.parse('example.com'),
      target: 'server',
    });
    const t = r?.getChild('time', NS.TIME);
    assert.equal(t?.getChildText('tzo'), '+00:00');
    assert.match(t?.getChildText('utc') ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });
});
