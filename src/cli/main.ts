import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createApp } from '../app';
import { loadConfig } from '../config/config';
import { FileKeyStore } from '../keys';
import { createLogger } from '../logging/logger';
import { CountersignError } from '../shared/errors';
import type { SignedArtifact } from '../signing';
import { call, describeGrpcError, serverAddress, signingClient, verificationClient } from './client';

const USAGE = `usage: countersign <command> [options]

commands:
  serve   [--config FILE] [--listen HOST:PORT] [--keys-dir DIR] [--data-dir DIR] [--policy FILE] [--log-level LEVEL]
  sign    IMAGE --key NAME [-a KEY=VALUE]... [--server HOST:PORT] [--timeout SECONDS] [--json]
  attest  IMAGE --key NAME --type spdx|cyclonedx|vuln|URI --predicate FILE [--scan-time RFC3339]
          [-a KEY=VALUE]... [--server HOST:PORT] [--timeout SECONDS] [--json]
  verify  IMAGE [--action deploy|push|pull] [--namespace NS] [--identity ID] [--label KEY=VALUE]...
          [--server HOST:PORT] [--timeout SECONDS] [--json]
          exit status: 0 allowed, 1 denied (reasons printed), 2 error
  keys create NAME [--keys-dir DIR] [--json]
  keys list [--keys-dir DIR] [--json]

The server address defaults to $COUNTERSIGN_SERVER or 127.0.0.1:50051.`;

/** Exit codes: 0 success, 1 the operation failed, 2 usage error. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(rest);
      case 'sign':
        return await sign(rest);
      case 'attest':
        return await attest(rest);
      case 'keys':
        return await keys(rest);
      case 'verify':
        return await verify(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        return usage(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) return usage(err.message);
    const msg = err instanceof CountersignError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`countersign: ${msg}\n`);
    return 1;
  }
}

class UsageError extends Error {}

function usage(message: string): number {
  process.stderr.write(`countersign: ${message}\n${USAGE}\n`);
  return 2;
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

const clientOptions = {
  server: { type: 'string' },
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
    'log-level': { type: 'string' },
  });
  const config = loadConfig({
    policyFile: values.policy,
    configFile: values.config,
    listen: values.listen,
    keysDir: values['keys-dir'],
    dataDir: values['data-dir'],
    logLevel: values['log-level'],
  });
  const logger = createLogger({ level: config.logLevel });
  const app = await createApp(config, logger);
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

async function sign(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...clientOptions,
    key: { type: 'string' },
    annotation: { type: 'string', short: 'a', multiple: true },
  });
  const image = onePositional(positionals, 'IMAGE');
  if (!values.key) throw new UsageError('--key NAME is required');
  const address = serverAddress(values.server);
  const request = { image, key: values.key, annotations: parseAnnotations(values.annotation ?? []) };
  return runSigningCall(address, 'Sign', request, values.json, timeoutMs(values.timeout));
}

async function attest(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...clientOptions,
    key: { type: 'string' },
    type: { type: 'string' },
    predicate: { type: 'string' },
    'scan-time': { type: 'string' },
    annotation: { type: 'string', short: 'a', multiple: true },
  });
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
  const address = serverAddress(values.server);
  const request = {
    image,
    key: values.key,
    predicateType: values.type,
    predicate,
    scanTime: values['scan-time'] ?? '',
    annotations: parseAnnotations(values.annotation ?? []),
  };
  return runSigningCall(address, 'Attest', request, values.json, timeoutMs(values.timeout));
}

async function runSigningCall(address: string, method: 'Sign' | 'Attest', request: unknown, json: boolean, timeout: number): Promise<number> {
  const client = signingClient(address);
  try {
    const { result } = await call<{ result: SignedArtifact }>(client, method, request, timeout);
    if (json) {
      process.stdout.write(`${JSON.stringify({ ...result, bundle: JSON.parse(result.bundle) }, null, 2)}\n`);
    } else {
      const what = method === 'Sign' ? 'signed' : `attested (${result.summary})`;
      process.stdout.write(
        `${what} ${result.image}\n  digest:   ${result.digest}\n  key:      ${result.keyName} (${result.keyId})\n` +
          `  predicate: ${result.predicateType}\n  referrer: ${result.referrerDigest} (referrers ${result.referrersIndex === 'api' ? 'API' : 'tag index'})\n`,
      );
    }
    return 0;
  } catch (err) {
    process.stderr.write(`countersign: ${describeGrpcError(err, address)}\n`);
    return 1;
  } finally {
    client.close();
  }
}

interface VerifyResponseMsg {
  allowed: boolean;
  image: string;
  digest: string;
  mode: string;
  rule: string;
  requirements: Array<{ requirement: string; satisfied: boolean; message: string }>;
  evidence: Array<{ referrerDigest: string; format: string; kind: string; verified: boolean; reason: string; keyName: string; predicateType: string }>;
  policyRevision: string;
  trustRevision: string;
  cached: boolean;
  warnings: string[];
  reasons: string[];
}

async function verify(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...clientOptions,
    action: { type: 'string', default: 'deploy' },
    namespace: { type: 'string' },
    identity: { type: 'string' },
    label: { type: 'string', multiple: true },
  });
  const image = onePositional(positionals, 'IMAGE');
  const action = values.action.toLowerCase();
  if (!['deploy', 'push', 'pull'].includes(action)) throw new UsageError('--action must be deploy, push or pull');
  const address = serverAddress(values.server);
  const client = verificationClient(address);
  const request = {
    image,
    action: `ACTION_${action.toUpperCase()}`,
    context: { namespace: values.namespace ?? '', identity: values.identity ?? '', labels: parseAnnotations(values.label ?? []) },
  };
  try {
    const r = await call<VerifyResponseMsg>(client, 'Verify', request, timeoutMs(values.timeout));
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
        process.stdout.write(`  evidence ${e.referrerDigest.slice(0, 19)}… ${what} ${e.verified ? `verified (key ${e.keyName})` : `not verified: ${e.reason}`}\n`);
      }
    }
    return r.allowed ? 0 : 1;
  } catch (err) {
    process.stderr.write(`countersign: ${describeGrpcError(err, address)}\n`);
    return 2;
  } finally {
    client.close();
  }
}

async function keys(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest, { 'keys-dir': { type: 'string' }, json: { type: 'boolean', default: false } });
  const config = loadConfig({ keysDir: values['keys-dir'] });
  const store = new FileKeyStore(config.keysDir);
  if (sub === 'create') {
    const name = onePositional(positionals, 'NAME');
    const info = await store.create(name);
    if (values.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    else process.stdout.write(`created key ${info.name}\nid: ${info.id}\n${info.publicKeyPem}`);
    return 0;
  }
  if (sub === 'list') {
    const infos = await store.list();
    if (values.json) process.stdout.write(`${JSON.stringify(infos, null, 2)}\n`);
    else for (const i of infos) process.stdout.write(`${i.name}\t${i.id}\t${i.algorithm}\n`);
    return 0;
  }
  throw new UsageError(`unknown keys command "${sub ?? ''}" (create, list)`);
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
