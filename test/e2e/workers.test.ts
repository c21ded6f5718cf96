/**
 * `countersign serve --workers 2` (src/cluster): two worker processes behind one listening
 * socket. A key revoked through one worker must deny at once on every worker: each Verify after
 * the RevokeKey answer goes out on a fresh connection (the primary hands connections to the
 * workers in turn), and the log lines (one per denial, never sampled; each names its worker's
 * pid) show that both workers answered. Needs dist/ (npm test builds it first).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { call, keyClient, type UnaryClient } from '../../src/cli/client';
import { pushSampleImage } from '../../src/dev/sample-image';
import { serviceConstructor } from '../../src/grpc/proto';
import { RegistryClient } from '../../src/registry';
import { freePort } from '../../src/dev/local-registry';
import { testRegistryHost, uniqueRepo } from '../support/harness';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text';
import { startServeProcess, type ServeProcess } from '../support/serve-process';
import { WORKER_SEMI_SPACE_MB } from '../../src/cluster/heap-flags';

let dir: string;
let serve: ServeProcess | undefined;
let metricsServe: ServeProcess | undefined;
let pusher: RegistryClient;

async function stopServe(s: ServeProcess | undefined): Promise<void> {
  if (!s) return;
  s.signer.close();
  if (s.process.exitCode !== null) return;
  const exited = new Promise((r) => s.process.once('exit', r));
  s.process.kill('SIGTERM');
  await exited;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-workers-'));
  pusher = new RegistryClient({});
});

afterAll(async () => {
  await stopServe(serve);
  await stopServe(metricsServe);
  await pusher.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A client on its own connection (no subchannel shared with other clients). */
function freshVerifier(address: string): UnaryClient {
  const Ctor = serviceConstructor('VerificationService');
  return new Ctor(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as unknown as UnaryClient;
}

async function verifyOnFreshConnection(address: string, image: string): Promise<{ allowed: boolean; reasons: string[] }> {
  const client = freshVerifier(address);
  try {
    return await call(client, 'Verify', { image, action: 'ACTION_DEPLOY' }, 20_000);
  } finally {
    client.close();
  }
}

/** The pids of the workers whose log lines record a Verify of `image` with this outcome. */
function verifyPids(output: string, image: string, allowed: boolean): Set<number> {
  const pids = new Set<number>();
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const l = JSON.parse(line) as { method?: string; image?: string; allowed?: boolean; pid?: number };
    if (l.method === 'countersign.v1.VerificationService/Verify' && l.image === image && l.allowed === allowed && typeof l.pid === 'number')
      pids.add(l.pid);
  }
  return pids;
}

test('a key revoked through one worker denies at once on every worker', async () => {
  serve = await startServeProcess(dir, 'w', {}, ['--workers', '2', '--log-level', 'info']);
  const host = testRegistryHost();
  const repository = uniqueRepo('workers');
  const pushed = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  const image = `${host}/${repository}@${pushed.digest}`;
  await call(serve.signer, 'Sign', { image, key: 'ci' }, 30_000);

  // Allowed on both workers first (each has the evidence cached: revocation must undo that).
  // Connections go round-robin, but under load a worker can be slow to take its turn and its log
  // line lands after the call returns: keep asking (each answer must be an allow) until the log
  // shows both workers answered, for at most 80 calls (a loaded CI machine has needed more than 30).
  const before = [];
  for (let i = 0; i < 80 && (i < 6 || verifyPids(serve.output, image, true).size < 2); i++) {
    before.push(await verifyOnFreshConnection(serve.address, image));
    if (i >= 6) await new Promise((r) => setTimeout(r, 100));
  }
  expect(before.every((r) => r.allowed)).toBe(true);
  expect(verifyPids(serve.output, image, true).size).toBe(2);

  const keys = keyClient(serve.address);
  try {
    await call(keys, 'RevokeKey', { key: 'ci', reason: 'workers test' }, 10_000);
  } finally {
    keys.close();
  }
  const after = [];
  for (let i = 0; i < 6; i++) after.push(await verifyOnFreshConnection(serve.address, image));
  expect(after.map((r) => r.allowed)).toEqual([false, false, false, false, false, false]);
  for (const r of after) expect(r.reasons.join(' ')).toMatch(/revoked|no longer trusted/);
  // Log lines are written asynchronously: wait until every denial is in the output.
  for (let i = 0; i < 50 && verifyPids(serve.output, image, false).size < 2; i++) await new Promise((r) => setTimeout(r, 100));
  expect(verifyPids(serve.output, image, false).size).toBe(2);
}, 90_000);

