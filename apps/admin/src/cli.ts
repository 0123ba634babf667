#!/usr/bin/env node
/**
 * xmppctl: the command-line client of the admin API (docs/admin.md).
 *
 *   xmppctl [global options] <group> <command> [arguments] [options]
 *
 * Exit codes: 0 ok, 1 other error, 2 usage error (also an argument the server refused as invalid),
 * 3 authentication refused, 4 not found, 5 server unreachable. Errors are one line on stderr.
 *
 * A client tool, not a platform process: it reads its own XMPPCTL_* variables here instead of through
 * libs/config (which validates the servers' settings).
 */
import { readFileSync } from 'node:fs';
import { parseArgs, ParseArgsConfig } from 'node:util';
import { status as grpcStatus } from '@grpc/grpc-js';
import { AdminClient } from './admin.client';
import { Command, COMMANDS, CommandOutput, findCommand, GROUPS, OptionSpec, UsageError } from './cli.commands';

export const EXIT = { OK: 0, OTHER: 1, USAGE: 2, AUTH: 3, NOT_FOUND: 4, UNREACHABLE: 5 } as const;

export const DEFAULT_SERVER = '127.0.0.1:50051';
const DEFAULT_TIMEOUT_S = 15;
const CONNECT_TIMEOUT_MS = 5000;

const GLOBAL_OPTIONS: Record<string, OptionSpec & { short?: string }> = {
  server: { type: 'string', value: 'HOST:PORT', help: `admin API address (default: XMPPCTL_SERVER, else ${DEFAULT_SERVER})` },
  token: { type: 'string', value: 'TOKEN', help: 'admin token (default: XMPPCTL_TOKEN)' },
  'token-file': { type: 'string', value: 'FILE', help: 'read the admin token from a file (default: XMPPCTL_TOKEN_FILE)' },
  json: { type: 'boolean', help: 'print the API answer as JSON instead of a table' },
  timeout: { type: 'string', value: 'SECONDS', help: `deadline of the call (default ${DEFAULT_TIMEOUT_S})` },
  tls: { type: 'boolean', help: 'connect with TLS (e.g. through an ingress); default plaintext' },
  ca: { type: 'string', value: 'FILE', help: 'CA certificate (PEM) to verify the server with --tls' },
  help: { type: 'boolean', short: 'h', help: 'show help (also after a group or a command)' },
};

export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
}

// ---- help --------------------------------------------------------------------------------------

function usageOf(c: Command): string {
  const args = [...c.args.map((a) => `<${a}>`), ...(c.optionalArgs ?? []).map((a) => `[${a}]`)];
  const opts = Object.entries(c.options ?? {}).map(([n, o]) => {
    const text = o.type === 'boolean' ? `--${n}` : `--${n} ${o.value ?? 'VALUE'}`;
    return o.required ? text : `[${text}]${o.multiple ? '...' : ''}`;
  });
  return ['xmppctl', c.group, c.name, ...args, ...opts].filter(Boolean).join(' ');
}

function optionLines(opts: Record<string, OptionSpec & { short?: string }>): string {
  const rows = Object.entries(opts).map(([n, o]) => [`${o.short ? `-${o.short}, ` : ''}--${n}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`, o.help]);
  const w = Math.max(...rows.map(([a]) => a.length));
  return rows.map(([a, h]) => `  ${a.padEnd(w)}  ${h}`).join('\n');
}

const EXIT_HELP = `Exit codes:
  0  success
  1  other error (already exists, not allowed in this state, timeout, server error)
  2  usage error, or an argument the server refused as invalid (INVALID_ARGUMENT)
  3  authentication refused (missing or wrong token)
  4  not found (account, session, roster item, domain)
  5  admin API unreachable`;

function globalHelp(): string {
  const groups = GROUPS.map((g) => {
    const cmds = COMMANDS.filter((c) => c.group === g.name)
      .map((c) => `    ${usageOf(c).slice('xmppctl '.length)}\n        ${c.summary}`)
      .join('\n');
    return `  ${g.name}: ${g.summary}\n${cmds}`;
  }).join('\n\n');
  return `xmppctl: administer a kxmpp deployment through its gRPC admin API.

Usage: xmppctl [global options] <group> <command> [arguments] [options]

Commands:
${groups}

Global options:
${optionLines(GLOBAL_OPTIONS)}

Environment: XMPPCTL_SERVER, XMPPCTL_TOKEN, XMPPCTL_TOKEN_FILE, XMPPCTL_PASSWORD.

${EXIT_HELP}

"xmppctl <group> --help" and "xmppctl <group> <command> --help" show more.
`;
}

function groupHelp(group: string): string {
  const g = GROUPS.find((x) => x.name === group)!;
  const cmds = COMMANDS.filter((c) => c.group === group)
    .map((c) => `  ${usageOf(c)}\n      ${c.summary}${c.aliases?.length ? ` (alias: ${c.aliases.join(', ')})` : ''}`)
    .join('\n');
  return `xmppctl ${group}: ${g.summary}\n\n${cmds}\n\nGlobal options (--server, --token, --json, ...): xmppctl --help\n`;
}

