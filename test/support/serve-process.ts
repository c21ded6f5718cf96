/**
 * `countersign serve` as a separate process (as replicas run: nothing shared but what the test
 * gives them), with its own data and keys directories under `dir/name` and a key `ci` created
 * through its KeyService once it answers. Needs dist/ (npm test builds it first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { call, keyClient, signingClient, type UnaryClient } from '../../src/cli/client';
import { freePort } from '../../src/dev/local-registry';

const BIN = path.resolve(__dirname, '../../bin/countersign');

export interface ServeProcess {
  process: ChildProcess;
  address: string;
  /** Everything it printed (stdout and stderr), for failure messages. */
  output: string;
  signer: UnaryClient;
  /** The public half of its key `ci`. */
  publicKeyPem: string;
}

/**
/**
 * Starts it and resolves once its key `ci` exists; `env` is added to this process's environment,
 * `args` to its command line (after the defaults: a repeated option wins). One worker unless `args`
 * says otherwise: `serve` defaults to one per core, and a suite of replicas on 2 cores has no room for that. Replicas sharing a
 * store (COUNTERSIGN_STORE_URL) share their keys too: the first creates `ci`, the others find it.
 */
export async function startServeProcess(
  dir: string,
  name: string,
  env: Record<string, string> = {},
  args: string[] = [],
  opts: { token?: string } = {},
): Promise<ServeProcess> {
  const address = `127.0.0.1:${await freePort()}`;
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--listen', address, '--data-dir', path.join(dir, name, 'data'), '--log-level', 'warn', '--workers', '1', ...args],
    {
      env: { ...process.env, COUNTERSIGN_KEYS_DIR: path.join(dir, name, 'keys'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const instance: ServeProcess = { process: child, address, output: '', signer: signingClient(address), publicKeyPem: '' };
  child.stdout.on('data', (d: Buffer) => (instance.output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (instance.output += d.toString()));
  // At warn level nothing announces readiness: poll until the key service answers.
  const keys = keyClient(address);
  try {
    for (let attempt = 0; ; attempt++) {
      if (child.exitCode !== null) throw new Error(`serve ${name} exited with ${child.exitCode}: ${instance.output}`);
      try {
        const created = await call<{ key: { publicKeyPem: string } }>(keys, 'CreateKey', { name: 'ci' }, 5_000, opts.token);
        instance.publicKeyPem = created.key.publicKeyPem;
        return instance;
      } catch (err) {
        if ((err as grpc.ServiceError).code === grpc.status.ALREADY_EXISTS /* another replica of the store made it */) {
          const existing = await call<{ key: { publicKeyPem: string } }>(keys, 'GetKey', { key: 'ci' }, 5_000, opts.token);
          instance.publicKeyPem = existing.key.publicKeyPem;
          return instance;
        }
        if (attempt >= 100 || (err as grpc.ServiceError).code !== grpc.status.UNAVAILABLE /* not listening yet */) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    instance.signer.close();
    child.kill('SIGKILL');
    throw err;
  } finally {
    keys.close();
  }
}
