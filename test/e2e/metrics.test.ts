/**
 * The metrics port of a real started service: /metrics scraped and parsed strictly after a Sign,
 * a Verify allow and a Verify deny (counters moved by exactly those calls), no store query for a
 * warm Verify on SQLite or on PostgreSQL, and /readyz false while the service shuts down.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pushSampleImage } from '../../src/dev/sample-image';
import { RegistryClient } from '../../src/registry';
import { startService, testRegistryHost, uniqueRepo, type RunningService } from '../support/harness';
import { freshDatabase, sharedKek } from '../support/postgres';
import { parsePrometheusText, sampleValue, type Family } from '../support/prometheus-text';

interface VerifyResponse {
  allowed: boolean;
  rule: string;
  mode: string;
  policyRevision: string;
  trustRevision: string;
}

async function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

async function scrape(svc: RunningService): Promise<Map<string, Family>> {
  const res = await get(svc.app.metricsServer!.port, '/metrics');
  expect(res.status).toBe(200);
  expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(res.body);
}

/**
 * A warm Verify answers from memory (revisions, keys and grants held there, kept current by the
 * store's change announcements): 20 of them move neither the query nor the transaction count of
 * the store-latency histogram, and a key change is exactly one transaction. Counted, not timed:
 * the bench measures what that saves (npm run bench -- --only pg).
 */
async function warmVerifyMakesNoStoreQuery(svc: RunningService, pusher: RegistryClient, backend: 'sqlite' | 'postgres'): Promise<void> {
  const host = testRegistryHost();
  const repo = uniqueRepo(`metrics-store-${backend}`);
  const image = await pushSampleImage(pusher, { registry: host, repository: repo }, 'v1');
  const ref = `${host}/${repo}@${image.digest}`;
  await svc.call('Sign', { image: ref, key: 'ci-release' });
  await svc.call<VerifyResponse>('Verify', { image: ref, action: 'ACTION_DEPLOY' }); // warms the cache
  const store = (m: Map<string, Family>, operation: string) =>
    sampleValue(m, 'countersign_store_operation_duration_seconds_count', { operation, backend });
  const before = await scrape(svc);
  expect(store(before, 'query')).toBeGreaterThan(0); // the counter is this backend's, and it moves
  for (let i = 0; i < 20; i++)
    expect((await svc.call<VerifyResponse>('Verify', { image: ref, action: 'ACTION_DEPLOY' })).allowed).toBe(true);
  const warm = await scrape(svc);
  expect(store(warm, 'query')).toBe(store(before, 'query'));
  expect(store(warm, 'transaction')).toBe(store(before, 'transaction'));
  await svc.call('RevokeKey', { key: 'ci-release', reason: 'metrics test' });
  const after = await scrape(svc);
  expect(store(after, 'transaction') - store(warm, 'transaction')).toBe(1);
  expect(sampleValue(after, 'countersign_store_operation_duration_seconds_sum', { operation: 'transaction', backend })).toBeGreaterThan(0);
}

