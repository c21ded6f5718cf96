import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createApp, gateOptions } from '../app';
import { AuditLog } from '../audit';
import { openStore, sqliteFileOf } from '../store';
import { checkGate, loadConfig } from '../config/config';
import { PostgresWriteLock } from '../coordination';
import { GrpcVerifier, startGateServer } from '../gate';
import { createLogger } from '../logging/logger';
import { CLI_SECONDS, parseDuration } from '../shared/duration';
import { CountersignError } from '../shared/errors';
import type { Key__Output as KeyMsg } from '../grpc/generated/countersign/v1/Key';
import type { SignResponse__Output } from '../grpc/generated/countersign/v1/SignResponse';
import type { VerifyResponse__Output } from '../grpc/generated/countersign/v1/VerifyResponse';
import { call, connectionFromEnv, describeGrpcError, keyClient, serverAddress, signingClient, timestampMs, timestampText, useConnection, verificationClient, type UnaryClient } from './client';
import { TokenStore, isRole, startupBanner, type Role } from '../auth';
import { loadKek } from '../keys/crypto';
import { ManagedKeyStore } from '../keys/managed-key-store';
import { isTopic, usageOf, USAGE } from './usage';
import { verifyBundleCommand } from './verify-bundle';
import { policyCommand } from './policy-command';

/** Exit codes: 0 success, 1 the operation failed, 2 usage error. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(rest);
      case 'gate':
        return await gate(rest);
      case 'sign':
        return await sign(rest);
      case 'attest':
        return await attest(rest);
      case 'keys':
        return await keys(rest);
      case 'verify':
        return await verify(rest);
      case 'audit':
        return await audit(rest);
      case 'token':
        return await token(rest);
      case 'kek':
        return await kek(rest);
      case 'policy':
        return await policyCommand(rest);
      case 'verify-bundle':
        return verifyBundleCommand(rest);
      case undefined:
        process.stdout.write(`${USAGE}\n`);
        return 2;
      case 'help':
      case '--help':
      case '-h': {
        // `countersign help keys rotate` is `countersign keys rotate --help`.
        const topic = rest.join(' ');
        if (topic && !isTopic(topic)) return usage(`no command "${topic}"`);
        process.stdout.write(`${topic ? usageOf(topic) : USAGE}\n`);
        return 0;
      }
      default:
        return usage(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(`${usageOf(err.topic)}\n`);
      return 0;
    }
    if (err instanceof UsageError) return usage(err.message, err.topic);
    const msg = err instanceof CountersignError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`countersign: ${msg}\n`);
    return 1;
  }
}

/** A usage error: exit 2 with the message and the usage of the command it concerns. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly topic?: string,
  ) {
    super(message);
  }
}

/** `--help` / `-h` on a command: its usage on stdout, exit 0. */
class HelpRequested extends Error {
  constructor(readonly topic: string) {
    super(`help for ${topic}`);
  }
}

function usage(message: string, topic?: string): number {
  process.stderr.write(`countersign: ${message}\n${topic ? usageOf(topic) : USAGE}\n`);
  return 2;
}

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/**
 * Parses a command's arguments strictly; `--help` (or `-h`) anywhere stops here with that
 * command's usage (`topic`), before any other check can turn the request for help into an error.
 */
