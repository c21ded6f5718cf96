/** RegistryClient against the in-process fake: manifests, blobs, integrity, limits, retries, timeouts. */
import { getEventListeners } from 'node:events';
import net from 'node:net';
import { MockAgent } from 'undici';
import { RegistryClient, type RegistryClientOptions } from '../../../src/registry/client';
import { sha256Digest } from '../../../src/registry/digest';
import { MEDIA_TYPE, type RepositoryRef } from '../../../src/registry/types';
import { FakeRegistry, type FakeRegistryOptions } from './fake-registry';
import { caught, expectCode, imageManifest } from './helpers';

let fake: FakeRegistry;
let client: RegistryClient;
let repo: RepositoryRef;

async function setup(fakeOpts: FakeRegistryOptions = {}, clientOpts: RegistryClientOptions = {}): Promise<void> {
  fake = await FakeRegistry.start(fakeOpts);
  client = new RegistryClient({ retryBaseMs: 5, ...clientOpts });
  repo = { registry: fake.host, repository: 'team/app' };
}

afterEach(async () => {
  await client.close();
  await fake.close();
});

/** Stores an image (and its layer blob) directly in the fake; returns its digest and bytes. */
function seedImage(tag = 'v1'): { digest: string; bytes: Buffer } {
  const layer = Buffer.from(`layer-${Math.random()}`);
  const { bytes } = imageManifest(layer);
  fake.storeBlob(repo.repository, layer);
  fake.storeBlob(repo.repository, Buffer.from('{}'));
  const digest = fake.storeManifest(repo.repository, bytes, MEDIA_TYPE.OCI_MANIFEST, tag);
  return { digest, bytes };
}

