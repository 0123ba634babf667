/** @xmpp/client 0.14 ships no types; the harness self-test uses it untyped (it is ESM, loaded through require()). */
declare module '@xmpp/client';
