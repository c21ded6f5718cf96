/**
 * Hostile fallback indexes pushed before a Sign (the write path of ReferrerStore.attach): what a
 * pusher left under the referrers tag is kept as it is, refused with DATA_LOSS when it is no
 * index, and never costs more than one pass to merge (an attack review found the merge quadratic:
 * 3.4 s of blocked event loop for 20,000 entries on every Sign of the image).
 */
import { RegistryClient } from '../../../src/registry/client';
import { sha256Digest } from '../../../src/registry/digest';
import { referrersTagFor } from '../../../src/registry/reference';
import { ReferrerStore } from '../../../src/registry/referrer-store';
import { MEDIA_TYPE, type Descriptor, type ImageIndex, type RepositoryRef } from '../../../src/registry/types';
import { FakeRegistry } from './fake-registry';
import { artifact, expectCode, imageManifest } from './helpers';

let fake: FakeRegistry;
let client: RegistryClient;
let store: ReferrerStore;
let repo: RepositoryRef;
let subject: Descriptor;
let tag: string;

beforeEach(async () => {
  fake = await FakeRegistry.start();
  client = new RegistryClient({ retryBaseMs: 5 });
  store = new ReferrerStore(client, { settleMs: { minMs: 1, maxMs: 2 } });
  repo = { registry: fake.host, repository: 'team/app' };
  const { bytes } = imageManifest(Buffer.from('layer'));
  const digest = fake.storeManifest(repo.repository, bytes, MEDIA_TYPE.OCI_MANIFEST, 'v1');
  subject = { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size: bytes.length };
  tag = referrersTagFor(digest);
});

afterEach(async () => {
  await client.close();
  await fake.close();
});

const raw = (): string => fake.taggedManifest(repo.repository, tag)!.bytes.toString('utf8');
const index = (): ImageIndex => JSON.parse(raw()) as ImageIndex;
const putRaw = (text: string, mediaType: string = MEDIA_TYPE.OCI_INDEX): void => {
  fake.storeManifest(repo.repository, Buffer.from(text), mediaType, tag);
};
const tagPuts = (): number => fake.requestsMatching('PUT', new RegExp(`/manifests/${tag}$`)).length;
const entry = (i: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  mediaType: MEDIA_TYPE.OCI_MANIFEST,
  digest: `sha256:${i.toString(16).padStart(64, '0')}`,
  size: 100,
  ...extra,
});

describe('handled: the spec procedure on hostile indexes', () => {
  test('malformed JSON under the tag: DATA_LOSS, not overwritten', async () => {
    putRaw('{"schemaVersion":2,"manifests":[');
    await expectCode(store.attach(repo, artifact(subject)), 'DATA_LOSS', /not JSON/);
    expect(tagPuts()).toBe(0);
  });

  test('a Docker manifest list under the tag: DATA_LOSS, not overwritten', async () => {
    putRaw(
      JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.DOCKER_MANIFEST_LIST, manifests: [] }),
      'application/vnd.docker.distribution.manifest.list.v2+json',
    );
    await expectCode(store.attach(repo, artifact(subject)), 'DATA_LOSS');
    expect(tagPuts()).toBe(0);
  });

  test('an index body served as an image manifest content type: DATA_LOSS', async () => {
    putRaw(JSON.stringify({ schemaVersion: 2, manifests: [] }), MEDIA_TYPE.OCI_MANIFEST);
    await expectCode(store.attach(repo, artifact(subject)), 'DATA_LOSS');
  });

  test('duplicates, odd media types, unknown fields, no index mediaType: all kept byte-for-value, ours added once', async () => {
    const foreign = [
      entry(1, { artifactType: 'application/x-weird', annotations: { a: 'b' }, 'x-extra': [1, { y: null }] }),
      entry(1),
      entry(2, { mediaType: 'text/plain' }),
      entry(3, { digest: 'not-a-digest' }),
      entry(4, { mediaType: MEDIA_TYPE.OCI_INDEX, platform: { os: 'linux' } }),
    ];
    putRaw(JSON.stringify({ schemaVersion: 2, manifests: foreign, subject: { x: 1 }, annotations: { owner: 'other' } }));
    const a = artifact(subject);
    await store.attach(repo, a);
    const written = index();
    expect(written.manifests.slice(0, foreign.length)).toEqual(foreign);
    expect(written.manifests.filter((d) => d.digest === sha256Digest(a.manifestBytes))).toHaveLength(1);
    expect((written as unknown as Record<string, unknown>).subject).toEqual({ x: 1 });
    expect(written.annotations).toEqual({ owner: 'other' });
  });

  test('5000 foreign entries: every one kept, ours last', async () => {
    const foreign = Array.from({ length: 5000 }, (_, i) => entry(i + 10));
    putRaw(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: foreign }));
    const a = artifact(subject);
    await store.attach(repo, a);
    const written = index();
    expect(written.manifests).toHaveLength(5001);
    expect(written.manifests.slice(0, 5000)).toEqual(foreign);
    expect(written.manifests[5000]!.digest).toBe(sha256Digest(a.manifestBytes));
  });
});

describe('an index of 20,000 entries a pusher left', () => {
  test('every entry kept, ours appended once, last (the merge is one pass: see withReferrers)', async () => {
    const foreign = Array.from({ length: 20_000 }, (_, i) => entry(i + 10));
    putRaw(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: foreign }));
    const a = artifact(subject);
    await store.attach(repo, a);
    const written = index();
    expect(written.manifests).toHaveLength(20_001);
    expect(written.manifests[20_000]!.digest).toBe(sha256Digest(a.manifestBytes));
  }, 60_000);
});

describe('a foreign field nested deeper than any document needs', () => {
  test('DATA_LOSS saying why, not an INTERNAL stack overflow when the index is written back; nothing written', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    putRaw(`{"schemaVersion":2,"mediaType":"${MEDIA_TYPE.OCI_INDEX}","manifests":[],"x":${deep}}`);
    await expectCode(store.attach(repo, artifact(subject)), 'DATA_LOSS', /nests too deeply to serialize/);
    expect(tagPuts()).toBe(0);
  });
});
