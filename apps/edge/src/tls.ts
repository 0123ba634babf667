/** TLS material lives in @kxmpp/xmpp-stream (the federation service needs it too). */
export { loadTls } from '@kxmpp/xmpp-stream';
export type { TlsMaterial, Pems } from '@kxmpp/xmpp-stream';
