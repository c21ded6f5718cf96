/**
 * The warm admission path against the real registry (issue 11): deterministic counts, never times.
 * - a warm Verify by tag is one HEAD on a pooled, kept-alive connection (undici closes the
 *   connection after every HEAD unless told not to: 100 Verify by tag opened 100 connections);
 * - a warm Verify by digest makes no registry request at all;
 * - a warm VerifyBatch and a warm admission review make one HEAD per distinct tag (in parallel,
 *   over the same pool) and nothing else;
 * - allowed decisions from cached evidence are logged once, then summarized; denials every time.
 */
import diagnostics from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AdmissionReviewResponse } from '../../src/admission';
import { pushSampleImage } from '../../src/dev/sample-image';
import { RegistryClient } from '../../src/registry';
import { startService, testRegistryHost, uniqueRepo, type RunningService } from '../support/harness';

let svc: RunningService;
let pusher: RegistryClient;
let connections = 0;
let requests: string[] = [];
// The registry's only: the test's own fetch of the webhook reports on the same channels.
const onConnect = (message: unknown): void => {
  const { connectParams } = message as { connectParams: { host: string } };
  if (connectParams.host === testRegistryHost()) connections++;
};
const onRequest = (message: unknown): void => {
  const { request } = message as { request: { method: string; path: string; origin: string } };
  if (new URL(request.origin).host === testRegistryHost()) requests.push(`${request.method} ${request.path}`);
};

beforeAll(async () => {
  svc = await startService({ admission: { listen: '127.0.0.1:0', timeoutMs: 9000 } });
  await svc.app.keys.createKey({ name: 'ci' }, 'test');
  pusher = new RegistryClient({});
  diagnostics.subscribe('undici:client:connected', onConnect);
  diagnostics.subscribe('undici:request:create', onRequest);
});

afterAll(async () => {
  diagnostics.unsubscribe('undici:client:connected', onConnect);
  diagnostics.unsubscribe('undici:request:create', onRequest);
  await pusher.close();
  await svc.stop();
});

interface Verdict {
  allowed: boolean;
  cached: boolean;
  reasons: string[];
}

test('100 warm Verify by tag: 100 HEADs over at most one new TCP connection; by digest: no request', async () => {
  const repository = uniqueRepo('warm');
  const host = testRegistryHost();
  const img = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  await svc.call('Sign', { image: `${host}/${repository}:v1`, key: 'ci' });
  const byTag = { image: `${host}/${repository}:v1`, action: 'ACTION_DEPLOY' };
  const byDigest = { image: `${host}/${repository}@${img.digest}`, action: 'ACTION_DEPLOY' };
  expect((await svc.call<Verdict>('Verify', byTag)).allowed).toBe(true);

  connections = 0;
  requests = [];
  for (let i = 0; i < 100; i++) expect(await svc.call<Verdict>('Verify', byTag)).toMatchObject({ allowed: true, cached: true });
  expect(requests).toHaveLength(100);
  expect(requests.every((r) => r === `HEAD /v2/${repository}/manifests/v1`)).toBe(true);
  // 0 when the pooled connection is still open; 1 if it idled out before the loop.
  expect(connections).toBeLessThanOrEqual(1);

  requests = [];
  for (let i = 0; i < 100; i++) expect(await svc.call<Verdict>('Verify', byDigest)).toMatchObject({ allowed: true, cached: true });
  expect(requests).toHaveLength(0);
});

const VECTORS = path.resolve(__dirname, '../../../shared/vectors');

/** Connaisseur's Pod review vector with its containers running `images`. */
function podReview(images: string[]): unknown {
  const review = JSON.parse(readFileSync(path.join(VECTORS, 'connaisseur/test/testdata/admission_requests/02_pod.json'), 'utf8')) as {
    request: { object: { spec: { containers: Array<{ name: string; image: string }> } } };
  };
  const template = review.request.object.spec.containers[0];
  review.request.object.spec.containers = images.map((image, i) => ({ ...template, name: `c${i}`, image }));
  return review;
}

async function admit(images: string[]): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${svc.app.admission!.port}/validate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(podReview(images)),
  });
  return ((await res.json()) as AdmissionReviewResponse).response.allowed;
}

