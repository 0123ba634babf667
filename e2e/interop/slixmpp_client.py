"""Drives the platform with slixmpp (Debian's python3-slixmpp), as its users' bots and clients do.

Two accounts on (possibly) two edges: STARTTLS, SASL, bind, XEP-0198, disco, ping, version, time, a chat
both ways between them and with a session of another library, subscription both ways, blocking, vCard,
carbons, and an IQ to an account that does not exist.
"""
import asyncio
import ssl

import slixmpp
from slixmpp.exceptions import IqError

from common import emit, parse_args, run, split_user

PLUGINS = ['xep_0030', 'xep_0054', 'xep_0092', 'xep_0191', 'xep_0198', 'xep_0199', 'xep_0202', 'xep_0280']


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        # The platform's development certificate is self-signed.
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        for p in PLUGINS:
            self.register_plugin(p)
        self.messages = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.mechanism = None
        self.add_event_handler('message', lambda m: m['type'] in ('chat', 'normal') and m['body'] and self.messages.put_nowait(m))
        self.add_event_handler('presence_available', lambda p: self.presences.put_nowait(p))
        self.add_event_handler('auth_success', self._auth_success)

    def _auth_success(self, _):
        self.mechanism = self['feature_mechanisms'].mech.name if self['feature_mechanisms'].mech else None

    async def start_session(self, host, port):
        started = asyncio.get_event_loop().create_future()
        self.add_event_handler('session_start', lambda _: started.done() or started.set_result(True))
        self.add_event_handler('failed_auth', lambda _: started.done() or started.set_exception(RuntimeError('authentication failed')))
        self.connect((host, port))
        await asyncio.wait_for(started, 15)
        await self.get_roster()
        self.send_presence()


async def next_message(c, pred, timeout=10):
    while True:
        m = await asyncio.wait_for(c.messages.get(), timeout)
        if pred(m):
            return m


async def main(args):
    (u1, port1), (u2, port2) = split_user(args.user1), split_user(args.user2)
    a = Client(f'{u1}@{args.domain}/slix-a', args.password)
    b = Client(f'{u2}@{args.domain}/slix-b', args.password)
    await a.start_session(args.host, port1)
    await b.start_session(args.host, port2)
    emit('bound', a=str(a.boundjid), b=str(b.boundjid), mechanism=a.mechanism,
         sm=bool(a['xep_0198'].enabled_in and a['xep_0198'].enabled_out))

    info = await a['xep_0030'].get_info(jid=args.domain)
    emit('disco-info', features=sorted(info['disco_info']['features']),
         identities=[list(i[:2]) for i in info['disco_info']['identities']])
    emit('ping', ok=(await a['xep_0199'].ping(args.domain, timeout=5)) is not None)
    v = await a['xep_0092'].get_version(args.domain)
    emit('version', name=v['software_version']['name'])
    # slixmpp 1.8's XEP-0202 parser appends a second 'Z' to <utc>: read the element itself.
    t = await a['xep_0202'].get_entity_time(args.domain)
    emit('time', utc=t.xml.find('{urn:xmpp:time}time/{urn:xmpp:time}utc').text,
         tzo=t.xml.find('{urn:xmpp:time}time/{urn:xmpp:time}tzo').text)

    # Chat with the other library's session, then between our two accounts (on two edges).
    a.send_message(mto=args.peer, mbody='ping-slixmpp', mtype='chat')
    m = await next_message(a, lambda m: m['body'] == 'pong-slixmpp')
    emit('peer-reply', body=m['body'], frm=str(m['from']))
    for i in range(20):
        a.send_message(mto=b.boundjid, mbody=f'a-to-b-{i}', mtype='chat')
    got = [str((await next_message(b, lambda m: m['body'].startswith('a-to-b-')))['body']) for _ in range(20)]
    emit('a-to-b', bodies=got)
    b.send_message(mto=a.boundjid.bare, mbody='b-to-a', mtype='chat')
    m = await next_message(a, lambda m: m['body'] == 'b-to-a')
    emit('b-to-a', frm=str(m['from']))

    # RFC 6121 §3: a subscribes to b, b approves and subscribes back, a approves.
    a.send_presence(pto=b.boundjid.bare, ptype='subscribe')
    await asyncio.sleep(0.5)
    b.send_presence(pto=a.boundjid.bare, ptype='subscribed')
    b.send_presence(pto=a.boundjid.bare, ptype='subscribe')
    await asyncio.sleep(0.5)
    a.send_presence(pto=b.boundjid.bare, ptype='subscribed')
    for _ in range(40):
        await asyncio.sleep(0.1)
        if a.client_roster[b.boundjid.bare]['subscription'] == 'both' and b.client_roster[a.boundjid.bare]['subscription'] == 'both' \
                and a.client_roster.presence(b.boundjid.bare):
            break
    emit('subscription', a=a.client_roster[b.boundjid.bare]['subscription'], b=b.client_roster[a.boundjid.bare]['subscription'],
         a_sees=sorted(a.client_roster.presence(b.boundjid.bare).keys()))

    await a['xep_0191'].block([f'spammer@{args.domain}'])
    bl = await a['xep_0191'].get_blocked()
    emit('blocklist', items=sorted(str(j) for j in bl['blocklist']['items']))

    card = a['xep_0054'].make_vcard()
    card['FN'] = 'Slixmpp Tester'
    await a['xep_0054'].publish_vcard(card)
    got = await b['xep_0054'].get_vcard(a.boundjid.bare)
    emit('vcard', fn=got['vcard_temp']['FN'])

    await a['xep_0280'].enable()
    emit('carbons', enabled=True)

    try:
        await a['xep_0092'].get_version(f'nobody-here@{args.domain}')
        emit('unknown-account', condition=None)
    except IqError as e:
        emit('unknown-account', condition=e.iq['error']['condition'], type=e.iq['error']['type'])

    await asyncio.gather(a.disconnect(), b.disconnect())
    emit('done')


if __name__ == '__main__':
    run(main, parse_args())
