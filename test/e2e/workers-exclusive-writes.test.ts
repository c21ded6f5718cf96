/**
 * `registry.exclusiveReferrerWrites` with `serve --workers 2` against the suite's real
 * Distribution (no referrers API, If-Match ignored: the `sha256-<hex>` fallback index is a
 * last-writer-wins tag that both workers rewrite). Under the setting Sign skips its settle delay
 * and relies on the lock the primary holds for its workers (src/cluster/cluster-write-lock.ts):
 * concurrent Signs of one digest through both workers must still lose no entry. And where the
 * setting cannot be honoured (a cluster worker forked by some other primary), startup refuses.
 * Needs dist/ (npm test builds it first).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { call, type UnaryClient } from '../../src/cli/client';
import { pushSampleImage } from '../../src/dev/sample-image';
import { serviceConstructor } from '../../src/grpc/proto';
import { RegistryClient } from '../../src/registry';
import { freePort } from '../../src/dev/local-registry';
import { testRegistryHost, uniqueRepo } from '../support/harness';
import { startServeProcess, type ServeProcess } from '../support/serve-process';
import { listReferrers, verifiedReferrers } from '../support/independent-verify';

const BIN = path.resolve(__dirname, '../../dist/cli/main.js');
const SIGNS = 40;
const CONNECTIONS = 8;

let dir: string;
let serve: ServeProcess | undefined;
let pusher: RegistryClient;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-exclusive-'));
  pusher = new RegistryClient({});
});

afterAll(async () => {
  if (serve) {
    serve.signer.close();
    if (serve.process.exitCode === null) {
      const exited = new Promise((r) => serve!.process.once('exit', r));
      serve.process.kill('SIGTERM');
      await exited;
    }
  }
  await pusher.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A signing client on its own connection (the primary hands connections to the workers in turn). */
function freshSigner(address: string): UnaryClient {
  const Ctor = serviceConstructor('SigningService');
  return new Ctor(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as unknown as UnaryClient;
}

/** The pids of the workers whose log lines record a Sign call. */
function signPids(output: string): Set<number> {
  const pids = new Set<number>();
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const l = JSON.parse(line) as { method?: string; pid?: number };
    if (l.method === 'countersign.v1.SigningService/Sign' && typeof l.pid === 'number') pids.add(l.pid);
  }
  return pids;
}

test(`${SIGNS} concurrent Signs of one digest through 2 workers, without the settle delay: every success is listed, none fails`, async () => {
  serve = await startServeProcess(dir, 'w', { COUNTERSIGN_EXCLUSIVE_REFERRER_WRITES: 'true' }, ['--workers', '2', '--log-level', 'info']);
  // The second worker starts once the first serves: wait until both do, so both get connections.
  for (let i = 0; i < 100 && !serve.output.includes('countersign serving with workers'); i++) await new Promise((r) => setTimeout(r, 100));
  expect(serve.output).toContain('countersign serving with workers');
  const host = testRegistryHost();
  const repository = uniqueRepo('exclusive-writes');
  const image = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  const ref = `${host}/${repository}@${image.digest}`;
  const signers = Array.from({ length: CONNECTIONS }, () => freshSigner(serve!.address));
  let outcomes: Array<PromiseSettledResult<{ result: { referrerDigest: string; referrersIndex: string } }>>;
  try {
    outcomes = await Promise.allSettled(
      Array.from({ length: SIGNS }, (_, i) =>
        call<{ result: { referrerDigest: string; referrersIndex: string } }>(
          signers[i % CONNECTIONS]!,
          'Sign',
          { image: ref, key: 'ci', annotations: { n: String(i) } },
          60_000,
        ),
      ),
    );
  } finally {
    for (const s of signers) s.close();
  }
  const failed = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [`${i}: ${(o.reason as grpc.ServiceError).details}`] : []));
  expect(failed).toEqual([]);

  // Both workers wrote, and both took the primary's lock (their startup line says which lock).
  for (let i = 0; i < 50 && signPids(serve.output).size < 2; i++) await new Promise((r) => setTimeout(r, 100));
  expect(signPids(serve.output).size).toBe(2);
  const lockLines = serve.output.split('\n').filter((l) => l.includes('"lock":"serve --workers primary"'));
  expect(lockLines).toHaveLength(2);

  // Read and verified independently: each entry is a bundle signed by the service's key over this digest.
  const { source, manifests } = await listReferrers(host, repository, image.digest);
  expect(source).toBe('tag');
  const verified = await verifiedReferrers(host, repository, image.digest, serve.publicKeyPem);
  expect(verified).toHaveLength(manifests.length); // nothing skipped as not a bundle
  const listed = verified.map((v) => String(v.statement.subject[0]?.annotations?.n));
  expect(new Set(listed).size).toBe(manifests.length); // no duplicates
  expect(listed.sort()).toEqual(Array.from({ length: SIGNS }, (_, i) => String(i)).sort());
  const reported = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.result] : []));
  expect(reported.map((r) => r.referrerDigest).sort()).toEqual(manifests.map((m) => m.digest).sort());
  expect(reported.every((r) => r.referrersIndex === 'tag')).toBe(true);
}, 120_000);

test('refused at startup in a cluster worker that `serve --workers N` did not fork (no primary-held lock)', async () => {
  // Another cluster primary (as pm2's cluster mode is) forking `countersign serve`.
  const primary = `
    const cluster = require('node:cluster');
    cluster.setupPrimary({ exec: ${JSON.stringify(BIN)}, args: process.argv.slice(1), execArgv: [], silent: false });
    cluster.fork().on('exit', (code) => process.exit(code ?? 1));
  `;
  const address = `127.0.0.1:${await freePort()}`;
  const child = spawn(
    process.execPath,
    ['-e', primary, 'serve', '--listen', address, '--data-dir', path.join(dir, 'foreign', 'data'), '--workers', '1'],
    {
      env: { ...process.env, COUNTERSIGN_KEYS_DIR: path.join(dir, 'foreign', 'keys'), COUNTERSIGN_EXCLUSIVE_REFERRER_WRITES: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  // It ends by itself (a cluster worker whose start failed disconnects, which Node's cluster
  // module turns into exit code 0: the refusal is in the output).
  await new Promise((resolve) => child.once('exit', resolve));
  expect(output).toMatch(/registry\.exclusiveReferrerWrites cannot be honoured here: this process is a Node cluster worker not started by/);
  expect(output).not.toMatch(/countersign serving/);
}, 60_000);
