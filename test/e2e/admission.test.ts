/**
 * The Kubernetes validating admission webhook end to end: a real AdmissionReview (Connaisseur's
 * test vector, its images pointed at images in the real test registry) through the service's
 * webhook listener, the real Verify path and real signatures.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AdmissionReviewResponse } from '../../src/admission';
import { pushSampleImage } from '../../src/dev/sample-image';
import { RegistryClient } from '../../src/registry';
import { startService, testRegistryHost, uniqueRepo, type RunningService } from '../support/harness';

const VECTORS = path.resolve(__dirname, '../../../shared/vectors');

let svc: RunningService;
let host: string;
let pusher: RegistryClient;

beforeAll(async () => {
  host = testRegistryHost();
  pusher = new RegistryClient({});
  svc = await startService({ admission: { listen: '127.0.0.1:0', timeoutMs: 9000 } });
  await svc.app.keys.createKey({ name: 'ci-release' }, 'test');
});

afterAll(async () => {
  await svc.stop();
  await pusher.close();
});

/** The Pod vector, as far as podReview edits it (the rest is sent as it is). */
interface PodReview {
  request: { object: { spec: { containers: Array<{ name: string; image: string }> } } };
}

function podReview(images: string[]): PodReview {
  const review = JSON.parse(
    readFileSync(path.join(VECTORS, 'connaisseur/test/testdata/admission_requests/02_pod.json'), 'utf8'),
  ) as PodReview;
  const template = review.request.object.spec.containers[0];
  review.request.object.spec.containers = images.map((image, i) => ({ ...template, name: `c${i}`, image }));
  return review;
}

async function post(body: unknown, query = '') {
  const res = await fetch(`http://127.0.0.1:${svc.app.admission!.port}/validate${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as AdmissionReviewResponse };
}

test('a Pod whose images are all signed is admitted; one unsigned image denies it, naming that image', async () => {
  const repository = uniqueRepo('admission');
  await pushSampleImage(pusher, { registry: host, repository }, 'signed');
  await pushSampleImage(pusher, { registry: host, repository }, 'unsigned');
  const signedRef = `${host}/${repository}:signed`;
  const unsignedRef = `${host}/${repository}:unsigned`;
  await svc.call('Sign', { image: signedRef, key: 'ci-release' });

  const ok = await post(podReview([signedRef]), '?timeout=10s');
  expect(ok.status).toBe(200);
  expect(ok.json.apiVersion).toBe('admission.k8s.io/v1');
  expect(ok.json.response.uid).toBe('0c3331b6-1812-11ea-b3fc-02897404852e');
  expect(ok.json.response.allowed).toBe(true);

  const denied = await post(podReview([signedRef, unsignedRef]));
  expect(denied.json.response.allowed).toBe(false);
  expect(denied.json.response.status?.code).toBe(403);
  expect(denied.json.response.status?.message).toContain(unsignedRef);
  expect(denied.json.response.status?.message).toMatch(/no signature by a trusted key/);
  expect(denied.json.response.status?.message).not.toContain(`${signedRef}:`);

  const decisions = svc.logs.filter((l) => l.uid === '0c3331b6-1812-11ea-b3fc-02897404852e');
  expect(decisions.map((d) => d.allowed)).toEqual([true, false]);
});

test('a malformed review is a 400, never an allow', async () => {
  const res = await post({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: null });
  expect(res.status).toBe(400);
});
