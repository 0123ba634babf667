/**
 * Server side of SASL (RFC 4422) as XMPP uses it (RFC 6120 §6): the mechanism contract, the failure
 * conditions of RFC 6120 §6.5, and which mechanisms a stream offers.
 *
 * The stream layer decodes the base64 of <auth/> and <response/> and hands the bytes to step(); it
 * encodes the result as <challenge/>, <success/> or <failure/>. step() never throws.
 */
import type { AccountsRepository } from '@kxmpp/store';

/** RFC 6120 §6.5 defined conditions. */
export type SaslFailureCondition =
  | 'aborted'
  | 'account-disabled'
  | 'credentials-expired'
  | 'encryption-required'
  | 'incorrect-encoding'
  | 'invalid-authzid'
  | 'invalid-mechanism'
  | 'malformed-request'
  | 'mechanism-too-weak'
  | 'not-authorized'
  | 'temporary-auth-failure';

export type SaslResult =
  | { kind: 'challenge'; data: Buffer }
  | { kind: 'success'; username: string; data?: Buffer }
  | { kind: 'failure'; condition: SaslFailureCondition; text?: string };

export interface SaslMechanism {
  readonly name: string;
  /**
   * First call: the initial response of <auth/>, or null when <auth/> carried none (RFC 6120 §6.4.2:
   * no character data, as opposed to '=', an initial response that is present and empty); then each
   * <response/>.
   */
  step(data: Buffer | null): Promise<SaslResult>;
}

export interface SaslContext {
  /** The normalized domainpart the stream is for (the `to` of the stream header). */
  domain: string;
  accounts: AccountsRepository;
  /**
   * Keys the fake salts shown for unknown users. Defaults to a per-process random secret; set one
   * shared by all edges so that an unknown user gets the same salt from every replica and across
   * restarts (otherwise comparing two edges tells real users from unknown ones).
   */
  secret?: Buffer;
  /** Test hook: the server nonce part (printable ASCII without ','). Random by default. */
  nonce?: () => string;
}

export function failure(condition: SaslFailureCondition, text?: string): SaslResult {
  return text === undefined ? { kind: 'failure', condition } : { kind: 'failure', condition, text };
}

/** Strict UTF-8 decoding: invalid sequences are a malformed request, not U+FFFD. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function decodeUtf8(data: Buffer): string | null {
  try {
    return utf8.decode(data);
  } catch {
    return null;
  }
}

/** Upper bound on one SASL message; real ones are a few hundred bytes. */
export const MAX_SASL_MESSAGE_BYTES = 8192;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The character data of <auth/>, <response/> (RFC 6120 §6.4.2): '=' or nothing for no data, otherwise
 * padded base64 (RFC 4648 §4) and nothing else, or null, which earns <incorrect-encoding/> (§6.4.5).
 * Buffer.from(…, 'base64') alone would decode bad input leniently.
 */
export function decodeSaslData(text: string): Buffer | null {
  if (text === '' || text === '=') return Buffer.alloc(0);
  return BASE64.test(text) ? Buffer.from(text, 'base64') : null;
}
