/** ReferrerStore.attach / discover against the fake: API vs fallback tag, index maintenance, concurrency. */
import { RegistryClient } from '../../../src/registry/client';
import { sha256Digest } from '../../../src/registry/digest';
import { referrersTagFor } from '../../../src/registry/reference';
import { ReferrerStore } from '../../../src/registry/referrer-store';
import { EMPTY_DESCRIPTOR, MEDIA_TYPE, type Descriptor, type ImageIndex, type RepositoryRef } from '../../../src/registry/types';
import { FakeRegistry, type FakeRegistryOptions } from './fake-registry';
import { artifact, expectCode, imageManifest } from './helpers';

let fake: FakeRegistry;
let client: RegistryClient;
let store: ReferrerStore;
let repo: RepositoryRef;
let subject: Descriptor;
let tag: string;

async function setup(opts: FakeRegistryOptions = {}): Promise<void> {
  fake = await FakeRegistry.start(opts);
  client = new RegistryClient({ retryBaseMs: 5 });
  store = new ReferrerStore(client);
  repo = { registry: fake.host, repository: 'team/app' };
  const { bytes } = imageManifest(Buffer.from('layer'));
  const digest = fake.storeManifest(repo.repository, bytes, MEDIA_TYPE.OCI_MANIFEST, 'v1');
  subject = { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size: bytes.length };
  tag = referrersTagFor(digest);
}

afterEach(async () => {
  await client?.close();
  await fake?.close();
});

function fallbackIndex(): ImageIndex | undefined {
  const m = fake.taggedManifest(repo.repository, tag);
  return m ? (JSON.parse(m.bytes.toString('utf8')) as ImageIndex) : undefined;
}

function writeIndex(manifests: Descriptor[], extra: Record<string, unknown> = {}): void {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, ...extra, manifests }));
  fake.storeManifest(repo.repository, bytes, MEDIA_TYPE.OCI_INDEX, tag);
}

const tagPuts = (): number => fake.requestsMatching('PUT', new RegExp(`/manifests/${tag}$`)).length;

