/** @xmpp/component 0.13 ships no types; the XEP-0114 e2e spec uses it untyped. */
declare module '@xmpp/component';