test('the metrics port adds up every worker: each scrape counts all the calls, whichever worker answered them', async () => {
  const metricsPort = await freePort();
  metricsServe = await startServeProcess(dir, 'm', {}, [
    '--workers',
    '2',
    '--log-level',
    'info',
    '--metrics-listen',
    `127.0.0.1:${metricsPort}`,
  ]);
  const host = testRegistryHost();
  const repository = uniqueRepo('workers-metrics');
  const pushed = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  const image = `${host}/${repository}@${pushed.digest}`;
  await call(metricsServe.signer, 'Sign', { image, key: 'ci' }, 30_000);

  // Calls on fresh connections until both workers have answered some (the log names each one's pid).
  let calls = 0;
  for (; calls < 40 && (calls < 6 || verifyPids(metricsServe.output, image, true).size < 2); calls++) {
    expect((await verifyOnFreshConnection(metricsServe.address, image)).allowed).toBe(true);
    if (calls >= 6) await new Promise((r) => setTimeout(r, 100));
  }
  expect(verifyPids(metricsServe.output, image, true).size).toBe(2);

  // Each scrape is answered by the primary with both workers' figures added up: every one sees all
  // the calls (one worker alone would show only its share, and successive scrapes would disagree).
  for (let i = 0; i < 4; i++) {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parsePrometheusText(await res.text());
    expect(sampleValue(m, 'countersign_workers')).toBe(2);
    expect(sampleValue(m, 'countersign_rpc_requests_total', { method: 'countersign.v1.VerificationService/Verify', status: 'OK' })).toBe(
      calls,
    );
    expect(sampleValue(m, 'countersign_rpc_requests_total', { method: 'countersign.v1.SigningService/Sign', status: 'OK' })).toBe(1);
    // Both workers hold the same trust revision: one series of value 1, not a count of workers.
    expect(m.get('countersign_trust_revision_info')?.samples.map((s) => s.value)).toEqual([1]);
  }
  const ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
  expect([ready.status, (await ready.text()).trim()]).toEqual([200, 'ready']);
  const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
  expect(health.status).toBe(200);

  // A worker killed (a scrape just after, while the primary replaces it, and once the replacement
  // serves): the totals never go down (Prometheus would read a reset and count the rest twice).
  const workerPids = (): number[] =>
    metricsServe!.output
      .split('\n')
      .filter((l) => l.includes('"msg":"worker serving"'))
      .map((l) => Number(/"pid":(\d+),"port"/.exec(l)?.[1]));
  const verifyTotal = async (): Promise<{ status: number; total: number; workers: number }> => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    if (res.status !== 200) return { status: res.status, total: NaN, workers: NaN };
    const m = parsePrometheusText(await res.text());
    return {
      status: res.status,
      total: sampleValue(m, 'countersign_rpc_requests_total', { method: 'countersign.v1.VerificationService/Verify', status: 'OK' }),
      workers: sampleValue(m, 'countersign_workers'),
    };
  };
  expect(workerPids()).toHaveLength(2);
  // Every worker runs with the serving heap flag (src/cluster/heap-flags.ts).
  const heapFlags = [`--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`];
  const commandLine = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  for (const pid of workerPids()) expect(commandLine(pid)).toEqual(expect.arrayContaining(heapFlags));
  process.kill(workerPids()[0]!, 'SIGKILL');
  // The other worker serves: ready (a worker that is gone is not one that reports a problem).
  const readyDuring = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
  expect([readyDuring.status, (await readyDuring.text()).trim()]).toEqual([200, 'ready']);
  const during = await verifyTotal();
  expect([during.status, during.total]).toEqual([200, calls]);
  for (let i = 0; i < 100 && workerPids().length < 3; i++) await new Promise((r) => setTimeout(r, 100));
  expect(workerPids()).toHaveLength(3);
  expect(commandLine(workerPids()[2]!)).toEqual(expect.arrayContaining(heapFlags));
  const after = await verifyTotal();
  expect(after).toEqual({ status: 200, total: calls, workers: 2 });
  // The replacement's own calls add to them.
  for (let i = 0; i < 4; i++) expect((await verifyOnFreshConnection(metricsServe.address, image)).allowed).toBe(true);
  expect((await verifyTotal()).total).toBe(calls + 4);
}, 120_000);