function commandHelp(c: Command): string {
  const opts = c.options && Object.keys(c.options).length ? `\nOptions:\n${optionLines(c.options)}\n` : '';
  return `Usage: ${usageOf(c)}\n\n${c.summary}.${c.details ? `\n${c.details}` : ''}\n${opts}\nGlobal options:\n${optionLines(GLOBAL_OPTIONS)}\n\n${EXIT_HELP}\n`;
}

// ---- parsing -----------------------------------------------------------------------------------

/** Options taking a value, of any command: lets the first pass skip values while it looks for the command. */
const VALUE_OPTIONS = new Set(
  [GLOBAL_OPTIONS, ...COMMANDS.map((c) => c.options ?? {})].flatMap((o) => Object.entries(o).filter(([, s]) => s.type === 'string').map(([n]) => n)),
);

function positionalsOf(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return [...out, ...argv.slice(i + 1)];
    if (a.startsWith('--')) {
      if (!a.includes('=') && VALUE_OPTIONS.has(a.slice(2))) i++;
    } else if (a.startsWith('-') && a.length > 1) {
      // Short flags (-h) take no value.
    } else {
      out.push(a);
    }
  }
  return out;
}

function toParseArgs(opts: Record<string, OptionSpec & { short?: string }>): NonNullable<ParseArgsConfig['options']> {
  return Object.fromEntries(
    Object.entries(opts).map(([n, o]) => [n, { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) }]),
  );
}

interface Parsed {
  command?: Command;
  /** Help text to print (exit 0). */
  help?: string;
  args: string[];
  values: Record<string, string | boolean | string[] | undefined>;
}

export function parseCommandLine(argv: string[]): Parsed {
  const pos = positionalsOf(argv);
  const wantsHelp = argv.includes('--help') || argv.includes('-h');
  if (pos[0] === 'help') return { help: pos[1] && GROUPS.some((g) => g.name === pos[1]) ? helpFor(pos[1], pos[2]) : globalHelp(), args: [], values: {} };
  if (pos.length === 0) {
    if (wantsHelp) return { help: globalHelp(), args: [], values: {} };
    throw new UsageError('missing command (see xmppctl --help)');
  }
  const group = pos[0];
  if (!GROUPS.some((g) => g.name === group)) throw new UsageError(`unknown command "${group}" (see xmppctl --help)`);
  const single = COMMANDS.find((c) => c.group === group && c.name === '');
  const command = single ?? findCommand(group, pos[1]);
  if (!command) {
    if (wantsHelp) return { help: groupHelp(group), args: [], values: {} };
    const names = COMMANDS.filter((c) => c.group === group).map((c) => c.name);
    throw new UsageError(pos[1] ? `unknown command "${group} ${pos[1]}" (one of: ${names.join(', ')})` : `"${group}" needs a command: ${names.join(', ')}`);
  }
  if (wantsHelp) return { help: commandHelp(command), args: [], values: {} };
  let parsed: { values: Parsed['values']; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: toParseArgs({ ...GLOBAL_OPTIONS, ...(command.options ?? {}) }), strict: true, allowPositionals: true }) as typeof parsed;
  } catch (e) {
    const msg = (e as Error).message;
    const unknown = /Unknown option '([^']+)'/.exec(msg);
    const why = unknown ? `unknown option ${unknown[1]}` : msg.split('\n')[0].replace(/\.$/, '');
    throw new UsageError(`${why} (see xmppctl ${[command.group, command.name].filter(Boolean).join(' ')} --help)`);
  }
  const args = parsed.positionals.slice(command.name ? 2 : 1);
  const min = command.args.length;
  const max = min + (command.optionalArgs?.length ?? 0);
  const name = [command.group, command.name].filter(Boolean).join(' ');
  for (const [opt, spec] of Object.entries(command.options ?? {})) {
    if (spec.required && parsed.values[opt] === undefined) throw new UsageError(`${name} needs --${opt} (usage: ${usageOf(command)})`);
  }
  if (args.length < min) throw new UsageError(`${name} needs ${command.args.slice(args.length).map((a) => `<${a}>`).join(' ')} (usage: ${usageOf(command)})`);
  if (args.length > max) throw new UsageError(`${name}: unexpected argument "${args[max]}" (usage: ${usageOf(command)})`);
  return { command, args, values: parsed.values };
}

function helpFor(group: string, name: string | undefined): string {
  const c = COMMANDS.find((x) => x.group === group && x.name === '') ?? (name ? findCommand(group, name) : undefined);
  return c ? commandHelp(c) : groupHelp(group);
}

// ---- running -----------------------------------------------------------------------------------

const STATUS_NAMES = new Map<number, string>(Object.entries(grpcStatus).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v as number, k]));

