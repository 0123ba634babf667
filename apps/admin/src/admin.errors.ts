/**
 * Errors of the admin API as gRPC statuses with a one-line message (admin.proto, header). Handlers throw
 * AdminError; anything else is logged and answered INTERNAL, or UNAVAILABLE when NATS is the cause.
 */
import { status } from '@grpc/grpc-js';

export class AdminError extends Error {
  constructor(readonly code: status, message: string) {
    super(message);
    this.name = 'AdminError';
  }
}

export const invalid = (message: string) => new AdminError(status.INVALID_ARGUMENT, message);
export const notFound = (message: string) => new AdminError(status.NOT_FOUND, message);
export const exists = (message: string) => new AdminError(status.ALREADY_EXISTS, message);
export const precondition = (message: string) => new AdminError(status.FAILED_PRECONDITION, message);
export const deadline = (message: string) => new AdminError(status.DEADLINE_EXCEEDED, message);
export const unavailable = (message: string) => new AdminError(status.UNAVAILABLE, message);

/** Errors of the nats client that mean "the bus is not reachable now", worth a retry by the caller. */
export function isBusUnavailable(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code;
  return code === 'TIMEOUT' || code === '503' || code === 'CONNECTION_CLOSED' || code === 'CONNECTION_DRAINING' || code === 'DISCONNECT';
}
