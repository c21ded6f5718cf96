/**
 * Several `countersign serve` processes sharing one real PostgreSQL (`COUNTERSIGN_STORE_URL`) and
 * the suite's real Distribution registry (no referrers API, ignores If-Match: the `sha256-<hex>`
 * fallback index is a last-writer-wins tag). The store's advisory lock per subject serializes the
 * replicas' writes of one index, so no entry is lost however many replicas sign at once; and with
 * the store gone a Sign fails UNAVAILABLE naming it, without the process falling over.
 * Separate processes on purpose, as replicas run. Needs dist/ (npm test builds it first).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { advisoryKeys } from '../../src/coordination';
import { call } from '../../src/cli/client';
import { freePort } from '../../src/dev/local-registry';
import { pushSampleImage } from '../../src/dev/sample-image';
import { RegistryClient } from '../../src/registry';
import { testRegistryHost, uniqueRepo } from '../support/harness';
import { startServeProcess, type ServeProcess } from '../support/serve-process';
import { fetchBlob, fetchManifest, firstLayer, listReferrers, verifyBundle } from '../support/independent-verify';
import { freshDatabase, sharedKek, startPostgres, testPostgresUrl, type LocalPostgres } from '../support/postgres';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/countersign');

type Instance = ServeProcess;

let dir: string;
let host: string;
let pusher: RegistryClient;
const instances: Instance[] = [];

/** Every replica of one store must seal with the same KEK (one per store URL here). */
const keks = new Map<string, string>();

async function startInstance(name: string, storeUrl: string): Promise<Instance> {
  if (!keks.has(storeUrl)) keks.set(storeUrl, sharedKek());
  const instance = await startServeProcess(dir, name, { COUNTERSIGN_STORE_URL: storeUrl, COUNTERSIGN_KEK: keks.get(storeUrl)! });
  instances.push(instance);
  return instance;
}

beforeAll(() => {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does)');
  host = testRegistryHost();
  pusher = new RegistryClient({});
  dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-replicas-'));
});

afterAll(async () => {
  for (const i of instances) {
    i.signer.close();
    if (i.process.exitCode === null) {
      i.process.kill('SIGTERM');
      await new Promise((r) => i.process.once('exit', r));
    }
  }
  await pusher.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type SignResult = { result: { referrerDigest: string; referrersIndex: string } };

test('50 concurrent Signs of one digest over 3 replicas sharing PostgreSQL: 50 entries, every success listed', async () => {
  const storeUrl = await freshDatabase('signs');
  // The first replica creates the schema and the key; the others join it.
  const replicas = [await startInstance('a', storeUrl), ...(await Promise.all(['b', 'c'].map((n) => startInstance(n, storeUrl))))];
  const repository = uniqueRepo('replicas-pg');
  const image = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  const ref = `${host}/${repository}:v1`;

  const outcomes = await Promise.allSettled(
    Array.from({ length: 50 }, (_, i) =>
      call<SignResult>(replicas[i % 3]!.signer, 'Sign', { image: ref, key: 'ci', annotations: { n: String(i) } }, 60_000),
    ),
  );
  const failed = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [`${i}: ${(o.reason as grpc.ServiceError).details}`] : []));
  expect(failed).toEqual([]);

  // Read back independently: every entry verifies under one of the replicas' keys, and carries its Sign's `n`.
  const { source, manifests } = await listReferrers(host, repository, image.digest);
  expect(source).toBe('tag');
  const n: string[] = [];
  for (const entry of manifests) {
    const { json: manifest } = await fetchManifest(host, repository, entry.digest);
    const bundle: unknown = JSON.parse((await fetchBlob(host, repository, firstLayer(manifest).digest)).toString('utf8'));
    const statement = replicas
      .map((r) => {
        try {
          return verifyBundle(bundle, r.publicKeyPem, image.digest);
        } catch {
          return undefined;
        }
      })
      .find((s) => s !== undefined);
    expect(statement).toBeDefined();
    n.push(String(statement!.subject[0]?.annotations?.n));
  }
  expect(manifests).toHaveLength(50);
  expect(n.sort()).toEqual(Array.from({ length: 50 }, (_, i) => String(i)).sort());
  const reported = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.result] : []));
  expect(reported.map((r) => r.referrerDigest).sort()).toEqual(manifests.map((m) => m.digest).sort());
  expect(reported.every((r) => r.referrersIndex === 'tag')).toBe(true);
});