export function exitCodeOf(code: number | undefined): number {
  switch (code) {
    case grpcStatus.UNAUTHENTICATED:
    case grpcStatus.PERMISSION_DENIED:
      return EXIT.AUTH;
    case grpcStatus.NOT_FOUND:
      return EXIT.NOT_FOUND;
    case grpcStatus.UNAVAILABLE:
      return EXIT.UNREACHABLE;
    case grpcStatus.INVALID_ARGUMENT:
      return EXIT.USAGE;
    default:
      return EXIT.OTHER;
  }
}

async function readStdinLine(stdin: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0];
}

/** Read a password on the terminal without echoing it. */
function promptHidden(io: CliIO, prompt: string): Promise<string> {
  const stdin = io.stdin;
  io.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let buf = '';
    const finish = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      io.stderr.write('\n');
      if (err) reject(err);
      else resolve(buf);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || ch === '\u0004') return finish(new UsageError('cancelled'));
        if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
        else buf += ch;
      }
    };
    stdin.on('data', onData);
  });
}

function passwordSource(values: Parsed['values'], io: CliIO): () => Promise<string> {
  return async () => {
    if (typeof values.password === 'string') return values.password;
    if (io.env.XMPPCTL_PASSWORD !== undefined) return io.env.XMPPCTL_PASSWORD;
    if (!io.stdin.isTTY) return readStdinLine(io.stdin);
    return promptHidden(io, 'Password: ');
  };
}

function tokenOf(values: Parsed['values'], env: NodeJS.ProcessEnv): string {
  if (typeof values.token === 'string') return values.token;
  const file = typeof values['token-file'] === 'string' ? values['token-file'] : env.XMPPCTL_TOKEN_FILE;
  if (file) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new UsageError(`cannot read the token file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (env.XMPPCTL_TOKEN) return env.XMPPCTL_TOKEN;
  throw new UsageError('no admin token: pass --token or --token-file, or set XMPPCTL_TOKEN');
}

function serverOf(values: Parsed['values'], env: NodeJS.ProcessEnv): string {
  const s = (typeof values.server === 'string' ? values.server : env.XMPPCTL_SERVER) || DEFAULT_SERVER;
  if (!/^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):\d{1,5}$/.test(s)) throw new UsageError(`--server must be HOST:PORT, got "${s}"`);
  return s;
}

function print(io: CliIO, out: CommandOutput, json: boolean): void {
  io.stdout.write(json ? `${JSON.stringify(out.json, null, 2)}\n` : out.text);
  if (out.note) io.stderr.write(`${out.note}\n`);
}

/** Run one command line; resolves to the exit code. */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  let parsed: Parsed;
  let client: AdminClient | undefined;
  try {
    parsed = parseCommandLine(argv);
    if (parsed.help) {
      io.stdout.write(parsed.help);
      return EXIT.OK;
    }
    const values = parsed.values;
    const timeoutS = values.timeout === undefined ? DEFAULT_TIMEOUT_S : Number(values.timeout);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError('--timeout must be a positive number of seconds');
    const server = serverOf(values, io.env);
    const token = tokenOf(values, io.env);
    let ca: Buffer | undefined;
    if (typeof values.ca === 'string') {
      try {
        ca = readFileSync(values.ca);
      } catch (e) {
        throw new UsageError(`cannot read the CA file ${values.ca}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    client = new AdminClient({ server, token, tls: values.tls === true, ca });
    try {
      await client.waitForReady(Math.min(CONNECT_TIMEOUT_MS, timeoutS * 1000));
    } catch (e) {
      io.stderr.write(`xmppctl: ${(e as Error).message}\n`);
      return EXIT.UNREACHABLE;
    }
    const out = await parsed.command!.run({ args: parsed.args, values, client, timeoutMs: timeoutS * 1000, password: passwordSource(values, io) });
    print(io, out, values.json === true);
    return EXIT.OK;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`xmppctl: ${e.message}\n`);
      return EXIT.USAGE;
    }
    const err = e as { code?: number; details?: string; message?: string };
    if (typeof err.code === 'number') {
      const name = STATUS_NAMES.get(err.code) ?? String(err.code);
      let details = (err.details || err.message || '').split('\n')[0];
      // grpc-js's own text for a client-side deadline lists internal timings: say what happened instead.
      if (err.code === grpcStatus.DEADLINE_EXCEEDED && /^Deadline exceeded after/.test(details)) details = 'no answer from the admin API in time (see --timeout)';
      io.stderr.write(`xmppctl: ${details} [${name}]\n`);
      return exitCodeOf(err.code);
    }
    io.stderr.write(`xmppctl: ${(err.message ?? String(e)).split('\n')[0]}\n`);
    return EXIT.OTHER;
  } finally {
    client?.close();
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: Error) => {
      process.stderr.write(`xmppctl: ${e.message}\n`);
      process.exitCode = EXIT.OTHER;
    },
  );
}
