"""Shared by the interop scripts: arguments, one JSON line per observation, and a hard time limit.

The Node test (e2e/src/interop-clients.e2e.spec.ts) runs these with Debian's python3 and asserts on what
they print; the scripts themselves decide nothing.
"""
import argparse
import asyncio
import json
import sys


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--domain', required=True)
    p.add_argument('--user1', required=True, help='localpart@port: logs in on that STARTTLS port')
    p.add_argument('--user2', required=True)
    p.add_argument('--password', required=True)
    p.add_argument('--peer', required=True, help='bare JID of a session that answers "ping-<n>" with "pong-<n>"')
    p.add_argument('--timeout', type=float, default=60)
    return p.parse_args()


def split_user(spec):
    user, port = spec.rsplit('@', 1)
    return user, int(port)


def emit(check, **values):
    print(json.dumps({'check': check, **values}, default=str), flush=True)


def run(main, args):
    async def bounded():
        try:
            await asyncio.wait_for(main(args), args.timeout)
        except BaseException as e:  # the test reads this line; a traceback alone says less
            emit('error', type=type(e).__name__, message=str(e))
            raise
    try:
        asyncio.run(bounded())
    except BaseException:
        sys.exit(1)