function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, topic: string) {
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
function subcommand(group: string, sub: string | undefined): string | undefined {
  if (sub === '--help' || sub === '-h' || sub === 'help') throw new HelpRequested(group);
  return sub;
}

const clientOptions = {
  server: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
  timeout: { type: 'string', default: '60' },
} as const;

async function serve(args: string[]): Promise<number> {
  const { values } = parse(args, {
    config: { type: 'string' },
    listen: { type: 'string' },
    'keys-dir': { type: 'string' },
    'data-dir': { type: 'string' },
    policy: { type: 'string' },
    'admission-listen': { type: 'string' },
    'metrics-listen': { type: 'string' },
    'gate-listen': { type: 'string' },
    'gate-upstream': { type: 'string' },
    'log-level': { type: 'string' },
  }, 'serve');
  const config = loadConfig({
    policyFile: values.policy,
    admissionListen: values['admission-listen'],
    metricsListen: values['metrics-listen'],
    gateListen: values['gate-listen'],
    gateUpstream: values['gate-upstream'],
    configFile: values.config,
    listen: values.listen,
    keysDir: values['keys-dir'],
    dataDir: values['data-dir'],
    logLevel: values['log-level'],
  });
  const logger = createLogger({ level: config.logLevel });
  const app = await createApp(config, logger);
  const banner = startupBanner(app.accessMode, config.listen);
  if (banner) process.stderr.write(`\n${banner}\n\n`);
  const port = await app.start();
  logger.info({ listen: config.listen, port, keysDir: config.keysDir, dataDir: config.dataDir }, 'countersign serving');
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down: finishing in-flight calls');
      app.stop().then(resolve, (err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  logger.info('stopped');
  logger.flush();
  return 0;
}

/**
 * The registry gate on its own, next to the registry, asking a Countersign elsewhere. Settings as
 * for serve: defaults < config file (its `gate` section) < environment < flags.
 */
async function gate(args: string[]): Promise<number> {
  const { values } = parse(args, {
    config: { type: 'string' },
    listen: { type: 'string' },
    upstream: { type: 'string' },
    server: { type: 'string' },
    token: { type: 'string' },
    'registry-name': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'upstream-ca': { type: 'string' },
    'allow-plain-http': { type: 'boolean', default: false },
    'log-level': { type: 'string' },
  }, 'gate');
  const config = loadConfig({
    configFile: values.config,
    logLevel: values['log-level'],
    gateListen: values.listen,
    gateUpstream: values.upstream,
  });
  if (values['registry-name']) config.gate.registryName = values['registry-name'];
  if (values['tls-cert']) config.gate.tlsCertFile = path.resolve(values['tls-cert']);
  if (values['tls-key']) config.gate.tlsKeyFile = path.resolve(values['tls-key']);
  if (values['upstream-ca']) config.gate.upstreamCaFile = path.resolve(values['upstream-ca']);
  if (values['allow-plain-http']) config.gate.allowPlainHttp = true;
  if (!config.gate.listen) throw new UsageError('--listen HOST:PORT is required (or gate.listen / COUNTERSIGN_GATE_LISTEN)');
  checkGate(config.gate);
  const logger = createLogger({ level: config.logLevel });
  const connection = connectionFromEnv(process.env, values.token ? { token: values.token } : {});
  const address = serverAddress(values.server);
  const verifier = new GrpcVerifier({ address, ...connection });
  // Gate replicas sharing a PostgreSQL (store.url) serialize tag writes through it (immutable tags).
  const tagLock = config.store ? await PostgresWriteLock.connect(config.store.url) : undefined;
  const server = await startGateServer({ ...gateOptions(config, verifier, logger), ...(tagLock ? { tagLock } : {}) });
  logger.info(
    { listen: config.gate.listen, port: server.port, upstream: config.gate.upstream, countersign: address, tagWrites: tagLock ? 'serialized across gate replicas by the store' : 'serialized in this process' },
    'registry gate serving',
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'registry gate shutting down');
      server.close().then(resolve, () => resolve());
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  verifier.close();
  await tagLock?.close();
  logger.flush();
  return 0;
}

async function sign(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...clientOptions,
    key: { type: 'string' },
    annotation: { type: 'string', short: 'a', multiple: true },
  }, 'sign');
  const image = onePositional(positionals, 'IMAGE');
  if (!values.key) throw new UsageError('--key NAME is required');
  const request = { image, key: values.key, annotations: parseAnnotations(values.annotation ?? []) };
  return runSigningCall(values, 'Sign', request);
}

async function attest(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...clientOptions,
    key: { type: 'string' },
    type: { type: 'string' },
    predicate: { type: 'string' },
    'scan-time': { type: 'string' },
    annotation: { type: 'string', short: 'a', multiple: true },
  }, 'attest');
  const image = onePositional(positionals, 'IMAGE');
  if (!values.key) throw new UsageError('--key NAME is required');
  if (!values.type) throw new UsageError('--type spdx|cyclonedx|vuln|URI is required');
  if (!values.predicate) throw new UsageError('--predicate FILE is required');
  let predicate: Buffer;
  try {
    predicate = readFileSync(values.predicate);
  } catch (err) {
    throw new CountersignError('INVALID_ARGUMENT', `cannot read predicate file ${values.predicate}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const request = {
    image,
    key: values.key,
    predicateType: values.type,
    predicate,
    scanTime: values['scan-time'] ?? '',
    annotations: parseAnnotations(values.annotation ?? []),
  };
  return runSigningCall(values, 'Attest', request);
}

/**
 * Connects to the server named by --server (token and TLS from flags and environment), runs `use`,
 * and turns a failed call into one actionable line on stderr and `failureCode`.
 */
async function withServer(
  values: { server?: string; token?: string },
  makeClient: (address: string) => UnaryClient,
  failureCode: number,
  use: (client: UnaryClient) => Promise<number>,
): Promise<number> {
  useConnection(connectionFromEnv(process.env, values.token ? { token: values.token } : {}));
  const address = serverAddress(values.server);
  const client = makeClient(address);
  try {
    return await use(client);
  } catch (err) {
    process.stderr.write(`countersign: ${describeGrpcError(err, address)}\n`);
    return failureCode;
  } finally {
    client.close();
  }
}

async function runSigningCall(
  values: { server?: string; token?: string; json: boolean; timeout?: string },
  method: 'Sign' | 'Attest',
  request: unknown,
): Promise<number> {
  const timeout = timeoutMs(values.timeout);
  return withServer(values, signingClient, 1, async (client) => {
    const { result } = await call<SignResponse__Output>(client, method, request, timeout);
    // A message field may be absent on the wire: a server that sent none is answered here, not with a TypeError.
    if (!result) throw new CountersignError('INTERNAL', `the server's ${method} answer carried no result`);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ ...result, bundle: JSON.parse(result.bundle) }, null, 2)}\n`);
    } else {
      const what = method === 'Sign' ? 'signed' : `attested (${result.summary})`;
      process.stdout.write(
        `${what} ${result.image}\n  digest:   ${result.digest}\n  key:      ${result.keyName} (${result.keyId})\n` +
          `  predicate: ${result.predicateType}\n  referrer: ${result.referrerDigest} (referrers ${result.referrersIndex === 'api' ? 'API' : 'tag index'})\n`,
      );
    }
    return 0;
  });
}

