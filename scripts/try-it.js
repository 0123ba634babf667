#!/usr/bin/env node
// Try the running platform with a real XMPP client library (@xmpp/client): registers alice and bob
// in-band (XEP-0077) if they do not exist yet, logs both in over STARTTLS, and sends a message.
// Usage, with `npm start` running in another terminal:  node scripts/try-it.js [port] [domain]
'use strict';
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'; // the embedded default's certificate is self-signed
const { client, xml } = require('@xmpp/client');

const port = Number(process.argv[2] || 5222);
const domain = process.argv[3] || 'localhost';

function login(user, password) {
  const c = client({
    service: `xmpp://127.0.0.1:${port}`,
    domain,
    resource: 'try-it',
    credentials: async (authenticate) => {
      const register = xml('iq', { type: 'set' }, xml('query', { xmlns: 'jabber:iq:register' }, xml('username', {}, user), xml('password', {}, password)));
      await c.iqCaller.request(register).then(
        () => console.log(`registered ${user}@${domain}`),
        () => undefined, // already registered (conflict) or registration closed
      );
      await authenticate({ username: user, password }, 'SCRAM-SHA-1');
    },
  });
  c.on('error', (e) => console.error(`${user}: ${e.message}`));
  return c.start().then(() => c);
}

(async () => {
  const alice = await login('alice', 'alice-password');
  const bob = await login('bob', 'bob-password');
  console.log(`online: ${alice.jid} and ${bob.jid}`);
  const received = new Promise((resolve) => bob.on('stanza', (s) => s.is('message') && resolve(s)));
  await alice.send(xml('message', { to: bob.jid.toString(), type: 'chat' }, xml('body', {}, 'Hello Bob, this crossed NATS!')));
  const msg = await received;
  console.log(`bob received from ${msg.attrs.from}: ${msg.getChildText('body')}`);
  await alice.stop();
  await bob.stop();
})().catch((e) => {
  console.error(`failed: ${e.message} (is the platform running? npm start)`);
  process.exit(1);
});
