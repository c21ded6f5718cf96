/**
 * Verify's deadline cancels the registry work under it (issue 7 item 13): when the internal
 * deadline passes, or the caller goes away, the requests are aborted (the registry sees the
 * connection close) instead of being abandoned to run on, the answer is the deadline deny, and
 * nothing of the cut-short collection is cached.
 */
import { createHash } from 'node:crypto';
import { PolicyStore } from '../../../src/policy-store';
import { RegistryClient } from '../../../src/registry/client';
import { MEDIA_TYPE } from '../../../src/registry/types';
import { CountersignError } from '../../../src/shared/errors';
import { EvidenceCollector } from '../../../src/verification/collector';
import { EvidenceCache } from '../../../src/verification/evidence-cache';
import { VerificationService } from '../../../src/verification/verification-service';
import { notFound, SlowServer } from '../registry/slow-server';
import { staticTrust } from './bundle-fixtures';

const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'cd'.repeat(32)}`, size: 2 },
    layers: [],
  }),
);
const DIGEST = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;

let server: SlowServer;
let client: RegistryClient;
let cache: EvidenceCache;
let policies: PolicyStore;

beforeEach(async () => {
  // The image resolves at once; its referrers never come (the registry holds the request open).
  server = await SlowServer.start((req, res, url) => {
    if (req.method === 'HEAD' && url.pathname.endsWith('/manifests/v1')) {
      res.writeHead(200, {
        'content-type': MEDIA_TYPE.OCI_MANIFEST,
        'docker-content-digest': DIGEST,
        'content-length': String(MANIFEST.length),
      });
      res.end();
      return;
    }
    // What the digest is, is read from its bytes (once per digest).
    if (req.method === 'GET' && url.pathname.endsWith(`/manifests/${DIGEST}`)) {
      res.writeHead(200, {
        'content-type': MEDIA_TYPE.OCI_MANIFEST,
        'docker-content-digest': DIGEST,
        'content-length': String(MANIFEST.length),
      });
      res.end(MANIFEST);
      return;
    }
    if (url.pathname.includes('/referrers/')) return; // hangs
    notFound(res);
  });
  // A per-request timeout far beyond the test: only cancellation can end the hanging request.
  client = new RegistryClient({ maxRetries: 0, timeoutMs: 120_000 });
  cache = new EvidenceCache();
  policies = await PolicyStore.open();
});

afterEach(async () => {
  policies.close();
  await client.close();
  await server.close();
});

function service(maxDurationMs: number): VerificationService {
  const trust = staticTrust([]);
  return new VerificationService({
    registry: client,
    collector: new EvidenceCollector({ client, trust }),
    cache,
    trust,
    policies,
    maxDurationMs,
  });
}

test('the internal deadline aborts the registry request under it; the deny names the deadline and nothing is cached', async () => {
  // Long enough for the HEAD and the referrers GET to be sent on a loaded machine (the test waits
  // for that GET below), short enough to keep the test quick.
  const r = await service(1500).verify({ image: `${server.host}/team/app:v1`, action: 'deploy' });
  expect(r.allowed).toBe(false);
  expect(r.reasons.join('\n')).toMatch(/did not finish within 1500 ms \(DEADLINE_EXCEEDED\)/);
  const referrers = await server.waitFor('GET', /\/referrers\//);
  await referrers.closed;
  expect(cache.size).toBe(0);
});

test('a caller that goes away (cancelled gRPC call) aborts the registry request at once', async () => {
  const controller = new AbortController();
  const pending = service(60_000).verify({ image: `${server.host}/team/app:v1`, action: 'deploy', signal: controller.signal });
  const referrers = await server.waitFor('GET', /\/referrers\//);
  controller.abort(new CountersignError('DEADLINE_EXCEEDED', 'the call was cancelled'));
  const r = await pending;
  expect(r.allowed).toBe(false);
  expect(r.reasons.join('\n')).toMatch(/DEADLINE_EXCEEDED/);
  await referrers.closed;
  expect(cache.size).toBe(0);
});