test('10 warm VerifyBatch and 10 warm admission reviews of 3 tags (one repeated): one HEAD per distinct tag each, no new connection per call', async () => {
  const repository = uniqueRepo('warm-batch');
  const host = testRegistryHost();
  const tags = ['a', 'b', 'c'];
  connections = 0;
  for (const tag of tags) {
    await pushSampleImage(pusher, { registry: host, repository }, tag);
    await svc.call('Sign', { image: `${host}/${repository}:${tag}`, key: 'ci' });
  }
  // The count sees this registry's connections: a fresh client's first request opens one.
  const fresh = new RegistryClient({});
  await fresh.headManifest({ registry: host, repository }, 'a');
  await fresh.close();
  expect(connections).toBeGreaterThan(0);
  const images = [...tags.map((t) => `${host}/${repository}:${t}`), `${host}/${repository}:a`];
  const batch = { images, action: 'ACTION_DEPLOY' };
  const expected = tags.map((t) => `HEAD /v2/${repository}/manifests/${t}`).sort();
  // Warm: the evidence is cached, and the pool holds the connections parallel HEADs need.
  for (let i = 0; i < 2; i++) {
    expect((await svc.call<{ allowed: boolean }>('VerifyBatch', batch)).allowed).toBe(true);
    expect(await admit(images)).toBe(true);
  }

  connections = 0;
  requests = [];
  for (let i = 0; i < 10; i++) {
    const r = await svc.call<{ allowed: boolean; results: Verdict[] }>('VerifyBatch', batch);
    expect(r.allowed).toBe(true);
    expect(r.results.every((v) => v.cached)).toBe(true);
    // Exactly the distinct tags, each once (the repeated image is verified once).
    expect(requests.splice(0).sort()).toEqual(expected);
  }
  for (let i = 0; i < 10; i++) {
    expect(await admit(images)).toBe(true);
    expect(requests.splice(0).sort()).toEqual(expected);
  }
  // 20 calls of 3 parallel HEADs on the pooled connections: none is opened per call (at most one
  // per distinct tag if the pool's connections idled out before the loop).
  expect(connections).toBeLessThanOrEqual(tags.length);
});

test('allowed cached decisions are logged once per window; every denial is logged', async () => {
  const repository = uniqueRepo('warm-logs');
  const host = testRegistryHost();
  const signed = await pushSampleImage(pusher, { registry: host, repository }, 'signed');
  await svc.call('Sign', { image: `${host}/${repository}:signed`, key: 'ci' });
  const unsigned = await pushSampleImage(pusher, { registry: host, repository: `${repository}-u` }, 'v1');
  const allowed = { image: `${host}/${repository}@${signed.digest}`, action: 'ACTION_DEPLOY' };
  const denied = { image: `${host}/${repository}-u@${unsigned.digest}`, action: 'ACTION_DEPLOY' };
  const lines = (digest: string) =>
    svc.logs.filter((l) => l.msg === 'call' && l.method === 'countersign.v1.VerificationService/Verify' && l.digest === digest);
  for (let i = 0; i < 20; i++) {
    await svc.call('Verify', allowed);
    expect((await svc.call<Verdict>('Verify', denied)).allowed).toBe(false);
  }
  // The first (a miss) and the first cached allow: 2 lines; the other 18 are counted.
  expect(lines(signed.digest)).toHaveLength(2);
  expect(lines(unsigned.digest)).toHaveLength(20);
  expect(lines(unsigned.digest).every((l) => l.allowed === false && Array.isArray(l.reasons) && (l.reasons as string[]).length > 0)).toBe(
    true,
  );
});

test('a reused decision is sent as its encoded bytes: the same answer, field for field, as the one made from the evidence', async () => {
  const repository = uniqueRepo('reuse');
  const host = testRegistryHost();
  const img = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  await svc.call('Sign', { image: `${host}/${repository}:v1`, key: 'ci' });
  const byDigest = { image: `${host}/${repository}@${img.digest}`, action: 'ACTION_DEPLOY', context: { namespace: 'web' } };
  const cold = await svc.call<Verdict>('Verify', byDigest);
  // The first warm answer is evaluated and encoded by protobufjs; the later ones are its bytes.
  const made = await svc.call<Verdict & { evidence: unknown[] }>('Verify', byDigest);
  const reused = await svc.call<Verdict & { evidence: unknown[] }>('Verify', byDigest);
  expect(cold).toMatchObject({ allowed: true, cached: false });
  expect(made).toMatchObject({ allowed: true, cached: true });
  expect(made.evidence).toHaveLength(1);
  expect(reused).toEqual(made);
  expect(await svc.call<Verdict>('Verify', byDigest)).toEqual(made);
});
