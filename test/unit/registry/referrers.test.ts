/** listReferrers / pingReferrersApi: referrers API with pagination and filtering, tag-schema fallback, caching. */
import { RegistryClient } from '../../../src/registry/client';
import { sha256Digest } from '../../../src/registry/digest';
import { referrersTagFor } from '../../../src/registry/reference';
import { MEDIA_TYPE, type Descriptor, type RepositoryRef } from '../../../src/registry/types';
import { FakeRegistry, type FakeRegistryOptions } from './fake-registry';
import { artifact, expectCode, imageManifest } from './helpers';

let fake: FakeRegistry;
let client: RegistryClient;
let repo: RepositoryRef;
let subject: Descriptor;

const SIG = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SBOM = 'application/spdx+json';

async function setup(opts: FakeRegistryOptions): Promise<void> {
  fake = await FakeRegistry.start(opts);
  client = new RegistryClient({ retryBaseMs: 5 });
  repo = { registry: fake.host, repository: 'team/app' };
  const { bytes } = imageManifest(Buffer.from('layer'));
  const digest = fake.storeManifest(repo.repository, bytes, MEDIA_TYPE.OCI_MANIFEST, 'v1');
  subject = { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size: bytes.length };
}

/** Stores referrers directly in the fake (3 signatures, 2 SBOMs). */
function seedReferrers(): string[] {
  const digests: string[] = [];
  for (let i = 0; i < 5; i++) {
    const a = artifact(subject, { artifactType: i < 3 ? SIG : SBOM, payload: `p${i}` });
    digests.push(fake.storeManifest(repo.repository, a.manifestBytes, MEDIA_TYPE.OCI_MANIFEST));
  }
  return digests;
}

afterEach(async () => {
  await client.close();
  await fake.close();
});

