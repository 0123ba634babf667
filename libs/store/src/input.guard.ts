/**
 * Input checks every adapter makes before touching the database: an empty domain, username or key part
 * is a caller bug, rejected with a RangeError instead of becoming a malformed key or a match-all query.
 * Length limits are the callers' job (JID parts are at most 1023 bytes after preparation).
 */
export function requireNonEmpty(value: string, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new RangeError(`empty ${what}`);
  return value;
}

export function requireAccount(domain: string, username: string): void {
  requireNonEmpty(domain, 'domain');
  requireNonEmpty(username, 'username');
}

/** A string that may be empty (an XML namespace); anything else is a caller bug, never a query operator. */
export function requireString(value: string, what: string): string {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string`);
  return value;
}