async function verify(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...clientOptions,
    action: { type: 'string', default: 'deploy' },
    namespace: { type: 'string' },
    identity: { type: 'string' },
    label: { type: 'string', multiple: true },
  }, 'verify');
  const image = onePositional(positionals, 'IMAGE');
  const action = values.action.toLowerCase();
  if (!['deploy', 'push', 'pull'].includes(action)) throw new UsageError('--action must be deploy, push or pull');
  const request = {
    image,
    action: `ACTION_${action.toUpperCase()}`,
    context: { namespace: values.namespace ?? '', identity: values.identity ?? '', labels: parseAnnotations(values.label ?? []) },
  };
  const timeout = timeoutMs(values.timeout);
  return withServer(values, verificationClient, 2, async (client) => {
    const r = await call<VerifyResponse__Output>(client, 'Verify', request, timeout);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    } else {
      const mode = r.mode.replace('MODE_', '').toLowerCase();
      process.stdout.write(`${r.allowed ? 'ALLOWED' : 'DENIED'} ${r.image}${r.digest ? ` (${r.digest})` : ''}\n`);
      process.stdout.write(`  rule: ${r.rule}   mode: ${mode}   policy: ${r.policyRevision}   trust: ${r.trustRevision}${r.cached ? '   (cached evidence)' : ''}\n`);
      for (const q of r.requirements) process.stdout.write(`  ${q.satisfied ? 'ok  ' : 'FAIL'} ${q.requirement}: ${q.message}\n`);
      for (const w of r.warnings) process.stdout.write(`  warning: ${w}\n`);
      for (const e of r.evidence) {
        const what = e.predicateType || e.format;
        const signer = e.identity ? `keyless ${e.identity.subject} (issuer ${e.identity.issuer})` : `key ${e.keyName}`;
        process.stdout.write(`  evidence ${e.referrerDigest.slice(0, 19)}… ${e.format} ${what} ${e.verified ? `verified (${signer})` : `not verified: ${e.reason}`}\n`);
      }
    }
    return r.allowed ? 0 : 1;
  });
}

