/** XEP-0220 server dialback: the stanza namespace (prefix db) and the stream feature. */
export const NS_DIALBACK = 'jabber:server:dialback';
export const NS_DIALBACK_FEATURE = 'urn:xmpp:features:dialback';