describe('attach without a referrers API (fallback tag)', () => {
  beforeEach(() => setup());

  test('pushes blobs and the manifest by digest, then writes the spec-conformant index entry', async () => {
    const a = artifact(subject, {
      annotations: {
        'org.opencontainers.image.created': '2026-01-02T03:04:05Z',
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1',
      },
    });
    const digest = sha256Digest(a.manifestBytes);
    const result = await store.attach(repo, a);
    expect(result).toEqual({ digest, size: a.manifestBytes.length, referrersUpdate: 'tag' });

    // (a) blobs, (b) manifest PUT by digest (not by tag)
    expect(fake.repo(repo.repository).blobs.has(EMPTY_DESCRIPTOR.digest)).toBe(true);
    expect(fake.repo(repo.repository).blobs.has(a.manifest.layers[0]!.digest)).toBe(true);
    const manifestPut = fake.requestsMatching('PUT', /\/manifests\/sha256:/);
    expect(manifestPut.map((r) => r.path)).toEqual([`/v2/team/app/manifests/${digest}`]);
    expect(manifestPut[0]!.headers['content-type']).toBe(MEDIA_TYPE.OCI_MANIFEST);

    // (c) the index: exactly the spec's entry, PUT as an OCI index
    expect(fallbackIndex()).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.OCI_INDEX,
      manifests: [
        {
          mediaType: MEDIA_TYPE.OCI_MANIFEST,
          digest,
          size: a.manifestBytes.length,
          artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
          annotations: {
            'org.opencontainers.image.created': '2026-01-02T03:04:05Z',
            'dev.sigstore.bundle.content': 'dsse-envelope',
            'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1',
          },
        },
      ],
    });
    const indexPut = fake.requestsMatching('PUT', new RegExp(`/manifests/${tag}$`))[0]!;
    expect(indexPut.headers['content-type']).toBe(MEDIA_TYPE.OCI_INDEX);
    // The tag did not exist: no If-Match to send.
    expect(indexPut.headers['if-match']).toBeUndefined();

    // and discover finds it
    expect((await store.discover(repo, subject.digest)).map((d) => d.digest)).toEqual([digest]);
  });

  test('artifactType falls back to config.mediaType when the manifest has none', async () => {
    const a = artifact(subject, { withArtifactType: false });
    await store.attach(repo, a);
    expect(fallbackIndex()!.manifests[0]!.artifactType).toBe(EMPTY_DESCRIPTOR.mediaType);
  });

  test('appends to an existing index, leaving foreign entries and fields untouched, with If-Match', async () => {
    const foreign = { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: sha256Digest(Buffer.from('cosign')), size: 7, artifactType: EMPTY_DESCRIPTOR.mediaType, 'x-extra': { keep: true } };
    writeIndex([foreign as unknown as Descriptor], { annotations: { owner: 'someone-else' } });
    const etag = `"${sha256Digest(fake.taggedManifest(repo.repository, tag)!.bytes)}"`;
    const a = artifact(subject);
    await store.attach(repo, a);
    const index = fallbackIndex()!;
    expect(index.annotations).toEqual({ owner: 'someone-else' });
    expect(index.manifests).toHaveLength(2);
    expect(index.manifests[0]).toEqual(foreign);
    expect(index.manifests[1]!.digest).toBe(sha256Digest(a.manifestBytes));
    expect(fake.requestsMatching('PUT', new RegExp(`/manifests/${tag}$`))[0]!.headers['if-match']).toBe(etag);
  });

  test('attaching the same artifact again adds no duplicate and writes nothing', async () => {
    const a = artifact(subject);
    await store.attach(repo, a);
    await store.attach(repo, a);
    expect(fallbackIndex()!.manifests).toHaveLength(1);
    expect(tagPuts()).toBe(1);
  });

  test('a non-index under the referrers tag is reported (DATA_LOSS), never overwritten', async () => {
    const { bytes } = imageManifest(Buffer.from('squatter'));
    fake.storeManifest(repo.repository, bytes, MEDIA_TYPE.OCI_MANIFEST, tag);
    await expectCode(store.attach(repo, artifact(subject)), 'DATA_LOSS', /not an OCI image index/);
    expect(tagPuts()).toBe(0);
    expect(fake.taggedManifest(repo.repository, tag)!.bytes).toEqual(bytes);
  });

  test('a failing index write is thrown (not retried: tag PUTs are not idempotent) and leaves the index as it was', async () => {
    const first = artifact(subject);
    await store.attach(repo, first);
    const before = fake.taggedManifest(repo.repository, tag)!.bytes;
    fake.inject({ method: 'PUT', path: new RegExp(`/manifests/${tag}$`), status: 500, times: 5 });
    await expectCode(store.attach(repo, artifact(subject)), 'UNAVAILABLE', /failed with 500/);
    expect(tagPuts()).toBe(2);
    expect(fake.taggedManifest(repo.repository, tag)!.bytes).toEqual(before);
  });

  test('an index overwritten by another writer right after our PUT is detected on read-back and re-applied', async () => {
    const other = { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: sha256Digest(Buffer.from('other process')), size: 3, artifactType: 'x/y' };
    let overwritten = false;
    fake.afterManifestPut = (_repo, ref) => {
      if (ref === tag && !overwritten) {
        overwritten = true;
        writeIndex([other]); // a writer elsewhere, working from a stale read
      }
    };
    const a = artifact(subject);
    await store.attach(repo, a);
    expect(overwritten).toBe(true);
    expect(tagPuts()).toBe(2);
    expect(fallbackIndex()!.manifests.map((d) => d.digest)).toEqual([other.digest, sha256Digest(a.manifestBytes)]);
  });

  test('gives up with UNAVAILABLE after maxIndexWrites when the entry keeps disappearing', async () => {
    const s = new ReferrerStore(client, { maxIndexWrites: 3 });
    fake.afterManifestPut = (_repo, ref) => {
      if (ref === tag) writeIndex([]);
    };
    await expectCode(s.attach(repo, artifact(subject)), 'UNAVAILABLE', /after 3 writes/);
    expect(tagPuts()).toBe(3);
  });

  test('50 concurrent attaches to one subject leave 50 entries (registry ignores If-Match)', async () => {
    const artifacts = Array.from({ length: 50 }, (_, i) => artifact(subject, { payload: `sig-${i}` }));
    const results = await Promise.all(artifacts.map((a) => store.attach(repo, a)));
    expect(results.every((r) => r.referrersUpdate === 'tag')).toBe(true);
    const listed = fallbackIndex()!.manifests.map((d) => d.digest).sort();
    expect(listed).toEqual(artifacts.map((a) => sha256Digest(a.manifestBytes)).sort());
    expect(new Set(listed).size).toBe(50);
    // Serialized in-process: every index write was built on the previous one, none had to be redone.
    expect(tagPuts()).toBe(50);
  });

  test('rejects an artifact whose manifest object disagrees with its bytes, before any request', async () => {
    const a = artifact(subject);
    a.manifest = { ...a.manifest, annotations: { tampered: 'yes' } };
    await expectCode(store.attach(repo, a), 'INVALID_ARGUMENT', /does not match manifestBytes/);
    const noSubject = artifact(subject);
    delete noSubject.manifest.subject;
    await expectCode(store.attach(repo, noSubject), 'INVALID_ARGUMENT', /no valid subject/);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('attach with a registry that honours If-Match', () => {
  test('a 412 (someone wrote between our GET and PUT) restarts from GET and keeps both entries', async () => {
    await setup({ honorIfMatch: true });
    await store.attach(repo, artifact(subject, { payload: 'first' }));
    const sneaky = { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: sha256Digest(Buffer.from('sneaky')), size: 5, artifactType: 'x/y' };
    let raced = false;
    fake.onRequest = (r) => {
      if (!raced && r.method === 'PUT' && r.path.endsWith(`/manifests/${tag}`)) {
        raced = true;
        writeIndex([...fallbackIndex()!.manifests, sneaky]);
      }
    };
    const second = artifact(subject, { payload: 'second' });
    await store.attach(repo, second);
    expect(raced).toBe(true);
    const puts = fake.requestsMatching('PUT', new RegExp(`/manifests/${tag}$`));
    expect(puts).toHaveLength(3); // first attach, 412, retry
    const digests = fallbackIndex()!.manifests.map((d) => d.digest);
    expect(digests).toHaveLength(3);
    expect(digests.slice(1)).toEqual([sneaky.digest, sha256Digest(second.manifestBytes)]);
  });
});

describe('attach with a referrers API', () => {
  test('OCI-Subject plus a working API: the registry indexes it, no tag is written', async () => {
    await setup({ referrersApi: true });
    const a = artifact(subject);
    expect((await store.attach(repo, a)).referrersUpdate).toBe('api');
    expect(tagPuts()).toBe(0);
    const found = await store.discover(repo, subject.digest, { artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' });
    expect(found.map((d) => d.digest)).toEqual([sha256Digest(a.manifestBytes)]);
    expect(found[0]!.annotations).toEqual(a.manifest.annotations);
  });

  test('OCI-Subject without a working API (the ECR caveat): the fallback tag is maintained', async () => {
    await setup({ referrersApi: false, ociSubject: true });
    const result = await store.attach(repo, artifact(subject));
    expect(result.referrersUpdate).toBe('tag');
    expect(fallbackIndex()!.manifests).toHaveLength(1);
  });
});