function describeKey(k: KeyMsg): string {
  const validFrom = timestampText(k.validFromTime);
  const validUntil = timestampText(k.validUntilTime);
  const state = k.state.replace('KEY_STATE_', '').toLowerCase();
  const purpose = k.purpose.replace('KEY_PURPOSE_', '').toLowerCase();
  const lines = [
    `${k.name} v${k.version}  ${state}${k.stateReason ? ` (${k.stateReason})` : ''}  ${purpose}`,
    `  id:          ${k.id}`,
    ...(k.ownerTeam ? [`  owner:       ${k.ownerTeam}`] : []),
    ...(k.scopes.length ? [`  scopes:      ${k.scopes.join(', ')}`] : []),
    ...(validFrom || validUntil ? [`  valid:       ${validFrom || '…'} to ${validUntil || '…'}`] : []),
    `  created:     ${timestampText(k.createTime)} by ${k.createdBy}`,
    ...(k.successorId ? [`  successor:   ${k.successorId}`] : []),
    ...(k.predecessorId ? [`  predecessor: ${k.predecessorId}`] : []),
  ];
  return `${lines.join('\n')}\n`;
}

/** What became of the old version: whether it still verifies, and until when. */
function rotationOutcome(previous: KeyMsg): string {
  const until = previous.validUntilTime;
  const stateChanged = previous.stateChangeTime;
  if (until && stateChanged && timestampMs(until) <= timestampMs(stateChanged)) {
    return `version ${previous.version} stopped verifying at once (no overlap): its signatures no longer count`;
  }
  return `version ${previous.version} verifies until ${timestampText(until) || '(no end)'}`;
}

/** "7d", "12h", "30m", "1h30m", "45s" or plain seconds (the one duration parser, CLI dialect). */
function durationSeconds(text: string): number {
  const parsed = parseDuration(text.trim(), CLI_SECONDS);
  if ('error' in parsed) throw new UsageError(`invalid duration ${JSON.stringify(text)}: use e.g. 7d, 12h, 30m or seconds (${parsed.error})`);
  return parsed.ms / 1000;
}

function readFileArg(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CountersignError('INVALID_ARGUMENT', `cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

async function keys(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  const sub = subcommand('keys', first);
  const { values, positionals } = parse(rest, {
    ...clientOptions,
    owner: { type: 'string' },
    scope: { type: 'string', multiple: true },
    'valid-from': { type: 'string' },
    'valid-until': { type: 'string' },
    'public-key': { type: 'string' },
    'cosign-key': { type: 'string' },
    'password-file': { type: 'string' },
    overlap: { type: 'string' },
    reason: { type: 'string' },
    active: { type: 'boolean', default: false },
  }, isTopic(`keys ${sub}`) ? `keys ${sub}` : 'keys');
  let method: string;
  let request: Record<string, unknown>;
  switch (sub) {
    case 'create':
      method = 'CreateKey';
      request = { name: onePositional(positionals, 'NAME'), ownerTeam: values.owner ?? '', scopes: values.scope ?? [], validUntil: values['valid-until'] ?? '' };
      break;
    case 'import': {
      method = 'ImportKey';
      const name = onePositional(positionals, 'NAME');
      const base = { name, ownerTeam: values.owner ?? '', scopes: values.scope ?? [], validFrom: values['valid-from'] ?? '', validUntil: values['valid-until'] ?? '' };
      if (values['public-key'] && !values['cosign-key']) {
        request = { ...base, publicKeyPem: readFileArg(values['public-key'], 'public key file') };
      } else if (values['cosign-key'] && !values['public-key']) {
        // cosign's own convention: the password comes from COSIGN_PASSWORD (or a file), never a flag.
        const password = values['password-file'] ? readFileArg(values['password-file'], 'password file').replace(/\r?\n$/, '') : (process.env.COSIGN_PASSWORD ?? '');
        request = { ...base, cosignPrivateKeyPem: readFileArg(values['cosign-key'], 'cosign key file'), password };
      } else {
        throw new UsageError('keys import needs exactly one of --public-key FILE or --cosign-key FILE');
      }
      break;
    }
    case 'list':
      method = 'ListKeys';
      request = { activeOnly: values.active };
      break;
    case 'show':
      method = 'GetKey';
      request = { key: onePositional(positionals, 'NAME or id') };
      break;
    case 'rotate':
      method = 'RotateKey';
      // Sent only when given: `--overlap 0` is an explicit zero (no overlap), no flag is the server's default.
      request = {
        key: onePositional(positionals, 'NAME or id'),
        ...(values.overlap !== undefined ? { overlap: { seconds: durationSeconds(values.overlap), nanos: 0 } } : {}),
        reason: values.reason ?? '',
      };
      break;
    case 'revoke':
      method = 'RevokeKey';
      if (!values.reason) throw new UsageError('keys revoke needs --reason TEXT');
      request = { key: onePositional(positionals, 'NAME or id'), reason: values.reason };
      break;
    default:
      throw new UsageError(`unknown keys command "${sub ?? ''}" (create, import, list, show, rotate, revoke)`);
  }
  const timeout = timeoutMs(values.timeout);
  return withServer(values, keyClient, 1, async (client) => {
    const res = await call<{ key?: KeyMsg | null; keys?: KeyMsg[]; previous?: KeyMsg | null; current?: KeyMsg | null }>(client, method, request, timeout);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(res.keys ?? res.key ?? { previous: res.previous, current: res.current }, null, 2)}\n`);
    } else if (res.keys) {
      for (const k of res.keys) process.stdout.write(describeKey(k));
    } else if (res.current && res.previous) {
      process.stdout.write(`rotated ${res.current.name}: version ${res.current.version} signs from now on; ${rotationOutcome(res.previous)}\n`);
      process.stdout.write(describeKey(res.current));
      process.stdout.write(res.current.publicKeyPem);
    } else if (res.key) {
      process.stdout.write(describeKey(res.key));
      if (sub === 'create' || sub === 'import' || sub === 'show') process.stdout.write(res.key.publicKeyPem);
    }
    return 0;
  });
}

