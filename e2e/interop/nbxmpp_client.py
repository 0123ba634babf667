"""Drives the platform with nbxmpp (Debian's python3-nbxmpp), the protocol library of Gajim, on its
GLib main loop: the first account over TCP with STARTTLS, the second over WebSocket (RFC 7395), as Gajim
would connect. Login (SASL, bind, XEP-0198), roster, presence, disco, ping, version, time, a chat both
ways between them and with a session of another library, blocking, and a clean disconnect.
"""
import argparse
import json
import sys

import gi  # noqa: F401  (python3-gi, a dependency of python3-nbxmpp)
from gi.repository import GLib

import nbxmpp
from nbxmpp.client import Client
from nbxmpp.const import ConnectionProtocol, ConnectionType
from nbxmpp.structs import StanzaHandler


def emit(check, **values):
    print(json.dumps({'check': check, **values}, default=str), flush=True)


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--domain', required=True)
    p.add_argument('--user1', required=True, help='localpart@port: STARTTLS on that port')
    p.add_argument('--user2', required=True, help='localpart@url: WebSocket at that URL')
    p.add_argument('--password', required=True)
    p.add_argument('--peer', required=True)
    p.add_argument('--timeout', type=float, default=60)
    return p.parse_args()


class Account:
    def __init__(self, args, user, host, protocol, type_):
        self.client = Client()
        self.client.set_domain(args.domain)
        self.client.set_username(user)
        self.client.set_resource('gajim')
        self.client.set_password(args.password)
        self.client.set_custom_host(host, protocol, type_)
        # The platform's development certificate is self-signed.
        self.client.set_ignore_tls_errors(True)
        self.messages = []
        self.waiter = None
        self.client.register_handler(StanzaHandler(name='message', callback=self._on_message))

    def _on_message(self, _client, stanza, _properties):
        body = stanza.getBody()
        if body:
            self.messages.append((str(stanza.getFrom()), body))
            if self.waiter:
                self.waiter()


class Scenario:
    """Runs `steps` one after another on the GLib loop; each step yields a task or a wait."""

    def __init__(self, args):
        self.loop = GLib.MainLoop()
        self.args = args
        self.failed = False
        GLib.timeout_add(int(args.timeout * 1000), self._timeout)

    def _timeout(self):
        emit('error', type='Timeout', message='the scenario did not finish in time')
        self.failed = True
        self.loop.quit()
        return False

    def run(self, gen):
        self.gen = gen
        GLib.idle_add(self._step, None, None)
        self.loop.run()
        return not self.failed

    def _step(self, value, exc):
        try:
            waited = self.gen.throw(exc) if exc is not None else self.gen.send(value)
        except StopIteration:
            self.loop.quit()
            return False
        except Exception as e:  # the test reads this line
            emit('error', type=type(e).__name__, message=str(e))
            self.failed = True
            self.loop.quit()
            return False
        waited(lambda v=None, e=None: GLib.idle_add(self._step, v, e))
        return False


def task(t):
    """Wait for an nbxmpp task; the step receives its result (or its error is thrown into it)."""
    def start(resume):
        def done(t):
            try:
                resume(t.finish())
            except Exception as e:
                resume(None, e)
        t.add_done_callback(done, weak=False)  # nbxmpp keeps weak references by default
    return start


def signal(account, name):
    def start(resume):
        account.client.subscribe(name, lambda *_: resume(name))
        account.client.subscribe('connection-failed', lambda *_: resume(None, RuntimeError(str(account.client.get_error()))))
    return start


def message(account, pred, timeout_s=10):
    def start(resume):
        def check():
            for i, (frm, body) in enumerate(account.messages):
                if pred(body):
                    del account.messages[i]
                    account.waiter = None
                    resume((frm, body))
                    return True
            return False
        if check():
            return
        account.waiter = check
        GLib.timeout_add(int(timeout_s * 1000), lambda: account.waiter is check and resume(None, TimeoutError('no matching message')))
    return start


def sleep(seconds):
    return lambda resume: GLib.timeout_add(int(seconds * 1000), lambda: resume(True) and False)


def steps(args):
    u1, port1 = args.user1.rsplit('@', 1)
    u2, url2 = args.user2.split('@', 1)
    a = Account(args, u1, f'{args.host}:{port1}', ConnectionProtocol.TCP, ConnectionType.START_TLS)
    b = Account(args, u2, url2, ConnectionProtocol.WEBSOCKET, ConnectionType.PLAIN if url2.startswith('ws:') else ConnectionType.DIRECT_TLS)
    for acc in (a, b):
        acc.client.connect()
        yield signal(acc, 'connected')
    emit('bound', a=str(a.client.get_bound_jid()), b=str(b.client.get_bound_jid()), sm=a.client.sm_supported, b_sm=b.client.sm_supported)

    for acc in (a, b):
        yield task(acc.client.get_module('Roster').request_roster())
        acc.client.send_stanza(nbxmpp.Presence())
    domain = nbxmpp.JID.from_string(args.domain)
    info = yield task(a.client.get_module('Discovery').disco_info(domain))
    emit('disco-info', features=sorted(info.features), identities=[[i.category, i.type] for i in info.identities])
    yield task(a.client.get_module('Ping').ping(domain))
    emit('ping', ok=True)
    v = yield task(a.client.get_module('SoftwareVersion').request_software_version(domain))
    emit('version', name=v.name)
    t = yield task(a.client.get_module('EntityTime').request_entity_time(domain))
    emit('time', value=t)

    a.client.send_stanza(nbxmpp.Message(to=args.peer, typ='chat', body='ping-nbxmpp'))
    frm, body = yield message(a, lambda b: b == 'pong-nbxmpp')
    emit('peer-reply', body=body, frm=frm)
    for i in range(20):
        a.client.send_stanza(nbxmpp.Message(to=f'{u2}@{args.domain}', typ='chat', body=f'a-to-b-{i}'))
    got = []
    for _ in range(20):
        frm, body = yield message(b, lambda b: b.startswith('a-to-b-'))
        got.append(body)
    emit('a-to-b', bodies=got, frm=frm)
    b.client.send_stanza(nbxmpp.Message(to=str(a.client.get_bound_jid()), typ='chat', body='b-to-a'))
    frm, _ = yield message(a, lambda b: b == 'b-to-a')
    emit('b-to-a', frm=frm)

    yield task(a.client.get_module('Blocking').block([nbxmpp.JID.from_string(f'spammer@{args.domain}')]))
    blocked = yield task(a.client.get_module('Blocking').request_blocking_list())
    emit('blocklist', items=sorted(str(j) for j in blocked))

    for acc in (a, b):
        acc.client.disconnect()
        yield signal(acc, 'disconnected')
    emit('done')


if __name__ == '__main__':
    args = parse_args()
    sys.exit(0 if Scenario(args).run(steps(args)) else 1)