describe('metrics port', () => {
  let svc: RunningService;
  let pusher: RegistryClient;
  const host = testRegistryHost();

  beforeAll(async () => {
    pusher = new RegistryClient({});
    svc = await startService({ metrics: { listen: '127.0.0.1:0' }, admission: { listen: '127.0.0.1:0', timeoutMs: 9000 } });
    await svc.app.keys.createKey({ name: 'ci-release' }, 'test');
  });
  afterAll(async () => {
    await svc.stop();
    await pusher.close();
  });

  it('counts a Sign, a Verify allow and a Verify deny exactly, by method, status, rule and result', async () => {
    const signedRepo = uniqueRepo('metrics-signed');
    const signed = await pushSampleImage(pusher, { registry: host, repository: signedRepo }, 'v1');
    const unsignedRepo = uniqueRepo('metrics-unsigned');
    const unsigned = await pushSampleImage(pusher, { registry: host, repository: unsignedRepo }, 'v1');
    const before = await scrape(svc);
    expect(sampleValue(before, 'countersign_rpc_requests_total', { method: 'countersign.v1.SigningService/Sign' })).toBe(0);
    expect(sampleValue(before, 'countersign_evidence_cache_misses_total')).toBe(0);

    await svc.call('Sign', { image: `${host}/${signedRepo}@${signed.digest}`, key: 'ci-release' });
    const allow = await svc.call<VerifyResponse>('Verify', { image: `${host}/${signedRepo}@${signed.digest}`, action: 'ACTION_DEPLOY' });
    const deny = await svc.call<VerifyResponse>('Verify', { image: `${host}/${unsignedRepo}@${unsigned.digest}`, action: 'ACTION_DEPLOY' });
    expect(allow.allowed).toBe(true);
    expect(deny.allowed).toBe(false);
    const registryCount = (f: Map<string, Family>) =>
      (f.get('countersign_registry_requests_total')?.samples ?? []).reduce((n, x) => n + x.value, 0);
    const beforeHit = await scrape(svc);
    expect(registryCount(beforeHit)).toBeGreaterThan(registryCount(before));
    expect(sampleValue(beforeHit, 'countersign_registry_request_duration_seconds_count', { method: 'PUT', status: '201' })).toBeGreaterThan(
      0,
    );
    // The same digest again: answered from the evidence cache, with no registry request at all.
    await svc.call<VerifyResponse>('Verify', { image: `${host}/${signedRepo}@${signed.digest}`, action: 'ACTION_DEPLOY' });

    const m = await scrape(svc);
    expect(registryCount(m)).toBe(registryCount(beforeHit));
    expect(sampleValue(m, 'countersign_rpc_requests_total', { method: 'countersign.v1.SigningService/Sign', status: 'OK' })).toBe(1);
    expect(sampleValue(m, 'countersign_rpc_requests_total', { method: 'countersign.v1.VerificationService/Verify', status: 'OK' })).toBe(3);
    expect(
      sampleValue(m, 'countersign_rpc_duration_seconds_count', { method: 'countersign.v1.VerificationService/Verify', status: 'OK' }),
    ).toBe(3);
    expect(
      sampleValue(m, 'countersign_rpc_duration_seconds_bucket', {
        method: 'countersign.v1.VerificationService/Verify',
        status: 'OK',
        le: '+Inf',
      }),
    ).toBe(3);
    expect(
      sampleValue(m, 'countersign_rpc_duration_seconds_sum', { method: 'countersign.v1.VerificationService/Verify', status: 'OK' }),
    ).toBeGreaterThan(0);
    // No policy file: the built-in policy's rule decides both, in enforce mode.
    const decision = { action: 'deploy', rule: '(default)', mode: 'enforce' };
    expect(sampleValue(m, 'countersign_decisions_total', { ...decision, result: 'allow' })).toBe(2);
    expect(sampleValue(m, 'countersign_decisions_total', { ...decision, result: 'deny' })).toBe(1);
    expect(m.get('countersign_decisions_total')!.samples).toHaveLength(2);
    // Misses: the first look at each digest (the signed one's entry was dropped by the Sign).
    expect(sampleValue(m, 'countersign_evidence_cache_misses_total')).toBe(2);
    expect(sampleValue(m, 'countersign_evidence_cache_hits_total')).toBe(1);
    expect(sampleValue(m, 'countersign_evidence_cache_evictions_total')).toBe(0);
    // Revisions as info metrics: exactly one series each, the revision in force, value 1.
    expect(m.get('countersign_trust_revision_info')!.samples).toEqual([
      { name: 'countersign_trust_revision_info', labels: { revision: allow.trustRevision }, value: 1 },
    ]);
    expect(m.get('countersign_policy_revision_info')!.samples).toEqual([
      { name: 'countersign_policy_revision_info', labels: { revision: allow.policyRevision }, value: 1 },
    ]);
    // Process default metrics.
    expect(m.get('process_cpu_seconds_total')?.type).toBe('counter');
  });

  it('store latency: a key change is one transaction; a warm Verify makes no store query', () =>
    warmVerifyMakesNoStoreQuery(svc, pusher, 'sqlite'));

  it('counts a refused call under its status', async () => {
    const before = await scrape(svc);
    await expect(svc.call('Verify', { image: 'Not A Reference!!', action: 'ACTION_DEPLOY' })).rejects.toThrow(/INVALID_ARGUMENT|3/);
    const after = await scrape(svc);
    const invalid = { method: 'countersign.v1.VerificationService/Verify', status: 'INVALID_ARGUMENT' };
    expect(
      sampleValue(after, 'countersign_rpc_requests_total', invalid) - sampleValue(before, 'countersign_rpc_requests_total', invalid),
    ).toBe(1);
  });

  it('counts admission reviews by outcome', async () => {
    const before = await scrape(svc);
    const res = await fetch(`http://127.0.0.1:${svc.app.admission!.port}/validate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    expect(res.status).toBe(400);
    const after = await scrape(svc);
    expect(
      sampleValue(after, 'countersign_admission_requests_total', { outcome: 'rejected' }) -
        sampleValue(before, 'countersign_admission_requests_total', { outcome: 'rejected' }),
    ).toBe(1);
    expect(sampleValue(after, 'countersign_admission_requests_total', { outcome: 'allowed' })).toBe(0);
  });

  it('answers /healthz and /readyz, and 404 elsewhere', async () => {
    const port = svc.app.metricsServer!.port;
    expect((await get(port, '/healthz')).status).toBe(200);
    expect(await get(port, '/readyz')).toMatchObject({ status: 200, body: 'ready\n' });
    expect((await get(port, '/nope')).status).toBe(404);
  });
});

describe('metrics port, store on PostgreSQL', () => {
  let svc: RunningService;
  let pusher: RegistryClient;

  beforeAll(async () => {
    pusher = new RegistryClient({});
    // A shared store needs a KEK of its own (a generated development one is refused with store.url).
    const kekFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'countersign-metrics-kek-')), 'kek');
    writeFileSync(kekFile, sharedKek(), { mode: 0o600 });
    svc = await startService({ metrics: { listen: '127.0.0.1:0' }, store: { url: await freshDatabase('metrics') }, kekFile });
    await svc.app.keys.createKey({ name: 'ci-release' }, 'test');
  });
  afterAll(async () => {
    await svc.stop();
    await pusher.close();
  });

  it('store latency: a key change is one transaction; a warm Verify makes no store query', () =>
    warmVerifyMakesNoStoreQuery(svc, pusher, 'postgres'));
});

describe('readiness during shutdown', () => {
  it('is false from the moment stop begins, while an in-flight call still runs', async () => {
    // A "registry" that receives the Verify's first request and answers only when told to: the
    // call stays in flight, so shutdown waits in its grace period.
    let release: () => void = () => {};
    let received: () => void = () => {};
    const arrived = new Promise<void>((resolve) => (received = resolve));
    const stall = http.createServer((_req, res) => {
      release = () => {
        if (!res.headersSent) res.writeHead(500).end();
      };
      received();
    });
    await new Promise<void>((resolve) => stall.listen(0, '127.0.0.1', resolve));
    const stallHost = `127.0.0.1:${(stall.address() as AddressInfo).port}`;
    const svc = await startService({ metrics: { listen: '127.0.0.1:0' }, shutdownGraceMs: 30_000 });
    try {
      const port = svc.app.metricsServer!.port;
      expect((await get(port, '/readyz')).status).toBe(200);
      const pending = svc
        .call<VerifyResponse>('Verify', { image: `${stallHost}/team/app:v1`, action: 'ACTION_DEPLOY' })
        .catch((e: unknown) => e);
      await arrived;
      const stopped = svc.app.stop();
      const during = await get(port, '/readyz');
      expect(during).toEqual({ status: 503, type: 'text/plain; charset=utf-8', body: 'not ready: shutting down\n' });
      expect((await get(port, '/healthz')).status).toBe(200);
      release();
      await pending;
      await stopped;
    } finally {
      release();
      await svc.stop();
      await new Promise<void>((resolve) => stall.close(() => resolve()));
    }
  });
});
