/** @xmpp/client 0.14 ships no types; the e2e tests use it untyped (it is ESM, loaded through require()). */
declare module '@xmpp/client';