async function token(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  const sub = subcommand('token', first);
  const { values, positionals } = parse(rest, {
    'data-dir': { type: 'string' },
    config: { type: 'string' },
    role: { type: 'string', multiple: true },
    scope: { type: 'string', multiple: true },
    expires: { type: 'string' },
    reason: { type: 'string' },
    json: { type: 'boolean', default: false },
  }, isTopic(`token ${sub}`) ? `token ${sub}` : 'token');
  const config = loadConfig({ configFile: values.config, dataDir: values['data-dir'] });
  // The service's store: PostgreSQL when store.url / COUNTERSIGN_STORE_URL is set, else the data directory's file.
  const db = await openStore({ dataDir: config.dataDir, ...(config.store ? { url: config.store.url } : {}) });
  const actor = `local:${os.userInfo().username}`;
  try {
    const store = await TokenStore.open(db, { audit: await AuditLog.open(db) });
    if (sub === 'create') {
      const name = onePositional(positionals, 'NAME');
      const roles = (values.role ?? []).map((r) => {
        if (!isRole(r)) throw new UsageError(`unknown role ${JSON.stringify(r)}: signer, verifier, key-admin or policy-admin`);
        return r as Role;
      });
      if (!roles.length) throw new UsageError('token create needs at least one --role');
      let expiresAt: Date | undefined;
      if (values.expires) {
        expiresAt = new Date(values.expires);
        if (Number.isNaN(expiresAt.getTime())) throw new UsageError('--expires must be an RFC 3339 time');
      }
      const { token: secret, record } = await store.create({ name, roles, scopes: values.scope ?? [], createdBy: actor, ...(expiresAt ? { expiresAt } : {}) });
      if (values.json) process.stdout.write(`${JSON.stringify({ token: secret, ...record }, null, 2)}\n`);
      else {
        process.stdout.write(`${secret}\n`);
        process.stderr.write(`token ${record.name} (${record.roles.join(', ')}${record.scopes.length ? ` for ${record.scopes.join(', ')}` : ''}) created; it is shown only now\n`);
      }
      return 0;
    }
    if (sub === 'list') {
      const records = await store.list();
      if (values.json) process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
      else for (const r of records) process.stdout.write(`${r.name}\t${r.state}\t${r.roles.join(',')}\t${r.scopes.join(',')}\t${r.prefix}…\n`);
      return 0;
    }
    if (sub === 'revoke') {
      const record = await store.revoke(onePositional(positionals, 'NAME'), { revokedBy: actor, ...(values.reason ? { reason: values.reason } : {}) });
      process.stdout.write(`token ${record.name} revoked\n`);
      return 0;
    }
    throw new UsageError(`unknown token command "${sub ?? ''}" (create, list, revoke)`);
  } finally {
    await db.close();
  }
}

