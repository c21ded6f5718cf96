/**
 * Replicas sharing one real PostgreSQL hold ONE state: keys, tokens and the audit chain. Separate
 * `countersign serve` processes (as replicas run) and the real registry:
 * - a key revoked through replica A stops an image on replica B (B had a cached allow);
 * - a token revoked in the store (the `countersign token` CLI) is refused by replica B;
 * - a policy set through replica A (`countersign policy set`) denies on replica B what B admitted;
 * - concurrent audited changes on 3 replicas leave one chain that `countersign audit verify`
 *   (pointed at the store) finds intact, with exactly the expected entries; a replica SIGKILLed
 *   among them leaves nothing half-written;
 * - PostgreSQL stopped: readiness fails, Verify denies what needs the keys (onError) with a
 *   reason, nobody crashes, and all of it comes back with the server.
 * Changes are observed by polling B for a bounded number of attempts: the final state and that it
 * changed are asserted, never a duration. Needs dist/ (npm test builds it first).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { call, keyClient, policyClient, verificationClient, type UnaryClient } from '../../src/cli/client';
import { freePort } from '../../src/dev/local-registry';
import { pushSampleImage } from '../../src/dev/sample-image';
import { RegistryClient } from '../../src/registry';
import { healthStatus } from '../support/grpc-health';
import { testRegistryHost, uniqueRepo } from '../support/harness';
import { freshDatabase, sharedKek, startPostgres, type LocalPostgres } from '../support/postgres';
import { startServeProcess, type ServeProcess } from '../support/serve-process';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/countersign');
const run = promisify(execFile);

interface VerifyResponse {
  allowed: boolean;
  reasons: string[];
}

let dir: string;
let host: string;
let pusher: RegistryClient;
const replicas: ServeProcess[] = [];
const clients: UnaryClient[] = [];

beforeAll(() => {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does)');
  host = testRegistryHost();
  pusher = new RegistryClient({});
  dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-replicas-state-'));
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const r of replicas) {
    r.signer.close();
    if (r.process.exitCode === null && r.process.signalCode === null) {
      r.process.kill('SIGTERM');
      await new Promise((done) => r.process.once('exit', done));
    }
  }
  await pusher.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function replica(name: string, env: Record<string, string>, token?: string): Promise<ServeProcess> {
  const r = await startServeProcess(dir, name, env, [], token ? { token } : {});
  replicas.push(r);
  return r;
}

function client<T extends UnaryClient>(make: (address: string) => T, r: ServeProcess): T {
  const c = make(r.address);
  clients.push(c);
  return c;
}

/** The `countersign` CLI with `env` (stdout; rejects with the output on a non-zero exit). */
async function cli(args: string[], env: Record<string, string>): Promise<string> {
  const { stdout } = await run(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
  return stdout;
}

/** Asks `ask` until `done` says yes, at most `attempts` times 50 ms apart; returns every answer. */
async function pollUntil<T>(ask: () => Promise<T>, done: (answer: T) => boolean, attempts = 100): Promise<T[]> {
  const answers: T[] = [];
  for (let i = 0; i < attempts; i++) {
    const answer = await ask();
    answers.push(answer);
    if (done(answer)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return answers;
}

test('a key revoked through replica A denies on replica B, whose allow was cached', async () => {
  const env = { COUNTERSIGN_STORE_URL: await freshDatabase('revoke_e2e'), COUNTERSIGN_KEK: sharedKek() };
  const a = await replica('revoke-a', env);
  const b = await replica('revoke-b', env);
  expect(b.publicKeyPem).toBe(a.publicKeyPem); // one key, held by the store
  const repository = uniqueRepo('replicas-revoke');
  const image = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  const ref = `${host}/${repository}@${image.digest}`;
  await call(a.signer, 'Sign', { image: ref, key: 'ci' }, 60_000);

  const verifyOnB = () => call<VerifyResponse>(client(verificationClient, b), 'Verify', { image: ref, action: 'ACTION_DEPLOY' }, 10_000);
  expect(await verifyOnB()).toMatchObject({ allowed: true });
  expect(await verifyOnB()).toMatchObject({ allowed: true, cached: true });

  await call(client(keyClient, a), 'RevokeKey', { key: 'ci', reason: 'key leaked' }, 10_000);
  const answers = await pollUntil(verifyOnB, (r) => !r.allowed);
  const last = answers[answers.length - 1]!;
  expect(last.allowed).toBe(false);
  expect(last.reasons.join('\n')).toMatch(/revoked/);
  // And it stays denied.
  expect(await verifyOnB()).toMatchObject({ allowed: false });
});

test('a token revoked in the store is refused by replica B', async () => {
  const storeUrl = await freshDatabase('token_e2e');
  const env = { COUNTERSIGN_STORE_URL: storeUrl, COUNTERSIGN_KEK: sharedKek(), COUNTERSIGN_AUTH_MODE: 'enforce' };
  const cliEnv = { COUNTERSIGN_STORE_URL: storeUrl, COUNTERSIGN_DATA_DIR: path.join(dir, 'token-cli') };
  const admin = (
    await cli(['token', 'create', 'admin', '--role', 'key-admin', '--role', 'signer', '--role', 'verifier', '--scope', '**'], cliEnv)
  ).trim();
  await replica('token-a', env, admin);
  const b = await replica('token-b', env, admin);
  const gate = (await cli(['token', 'create', 'gate', '--role', 'verifier'], cliEnv)).trim();
  const repository = uniqueRepo('replicas-token');
  await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  const verifyOnB = () =>
    call<VerifyResponse>(
      client(verificationClient, b),
      'Verify',
      { image: `${host}/${repository}:v1`, action: 'ACTION_DEPLOY' },
      10_000,
      gate,
    ).then(
      () => 'answered',
      (err: unknown) => `${(err as grpc.ServiceError).code}: ${(err as grpc.ServiceError).details}`,
    );
  // Created after B started, by another process: found at its first use.
  expect(await verifyOnB()).toBe('answered');

  await cli(['token', 'revoke', 'gate', '--reason', 'rotated'], cliEnv);
  // (It answered before the revocation, above; the first poll may already see it refused.)
  const answers = await pollUntil(verifyOnB, (r) => r !== 'answered');
  expect(answers[answers.length - 1]).toMatch(/^16: token gate was revoked at /); // UNAUTHENTICATED
});

test('concurrent audited changes on 3 replicas: one chain, every entry, verified by the CLI against the store', async () => {
  const storeUrl = await freshDatabase('audit_e2e');
  const env = { COUNTERSIGN_STORE_URL: storeUrl, COUNTERSIGN_KEK: sharedKek() };
  const first = await replica('audit-a', env); // creates the schema and the key `ci` (entry 1)
  const three = [first, ...(await Promise.all([replica('audit-b', env), replica('audit-c', env)]))];
  const PER_REPLICA = 15;
  const outcomes = await Promise.allSettled(
    three.flatMap((r, n) =>
      Array.from({ length: PER_REPLICA }, (_, i) => call(client(keyClient, r), 'CreateKey', { name: `k-${n}-${i}` }, 30_000)),
    ),
  );
  expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);

  const cliEnv = { COUNTERSIGN_STORE_URL: storeUrl, COUNTERSIGN_DATA_DIR: path.join(dir, 'audit-cli') };
  const out = await cli(['audit', 'verify'], cliEnv);
  expect(out).toMatch(new RegExp(`^audit chain intact: ${1 + 3 * PER_REPLICA} entries; head ${1 + 3 * PER_REPLICA}:[0-9a-f]{64}\\n$`));
  const listed = JSON.parse(await cli(['audit', 'list', '--limit', '1000', '--json'], cliEnv)) as Array<{ action: string; target: string }>;
  expect(
    listed
      .filter((e) => e.action === 'key.create')
      .map((e) => e.target)
      .sort(),
  ).toEqual(['ci', ...three.flatMap((_, n) => Array.from({ length: PER_REPLICA }, (_, i) => `k-${n}-${i}`))].sort());
});

test('a replica SIGKILLed during writes leaves no half-written change: every key has its audit entry and the chain verifies', async () => {
  const storeUrl = await freshDatabase('kill_e2e');
  const env = { COUNTERSIGN_STORE_URL: storeUrl, COUNTERSIGN_KEK: sharedKek() };
  const survivor = await replica('kill-a', env);
  const victim = await replica('kill-b', env);
  const writes = [
    ...Array.from({ length: 20 }, (_, i) => call(client(keyClient, victim), 'CreateKey', { name: `v-${i}` }, 30_000)),
    ...Array.from({ length: 20 }, (_, i) => call(client(keyClient, survivor), 'CreateKey', { name: `s-${i}` }, 30_000)),
  ];
  // Kill it once its first change is in the store: the rest of its writes are in flight.
  const db = new pg.Client({ connectionString: storeUrl });
  await db.connect();
  try {
    await pollUntil(
      () => db.query<{ n: number }>(`SELECT count(*)::int AS n FROM keys WHERE name LIKE 'v-%'`).then((r) => r.rows[0]!.n),
      (n) => n > 0,
      600,
    );
    victim.process.kill('SIGKILL');
    const outcomes = await Promise.allSettled(writes);
    expect(outcomes.slice(20).filter((o) => o.status === 'rejected')).toEqual([]); // the survivor's all went through
    const keys = (await db.query<{ name: string }>(`SELECT name FROM keys ORDER BY name`)).rows.map((r) => r.name);
    const created = (
      await db.query<{ target: string }>(`SELECT target FROM audit_log WHERE action = 'key.create' ORDER BY target`)
    ).rows.map((r) => r.target);
    expect(created).toEqual(keys);
    expect(keys.filter((k) => k.startsWith('s-'))).toHaveLength(20);
  } finally {
    await db.end();
  }
  const out = await cli(['audit', 'verify'], { COUNTERSIGN_STORE_URL: storeUrl, COUNTERSIGN_DATA_DIR: path.join(dir, 'kill-cli') });
  expect(out).toMatch(/^audit chain intact: \d+ entries/);
});

test('a policy set through replica A (the policy CLI) denies on replica B an image B admitted; GetPolicy on B shows the new revision', async () => {
  const storeUrl = await freshDatabase('policy_e2e');
  const env = { COUNTERSIGN_STORE_URL: storeUrl, COUNTERSIGN_KEK: sharedKek(), COUNTERSIGN_AUTH_MODE: 'enforce' };
  const storeCli = { COUNTERSIGN_STORE_URL: storeUrl, COUNTERSIGN_DATA_DIR: path.join(dir, 'policy-cli') };
  const admin = (await cli(['token', 'create', 'admin', '--role', 'key-admin', '--role', 'signer', '--scope', '**'], storeCli)).trim();
  const policyAdmin = (await cli(['token', 'create', 'policy', '--role', 'policy-admin'], storeCli)).trim();
  const verifier = (await cli(['token', 'create', 'gate', '--role', 'verifier'], storeCli)).trim();
  const a = await replica('policy-a', env, admin);
  const b = await replica('policy-b', env, admin);
  const repository = uniqueRepo('replicas-policy');
  const image = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  const ref = `${host}/${repository}@${image.digest}`;
  await call(a.signer, 'Sign', { image: ref, key: 'ci' }, 60_000, admin);
  const verifyOnB = () =>
    call<VerifyResponse>(client(verificationClient, b), 'Verify', { image: ref, action: 'ACTION_DEPLOY' }, 10_000, verifier);
  // A verifier may read the policy.
  const policyOnB = () =>
    call<{ policy: { revision: string; source: string; setBy: string; text: string } }>(
      client(policyClient, b),
      'GetPolicy',
      {},
      10_000,
      verifier,
    );
  expect(await verifyOnB()).toMatchObject({ allowed: true });
  expect(await verifyOnB()).toMatchObject({ allowed: true, cached: true });
  expect((await policyOnB()).policy).toMatchObject({ revision: 'default', source: 'POLICY_SOURCE_NONE' });

  const text = `rules:\n  - name: frozen\n    match: { images: ["${host}/${repository}"] }\n    deny: "deployments of ${repository} are frozen"\n  - name: signed\n    match: { images: ["**"] }\n    require: { signatures: {} }\n`;
  const file = path.join(dir, 'policy-e2e.yaml');
  writeFileSync(file, text);
  const cliEnv = { COUNTERSIGN_SERVER: a.address, COUNTERSIGN_TOKEN: policyAdmin };
  // Only policy-admin may set it.
  await expect(cli(['policy', 'set', file], { ...cliEnv, COUNTERSIGN_TOKEN: verifier })).rejects.toMatchObject({
    stderr: expect.stringContaining('lacks role policy-admin') as unknown,
  });
  // Compare-and-set against a stale revision is refused and changes nothing.
  await expect(cli(['policy', 'set', file, '--expected-revision', 'abcdef012345'], cliEnv)).rejects.toMatchObject({
    stderr: expect.stringMatching(/FAILED_PRECONDITION|revision default, not abcdef012345/) as unknown,
  });
  expect(await cli(['policy', 'set', file, '--expected-revision', 'default'], cliEnv)).toMatch(
    /^policy revision [0-9a-f]{12} is in force \(it replaced default\)\n$/,
  );
  const onA = JSON.parse(await cli(['policy', 'get', '--json'], cliEnv)) as { revision: string; source: string; text: string };
  expect(onA).toMatchObject({ source: 'POLICY_SOURCE_STORE', text, setBy: 'token:policy' });

  const answers = await pollUntil(verifyOnB, (r) => !r.allowed);
  const last = answers[answers.length - 1]!;
  expect(last.allowed).toBe(false);
  expect(last.reasons.join('\n')).toContain(`deployments of ${repository} are frozen`);
  expect((await policyOnB()).policy).toMatchObject({ revision: onA.revision, source: 'POLICY_SOURCE_STORE', text, setBy: 'token:policy' });
  // The change is in the one audit chain.
  const listed = JSON.parse(await cli(['audit', 'list', '--action', 'policy.set', '--json'], storeCli)) as Array<{
    details: { revision: string };
  }>;
  expect(listed.map((e) => e.details.revision)).toEqual([onA.revision]);
});

describe('PostgreSQL stopped while serving', () => {
  let own: LocalPostgres;
  beforeAll(async () => {
    own = await startPostgres(); // its own cluster: stopping the suite's would disturb other tests
  });
  afterAll(async () => {
    await own.destroy();
  });

  const readyz = (port: number) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/readyz' }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });

  test('readiness fails, Verify denies what needs the keys with a reason, no crash; all resumes when it is back', async () => {
    const metricsPort = await freePort();
    const r = await replica('down', {
      COUNTERSIGN_STORE_URL: own.url,
      COUNTERSIGN_KEK: sharedKek(),
      COUNTERSIGN_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
    });
    const repository = uniqueRepo('replicas-store-down');
    const image = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
    const ref = `${host}/${repository}@${image.digest}`;
    await call(r.signer, 'Sign', { image: ref, key: 'ci' }, 60_000);
    const verify = () => call<VerifyResponse>(client(verificationClient, r), 'Verify', { image: ref, action: 'ACTION_DEPLOY' }, 10_000);
    expect(await verify()).toMatchObject({ allowed: true });
    expect(await readyz(metricsPort)).toMatchObject({ status: 200 });
    expect(await healthStatus(r.address)).toBe('SERVING');

    await own.stop();
    const down = await pollUntil(
      () => readyz(metricsPort),
      (x) => x.status === 503,
    );
    expect(down[down.length - 1]).toMatchObject({ status: 503, body: expect.stringMatching(/store/) as unknown });
    const grpcDown = await pollUntil(
      () => healthStatus(r.address),
      (st) => st === 'NOT_SERVING',
    );
    expect(grpcDown[grpcDown.length - 1]).toBe('NOT_SERVING');
    const denied = await verify();
    expect(denied.allowed).toBe(false);
    expect(denied.reasons.join('\n')).toMatch(/key store cannot be relied on.*onError: deny/s);
    expect(r.process.exitCode).toBeNull();

    await own.start();
    const up = await pollUntil(
      () => readyz(metricsPort),
      (x) => x.status === 200,
      300,
    );
    expect(up[up.length - 1]).toMatchObject({ status: 200 });
    const grpcUp = await pollUntil(
      () => healthStatus(r.address),
      (st) => st === 'SERVING',
    );
    expect(grpcUp[grpcUp.length - 1]).toBe('SERVING');
    expect(await verify()).toMatchObject({ allowed: true });
    expect(r.process.exitCode).toBeNull();
  });
});
