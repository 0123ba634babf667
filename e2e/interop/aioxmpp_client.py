"""Drives the platform with aioxmpp (Debian's python3-aioxmpp), a strict library: it checks stream
features, waits for the XEP-0198 acknowledgement of each stanza it sends, and validates what it receives.

Two accounts on (possibly) two edges: STARTTLS, SCRAM, bind, XEP-0198, disco, ping, version, a chat both
ways between them and with a session of another library, subscription both ways with presence, blocking,
vCard, carbons, private XML storage, and an IQ to an account that does not exist.
"""
import asyncio

import aioxmpp
import aioxmpp.blocking
import aioxmpp.carbons
import aioxmpp.disco
import aioxmpp.dispatcher
import aioxmpp.ping
import aioxmpp.private_xml
import aioxmpp.roster
import aioxmpp.vcard
import aioxmpp.version
import aioxmpp.xso
import lxml.etree

from common import emit, parse_args, run, split_user


class Note(aioxmpp.xso.XSO):
    TAG = ('urn:kxmpp:interop', 'note')
    text = aioxmpp.xso.Text(default='')


aioxmpp.private_xml.Query.as_payload_class(Note)


class Account:
    def __init__(self, jid, password, host, port):
        self.client = aioxmpp.PresenceManagedClient(
            aioxmpp.JID.fromstr(jid),
            # The platform's development certificate is self-signed.
            aioxmpp.make_security_layer(password, no_verify=True),
            override_peer=[(host, port, aioxmpp.connector.STARTTLSConnector())],
        )
        self.messages = asyncio.Queue()
        self.roster = self.client.summon(aioxmpp.RosterClient)
        self.presence = self.client.summon(aioxmpp.PresenceClient)
        # Summoned before connecting, so that it fetches the blocklist when the stream is established.
        self.blocking = self.client.summon(aioxmpp.BlockingClient)
        self.client.summon(aioxmpp.dispatcher.SimpleMessageDispatcher).register_callback(
            aioxmpp.MessageType.CHAT, None, lambda m: self.messages.put_nowait(m))
        # Approve every subscription request (the test's two accounts subscribe to each other).
        self.roster.on_subscribe.connect(lambda stanza: self.roster.approve(stanza.from_.bare()))

    async def next_message(self, pred, timeout=10):
        while True:
            m = await asyncio.wait_for(self.messages.get(), timeout)
            if pred(m):
                return m


def body(m):
    return next(iter(m.body.values()), None)


async def main(args):
    (u1, port1), (u2, port2) = split_user(args.user1), split_user(args.user2)
    a = Account(f'{u1}@{args.domain}/aio-a', args.password, args.host, port1)
    b = Account(f'{u2}@{args.domain}/aio-b', args.password, args.host, port2)
    domain = aioxmpp.JID.fromstr(args.domain)
    async with a.client.connected() as stream_a, b.client.connected():
        emit('bound', a=str(a.client.local_jid), b=str(b.client.local_jid), sm=stream_a.sm_enabled)

        disco = a.client.summon(aioxmpp.DiscoClient)
        info = await disco.query_info(domain)
        emit('disco-info', features=sorted(info.features), identities=[[i.category, i.type_] for i in info.identities])
        account = await disco.query_info(b.client.local_jid.bare())
        emit('disco-account', identities=[[i.category, i.type_] for i in account.identities])
        await aioxmpp.ping.ping(a.client, domain)
        emit('ping', ok=True)
        v = await aioxmpp.version.query_version(a.client.stream, domain)
        emit('version', name=v.name)

        peer = aioxmpp.JID.fromstr(args.peer)
        msg = aioxmpp.Message(to=peer, type_=aioxmpp.MessageType.CHAT)
        msg.body[None] = 'ping-aioxmpp'
        await a.client.send(msg)
        m = await a.next_message(lambda m: body(m) == 'pong-aioxmpp')
        emit('peer-reply', body=body(m), frm=str(m.from_))

        for i in range(20):
            msg = aioxmpp.Message(to=b.client.local_jid, type_=aioxmpp.MessageType.CHAT)
            msg.body[None] = f'a-to-b-{i}'
            await a.client.send(msg)
        got = [body(await b.next_message(lambda m: (body(m) or '').startswith('a-to-b-'))) for _ in range(20)]
        emit('a-to-b', bodies=got)
        msg = aioxmpp.Message(to=a.client.local_jid.bare(), type_=aioxmpp.MessageType.CHAT)
        msg.body[None] = 'b-to-a'
        await b.client.send(msg)
        m = await a.next_message(lambda m: body(m) == 'b-to-a')
        emit('b-to-a', frm=str(m.from_))

        # RFC 6121 §3: each subscribes to the other; each approves (on_subscribe above).
        a.roster.subscribe(b.client.local_jid.bare())
        b.roster.subscribe(a.client.local_jid.bare())
        bj, aj = b.client.local_jid.bare(), a.client.local_jid.bare()
        for _ in range(50):
            await asyncio.sleep(0.1)
            ia, ib = a.roster.items.get(bj), b.roster.items.get(aj)
            if ia and ib and ia.subscription == 'both' and ib.subscription == 'both' and a.presence.get_most_available_stanza(bj):
                break
        ia, ib = a.roster.items.get(bj), b.roster.items.get(aj)
        seen = a.presence.get_most_available_stanza(bj)
        emit('subscription', a=ia and ia.subscription, b=ib and ib.subscription, a_sees=str(seen.from_) if seen else None)

        blocking = a.blocking
        await blocking.block_jids([aioxmpp.JID.fromstr(f'spammer@{args.domain}')])
        for _ in range(20):
            if blocking.blocklist:
                break
            await asyncio.sleep(0.1)
        emit('blocklist', items=sorted(str(j) for j in (blocking.blocklist or ())))

        vcards = a.client.summon(aioxmpp.vcard.VCardService)
        card = aioxmpp.vcard.xso.VCard()
        fn = lxml.etree.SubElement(card.elements, '{vcard-temp}FN')
        fn.text = 'Aioxmpp Tester'
        await vcards.set_vcard(card)
        got = await b.client.summon(aioxmpp.vcard.VCardService).get_vcard(aj)
        fn = got.elements.find('{vcard-temp}FN')
        emit('vcard', fn=fn.text if fn is not None else None)

        await a.client.summon(aioxmpp.CarbonsClient).enable()
        emit('carbons', enabled=True)

        private = a.client.summon(aioxmpp.private_xml.PrivateXMLService)
        note = Note()
        note.text = 'kept'
        await private.set_private_xml(note)
        back = await private.get_private_xml(Note())
        emit('private', text=back.registered_payload.text)

        try:
            await a.client.send(aioxmpp.IQ(to=aioxmpp.JID.fromstr(f'nobody-here@{args.domain}'), type_=aioxmpp.IQType.GET,
                                           payload=aioxmpp.version.xso.Query()))
            emit('unknown-account', condition=None)
        except aioxmpp.errors.XMPPError as e:
            emit('unknown-account', condition=e.condition.value[1], type=type(e).__name__)
    emit('done')


if __name__ == '__main__':
    run(main, parse_args())
