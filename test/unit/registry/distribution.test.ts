/**
 * The registry client and referrer store against a REAL registry: Debian's docker-registry
 * (CNCF Distribution 2.8), which has no referrers API and ignores If-Match — exactly the case where
 * our fallback-tag maintenance has to be right.
 */
import { randomBytes } from 'node:crypto';
import { startRegistry, type LocalRegistry } from '../../support/local-registry';
import { RegistryClient } from '../../../src/registry/client';
import { sha256Digest } from '../../../src/registry/digest';
import { referrersTagFor } from '../../../src/registry/reference';
import { ReferrerStore } from '../../../src/registry/referrer-store';
import { EMPTY_BLOB, MEDIA_TYPE, type Descriptor, type ImageIndex, type RepositoryRef } from '../../../src/registry/types';
import { artifact, expectCode, imageManifest } from './helpers';

let own: LocalRegistry | undefined;
let host: string;
let client: RegistryClient;
let store: ReferrerStore;

beforeAll(async () => {
  if (process.env.COUNTERSIGN_TEST_REGISTRY) {
    host = process.env.COUNTERSIGN_TEST_REGISTRY;
  } else {
    own = await startRegistry();
    host = own.host;
  }
  client = new RegistryClient({ timeoutMs: 15_000 });
  store = new ReferrerStore(client);
});

afterAll(async () => {
  await client.close();
  await own?.stop();
});

/** A fresh repository per test, so the shared registry's state never couples tests. */
function freshRepo(): RepositoryRef {
  return { registry: host, repository: `countersign-unit/registry-${randomBytes(6).toString('hex')}` };
}

/** Pushes a small real image and returns its descriptor. */
async function pushImage(repo: RepositoryRef): Promise<Descriptor> {
  const layer = randomBytes(64);
  await client.pushBlob(repo, layer);
  await client.pushBlob(repo, EMPTY_BLOB);
  const { bytes } = imageManifest(layer);
  const { digest } = await client.putManifest(repo, 'v1', bytes, MEDIA_TYPE.OCI_MANIFEST);
  return { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size: bytes.length };
}

test('push blob, put manifest, head and get agree with what was pushed', async () => {
  const repo = freshRepo();
  const layer = randomBytes(1000);
  const pushed = await client.pushBlob(repo, layer);
  expect(pushed).toEqual({ digest: sha256Digest(layer), size: 1000 });
  expect(await client.hasBlob(repo, pushed.digest)).toBe(true);
  expect(await client.getBlob(repo, pushed.digest)).toEqual(layer);
  expect(await client.hasBlob(repo, sha256Digest(Buffer.from('absent')))).toBe(false);

  await client.pushBlob(repo, EMPTY_BLOB);
  const { bytes } = imageManifest(layer);
  const digest = sha256Digest(bytes);
  expect(await client.putManifest(repo, digest, bytes, MEDIA_TYPE.OCI_MANIFEST)).toEqual({ digest }); // no OCI-Subject from 2.8
  await client.putManifest(repo, 'v1', bytes, MEDIA_TYPE.OCI_MANIFEST);

  const expected = { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size: bytes.length };
  expect(await client.headManifest(repo, 'v1')).toEqual(expected);
  const got = await client.getManifest(repo, digest);
  expect(got.descriptor).toEqual(expected);
  expect(got.bytes).toEqual(bytes);
  expect(got.etag).toBe(`"${digest}"`);

  await expectCode(
    client.headManifest(repo, 'missing'),
    'NOT_FOUND',
    new RegExp(`image ${host}/${repo.repository}:missing not found in registry ${host}`),
  );
  await expectCode(client.getManifest(repo, sha256Digest(Buffer.from('nope'))), 'NOT_FOUND');
});

test('Distribution 2.8 has no referrers API: listReferrers falls back to the tag schema', async () => {
  const repo = freshRepo();
  const subject = await pushImage(repo);
  expect(await client.pingReferrersApi(repo)).toBe(false);
  expect(await client.listReferrers(repo, subject.digest)).toEqual({ source: 'tag', manifests: [] });

  const a = artifact(subject, {
    annotations: { 'org.opencontainers.image.created': '2026-01-02T03:04:05Z', 'dev.sigstore.bundle.content': 'dsse-envelope' },
  });
  const result = await store.attach(repo, a);
  expect(result).toEqual({ digest: sha256Digest(a.manifestBytes), size: a.manifestBytes.length, referrersUpdate: 'tag' });

  const listed = await client.listReferrers(repo, subject.digest);
  expect(listed.source).toBe('tag');
  expect(listed.etag).toMatch(/^"sha256:[0-9a-f]{64}"$/);
  expect(listed.manifests).toEqual([
    {
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
      digest: result.digest,
      size: result.size,
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      annotations: { 'org.opencontainers.image.created': '2026-01-02T03:04:05Z', 'dev.sigstore.bundle.content': 'dsse-envelope' },
    },
  ]);
  // The artifact itself is stored by digest and readable.
  expect((await client.getManifest(repo, result.digest)).bytes).toEqual(a.manifestBytes);
  expect(await client.listReferrers(repo, subject.digest, { artifactType: 'application/other' })).toMatchObject({
    source: 'tag',
    manifests: [],
  });
});

test('20 parallel attaches to one image leave 20 index entries', async () => {
  const repo = freshRepo();
  const subject = await pushImage(repo);
  const artifacts = Array.from({ length: 20 }, (_, i) => artifact(subject, { payload: `parallel-${i}-${Math.random()}` }));
  const results = await Promise.all(artifacts.map((a) => store.attach(repo, a)));
  expect(results.every((r) => r.referrersUpdate === 'tag')).toBe(true);

  const { bytes } = await client.getManifest(repo, referrersTagFor(subject.digest));
  const index = JSON.parse(bytes.toString('utf8')) as ImageIndex;
  expect(index.mediaType).toBe(MEDIA_TYPE.OCI_INDEX);
  expect(index.manifests.map((d) => d.digest).sort()).toEqual(artifacts.map((a) => sha256Digest(a.manifestBytes)).sort());
  expect((await store.discover(repo, subject.digest)).length).toBe(20);
});
