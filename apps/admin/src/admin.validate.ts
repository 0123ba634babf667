/** Validation of what the admin API receives: JIDs, domains and passwords, each refused with a clear reason. */
import { normalizeDomain, DomainError } from '@kxmpp/bus';
import { Jid } from '@kxmpp/xmpp-core';
import { invalid } from './admin.errors';

export const MAX_PASSWORD = 1024;

/** Any JID (bare or full), normalized; `what` names the field in the message. */
export function parseJid(input: string | undefined, what: string): Jid {
  const s = (input ?? '').trim();
  if (!s) throw invalid(`${what} is required`);
  try {
    return Jid.parse(s);
  } catch (e) {
    throw invalid(`${what} ${JSON.stringify(s)} is not a valid JID: ${(e as Error).message}`);
  }
}

/** A user's bare JID: localpart@domain, no resource. */
export function parseAccountJid(input: string | undefined, what = 'jid'): Jid {
  const j = parseJid(input, what);
  if (!j.local) throw invalid(`${what} ${JSON.stringify(input)} needs a localpart (user@domain)`);
  if (j.resource) throw invalid(`${what} ${JSON.stringify(input)} must be a bare JID (no /resource)`);
  return j;
}

export function parseDomain(input: string | undefined, what = 'domain'): string {
  try {
    return normalizeDomain(input ?? '');
  } catch (e) {
    if (e instanceof DomainError) throw invalid(`${what}: ${e.message}`);
    throw e;
  }
}

/**
 * 1 to 1024 characters, none a control character: SASL PLAIN separates its fields with NUL, and a
 * client could never type the others.
 */
export function checkPassword(password: string | undefined): string {
  const p = password ?? '';
  if (p.length === 0) throw invalid('password is required');
  if (p.length > MAX_PASSWORD) throw invalid(`password is longer than ${MAX_PASSWORD} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) throw invalid('password contains a control character');
  return p;
}
