/** Structured JSON logs, one line per event (pino). Stanza bodies only at debug level. */
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(service: string, level: string = 'info'): Logger {
  return pino({ level, base: { service, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
