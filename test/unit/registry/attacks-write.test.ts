/**
 * Hostile fallback indexes pushed before a Sign (the write path of ReferrerStore.attach): what a
 * pusher left under the referrers tag is kept byte for byte, refused with DATA_LOSS when it is no
 * index, never stops a Sign by what its entries hold, and never costs more than one pass to merge
 * (an attack review found the merge quadratic: 3.4 s of blocked event loop for 20,000 entries on
 * every Sign of the image; and one entry without a size refused every Sign of it).
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

describe('what the entries hold never stops a Sign (the index was refused whole for one malformed entry)', () => {
  const discoverable = async (digest: string): Promise<boolean> =>
    (await client.listReferrers(repo, subject.digest)).manifests.some((d) => d.digest === digest);

  test.each<[string, unknown]>([
    ['an entry without a size', { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: `sha256:${'a'.repeat(64)}` }],
    ['a size beyond 2^53', entry(7, { size: 2 ** 60 })],
    ['a negative size', entry(7, { size: -1 })],
    ['null', null],
    ['a number', 5],
    ['annotations that are not strings', entry(7, { annotations: { n: 1 } })],
  ])('%s: kept as written, ours appended and discoverable', async (_name, junk) => {
    const before = JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: [entry(1), junk] });
    putRaw(before);
    const a = artifact(subject);
    await store.attach(repo, a);
    const ours = sha256Digest(a.manifestBytes);
    expect(raw().startsWith(`${before.slice(0, -2)},{`)).toBe(true);
    expect(index().manifests.map((d) => (d as Descriptor | null)?.digest)).toEqual([
      entry(1).digest,
      (junk as Descriptor | null)?.digest,
      ours,
    ]);
    expect(await discoverable(ours)).toBe(true);
  });

  test('numbers and duplicate keys a parse would rewrite are kept byte for byte', async () => {
    // JSON.parse reads 9007199254740993 as ...992 and 1e400 as Infinity (serialized as null).
    const before = `{"schemaVersion":2,"manifests":[${JSON.stringify(entry(1)).slice(0, -1)},"x":9007199254740993,"y":1e400,"y":2}]}`;
    putRaw(before);
    const a = artifact(subject);
    await store.attach(repo, a);
    expect(raw().startsWith(before.slice(0, -2))).toBe(true);
    expect(raw()).toContain('"x":9007199254740993,"y":1e400,"y":2}');
    expect(await discoverable(sha256Digest(a.manifestBytes))).toBe(true);
  });

  test('a malformed entry carrying our digest is not taken for ours: a valid entry is added, and found', async () => {
    const a = artifact(subject);
    const ours = sha256Digest(a.manifestBytes);
    putRaw(JSON.stringify({ schemaVersion: 2, manifests: [{ digest: ours, mediaType: MEDIA_TYPE.OCI_MANIFEST }] }));
    await store.attach(repo, a);
    const found = (await client.listReferrers(repo, subject.digest)).manifests.filter((d) => d.digest === ours);
    expect(found).toEqual([expect.objectContaining({ digest: ours, size: a.manifestBytes.length }) as unknown]);
    expect(tagPuts()).toBe(1);
  });
});

describe('a foreign field nested deeper than any document needs', () => {
  test('kept as it is (the index is never re-serialized), ours appended', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const before = `{"schemaVersion":2,"mediaType":"${MEDIA_TYPE.OCI_INDEX}","manifests":[],"x":${deep}}`;
    putRaw(before);
    const a = artifact(subject);
    await store.attach(repo, a);
    const after = raw();
    expect(after.length).toBe(
      before.length + JSON.stringify(JSON.parse(after.slice(after.indexOf('"manifests":[') + 12, after.indexOf('],"x"') + 1))).length - 2,
    );
    expect(after.endsWith(`],"x":${deep}}`)).toBe(true);
    expect(tagPuts()).toBe(1);
  });
});

describe('an artifact that readers could not find is refused before anything is pushed', () => {
  test('an artifactType that is not a string: INVALID_ARGUMENT, no request made', async () => {
    const a = artifact(subject);
    const manifest = { ...a.manifest, artifactType: 5 as unknown as string };
    const before = fake.requestsMatching('PUT', /./).length + fake.requestsMatching('POST', /./).length;
    await expectCode(
      store.attach(repo, { ...a, manifest, manifestBytes: Buffer.from(JSON.stringify(manifest)) }),
      'INVALID_ARGUMENT',
      /artifactType is not a string/,
    );
    expect(fake.requestsMatching('PUT', /./).length + fake.requestsMatching('POST', /./).length).toBe(before);
  });
});
