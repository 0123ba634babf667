/** DomainService: served domains at run time through the DomainSet (libs/bus/src/domains.ts). */
import type * as grpc from '@grpc/grpc-js';
import { DomainEntry, DomainError } from '@kxmpp/bus';
import type { AdminContext } from './admin.context';
import { unary } from './admin.context';
import { exists, invalid, notFound, precondition } from './admin.errors';

interface DomainMsg {
  name: string;
  configured: boolean;
  addedAt: string;
}

const toMsg = (e: DomainEntry): DomainMsg => ({ name: e.domain, configured: e.configured, addedAt: e.addedAt });

function mapDomainError(e: unknown): never {
  if (e instanceof DomainError) {
    switch (e.reason) {
      case 'invalid':
        throw invalid(e.message);
      case 'exists':
        throw exists(e.message);
      case 'configured':
        throw precondition(e.message);
      case 'unknown':
        throw notFound(e.message);
    }
  }
  throw e;
}

export function domainHandlers(ctx: AdminContext): grpc.UntypedServiceImplementation {
  return {
    ListDomains: unary('ListDomains', ctx.log, async () => ({ domains: ctx.domains.entries().map(toMsg) })),

    AddDomain: unary('AddDomain', ctx.log, async (req: { name: string }) => {
      const added = await ctx.domains.add(req.name).catch(mapDomainError);
      ctx.log.info({ domain: added.domain }, 'domain added');
      return toMsg(added);
    }),

    RemoveDomain: unary('RemoveDomain', ctx.log, async (req: { name: string }) => {
      await ctx.domains.remove(req.name).catch(mapDomainError);
      ctx.log.info({ domain: req.name }, 'domain removed');
      return {};
    }),
  };
}
