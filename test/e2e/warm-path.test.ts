/**
 * The warm admission path against the real registry (issue 11): deterministic counts, never times.
 * - a warm Verify by tag is one HEAD on a pooled, kept-alive connection (undici closes the
 *   connection after every HEAD unless told not to: 100 Verify by tag opened 100 connections);
 * - a warm Verify by digest makes no registry request at all;
 * - allowed decisions from cached evidence are logged once, then summarized; denials every time.
 */
import diagnostics from 'node:diagnostics_channel';
import { pushSampleImage } from '../../src/dev/sample-image';
import { RegistryClient } from '../../src/registry';
import { startService, testRegistryHost, uniqueRepo, type RunningService } from '../support/harness';

let svc: RunningService;
let pusher: RegistryClient;
let connections = 0;
let requests: string[] = [];
const onConnect = (): void => {
  connections++;
};
const onRequest = (message: unknown): void => {
  const { request } = message as { request: { method: string; path: string } };
  requests.push(`${request.method} ${request.path}`);
};

beforeAll(async () => {
  svc = await startService();
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