describe('blobs', () => {
  beforeEach(() => setup());

  test('pushBlob: HEAD, POST, PUT to the resolved Location with digest appended; skipped when present', async () => {
    const bytes = Buffer.from('hello blob');
    const pushed = await client.pushBlob(repo, bytes);
    expect(pushed).toEqual({ digest: sha256Digest(bytes), size: bytes.length });
    expect(fake.requests.map((r) => r.method)).toEqual(['HEAD', 'POST', 'PUT']);
    const put = fake.requests[2]!;
    // The fake's Location is relative and carries `_state=opaque%3D`; it must survive verbatim.
    expect(put.query.get('_state')).toBe('opaque=');
    expect(put.query.get('digest')).toBe(sha256Digest(bytes));
    expect(put.headers['content-type']).toBe('application/octet-stream');

    expect(await client.hasBlob(repo, pushed.digest)).toBe(true);
    expect(await client.getBlob(repo, pushed.digest)).toEqual(bytes);
    fake.requests.length = 0;
    await client.pushBlob(repo, bytes, pushed.digest);
    expect(fake.requests.map((r) => r.method)).toEqual(['HEAD']);
  });

  test('pushBlob: a registry that fails the existence HEAD (5xx, retries spent) gets the upload instead of a failed push', async () => {
    const bytes = Buffer.from('config blob');
    // Distribution 2.8 answers 500 on a blob other processes are uploading at that moment.
    fake.inject({ method: 'HEAD', path: /\/blobs\//, status: 500, times: 10 });
    expect(await client.pushBlob(repo, bytes)).toEqual({ digest: sha256Digest(bytes), size: bytes.length });
    expect(fake.requests.filter((r) => r.method !== 'HEAD').map((r) => r.method)).toEqual(['POST', 'PUT']);
    expect(await client.getBlob(repo, sha256Digest(bytes))).toEqual(bytes);
  });

  test('pushBlob: an upload the registry fails (5xx, retries spent) while another uploader stored the same blob is done, not a failed push', async () => {
    const bytes = Buffer.from('config blob raced');
    const digest = sha256Digest(bytes);
    // Another replica (or CI) finishes the same content first; Distribution 2.8 fails ours with 500.
    fake.onRequest = (r) => {
      if (r.method === 'PUT' && r.path.includes('/blobs/uploads/')) fake.storeBlob(repo.repository, bytes);
    };
    fake.inject({ method: 'PUT', path: /\/blobs\/uploads\//, status: 500, times: 10 });
    expect(await client.pushBlob(repo, bytes)).toEqual({ digest, size: bytes.length });
    const methods = fake.requests.map((r) => r.method);
    expect(methods[0]).toBe('HEAD');
    expect(methods.at(-1)).toBe('HEAD');
    expect(methods.filter((m) => m === 'POST')).toHaveLength(1);
    expect(await client.getBlob(repo, digest)).toEqual(bytes);
  });

  test('pushBlob: a failed start (POST 5xx) is done when the blob has arrived meanwhile', async () => {
    const bytes = Buffer.from('config blob raced at start');
    fake.onRequest = (r) => {
      if (r.method === 'POST') fake.storeBlob(repo.repository, bytes);
    };
    fake.inject({ method: 'POST', path: /\/blobs\/uploads\//, status: 503, times: 10 });
    expect(await client.pushBlob(repo, bytes)).toEqual({ digest: sha256Digest(bytes), size: bytes.length });
    expect(fake.requests.filter((r) => r.method === 'PUT')).toHaveLength(0);
  });

  test('pushBlob: a failed upload (PUT 5xx) of a blob that is still missing stays an error', async () => {
    const bytes = Buffer.from('config blob lost');
    fake.inject({ method: 'PUT', path: /\/blobs\/uploads\//, status: 500, times: 10 });
    await expectCode(client.pushBlob(repo, bytes), 'UNAVAILABLE');
    expect(fake.requests.at(-1)!.method).toBe('HEAD');
    expect(await client.hasBlob(repo, sha256Digest(bytes))).toBe(false);
  });

  test('pushBlob: a refused existence HEAD (403) is still an error, and nothing is uploaded', async () => {
    fake.inject({ method: 'HEAD', path: /\/blobs\//, status: 403 });
    await expectCode(client.pushBlob(repo, Buffer.from('x')), 'PERMISSION_DENIED');
    expect(fake.requests.map((r) => r.method)).toEqual(['HEAD']);
  });

  test('pushBlob rejects a digest that does not match the bytes, before any request', async () => {
    await expectCode(client.pushBlob(repo, Buffer.from('x'), sha256Digest(Buffer.from('y'))), 'INVALID_ARGUMENT', /hash to/);
    expect(fake.requests).toHaveLength(0);
  });

  test('hasBlob is false for a missing blob; getBlob of it is NOT_FOUND', async () => {
    const d = sha256Digest(Buffer.from('missing'));
    expect(await client.hasBlob(repo, d)).toBe(false);
    await expectCode(client.getBlob(repo, d), 'NOT_FOUND', new RegExp(`blob ${d}.*not found in registry ${fake.host}`));
  });

  test('getBlob rejects bytes that do not match the digest', async () => {
    const d = fake.storeBlob(repo.repository, Buffer.from('genuine'));
    fake.inject({ method: 'GET', path: /\/blobs\//, status: 200, body: 'tampered' });
    await expectCode(client.getBlob(repo, d), 'DATA_LOSS', /does not match its digest/);
  });
});

describe('blob size limit', () => {
  beforeEach(() => setup({}, { maxBlobBytes: 100 }));

  test('getBlob refuses an oversized blob (declared length)', async () => {
    const d = fake.storeBlob(repo.repository, Buffer.alloc(101, 1));
    await expectCode(client.getBlob(repo, d), 'RESOURCE_EXHAUSTED', /over the 100-byte limit/);
  });

  test('getBlob refuses an oversized chunked body while streaming', async () => {
    const d = fake.storeBlob(repo.repository, Buffer.alloc(10, 1));
    fake.inject({ method: 'GET', path: /\/blobs\//, status: 200, body: Buffer.alloc(5000, 2) }); // no Content-Length: chunked
    await expectCode(client.getBlob(repo, d), 'RESOURCE_EXHAUSTED', /over the 100-byte limit/);
  });

  test('pushBlob refuses an oversized blob without contacting the registry', async () => {
    await expectCode(client.pushBlob(repo, Buffer.alloc(101)), 'RESOURCE_EXHAUSTED');
    expect(fake.requests).toHaveLength(0);
  });
});

describe('manifests', () => {
  beforeEach(() => setup());

  test('put by digest, then head/get by tag and by digest agree', async () => {
    const layer = Buffer.from('layer');
    await client.pushBlob(repo, layer);
    await client.pushBlob(repo, Buffer.from('{}'));
    const { bytes } = imageManifest(layer);
    const digest = sha256Digest(bytes);
    expect(await client.putManifest(repo, digest, bytes, MEDIA_TYPE.OCI_MANIFEST)).toEqual({ digest });
    expect(await client.putManifest(repo, 'v1', bytes, MEDIA_TYPE.OCI_MANIFEST)).toEqual({ digest });
    const put = fake.requestsMatching('PUT', /\/manifests\//)[0]!;
    expect(put.headers['content-type']).toBe(MEDIA_TYPE.OCI_MANIFEST);

    const expected = { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size: bytes.length };
    expect(await client.headManifest(repo, 'v1')).toEqual(expected);
    expect(await client.headManifest(repo, digest)).toEqual(expected);
    const got = await client.getManifest(repo, 'v1');
    expect(got).toEqual({ descriptor: expected, bytes, etag: `"${digest}"` });
    expect((await client.getManifest(repo, digest)).bytes).toEqual(bytes);
    // HEAD sends the full Accept list.
    const head = fake.requestsMatching('HEAD', /\/manifests\//)[0]!;
    expect(head.headers.accept).toContain(MEDIA_TYPE.OCI_INDEX);
    expect(head.headers.accept).toContain(MEDIA_TYPE.DOCKER_MANIFEST_LIST);
  });

  test('headManifest of an unknown tag is NOT_FOUND naming the image and registry', async () => {
    await expectCode(
      client.headManifest(repo, 'nope'),
      'NOT_FOUND',
      new RegExp(`image ${fake.host}/team/app:nope not found in registry ${fake.host}`),
    );
  });

  test('getManifest by digest rejects other bytes (DATA_LOSS)', async () => {
    const { digest } = seedImage();
    fake.inject({
      method: 'GET',
      path: /\/manifests\//,
      status: 200,
      headers: { 'content-type': MEDIA_TYPE.OCI_MANIFEST },
      body: '{"schemaVersion":2}',
    });
    const err = await expectCode(client.getManifest(repo, digest), 'DATA_LOSS', /does not match its digest/);
    expect(err.message).toContain(digest);
  });

  test('getManifest by tag rejects bytes contradicting Docker-Content-Digest', async () => {
    const { digest } = seedImage();
    fake.inject({
      method: 'GET',
      path: /\/manifests\//,
      status: 200,
      headers: { 'content-type': MEDIA_TYPE.OCI_MANIFEST, 'docker-content-digest': digest },
      body: '{"schemaVersion":2}',
    });
    await expectCode(client.getManifest(repo, 'v1'), 'DATA_LOSS', /does not match/);
  });

  test('headManifest with a wrong digest for a digest reference is DATA_LOSS', async () => {
    const { digest } = seedImage();
    fake.inject({
      method: 'HEAD',
      path: /\/manifests\//,
      status: 200,
      headers: { 'content-type': MEDIA_TYPE.OCI_MANIFEST, 'content-length': '10', 'docker-content-digest': sha256Digest(Buffer.from('x')) },
    });
    await expectCode(client.headManifest(repo, digest), 'DATA_LOSS', /different digest/);
  });

  test('putManifest refuses bytes that do not hash to the digest reference', async () => {
    await expectCode(
      client.putManifest(repo, sha256Digest(Buffer.from('a')), Buffer.from('b'), MEDIA_TYPE.OCI_MANIFEST),
      'INVALID_ARGUMENT',
    );
    expect(fake.requests).toHaveLength(0);
  });

  test('invalid repository names and references are rejected before any request', async () => {
    await expectCode(client.headManifest({ registry: fake.host, repository: 'Team/App' }, 'v1'), 'INVALID_ARGUMENT', /repository/);
    await expectCode(client.headManifest(repo, '../../etc'), 'INVALID_ARGUMENT', /neither a tag nor/);
    await expectCode(client.listReferrers(repo, 'sha256:abc'), 'INVALID_ARGUMENT', /not a supported digest/);
    expect(fake.requests).toHaveLength(0);
  });

  test('putManifest surfaces the registry error code for a manifest with unknown blobs', async () => {
    const { bytes } = imageManifest(Buffer.from('never pushed'));
    const err = await expectCode(
      client.putManifest(repo, sha256Digest(bytes), bytes, MEDIA_TYPE.OCI_MANIFEST),
      'FAILED_PRECONDITION',
      /MANIFEST_BLOB_UNKNOWN/,
    );
    expect(err.details).toMatchObject({ status: 400, registry: fake.host });
  });
});

describe('manifest fallbacks and limits', () => {
  test('headManifest falls back to GET and hashes when Docker-Content-Digest is missing', async () => {
    await setup({ omitDigestHeader: true });
    const { digest, bytes } = seedImage();
    expect(await client.headManifest(repo, 'v1')).toEqual({ mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size: bytes.length });
    expect(fake.requests.map((r) => r.method)).toEqual(['HEAD', 'GET']);
  });

  test('getManifest enforces maxManifestBytes', async () => {
    await setup({}, { maxManifestBytes: 64 });
    seedImage();
    await expectCode(client.getManifest(repo, 'v1'), 'RESOURCE_EXHAUSTED', /over the 64-byte limit/);
    await expectCode(client.putManifest(repo, 'big', Buffer.alloc(65, 0x20), MEDIA_TYPE.OCI_MANIFEST), 'RESOURCE_EXHAUSTED');
  });

  test('putManifest with If-Match: 412 becomes FAILED_PRECONDITION with status 412', async () => {
    await setup({ honorIfMatch: true });
    const { bytes } = seedImage('tag');
    const err = await expectCode(
      client.putManifest(repo, 'tag', bytes, MEDIA_TYPE.OCI_MANIFEST, { ifMatch: '"sha256:stale"' }),
      'FAILED_PRECONDITION',
      /412/,
    );
    expect(err.details?.status).toBe(412);
    expect(fake.requestsMatching('PUT', /manifests\/tag$/)[0]!.headers['if-match']).toBe('"sha256:stale"');
  });
});

describe('retries', () => {
  beforeEach(() => setup({}, { maxRetries: 3, retryBaseMs: 5 }));

  test('429 with Retry-After (seconds) is honoured, then succeeds', async () => {
    seedImage();
    fake.inject({ method: 'HEAD', path: /manifests/, status: 429, headers: { 'retry-after': '1' } });
    const t0 = Date.now();
    await client.headManifest(repo, 'v1');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(fake.requests).toHaveLength(2);
  });

  test('Retry-After as an HTTP date is honoured', async () => {
    seedImage();
    const when = new Date(Date.now() + 2000).toUTCString(); // second precision: waits ~1–2 s
    fake.inject({ method: 'GET', path: /manifests/, status: 503, headers: { 'retry-after': when } });
    const t0 = Date.now();
    await client.getManifest(repo, 'v1');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(fake.requests).toHaveLength(2);
  });

  test('502/503/504 are retried with backoff up to maxRetries, then UNAVAILABLE', async () => {
    seedImage();
    fake.inject({ method: 'GET', path: /manifests/, status: 502 });
    fake.inject({ method: 'GET', path: /manifests/, status: 504 });
    await client.getManifest(repo, 'v1');
    expect(fake.requests).toHaveLength(3);

    fake.requests.length = 0;
    fake.inject({ method: 'GET', path: /manifests/, status: 503, times: 10 });
    const err = await expectCode(client.getManifest(repo, 'v1'), 'UNAVAILABLE', new RegExp(`registry ${fake.host} failed with 503`));
    expect(err.details?.status).toBe(503);
    expect(fake.requests).toHaveLength(4); // 1 + maxRetries
  });

  test('a Retry-After beyond the cap fails fast instead of waiting', async () => {
    seedImage();
    fake.inject({ method: 'GET', path: /manifests/, status: 429, headers: { 'retry-after': '3600' } });
    const t0 = Date.now();
    const err = await expectCode(client.getManifest(repo, 'v1'), 'UNAVAILABLE', /retry after 3600 s/);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(err.details?.retryAfterMs).toBe(3_600_000);
    expect(fake.requests).toHaveLength(1);
  });

  test('a tag PUT (not idempotent) is not retried', async () => {
    const { bytes } = seedImage();
    fake.inject({ method: 'PUT', path: /manifests/, status: 503, times: 5 });
    await expectCode(client.putManifest(repo, 'v2', bytes, MEDIA_TYPE.OCI_MANIFEST), 'UNAVAILABLE');
    expect(fake.requestsMatching('PUT', /manifests/)).toHaveLength(1);
  });

  test('a PUT by digest (idempotent) is retried', async () => {
    const { bytes, digest } = seedImage();
    fake.inject({ method: 'PUT', path: /manifests/, status: 503 });
    expect(await client.putManifest(repo, digest, bytes, MEDIA_TYPE.OCI_MANIFEST)).toEqual({ digest });
    expect(fake.requestsMatching('PUT', /manifests/)).toHaveLength(2);
  });

  test('errors other than 429/5xx are not retried', async () => {
    fake.inject({ method: 'GET', path: /manifests/, status: 400, body: '{"errors":[{"code":"NAME_INVALID","message":"bad name"}]}' });
    await expectCode(client.getManifest(repo, 'v1'), 'INVALID_ARGUMENT', /NAME_INVALID: bad name/);
    expect(fake.requests).toHaveLength(1);
  });
});

describe('timeouts and unreachable registries', () => {
  test('a registry slower than timeoutMs is UNAVAILABLE naming it, and is not retried', async () => {
    await setup({}, { timeoutMs: 300, maxRetries: 3 });
    seedImage();
    fake.inject({ method: 'GET', path: /manifests/, delayMs: 1500 });
    const t0 = Date.now();
    const err = await expectCode(
      client.getManifest(repo, 'v1'),
      'UNAVAILABLE',
      new RegExp(`registry ${fake.host} is unavailable: no response within 300 ms`),
    );
    expect(Date.now() - t0).toBeLessThan(1400);
    expect(err.details?.errorCode).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(fake.requests).toHaveLength(1);
  });

  test('connection refused is UNAVAILABLE naming the registry', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    client = new RegistryClient({ maxRetries: 1, retryBaseMs: 5 });
    const host = `127.0.0.1:${port}`;
    const err = await caught(client.headManifest({ registry: host, repository: 'a' }, 'v1'));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain(`registry ${host} is unavailable: connection refused`);
  });

  test('an unresolvable host is UNAVAILABLE naming it', async () => {
    client = new RegistryClient({ maxRetries: 0, timeoutMs: 3000 });
    const err = await caught(client.headManifest({ registry: 'countersign-test.invalid', repository: 'a' }, 'v1'));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain('registry countersign-test.invalid is unavailable');
  });
});

test('non-loopback registries are spoken to over HTTPS through the injected dispatcher', async () => {
  const agent = new MockAgent();
  agent.disableNetConnect();
  const digest = sha256Digest(Buffer.from('m'));
  agent
    .get('https://registry.example.com')
    .intercept({ path: '/v2/org/app/manifests/v1', method: 'HEAD' })
    .reply(200, '', { headers: { 'docker-content-digest': digest, 'content-type': MEDIA_TYPE.OCI_MANIFEST, 'content-length': '1' } });
  client = new RegistryClient({ dispatcher: agent });
  expect(await client.headManifest({ registry: 'registry.example.com', repository: 'org/app' }, 'v1')).toEqual({
    mediaType: MEDIA_TYPE.OCI_MANIFEST,
    digest,
    size: 1,
  });
  agent.assertNoPendingInterceptors();
  await agent.close();
});

describe('the warm HEAD (issue 11: a warm Verify by tag is one pooled, kept-alive HEAD)', () => {
  test('50 warm HEADs by tag: 50 requests, all HEAD, no new connection; no listener or timer left on the caller signal', async () => {
    await setup();
    const { digest } = seedImage('v1');
    // The pool's connections are opened by the first calls (undici may open a second one while
    // the first is being returned to the pool); warm, the pool only reuses them.
    for (let i = 0; i < 2; i++) await client.headManifest(repo, 'v1');
    fake.requests.length = 0;
    fake.connections = 0;
    for (let i = 0; i < 50; i++) {
      const caller = new AbortController();
      expect((await client.headManifest(repo, 'v1', { signal: caller.signal })).digest).toBe(digest);
      // The attempt's deadline (its timer and its link to the caller) is released with the headers:
      // nothing reads a HEAD body, so waiting for the body to close would hold them for timeoutMs.
      expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    }
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(Array(50).fill(`HEAD /v2/${repo.repository}/manifests/v1`));
    expect(fake.connections).toBe(0);
  });

  test('behind bearer auth: one token request, then one HEAD per call on the same pool (the token is reused)', async () => {
    await setup({ auth: { scheme: 'bearer', anonymousPull: true, expiresIn: 300 } });
    const { digest } = seedImage('v1');
    expect((await client.headManifest(repo, 'v1')).digest).toBe(digest);
    const tokens = fake.tokenRequests.length;
    expect(tokens).toBe(1);
    fake.requests.length = 0;
    fake.connections = 0;
    for (let i = 0; i < 20; i++) expect((await client.headManifest(repo, 'v1')).digest).toBe(digest);
    expect(fake.tokenRequests).toHaveLength(tokens);
    expect(fake.requests.map((r) => r.method)).toEqual(Array(20).fill('HEAD'));
    expect(fake.requests.every((r) => typeof r.headers.authorization === 'string' && r.headers.authorization.startsWith('Bearer '))).toBe(
      true,
    );
    expect(fake.connections).toBe(0);
  });

  test('a HEAD answered with an error status still fails closed and leaves nothing on the caller signal', async () => {
    await setup();
    seedImage('v1');
    fake.inject({ method: 'HEAD', path: /\/manifests\/v1$/, status: 404 });
    const caller = new AbortController();
    await expectCode(client.headManifest(repo, 'v1', { signal: caller.signal }), 'NOT_FOUND', /not found/);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });
});