describe('referrers API', () => {
  test('follows relative Link pagination and returns every descriptor with artifactType and annotations', async () => {
    await setup({ referrersApi: true, referrersPageSize: 2 });
    const digests = seedReferrers();
    const result = await client.listReferrers(repo, subject.digest);
    expect(result.source).toBe('api');
    expect(result.manifests.map((d) => d.digest).sort()).toEqual([...digests].sort());
    expect(
      result.manifests.every((d) => d.artifactType !== undefined && d.annotations?.['dev.sigstore.bundle.content'] === 'dsse-envelope'),
    ).toBe(true);
    expect(fake.requestsMatching('GET', /\/referrers\//)).toHaveLength(3); // pages of 2, 2, 1
    expect(result.etag).toBeUndefined();
  });

  test('filters client-side when the registry does not report OCI-Filters-Applied', async () => {
    await setup({ referrersApi: true, referrersPageSize: 2 });
    seedReferrers();
    const result = await client.listReferrers(repo, subject.digest, { artifactType: SIG });
    expect(result.manifests).toHaveLength(3);
    expect(result.manifests.every((d) => d.artifactType === SIG)).toBe(true);
    const first = fake.requestsMatching('GET', /\/referrers\//)[0]!;
    expect(first.query.get('artifactType')).toBe(SIG);
  });

  test('trusts server-side filtering when OCI-Filters-Applied says so', async () => {
    await setup({ referrersApi: true, filtersApplied: true });
    seedReferrers();
    const result = await client.listReferrers(repo, subject.digest, { artifactType: SBOM });
    expect(result.manifests).toHaveLength(2);
    expect(result.manifests.every((d) => d.artifactType === SBOM)).toBe(true);
  });

  test('the artifactType query value is URL-encoded', async () => {
    await setup({ referrersApi: true });
    await client.listReferrers(repo, subject.digest, { artifactType: 'application/vnd.x+json; v=1' });
    const raw = fake.requestsMatching('GET', /\/referrers\//)[0]!;
    expect(raw.rawUrl).toContain('?artifactType=application%2Fvnd.x%2Bjson%3B%20v%3D1');
    expect(raw.query.get('artifactType')).toBe('application/vnd.x+json; v=1');
  });

  test('a 200 that is not an image index is DATA_LOSS', async () => {
    await setup({ referrersApi: true });
    fake.inject({
      method: 'GET',
      path: /\/referrers\//,
      status: 200,
      headers: { 'content-type': MEDIA_TYPE.OCI_MANIFEST },
      body: '{"schemaVersion":2,"config":{}}',
    });
    await expectCode(client.listReferrers(repo, subject.digest), 'DATA_LOSS', /not an OCI image index/);
  });

  test('an entry the registry lists badly (annotations copied as they were pushed) is skipped and reported, never hiding the others', async () => {
    // The registry builds the list from manifests pushers wrote: one list entry that is no valid
    // descriptor refused the whole list (DATA_LOSS), so one junk push hid every signature.
    await setup({ referrersApi: true, referrersPageSize: 2 });
    const digests = seedReferrers();
    const junk = { ...artifact(subject).manifest, annotations: { n: 1 } };
    const junkDigest = fake.storeManifest(repo.repository, Buffer.from(JSON.stringify(junk)), MEDIA_TYPE.OCI_MANIFEST);
    const result = await client.listReferrers(repo, subject.digest);
    expect(result.manifests.map((d) => d.digest).sort()).toEqual([...digests].sort());
    expect(result.skipped).toEqual([
      {
        position: [...digests, junkDigest].sort().indexOf(junkDigest),
        digest: junkDigest,
        reason: 'annotations is not an object of strings',
      },
    ]);
  });

  test('an empty list is still source "api" (no fallback)', async () => {
    await setup({ referrersApi: true });
    expect(await client.listReferrers(repo, subject.digest)).toEqual({ source: 'api', manifests: [] });
    expect(fake.requestsMatching('GET', /\/manifests\//)).toHaveLength(0);
  });
});

describe('tag-schema fallback', () => {
  test('404 from the API falls back to the sha256-<hex> tag; no tag means no referrers', async () => {
    await setup({});
    expect(await client.listReferrers(repo, subject.digest)).toEqual({ source: 'tag', manifests: [] });
    expect(fake.requestsMatching('GET', new RegExp(`/manifests/${referrersTagFor(subject.digest)}$`))).toHaveLength(1);
  });

  test('reads the fallback index with its ETag, filters client-side, and caches that the API is missing', async () => {
    await setup({});
    const entries: Descriptor[] = [
      { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: sha256Digest(Buffer.from('a')), size: 1, artifactType: SIG },
      { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: sha256Digest(Buffer.from('b')), size: 2, artifactType: SBOM },
    ];
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: entries }));
    const indexDigest = fake.storeManifest(repo.repository, index, MEDIA_TYPE.OCI_INDEX, referrersTagFor(subject.digest));
    const all = await client.listReferrers(repo, subject.digest);
    expect(all).toEqual({ source: 'tag', manifests: entries, etag: `"${indexDigest}"`, indexDigest });
    const sigs = await client.listReferrers(repo, subject.digest, { artifactType: SIG });
    expect(sigs.manifests).toEqual([entries[0]]);
    // The second call went straight to the tag: the missing API was remembered.
    expect(fake.requestsMatching('GET', /\/referrers\//)).toHaveLength(1);
  });

  test('something other than an index under the referrers tag is DATA_LOSS', async () => {
    await setup({});
    const { bytes } = imageManifest(Buffer.from('not an index'));
    fake.storeManifest(repo.repository, bytes, MEDIA_TYPE.OCI_MANIFEST, referrersTagFor(subject.digest));
    await expectCode(
      client.listReferrers(repo, subject.digest),
      'DATA_LOSS',
      /not an OCI image index: its Content-Type is application\/vnd\.oci\.image\.manifest\.v1\+json/,
    );
  });
});

describe('pingReferrersApi', () => {
  test('true only for a 200 carrying an index, probing the all-zero digest once per registry', async () => {
    await setup({ referrersApi: true });
    expect(await client.pingReferrersApi(repo)).toBe(true);
    expect(await client.pingReferrersApi({ ...repo, repository: 'other/repo' })).toBe(true);
    const probes = fake.requestsMatching('GET', /\/referrers\//);
    expect(probes).toHaveLength(1);
    expect(probes[0]!.path).toBe(`/v2/team/app/referrers/sha256:${'0'.repeat(64)}`);
  });

  test('false when the API is missing', async () => {
    await setup({});
    expect(await client.pingReferrersApi(repo)).toBe(false);
  });

  test('false when the 200 is not an index', async () => {
    await setup({ referrersApi: true });
    fake.inject({ method: 'GET', path: /\/referrers\//, status: 200, headers: { 'content-type': 'text/html' }, body: '<html>hi</html>' });
    expect(await client.pingReferrersApi(repo)).toBe(false);
  });

  test('a transient failure is an error, not a cached "no"', async () => {
    await setup({ referrersApi: true });
    fake.inject({ method: 'GET', path: /\/referrers\//, status: 503 });
    const c = new RegistryClient({ maxRetries: 0 });
    try {
      await expectCode(c.pingReferrersApi(repo), 'UNAVAILABLE', /failed with 503/);
      expect(await c.pingReferrersApi(repo)).toBe(true);
      expect(fake.requestsMatching('GET', /\/referrers\//)).toHaveLength(2);
    } finally {
      await c.close();
    }
  });
});
