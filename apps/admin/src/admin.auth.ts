/**
 * Bearer-token authentication of every admin call, reflection included: metadata
 * `authorization: Bearer <ADMIN_TOKEN>` (RFC 6750 §2.1 syntax), else UNAUTHENTICATED before any handler
 * runs. Both tokens are hashed first so the comparison takes the same time whatever the length or the
 * first differing byte.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '@kxmpp/telemetry';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** The token of an `authorization` value, or null when it is not a Bearer credential. */
export function bearerToken(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const m = /^Bearer +(\S+) *$/i.exec(value);
  return m ? m[1] : null;
}

export function tokenMatches(expectedDigest: Buffer, presented: string | null): boolean {
  // Hash even a missing token, so a request without one costs what a wrong one costs.
  const ok = timingSafeEqual(sha256(presented ?? ''), expectedDigest);
  return ok && presented !== null;
}

export function bearerAuthInterceptor(token: string, log: Logger): grpc.ServerInterceptor {
  const expected = sha256(token);
  return (method, call) => {
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const presented = bearerToken(metadata.get('authorization')[0]);
        if (tokenMatches(expected, presented)) return next(metadata);
        log.warn({ method: method.path, peer: call.getPeer(), reason: presented === null ? 'missing' : 'wrong' }, 'admin request refused');
        call.sendStatus({
          code: grpc.status.UNAUTHENTICATED,
          details: presented === null ? 'missing token: send metadata "authorization: Bearer <ADMIN_TOKEN>"' : 'invalid token',
          metadata: new grpc.Metadata(),
        });
      })
      .build();
    const responder = new grpc.ResponderBuilder().withStart((next) => next(listener)).build();
    return new grpc.ServerInterceptingCall(call, responder);
  };
}
