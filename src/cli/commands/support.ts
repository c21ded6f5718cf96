/**
 * What every `countersign` command shares: strict argument parsing with `--help` anywhere, the
 * usage error (exit 2) and help request `main` turns into output, the client flags and the call
 * through a server connection, and opening the service's store for the local commands. One copy
 * here, so the command modules under this folder hold only what is theirs.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { openStore, sqliteFileOf, type SqlStore } from '../../store';
import { loadConfig } from '../../config/config';
import { CLI_SECONDS, parseDuration } from '../../shared/duration';
import { CountersignError } from '../../shared/errors';
import { isTopic } from '../usage';
import { connectionFromEnv, describeGrpcError, serverAddress, useConnection, type ConnectionOptions, type UnaryClient } from '../client';
import { printErr } from '../output';

/** A usage error: exit 2 with the message and the usage of the command it concerns. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly topic?: string,
  ) {
    super(message);
  }
}

/** `--help` / `-h` on a command: its usage on stdout, exit 0. */
export class HelpRequested extends Error {
  constructor(readonly topic: string) {
    super(`help for ${topic}`);
  }
}

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/**
 * Parses a command's arguments strictly; `--help` (or `-h`) anywhere stops here with that
 * command's usage (`topic`), before any other check can turn the request for help into an error.
 */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, topic: string) {
  const config = { args, options: { ...options, ...HELP_OPTION }, allowPositionals: true, strict: true } as const;
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    // An unknown option next to --help still gets the help asked for.
    if (args.some((a) => a === '--help' || a === '-h')) throw new HelpRequested(topic);
    throw new UsageError((err as Error).message, topic);
  }
  if ((parsed.values as { help?: boolean }).help) throw new HelpRequested(topic);
  return parsed;
}

/** The subcommand of a group (`keys rotate`), or help for the whole group (`keys --help`). */
export function subcommand(group: string, sub: string | undefined): string | undefined {
  if (sub === '--help' || sub === '-h' || sub === 'help') throw new HelpRequested(group);
  return sub;
}

/** The usage topic of `group sub` when it has one of its own (`keys create`), else the group's. */
export function usageTopic(group: string, sub: string | undefined): string {
  return sub !== undefined && isTopic(`${group} ${sub}`) ? `${group} ${sub}` : group;
}

export const clientOptions = {
  server: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  json: { type: 'boolean', default: false },
  timeout: { type: 'string', default: '60' },
} as const;

/**
 * How a client command connects: TLS from the environment, the bearer token from --token, or
 * --token-file / COUNTERSIGN_TOKEN_FILE (a mounted Secret; nothing on the command line, where
 * `ps` shows it to every user of the machine), or COUNTERSIGN_TOKEN.
 */
export function clientConnection(values: { token?: string; 'token-file'?: string }): ConnectionOptions {
  const file = values['token-file'] ?? (values.token === undefined ? process.env.COUNTERSIGN_TOKEN_FILE : undefined);
  if (values.token !== undefined && values['token-file'] !== undefined) throw new UsageError('give --token or --token-file, not both');
  if (file === undefined) return connectionFromEnv(process.env, values.token ? { token: values.token } : {});
  const token = readFileArg(file, 'token file').trim();
  if (!token || /\s/.test(token)) throw new UsageError(`the token file ${file} must hold one token (no blanks in it)`);
  return connectionFromEnv(process.env, { token });
}

/**
 * Connects to the server named by --server (token and TLS from flags and environment), runs `use`,
 * and turns a failed call into one actionable line on stderr and `failureCode`.
 */
export async function withServer(
  values: { server?: string; token?: string; 'token-file'?: string },
  makeClient: (address: string) => UnaryClient,
  failureCode: number,
  use: (client: UnaryClient) => Promise<number>,
): Promise<number> {
  const address = serverAddress(values.server);
  let client: UnaryClient | undefined;
  try {
    // Inside: an unreadable token file is `failureCode` (for verify, 2: no verdict), not a deny.
    useConnection(clientConnection(values));
    client = makeClient(address);
    return await use(client);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    printErr(`countersign: ${describeGrpcError(err, address)}\n`);
    return failureCode;
  } finally {
    client?.close();
  }
}

/** "7d", "12h", "30m", "1h30m", "45s" or plain seconds (the one duration parser, CLI dialect). */
export function durationSeconds(text: string): number {
  const parsed = parseDuration(text.trim(), CLI_SECONDS);
  if ('error' in parsed)
    throw new UsageError(`invalid duration ${JSON.stringify(text)}: use e.g. 7d, 12h, 30m or seconds (${parsed.error})`);
  return parsed.ms / 1000;
}

export function readFileArg(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

export function onePositional(positionals: string[], name: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected exactly one ${name}, got ${positionals.length}`);
  return positionals[0] as string;
}

export function parseAnnotations(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`annotation ${JSON.stringify(pair)} must be KEY=VALUE`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

export function timeoutMs(seconds: string | undefined): number {
  const n = Number(seconds ?? '60');
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--timeout must be a positive number of seconds`);
  return n * 1000;
}

/** Who a local command acts as, in the audit trail: the operating-system user running it. */
export function localActor(): string {
  return `local:${os.userInfo().username}`;
}

/**
 * The service's store for the local commands (token, kek, audit): PostgreSQL when store.url /
 * COUNTERSIGN_STORE_URL is set, else the data directory's file. `mustExist`: a missing database
 * file is NOT_FOUND (a wrong --data-dir), not a new empty store.
 */
export async function openServiceStore(
  values: { config?: string; 'data-dir'?: string },
  { mustExist }: { mustExist: boolean },
): Promise<SqlStore> {
  const config = loadConfig({ configFile: values.config, dataDir: values['data-dir'] });
  const file = sqliteFileOf(config.dataDir);
  if (mustExist && !config.store && !existsSync(file)) {
    throw new CountersignError(
      'NOT_FOUND',
      `no Countersign database at ${file}; pass the service's --data-dir (or its store.url / COUNTERSIGN_STORE_URL)`,
    );
  }
  return openStore({ dataDir: config.dataDir, ...(config.store ? { url: config.store.url } : {}) });
}