test('the store lock is what serializes: while another holder has the subject locked, a Sign waits for it', async () => {
  const storeUrl = await freshDatabase('held');
  const replica = await startInstance('held', storeUrl);
  const repository = uniqueRepo('replicas-pg-held');
  const image = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  // Another replica's session, holding the lock of this subject's index.
  const other = new pg.Client({ connectionString: storeUrl });
  await other.connect();
  try {
    const [k1, k2] = advisoryKeys(`${host}/${repository}@${image.digest}`);
    await other.query('SELECT pg_advisory_lock($1, $2)', [k1, k2]);
    const signing = call<SignResult>(
      replica.signer,
      'Sign',
      { image: `${host}/${repository}:v1`, key: 'ci', annotations: { n: 'held' } },
      60_000,
    );
    // Wait (a condition, not a time) until the replica's session queues behind ours in pg_locks.
    const waiting = async () =>
      await other
        .query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND NOT granted AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2`,
          [k1, k2],
        )
        .then((r) => r.rows[0]!.n);
    for (let i = 0; (await waiting()) === 0; i++) {
      if (i > 600) throw new Error('the replica never waited for the store lock');
      await new Promise((r) => setTimeout(r, 50));
    }
    // Blocked before writing: the index does not exist yet.
    expect((await listReferrers(host, repository, image.digest)).manifests).toEqual([]);
    await other.query('SELECT pg_advisory_unlock($1, $2)', [k1, k2]);
    const signed = await signing;
    expect((await listReferrers(host, repository, image.digest)).manifests.map((m) => m.digest)).toEqual([signed.result.referrerDigest]);
  } finally {
    await other.end();
  }
});

describe('PostgreSQL stopped during operation', () => {
  let own: LocalPostgres;
  beforeAll(async () => {
    own = await startPostgres(); // its own cluster: stopping the suite's would disturb other tests
  });
  afterAll(async () => {
    await own.destroy();
  });

  test('Signs fail UNAVAILABLE naming the store, the process stays up, and Signs work again once it is back', async () => {
    const replica = await startInstance('stopped', own.url);
    const repository = uniqueRepo('replicas-pg-down');
    await pushSampleImage(pusher, { registry: host, repository }, 'v1');
    const ref = `${host}/${repository}:v1`;
    const sign = (n: string) => call<SignResult>(replica.signer, 'Sign', { image: ref, key: 'ci', annotations: { n } }, 60_000);

    await expect(sign('before')).resolves.toMatchObject({ result: { referrersIndex: 'tag' } });
    await own.stop();
    const outcomes = await Promise.allSettled([sign('down-1'), sign('down-2'), sign('down-3')]);
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      const err = (o as PromiseRejectedResult).reason as grpc.ServiceError;
      expect(err.code).toBe(14); // UNAVAILABLE
      expect(err.details).toMatch(new RegExp(`PostgreSQL countersign@127\\.0\\.0\\.1:${own.port}/postgres`));
    }
    expect(replica.process.exitCode).toBeNull();

    await own.start();
    await expect(sign('after')).resolves.toMatchObject({ result: { referrersIndex: 'tag' } });
    expect(replica.process.exitCode).toBeNull();
  });
});

test('a replica whose store refuses its credentials does not start, and says why', async () => {
  const url = new URL(testPostgresUrl());
  url.password = 'wrong-password';
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--listen', `127.0.0.1:${await freePort()}`, '--data-dir', path.join(dir, 'refused', 'data')],
    {
      env: { ...process.env, COUNTERSIGN_KEYS_DIR: path.join(dir, 'refused', 'keys'), COUNTERSIGN_STORE_URL: url.toString() },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  expect(code).not.toBe(0);
  expect(output).toMatch(/refused the credentials in store\.url/);
  expect(output).not.toContain('wrong-password');
});
