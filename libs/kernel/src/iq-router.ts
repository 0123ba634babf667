/**
 * IQ dispatch (RFC 6120 §8.2.3) with the xmpp.js callee rules:
 *  - get/set must carry exactly one payload child, else bad-request;
 *  - no handler for (payload name, namespace, type, target) -> service-unavailable;
 *  - a handler that throws -> internal-server-error (logged); a thrown StanzaError is that error;
 *  - a handler that returns nothing -> service-unavailable;
 *  - StanzaError -> error reply; Element -> payload of a type=result reply, or the full reply if named 'iq';
 *  - result and error IQs are never answered.
 * Several handlers on one key form a chain, first registered first, each able to call next().
 */
import { Element, errorReply, Jid, StanzaError, xml } from '@kxmpp/xmpp-core';
import { DiscoRegistry } from './disco.registry';
import type { HandlerResult, IqContext, IqHandler, IqTarget, IqType, KernelLogger, SessionInfo, XepModule } from './handler';

export interface IqRequest {
  stanza: Element;
  from: Jid;
  to: Jid;
  target: IqTarget;
}

export interface KernelOptions {
  log?: KernelLogger;
  /** Existence of the account a bare JID names; defaults to "exists". */
  accountExists?: (bare: Jid) => Promise<boolean>;
  /** Live sessions of a bare JID; defaults to none. */
  sessions?: (bare: Jid) => Promise<SessionInfo[]>;
  /** Delivery to every session of a bare JID; defaults to dropping. */
  push?: (bare: string, stanza: Element) => void;
}

const silent: KernelLogger = { error: () => undefined, warn: () => undefined };

function key(target: IqTarget, type: IqType, name: string, xmlns: string): string {
  return `${target}\u0000${type}\u0000${name}\u0000${xmlns}`;
}

export class Kernel {
  readonly disco: DiscoRegistry;
  private readonly handlers = new Map<string, IqHandler[]>();
  private readonly log: KernelLogger;
  private readonly accountExists: (bare: Jid) => Promise<boolean>;
  private readonly sessionsOf: (bare: Jid) => Promise<SessionInfo[]>;
  private readonly pushTo: (bare: string, stanza: Element) => void;

  constructor(readonly modules: readonly XepModule[], opts: KernelOptions = {}) {
    this.disco = new DiscoRegistry(modules);
    this.log = opts.log ?? silent;
    this.accountExists = opts.accountExists ?? (async () => true);
    this.sessionsOf = opts.sessions ?? (async () => []);
    this.pushTo = opts.push ?? (() => undefined);
    for (const m of modules) {
      for (const d of m.iq ?? []) {
        for (const t of d.targets ?? (['server', 'account'] as const)) {
          const k = key(t, d.type, d.name, d.xmlns);
          const list = this.handlers.get(k) ?? [];
          list.push(d.handler);
          this.handlers.set(k, list);
        }
      }
    }
  }

  /** The reply to send back to the requester, or null when none is due (result/error IQs). */
  async handleIq(req: IqRequest): Promise<Element | null> {
    const { stanza, from, to, target } = req;
    const type = stanza.attrs.type;
    if (type === 'result' || type === 'error') return null;
    const replyFrom = to.toString();
    const fail = (e: StanzaError) => {
      const r = errorReply(stanza, e, replyFrom);
      if (r) r.attrs.to = from.toString();
      return r;
    };
    if (type !== 'get' && type !== 'set') return fail(new StanzaError('bad-request', 'iq type must be get, set, result or error'));
    const children = stanza.getChildElements();
    if (children.length !== 1) return fail(new StanzaError('bad-request', 'an iq get/set carries exactly one payload element'));
    const payload = children[0];
    const chain = this.handlers.get(key(target, type, payload.name, payload.getNS() ?? '')) ?? [];
    const ctx: IqContext = {
      stanza,
      payload,
      type,
      from,
      to,
      target,
      domain: to.domain,
      disco: this.disco,
      accountExists: () => (target === 'server' ? Promise.resolve(true) : this.accountExists(to.bare())),
      sessions: () => (target === 'server' ? Promise.resolve([]) : this.sessionsOf(to.bare())),
      push: (bare, el) => this.pushTo(bare, el),
      log: this.log,
    };
    const run = async (i: number): Promise<HandlerResult> => (i < chain.length ? chain[i](ctx, () => run(i + 1)) : undefined);
    let res: HandlerResult;
    try {
      res = await run(0);
    } catch (e) {
      if (e instanceof StanzaError) return fail(e);
      this.log.error({ err: e, xmlns: payload.getNS(), name: payload.name }, 'iq handler failed');
      return fail(new StanzaError('internal-server-error'));
    }
    if (res instanceof StanzaError) return fail(res);
    if (!res) return fail(new StanzaError('service-unavailable'));
    if (res.name === 'iq') return res;
    return xml('iq', { xmlns: stanza.attrs.xmlns, type: 'result', id: stanza.attrs.id, from: replyFrom, to: from.toString() }, res);
  }
}
