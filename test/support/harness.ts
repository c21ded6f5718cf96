/** Starts the real service (composition root, real gRPC server) against the suite's real registry. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { createApp, type App } from '../../src/app';
import { defaultConfig, type ServiceConfig } from '../../src/config/config';
import { createLogger } from '../../src/logging/logger';
import { signingClient, verificationClient, keyClient, call, type UnaryClient } from '../../src/cli/client';

export function testRegistryHost(): string {
  const host = process.env.COUNTERSIGN_TEST_REGISTRY;
  if (!host) throw new Error('COUNTERSIGN_TEST_REGISTRY is not set: run the suite through jest (globalSetup starts the registry)');
  return host;
}

export interface RunningService {
  app: App;
  address: string;
  config: ServiceConfig;
  /** Every log line the service wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  rawLogs(): string;
  client: UnaryClient;
  call<Res>(method: string, request: unknown, timeoutMs?: number, token?: string): Promise<Res>;
  stop(): Promise<void>;
}

export async function startService(overrides: Partial<ServiceConfig> = {}): Promise<RunningService> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-test-'));
  const config: ServiceConfig = {
    ...defaultConfig(dir),
    listen: '127.0.0.1:0',
    keysDir: path.join(dir, 'keys'),
    dataDir: path.join(dir, 'data'),
    shutdownGraceMs: 5000,
    ...overrides,
  };
  const chunks: string[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8');
      chunks.push(text);
      for (const line of text.split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  const app = await createApp(config, logger);
  const port = await app.start();
  const address = `127.0.0.1:${port}`;
  const client = signingClient(address);
  const verifier = verificationClient(address);
  const keyAdmin = keyClient(address);
  const clientFor = (method: string) => (method.startsWith('Verify') ? verifier : /Key(s)?$/.test(method) ? keyAdmin : client);
  let stopped = false;
  return {
    app,
    address,
    config,
    logs,
    rawLogs: () => chunks.join(''),
    client,
    call: <Res>(method: string, request: unknown, timeoutMs = 30_000, token?: string) =>
      call<Res>(clientFor(method), method, request, timeoutMs, token),
    async stop() {
      if (stopped) return;
      stopped = true;
      client.close();
      verifier.close();
      keyAdmin.close();
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function grpcCode(err: unknown): string {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (typeof code !== 'number') return 'NOT_A_GRPC_ERROR';
  return (grpc.status as Record<number, string | undefined>)[code] ?? String(code); // a code outside the enum has no name
}

/** Awaits a promise expected to fail with a gRPC error; returns the status name and message. */
export async function grpcFailure(p: Promise<unknown>): Promise<{ code: string; details: string }> {
  try {
    await p;
  } catch (err) {
    return { code: grpcCode(err), details: (err as Partial<grpc.ServiceError>).details ?? '' };
  }
  throw new Error('expected the call to fail');
}

let counter = 0;
/** A repository name unique to this test run, so tests sharing the registry never collide. */
export function uniqueRepo(prefix: string): string {
  counter++;
  return `countersign-test/${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}
