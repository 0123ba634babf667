import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AckPolicy, headers, Msg, NatsConnection, StorageType } from 'nats';
import { startNatsServer, NatsServerHandle } from '@kxmpp/testing';
import { connectBus } from './connection';
import { publishItems } from './batch';
import { decodeEnvelope, deliveriesOf, deliveryHeaders, encodeEnvelope, Envelope, envelopeFromFields, envelopeOf, H, itemsOf } from './envelope';
import { parseHeaderBlock, WireHeaders, wireHeaderFields } from './wire-headers';

const env: Envelope = {
  from: 'juliet@example.com/balcony café',
  to: 'romeo@example.net',
  kind: 'message',
  type: 'chat',
  ns: '',
  edge: 'edge-1',
  sid: 's42',
  ts: 1_700_000_000_123,
};
const body = new TextEncoder().encode('<message/>');

describe('WireHeaders and the raw header readers (real nats-server)', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  before(async () => {
    nats = await startNatsServer();
    nc = await connectBus(nats.url, 'wire-headers-test');
  });
  after(async () => {
    await nc.close();
    await nats.stop();
  });

  function receive(subject: string, publish: () => void): Promise<Msg> {
    return new Promise((resolve) => {
      const sub = nc.subscribe(subject, { max: 1, callback: (_e, m) => resolve(m) });
      void nc.flush().then(() => {
        publish();
        return sub;
      });
    });
  }

  it('an envelope crosses the server and reads back the same through the fast path and through nats.js', async () => {
    const m = await receive('wh.env', () => nc.publish('wh.env', body, { headers: encodeEnvelope(env, 'flush') }));
    assert.notEqual(wireHeaderFields(m), undefined, "nats.js's message internals moved: the fast path is off");
    assert.deepEqual(envelopeOf(m), env);
    assert.deepEqual(decodeEnvelope(m.headers), env);
    assert.equal(m.headers?.get(H.OP), 'flush');
    assert.equal(new TextDecoder().decode(m.data), '<message/>', 'the payload is untouched');
  });

  it('JIDs with a resource that begins or ends with a space, and values that begin with a quote, read back exact', async () => {
    // RFC 7622 §3.4: ' phone ' is a valid resourcepart; header values are trimmed on the wire.
    const odd: Envelope = { ...env, from: 'a@example.com/ phone ', to: 'b@example.com/tab ', type: '"chat"', ns: '"' };
    const m = await receive('wh.odd', () => nc.publish('wh.odd', body, { headers: encodeEnvelope(odd) }));
    assert.deepEqual(envelopeOf(m), odd);
    assert.deepEqual(decodeEnvelope(m.headers), odd, 'the same through nats.js MsgHdrs');
    const plain = await receive('wh.plain', () => nc.publish('wh.plain', body, { headers: encodeEnvelope(env) }));
    assert.equal(plain.headers?.get(H.FROM), env.from, 'an ordinary JID goes unquoted');
    // And as items of a batch.
    const batch = await receive('wh.oddbatch', () =>
      publishItems(nc, 'wh.oddbatch', [
        { headers: encodeEnvelope(odd), data: '<message/>' },
        { headers: encodeEnvelope(env), data: '<message/>' },
      ]),
    );
    assert.deepEqual(
      itemsOf(batch).map((it) => envelopeFromFields(it.fields)),
      [odd, env],
    );
  });

  it('empty type and ns are left out and read back empty', async () => {
    const e = { ...env, type: '', ns: '' };
    const m = await receive('wh.empty', () => nc.publish('wh.empty', body, { headers: encodeEnvelope(e) }));
    assert.equal(wireHeaderFields(m)?.has(H.TYPE), false);
    assert.deepEqual(envelopeOf(m), e);
  });

  it('a delivery reads its targets and kind; a message without headers has no envelope', async () => {
    const m = await receive('wh.del', () => nc.publish('wh.del', body, { headers: deliveryHeaders(['a', 'b'], 'presence') }));
    assert.deepEqual(
      deliveriesOf(m).map((d) => ({ ...d, data: new TextDecoder().decode(d.data) })),
      [{ targets: ['a', 'b'], kind: 'presence', data: '<message/>' }],
    );
    const bare = await receive('wh.bare', () => nc.publish('wh.bare', body));
    assert.equal(wireHeaderFields(bare), null);
    assert.equal(envelopeOf(bare), null);
    assert.deepEqual(
      deliveriesOf(bare).map((d) => ({ ...d, data: new TextDecoder().decode(d.data) })),
      [{ targets: [], kind: 'other', data: '<message/>' }],
    );
  });

  it('headers written by nats.js (another client) read the same', async () => {
    const h = headers();
    h.set(H.FROM, env.from);
    h.set(H.TO, env.to);
    h.set(H.KIND, env.kind);
    h.set(H.TYPE, env.type);
    h.set(H.EDGE, env.edge);
    h.set(H.SID, env.sid);
    h.set(H.TS, String(env.ts));
    const m = await receive('wh.other', () => nc.publish('wh.other', body, { headers: h }));
    assert.deepEqual(envelopeOf(m), env);
  });

  it('JetStream: a publish option that sets a header (msgID) still works, and a consumer reads the envelope', async () => {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'WH', subjects: ['wh.js'], storage: StorageType.Memory, duplicate_window: 60_000_000_000 });
    await jsm.consumers.add('WH', { durable_name: 'c', ack_policy: AckPolicy.Explicit });
    const js = nc.jetstream();
    await js.publish('wh.js', body, { headers: encodeEnvelope(env), msgID: 'one' });
    const dup = await js.publish('wh.js', body, { headers: encodeEnvelope(env), msgID: 'one' });
    assert.equal(dup.duplicate, true, 'the Nats-Msg-Id header reached the server');
    const consumer = await js.consumers.get('WH', 'c');
    const jm = await consumer.next({ expires: 5000 });
    assert.ok(jm);
    assert.notEqual(wireHeaderFields(jm), undefined);
    assert.deepEqual(envelopeOf(jm), env);
    assert.equal(jm.headers?.get('Nats-Msg-Id'), 'one');
    jm.ack();
  });

  it('refuses CR or LF in a value (no header injection) and trims blanks as nats.js does', () => {
    const h = new WireHeaders();
    assert.throws(() => h.add(H.TYPE, 'chat\r\nx-from: admin@example.com'), /CR and LF/);
    assert.throws(() => encodeEnvelope({ ...env, type: 'a\nb' }), /CR and LF/);
    h.add(H.KIND, '  iq ');
    assert.equal(new TextDecoder().decode(h.encode()), 'NATS/1.0\r\nx-kind: iq\r\n\r\n');
    assert.equal(h.get(H.KIND), 'iq');
    h.set(H.KIND, 'message');
    assert.equal(new TextDecoder().decode(h.encode()), 'NATS/1.0\r\nx-kind: message\r\n\r\n');
  });

  it('parseHeaderBlock: skips the status line, keeps the first value of a key, ignores lines without a colon', () => {
    const f = parseHeaderBlock('NATS/1.0 503 No Responders\r\nx-a: 1\r\nx-a: 2\r\nbogus\r\nx-b:  spaced  \r\n\r\n');
    assert.deepEqual([...f], [
      ['x-a', '1'],
      ['x-b', 'spaced'],
    ]);
  });
});
