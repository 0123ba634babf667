/**
 * The handler signature and the XEP module contract (STYLE.md conventions 1 and 2).
 *
 * A XEP is one exported object: what it adds to service discovery (XEP-0030) for the server and for
 * accounts, and its IQ handlers keyed by (payload element, namespace, type, target). The kernel never
 * imports a XEP; apps wire modules in `apps/<svc>/src/modules.ts`.
 */
import type { Element, Jid, StanzaError } from '@kxmpp/xmpp-core';

/** Who an IQ is addressed to: the served domain itself, or an account's bare JID (answered on its behalf). */
export type IqTarget = 'server' | 'account';
export type IqType = 'get' | 'set';

/** An Element is the result payload (or, named 'iq', the full reply); a StanzaError the error; void = unhandled. */
export type HandlerResult = Element | StanzaError | void;

export interface KernelLogger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface Identity {
  category: string;
  type: string;
  name?: string;
}

/** A disco feature, optionally only on some domains (e.g. jabber:iq:register where registration is open). */
export type FeatureDecl = string | { var: string; when: (domain: string) => boolean };

export interface DiscoView {
  features(target: IqTarget, domain: string): string[];
  identities(target: IqTarget, domain: string): Identity[];
}

export interface IqContext {
  /** The whole stanza as received (parsed once, off the routing hot path). */
  stanza: Element;
  /** Its single payload child. */
  payload: Element;
  type: IqType;
  from: Jid;
  to: Jid;
  target: IqTarget;
  /** The served domain the IQ is addressed to (to.domain). */
  domain: string;
  disco: DiscoView;
  /** Whether `to` names an existing account (always true for the server target). */
  accountExists(): Promise<boolean>;
  /** Live sessions of the account `to` names (none for the server target). */
  sessions(): Promise<SessionInfo[]>;
  /** Send a stanza to every bound session of a local account's bare JID (pushes: XEP-0191, roster). */
  push(bare: string, stanza: Element): void;
  log: KernelLogger;
}

/** The IQ is addressed to the sender's own account (its bare JID or a session of it): private data, blocklists. */
export function isOwnAccount(ctx: Pick<IqContext, 'target' | 'from' | 'to'>): boolean {
  return ctx.target === 'account' && ctx.from.local === ctx.to.local && ctx.from.domain === ctx.to.domain;
}

export interface SessionInfo {
  /** Full JID. */
  jid: string;
  available: boolean;
  priority: number;
}

export type IqHandler = (ctx: IqContext, next: () => Promise<HandlerResult>) => Promise<HandlerResult>;

export interface IqHandlerDecl {
  /** Payload element name, e.g. 'query' or 'ping'. */
  name: string;
  xmlns: string;
  type: IqType;
  /** Targets the handler answers for; both when omitted. */
  targets?: readonly IqTarget[];
  handler: IqHandler;
}

export interface XepModule {
  name: string;
  serverFeatures?: readonly FeatureDecl[];
  accountFeatures?: readonly FeatureDecl[];
  serverIdentities?: readonly Identity[];
  accountIdentities?: readonly Identity[];
  iq?: readonly IqHandlerDecl[];
}
