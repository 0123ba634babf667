/**
 * XEP-0077 In-Band Registration: register before authentication (§3.1), change password (§3.3) and
 * cancel (§3.2) after it. Credentials are stored as SCRAM keys only.
 */
import { Element, errorReply, Jid, NS, StanzaError, xml } from '@kxmpp/xmpp-core';
import { AccountsRepository, deriveAllCredentialsAsync } from '@kxmpp/store';
import type { Logger } from '@kxmpp/telemetry';

export interface RegisterContext {
  domain: string;
  /** The authenticated user, or null before authentication. */
  username: string | null;
  open: boolean;
  accounts: AccountsRepository;
  log: Logger;
}

const MAX_PASSWORD = 1024;

export async function handleRegisterIq(iq: Element, ctx: RegisterContext): Promise<Element> {
  const fail = (err: StanzaError) => {
    const reply = errorReply(iq, err, ctx.domain) ?? xml('iq', { type: 'error', id: iq.attrs.id });
    reply.attrs.xmlns = NS.CLIENT; // a WebSocket message declares its namespace itself (RFC 7395)
    return reply;
  };
  const ok = (...children: Element[]) => xml('iq', { xmlns: NS.CLIENT, type: 'result', id: iq.attrs.id, from: ctx.domain }, ...children);
  const query = iq.getChild('query', NS.REGISTER);
  if (!query || (iq.attrs.type !== 'get' && iq.attrs.type !== 'set')) return fail(new StanzaError('bad-request'));

  if (iq.attrs.type === 'get') {
    if (ctx.username) {
      return ok(xml('query', { xmlns: NS.REGISTER }, xml('registered'), xml('username', null, ctx.username)));
    }
    if (!ctx.open) return fail(new StanzaError('service-unavailable', 'registration is closed on this domain'));
    return ok(
      xml(
        'query',
        { xmlns: NS.REGISTER },
        xml('instructions', null, 'Choose a username and password to register with this server.'),
        xml('username'),
        xml('password'),
      ),
    );
  }

  if (query.getChild('remove')) {
    if (!ctx.username) return fail(new StanzaError('not-authorized', 'authenticate to cancel a registration'));
    await ctx.accounts.delete(ctx.domain, ctx.username);
    ctx.log.info({ domain: ctx.domain }, 'account cancelled (XEP-0077)');
    return ok();
  }

  const rawUser = query.getChildText('username');
  const password = query.getChildText('password');
  if (!rawUser || !password) return fail(new StanzaError('not-acceptable', 'username and password are required'));
  if (password.length > MAX_PASSWORD) return fail(new StanzaError('not-acceptable', 'password too long'));
  let username: string;
  try {
    username = Jid.create(rawUser, ctx.domain).local;
  } catch {
    return fail(new StanzaError('jid-malformed', 'username is not a valid localpart'));
  }

  if (ctx.username) {
    // Change of password: only for the authenticated account itself (§3.3).
    if (username !== ctx.username) return fail(new StanzaError('not-allowed', 'username does not match the account'));
    const scram = await deriveAllCredentialsAsync(password);
    const done = await ctx.accounts.setCredentials(ctx.domain, username, scram);
    if (!done) return fail(new StanzaError('item-not-found'));
    ctx.log.info({ domain: ctx.domain }, 'password changed (XEP-0077)');
    return ok();
  }

  if (!ctx.open) return fail(new StanzaError('service-unavailable', 'registration is closed on this domain'));
  const scram = await deriveAllCredentialsAsync(password);
  const created = await ctx.accounts.create({ domain: ctx.domain, username, scram, createdAt: new Date().toISOString() });
  if (!created) return fail(new StanzaError('conflict', 'username already taken'));
  ctx.log.info({ domain: ctx.domain }, 'account registered (XEP-0077)');
  return ok();
}