async function kek(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  const sub = subcommand('kek', first);
  const { values, positionals } = parse(rest, {
    'data-dir': { type: 'string' },
    config: { type: 'string' },
    'old-kek-file': { type: 'string' },
    'new-kek-file': { type: 'string' },
  }, isTopic(`kek ${sub}`) ? `kek ${sub}` : 'kek');
  if (sub !== 'rotate') throw new UsageError(`unknown kek command "${sub ?? ''}" (rotate)`);
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}`);
  if (!values['old-kek-file'] || !values['new-kek-file']) throw new UsageError('kek rotate needs --old-kek-file FILE and --new-kek-file FILE');
  const oldKek = loadKek({ file: values['old-kek-file'] });
  const newKek = loadKek({ file: values['new-kek-file'] });
  const config = loadConfig({ configFile: values.config, dataDir: values['data-dir'] });
  const file = sqliteFileOf(config.dataDir);
  if (!config.store && !existsSync(file)) {
    throw new CountersignError('NOT_FOUND', `no Countersign database at ${file}; pass the service's --data-dir (or its store.url / COUNTERSIGN_STORE_URL)`);
  }
  const db = await openStore({ dataDir: config.dataDir, ...(config.store ? { url: config.store.url } : {}) });
  try {
    const result = await ManagedKeyStore.rotateKek(db, await AuditLog.open(db), oldKek, newKek, `local:${os.userInfo().username}`);
    process.stdout.write(`${result.resealed} private key${result.resealed === 1 ? '' : 's'} sealed again under the new key-encryption key (fingerprint ${result.fingerprint}); start every replica with it\n`);
    return 0;
  } finally {
    await db.close();
  }
}

async function audit(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  const sub = subcommand('audit', first);
  const { values, positionals } = parse(rest, {
    'data-dir': { type: 'string' },
    config: { type: 'string' },
    limit: { type: 'string', default: '50' },
    actor: { type: 'string' },
    action: { type: 'string' },
    target: { type: 'string' },
    'expect-head': { type: 'string' },
    json: { type: 'boolean', default: false },
  }, isTopic(`audit ${sub}`) ? `audit ${sub}` : 'audit');
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const config = loadConfig({ configFile: values.config, dataDir: values['data-dir'] });
  const file = sqliteFileOf(config.dataDir);
  if (!config.store && !existsSync(file)) {
    throw new CountersignError('NOT_FOUND', `no Countersign database at ${file}; pass the service's --data-dir (or its store.url / COUNTERSIGN_STORE_URL)`);
  }
  const db = await openStore({ dataDir: config.dataDir, ...(config.store ? { url: config.store.url } : {}) });
  try {
    const log = await AuditLog.open(db);
    if (sub === 'list') {
      const limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit <= 0) throw new UsageError('--limit must be a positive integer');
      const entries = await log.list({ limit, ...(values.actor ? { actor: values.actor } : {}), ...(values.action ? { action: values.action } : {}), ...(values.target ? { target: values.target } : {}) });
      if (values.json) process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
      else {
        for (const e of entries) {
          process.stdout.write(`${String(e.seq).padStart(6)} ${e.at} ${e.outcome.padEnd(7)} ${e.actor} ${e.action}${e.target ? ` ${e.target}` : ''}${e.reason ? ` — ${e.reason}` : ''}\n`);
        }
      }
      return 0;
    }
    if (sub === 'verify') {
      let expectHead: { seq: number; hash: string } | undefined;
      if (values['expect-head']) {
        const m = /^(\d+):([0-9a-f]{64})$/.exec(values['expect-head']);
        if (!m) throw new UsageError('--expect-head must be SEQ:HASH as printed by a previous "audit verify"');
        expectHead = { seq: Number(m[1]), hash: m[2] as string };
      }
      const result = await log.verify(expectHead ? { expectHead } : {});
      if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else if (result.ok) {
        const head = await log.head();
        process.stdout.write(`audit chain intact: ${result.entries} entries; head ${head.seq}:${head.hash}\n`);
      } else process.stdout.write(`AUDIT CHAIN BROKEN at entry ${result.brokenAt}: ${result.problem} (${result.entries} entries verified before it)\n`);
      return result.ok ? 0 : 1;
    }
    throw new UsageError(`unknown audit command "${sub ?? ''}" (list, verify)`);
  } finally {
    await db.close();
  }
}

function onePositional(positionals: string[], name: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected exactly one ${name}, got ${positionals.length}`);
  return positionals[0] as string;
}

function parseAnnotations(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`annotation ${JSON.stringify(pair)} must be KEY=VALUE`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

function timeoutMs(seconds: string | undefined): number {
  const n = Number(seconds ?? '60');
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--timeout must be a positive number of seconds`);
  return n * 1000;
}

// `node dist/cli/main.js …` (what `npm start` and the systemd unit run) as well as bin/countersign.
if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`countersign: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
