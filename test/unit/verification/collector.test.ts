/**
 * EvidenceCollector against the in-process fake registry, once with the referrers API (small pages,
 * so pagination is exercised) and once with the tag-schema fallback: valid bundles verify, broken
 * referrers next to them are reported unverified without hiding them, other formats are named,
 * each referrer is judged by its own manifest, and transient failures propagate.
 */
import { RegistryClient } from '../../../src/registry/client';
import { referrersTagFor } from '../../../src/registry/reference';
import { ReferrerStore, type ArtifactToAttach } from '../../../src/registry/referrer-store';
import {
  EMPTY_BLOB,
  EMPTY_DESCRIPTOR,
  MEDIA_TYPE,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type RepositoryRef,
} from '../../../src/registry/types';
import { sha256Digest } from '../../../src/registry/digest';
import type { SigningKey } from '../../../src/keys/types';
import { EvidenceCollector, MAX_LISTED_UNVERIFIED, type CollectorOptions } from '../../../src/verification/collector';
import type { Evidence } from '../../../src/policy/input';
import { FakeRegistry, type FakeRegistryOptions } from '../registry/fake-registry';
import { expectCode } from '../registry/helpers';
import { newSigningKey, signedReferrer, staticTrust, storeImage, tempDir, trusted } from './bundle-fixtures';

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const NOTATION = 'application/vnd.cncf.notary.signature';
const REPOSITORY = 'team/app';

let tmp: ReturnType<typeof tempDir>;
let alice: SigningKey;
let mallory: SigningKey;

beforeAll(async () => {
  tmp = tempDir('collector');
  alice = await newSigningKey('alice');
  mallory = await newSigningKey('mallory');
});

afterAll(() => tmp.cleanup());

let fake: FakeRegistry;
let client: RegistryClient;
let store: ReferrerStore;
let repo: RepositoryRef;
let image: Descriptor;

async function setup(opts: FakeRegistryOptions): Promise<void> {
  fake = await FakeRegistry.start(opts);
  client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
  store = new ReferrerStore(client);
  repo = { registry: fake.host, repository: REPOSITORY };
  image = storeImage(fake, REPOSITORY, 'the image', 'v1');
}

afterEach(async () => {
  await client.close();
  await fake.close();
});

function collector(extra: Partial<CollectorOptions> = {}): EvidenceCollector {
  return new EvidenceCollector({ client, trust: staticTrust([trusted(alice)]), ...extra });
}

async function attach(artifact: ArtifactToAttach): Promise<string> {
  return (await store.attach(repo, artifact)).digest;
}

/**
 * Stores a referrer the fake registry would refuse over HTTP (dangling blob references), listing
 * it in the fallback index when the registry has no referrers API.
 */
function attachUnchecked(a: ArtifactToAttach, servedAs: string = MEDIA_TYPE.OCI_MANIFEST): string {
  for (const b of a.blobs) fake.storeBlob(REPOSITORY, b);
  const digest = fake.storeManifest(REPOSITORY, a.manifestBytes, servedAs);
  if (!fake.options.referrersApi) {
    const tag = referrersTagFor(image.digest);
    const current = fake.taggedManifest(REPOSITORY, tag);
    const index: ImageIndex = current
      ? (JSON.parse(current.bytes.toString('utf8')) as ImageIndex)
      : { schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: [] };
    index.manifests.push({ mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size: a.manifestBytes.length, artifactType: BUNDLE });
    fake.storeManifest(REPOSITORY, Buffer.from(JSON.stringify(index)), MEDIA_TYPE.OCI_INDEX, tag);
  }
  return digest;
}

/** A referrer of `image` with an arbitrary manifest body (subject and mediaType are filled in). */
function rawArtifact(body: Partial<ImageManifest> & Record<string, unknown>, blobs: Buffer[]): ArtifactToAttach {
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.OCI_MANIFEST,
    config: { ...EMPTY_DESCRIPTOR },
    ...body,
    subject: { mediaType: image.mediaType, digest: image.digest, size: image.size },
  } as ImageManifest;
  return { manifest, manifestBytes: Buffer.from(JSON.stringify(manifest)), blobs };
}

function layer(mediaType: string, bytes: Buffer): Descriptor {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.length };
}

function byDigest(list: Evidence[], digest: string): Evidence {
  const found = list.filter((e) => e.referrerDigest === digest);
  expect(found).toHaveLength(1);
  return found[0]!;
}

const MODES: Array<{ name: string; opts: FakeRegistryOptions; api: boolean }> = [
  { name: 'referrers API, page size 2', opts: { referrersApi: true, referrersPageSize: 2 }, api: true },
  { name: 'fallback tag (no referrers API)', opts: {}, api: false },
];

describe.each(MODES)('$name', ({ opts, api }) => {
  beforeEach(() => setup(opts));

  test('a Countersign bundle referrer is verified', async () => {
    const digest = await attach(await signedReferrer(alice, image));
    const evidence = await collector().collect(repo, image.digest);
    expect(evidence).toEqual([
      expect.objectContaining({
        referrerDigest: digest,
        format: 'sigstore-bundle',
        kind: 'signature',
        subjectDigest: image.digest,
        verified: true,
        keyName: 'alice',
        keyId: alice.id,
      }),
    ]);
  });

  test('no referrers at all: no evidence', async () => {
    expect(await collector().collect(repo, image.digest)).toEqual([]);
  });

  test('every referrer across several pages is examined', async () => {
    const digests: string[] = [];
    for (let i = 0; i < 5; i++)
      digests.push(await attach(await signedReferrer(i % 2 === 0 ? alice : mallory, image, { predicate: { i } })));
    const listed = (): number => fake.requestsMatching('GET', new RegExp(`/referrers/${image.digest}$`)).length;
    const before = listed();
    const evidence = await collector().collect(repo, image.digest);
    expect(evidence.map((e) => e.referrerDigest).sort()).toEqual([...digests].sort());
    expect(
      evidence
        .filter((e) => e.verified)
        .map((e) => e.referrerDigest)
        .sort(),
    ).toEqual([digests[0], digests[2], digests[4]].sort());
    for (const e of evidence.filter((x) => !x.verified)) expect(e.reason).toMatch(/not signed by any trusted key|does not verify/);
    // 5 referrers in pages of 2: three pages.
    if (api) expect(listed() - before).toBe(3);
  });

  describe('a malformed referrer next to a valid one', () => {
    let valid: string;
    beforeEach(async () => {
      valid = await attach(await signedReferrer(alice, image));
    });

    async function expectOnlyValid(bad: string, reason: RegExp): Promise<Evidence> {
      // Notes about the listing itself (a malformed fallback-index entry) are not referrers.
      const evidence = (await collector().collect(repo, image.digest)).filter((e) => e.format !== 'referrers-index');
      expect(evidence).toHaveLength(2);
      expect(byDigest(evidence, valid)).toMatchObject({ verified: true, keyName: 'alice' });
      const e = byDigest(evidence, bad);
      expect(e.verified).toBe(false);
      expect(e.reason).toMatch(reason);
      return e;
    }

    test('a bundle manifest with two layers', async () => {
      const good = await signedReferrer(alice, image, { predicate: { copy: 1 } });
      const extra = Buffer.from('extra layer');
      const bad = await attach(
        rawArtifact({ artifactType: BUNDLE, layers: [layer(BUNDLE, good.bundleBytes), layer(BUNDLE, extra)] }, [
          good.bundleBytes,
          extra,
          EMPTY_BLOB,
        ]),
      );
      const e = await expectOnlyValid(bad, /exactly one bundle layer, has 2/);
      expect(e.format).toBe('sigstore-bundle');
    });

    test('a bundle manifest whose only layer is not a bundle', async () => {
      const junk = Buffer.from('{"not":"a bundle"}');
      const bad = await attach(rawArtifact({ artifactType: BUNDLE, layers: [layer('application/json', junk)] }, [junk, EMPTY_BLOB]));
      await expectOnlyValid(bad, /exactly one bundle layer/);
    });

    test('a bundle blob that is not JSON', async () => {
      const junk = Buffer.from('this is not json at all');
      const bad = await attach(rawArtifact({ artifactType: BUNDLE, layers: [layer(BUNDLE, junk)] }, [junk, EMPTY_BLOB]));
      await expectOnlyValid(bad, /not valid JSON/);
    });

    test('a bundle blob that is JSON null', async () => {
      const junk = Buffer.from('null');
      const bad = await attach(rawArtifact({ artifactType: BUNDLE, layers: [layer(BUNDLE, junk)] }, [junk, EMPTY_BLOB]));
      await expectOnlyValid(bad, /not a JSON object/);
    });

    test('a validly signed bundle whose statement is about another image', async () => {
      const other = storeImage(fake, REPOSITORY, 'another image');
      const bad = await attach(await signedReferrer(alice, image, { statementDigest: other.digest }));
      await expectOnlyValid(bad, new RegExp(`about ${other.digest}, not ${image.digest}`));
    });

    test('a bundle signed by an untrusted key', async () => {
      const bad = await attach(await signedReferrer(mallory, image, { predicate: { by: 'mallory' } }));
      await expectOnlyValid(bad, /not signed by any trusted key/);
    });

    test('a referrer whose layer blob is missing: unverified with a reason, not an error', async () => {
      const r = await signedReferrer(alice, image, { predicate: { lost: true } });
      const bad = await attach(r);
      fake.repo(REPOSITORY).blobs.delete(r.manifest.layers[0]!.digest);
      await expectOnlyValid(bad, /referrer could not be read: .*not found/);
    });

    test('an artifactType that is not a string', async () => {
      const junk = Buffer.from('x');
      const bad = attachUnchecked(rawArtifact({ artifactType: 5 as unknown as string, layers: [layer(BUNDLE, junk)] }, [junk, EMPTY_BLOB]));
      const e = await expectOnlyValid(bad, /^referrer manifest's artifactType 5 is not a media type$/);
      expect(e.format).toBe('unknown');
    });

    test('a config that is null and no artifactType', async () => {
      const junk = Buffer.from('x');
      const bad = attachUnchecked(rawArtifact({ config: null as unknown as Descriptor, layers: [layer(BUNDLE, junk)] }, [junk]));
      const e = await expectOnlyValid(bad, /^referrer manifest's config is not a descriptor$/);
      expect(e.format).toBe('unknown');
    });

    test('a layers array holding null', async () => {
      const bad = await attach(rawArtifact({ artifactType: BUNDLE, layers: [null as unknown as Descriptor] }, [EMPTY_BLOB]));
      const e = await expectOnlyValid(bad, /^referrer manifest's layers\[0\] is not a descriptor$/);
      expect(e).toMatchObject({ format: 'sigstore-bundle', artifactType: BUNDLE });
    });

    test('a bundle layer whose digest is not a string', async () => {
      const bad = attachUnchecked(
        rawArtifact({ artifactType: BUNDLE, layers: [{ mediaType: BUNDLE, digest: 42 as unknown as string, size: 2 }] }, [EMPTY_BLOB]),
      );
      await expectOnlyValid(bad, /^referrer manifest's layers\[0\]\.digest 42 is not a sha256 or sha512 digest$/);
    });

    test('a bundle layer whose digest is not a valid digest', async () => {
      const bad = attachUnchecked(
        rawArtifact({ artifactType: BUNDLE, layers: [{ mediaType: BUNDLE, digest: 'sha256:nothex', size: 2 }] }, [EMPTY_BLOB]),
      );
      await expectOnlyValid(bad, /layers\[0\]\.digest "sha256:nothex" is not a sha256 or sha512 digest/);
    });

    test('a Notary Project signature whose envelope is not flattened JWS JSON is reported as notation, unverified, with the integrity failure', async () => {
      const sig = Buffer.from('eyJhbGciOiJQUzI1NiJ9.e30.c2ln');
      const bad = await attach(rawArtifact({ artifactType: NOTATION, layers: [layer('application/jose+json', sig)] }, [sig, EMPTY_BLOB]));
      const e = await expectOnlyValid(bad, /integrity validation failed: the envelope is not JSON/);
      expect(e).toMatchObject({ format: 'notation', artifactType: NOTATION, kind: 'signature' });
    });

    test('an unknown artifact type is reported as unknown, naming the type', async () => {
      const sbom = Buffer.from('{"spdxVersion":"SPDX-2.3"}');
      const type = 'application/vnd.example.sbom+json';
      const bad = await attach(rawArtifact({ artifactType: type, layers: [layer(type, sbom)] }, [sbom, EMPTY_BLOB]));
      const e = await expectOnlyValid(bad, new RegExp(`artifact type "${type.replace(/[.+]/g, '\\$&')}" is not`));
      expect(e).toMatchObject({ format: 'unknown', artifactType: type, kind: 'other' });
    });

    test('an artifact without artifactType falls back to config.mediaType', async () => {
      const cfg = Buffer.from('{"kind":"helm"}');
      const payload = Buffer.from('chart');
      const type = 'application/vnd.cncf.helm.config.v1+json';
      const bad = await attach(
        rawArtifact({ config: layer(type, cfg), layers: [layer('application/vnd.cncf.helm.chart.content.v1.tar+gzip', payload)] }, [
          cfg,
          payload,
        ]),
      );
      const e = await expectOnlyValid(bad, /is not a signature or attestation format/);
      expect(e).toMatchObject({ format: 'unknown', artifactType: type });
    });
  });

  test('a registry 503 while listing referrers rejects with UNAVAILABLE', async () => {
    await attach(await signedReferrer(alice, image));
    const listing = api ? /\/referrers\// : new RegExp(`/manifests/${referrersTagFor(image.digest)}$`);
    fake.inject({ method: 'GET', path: listing, status: 503, times: 5 });
    await expectCode(collector().collect(repo, image.digest), 'UNAVAILABLE', /503/);
  });

  test('a registry 503 while reading one referrer manifest rejects too (never cached as "unverified")', async () => {
    const digest = await attach(await signedReferrer(alice, image));
    fake.inject({ method: 'GET', path: new RegExp(`/manifests/${digest}$`), status: 503, times: 5 });
    await expectCode(collector().collect(repo, image.digest), 'UNAVAILABLE');
  });

  test('a registry 503 while reading a bundle blob rejects too', async () => {
    const r = await signedReferrer(alice, image);
    await attach(r);
    fake.inject({ method: 'GET', path: new RegExp(`/blobs/${r.manifest.layers[0]!.digest}$`), status: 503, times: 5 });
    await expectCode(collector().collect(repo, image.digest), 'UNAVAILABLE');
  });

  test('a time budget (not a position) bounds the work and reports how many were left out', async () => {
    for (let i = 0; i < 5; i++) await attach(await signedReferrer(alice, image, { predicate: { i } }));
    // Each referrer manifest read "takes" one second.
    let now = 0;
    fake.onRequest = (r) => {
      if (r.method === 'GET' && /\/manifests\/sha256:/.test(r.path)) now += 1000;
    };
    const evidence = await collector({ maxCollectMs: 2500, concurrency: 1, clock: () => now }).collect(repo, image.digest);
    expect(evidence.filter((e) => e.verified)).toHaveLength(3);
    const notice = evidence.find((e) => e.format === 'referrers-index')!;
    expect(notice).toMatchObject({ verified: false, kind: 'other', subjectDigest: image.digest });
    expect(notice.reason).toMatch(/^2 of 5 referrers were not examined: the collection used its 2500 ms budget/);
  });

  test('a byte budget bounds the work too', async () => {
    for (let i = 0; i < 3; i++) await attach(await signedReferrer(alice, image, { predicate: { i } }));
    const evidence = await collector({ maxBytes: 1, concurrency: 1 }).collect(repo, image.digest);
    expect(evidence.filter((e) => e.verified)).toHaveLength(1);
    expect(evidence.find((e) => e.format === 'referrers-index')!.reason).toMatch(
      /^2 of 3 referrers were not examined: the collection read its 1-byte budget/,
    );
  });

  test('all referrers within the budget: no "not examined" notice', async () => {
    for (let i = 0; i < 2; i++) await attach(await signedReferrer(alice, image, { predicate: { i } }));
    const evidence = await collector().collect(repo, image.digest);
    expect(evidence).toHaveLength(2);
    expect(evidence.every((e) => e.verified)).toBe(true);
  });

  test('referrers that declare a format we verify are examined first, wherever they are listed', async () => {
    const helm = Buffer.from('chart');
    for (let i = 0; i < 4; i++) {
      const cfg = Buffer.from(`{"junk":${i}}`);
      await attach(
        rawArtifact({ config: layer('application/vnd.cncf.helm.config.v1+json', cfg), layers: [layer('application/x-tar', helm)] }, [
          cfg,
          helm,
        ]),
      );
    }
    const valid = await attach(await signedReferrer(alice, image));
    // Budget for exactly one manifest: the bundle is chosen, whatever its position.
    let now = 0;
    fake.onRequest = (r) => {
      if (r.method === 'GET' && /\/manifests\/sha256:/.test(r.path)) now += 1000;
    };
    const evidence = await collector({ maxCollectMs: 500, concurrency: 1, clock: () => now }).collect(repo, image.digest);
    expect(byDigest(evidence, valid)).toMatchObject({ verified: true });
    expect(evidence.find((e) => e.format === 'referrers-index')!.reason).toMatch(/^4 of 5 referrers were not examined/);
  });

  test('hundreds of junk referrers are reported compactly: at most MAX_LISTED_UNVERIFIED one by one, then a summary', async () => {
    const helm = Buffer.from('chart');
    for (let i = 0; i < MAX_LISTED_UNVERIFIED + 4; i++) {
      const cfg = Buffer.from(`{"junk":${i}}`);
      await attach(
        rawArtifact({ config: layer('application/vnd.cncf.helm.config.v1+json', cfg), layers: [layer('application/x-tar', helm)] }, [
          cfg,
          helm,
        ]),
      );
    }
    const valid = await attach(await signedReferrer(alice, image));
    const evidence = await collector().collect(repo, image.digest);
    expect(byDigest(evidence, valid).verified).toBe(true);
    expect(
      evidence.filter(
        (e) =>
          e.format === 'unknown' && e.kind === 'other' && /^artifact type .* is not a signature or attestation format/.test(e.reason ?? ''),
      ),
    ).toHaveLength(MAX_LISTED_UNVERIFIED);
    expect(evidence.filter((e) => /^4 more unverified unknown entries are not listed one by one/.test(e.reason ?? ''))).toHaveLength(1);
  });

  test('a registry 403 while reading one referrer manifest is an error, not an unverified referrer', async () => {
    const digest = await attach(await signedReferrer(alice, image));
    fake.inject({ method: 'GET', path: new RegExp(`/manifests/${digest}$`), status: 403 });
    await expectCode(collector().collect(repo, image.digest), 'PERMISSION_DENIED');
  });
});

describe('fallback index entries that lie about the artifact type', () => {
  beforeEach(() => setup({}));

  function storeRaw(manifest: ImageManifest, blobs: Buffer[]): { digest: string; size: number } {
    for (const b of blobs) fake.storeBlob(REPOSITORY, b);
    const bytes = Buffer.from(JSON.stringify(manifest));
    return { digest: fake.storeManifest(REPOSITORY, bytes, MEDIA_TYPE.OCI_MANIFEST), size: bytes.length };
  }

  function writeIndex(entries: Descriptor[]): void {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: entries }));
    fake.storeManifest(REPOSITORY, bytes, MEDIA_TYPE.OCI_INDEX, referrersTagFor(image.digest));
  }

  test('entry says bundle, manifest is a Notary signature: judged as notation', async () => {
    const sig = Buffer.from('jws');
    const { manifest } = rawArtifact({ artifactType: NOTATION, layers: [layer('application/jose+json', sig)] }, []);
    const stored = storeRaw(manifest, [sig, EMPTY_BLOB]);
    writeIndex([
      {
        mediaType: MEDIA_TYPE.OCI_MANIFEST,
        ...stored,
        artifactType: BUNDLE,
        annotations: { 'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1' },
      },
    ]);
    const [e, ...rest] = await collector().collect(repo, image.digest);
    expect(rest).toEqual([]);
    expect(e).toMatchObject({ referrerDigest: stored.digest, format: 'notation', artifactType: NOTATION, verified: false });
  });

  test('entry says Notary signature (or nothing), manifest is a valid bundle: verified as a bundle', async () => {
    const r = await signedReferrer(alice, image);
    const a = storeRaw(r.manifest, r.blobs);
    const r2 = await signedReferrer(alice, image, { predicate: { second: true } });
    const b = storeRaw(r2.manifest, r2.blobs);
    writeIndex([
      { mediaType: MEDIA_TYPE.OCI_MANIFEST, ...a, artifactType: NOTATION },
      { mediaType: MEDIA_TYPE.OCI_MANIFEST, ...b },
    ]);
    const evidence = await collector().collect(repo, image.digest);
    expect(byDigest(evidence, a.digest)).toMatchObject({ format: 'sigstore-bundle', verified: true, artifactType: BUNDLE });
    expect(byDigest(evidence, b.digest)).toMatchObject({ format: 'sigstore-bundle', verified: true });
  });

  test('an index entry naming a manifest the registry does not have: unverified, the rest still verified', async () => {
    const r = await signedReferrer(alice, image);
    const good = storeRaw(r.manifest, r.blobs);
    const ghost = sha256Digest(Buffer.from('no such manifest'));
    writeIndex([
      { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: ghost, size: 10, artifactType: BUNDLE },
      { mediaType: MEDIA_TYPE.OCI_MANIFEST, ...good, artifactType: BUNDLE },
    ]);
    const evidence = await collector().collect(repo, image.digest);
    expect(byDigest(evidence, good.digest).verified).toBe(true);
    expect(byDigest(evidence, ghost)).toMatchObject({ verified: false, reason: expect.stringMatching(/could not be read/) as unknown });
  });

  test('an index entry naming a manifest that is not JSON: unverified', async () => {
    const bytes = Buffer.from('not json');
    const digest = fake.storeManifest(REPOSITORY, bytes, MEDIA_TYPE.OCI_MANIFEST);
    writeIndex([{ mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size: bytes.length, artifactType: BUNDLE }]);
    const [e] = await collector().collect(repo, image.digest);
    expect(e).toMatchObject({ referrerDigest: digest, verified: false, reason: 'referrer manifest is not JSON' });
  });

  test('an index listed under the tag whose entry is an image index: unverified, not an image manifest', async () => {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: [] }));
    const digest = fake.storeManifest(REPOSITORY, bytes, MEDIA_TYPE.OCI_INDEX);
    writeIndex([{ mediaType: MEDIA_TYPE.OCI_INDEX, digest, size: bytes.length, artifactType: BUNDLE }]);
    const [e] = await collector().collect(repo, image.digest);
    expect(e).toMatchObject({ verified: false, reason: 'referrer is an image index or a schema 1 manifest, not an image manifest' });
  });

  test('a bundle referrer whose manifest subject is another image (listed under ours): unverified', async () => {
    const other = storeImage(fake, REPOSITORY, 'other');
    const r = await signedReferrer(alice, other);
    const stored = storeRaw(r.manifest, r.blobs);
    writeIndex([{ mediaType: MEDIA_TYPE.OCI_MANIFEST, ...stored, artifactType: BUNDLE }]);
    const [e] = await collector().collect(repo, image.digest);
    expect(e).toMatchObject({ verified: false, reason: expect.stringContaining(`subject is ${other.digest}`) as unknown });
  });
});

describe('the fallback index is evidence, judged entry by entry (issue 7 item 3)', () => {
  beforeEach(() => setup({}));
  const tag = (): string => referrersTagFor(image.digest);

  function storeRaw(manifest: ImageManifest, blobs: Buffer[]): { digest: string; size: number } {
    for (const b of blobs) fake.storeBlob(REPOSITORY, b);
    const bytes = Buffer.from(JSON.stringify(manifest));
    return { digest: fake.storeManifest(REPOSITORY, bytes, MEDIA_TYPE.OCI_MANIFEST), size: bytes.length };
  }

  function writeIndexBytes(bytes: Buffer, mediaType: string = MEDIA_TYPE.OCI_INDEX): void {
    fake.storeManifest(REPOSITORY, bytes, mediaType, tag());
  }

  function writeIndex(entries: unknown[]): void {
    writeIndexBytes(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: entries })));
  }

  /** A cosign legacy `.sig` by alice next to the referrers. */
  function legacySignature(): string {
    const payload = Buffer.from(
      JSON.stringify({
        critical: {
          identity: { 'docker-reference': 'x' },
          image: { 'docker-manifest-digest': image.digest },
          type: 'cosign container image signature',
        },
        optional: null,
      }),
    );
    const manifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
      config: { ...EMPTY_DESCRIPTOR },
      layers: [
        {
          mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          digest: sha256Digest(payload),
          size: payload.length,
          annotations: { 'dev.cosignproject.cosign/signature': alice.sign(payload).toString('base64') },
        },
      ],
    };
    fake.storeBlob(REPOSITORY, payload);
    fake.storeBlob(REPOSITORY, EMPTY_BLOB);
    return fake.storeManifest(REPOSITORY, Buffer.from(JSON.stringify(manifest)), MEDIA_TYPE.OCI_MANIFEST, `${tag()}.sig`);
  }

  test('malformed entries are skipped and reported one by one; the valid entry still verifies', async () => {
    const r = await signedReferrer(alice, image);
    const good = storeRaw(r.manifest, r.blobs);
    const r2 = await signedReferrer(alice, image, { predicate: { second: true } });
    const sizeless = storeRaw(r2.manifest, r2.blobs);
    writeIndex([
      null,
      5,
      { mediaType: MEDIA_TYPE.OCI_MANIFEST, size: 10 },
      { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: 'sha256:zz', size: 10 },
      { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: sizeless.digest, artifactType: 5 },
      { mediaType: MEDIA_TYPE.OCI_MANIFEST, ...good, artifactType: BUNDLE },
    ]);
    const evidence = await collector().collect(repo, image.digest);
    expect(byDigest(evidence, good.digest)).toMatchObject({ verified: true, keyName: 'alice' });
    // An entry with a usable digest is judged by its own manifest despite its broken listing.
    expect(byDigest(evidence, sizeless.digest)).toMatchObject({ verified: true });
    const notes = evidence.filter((e) => e.format === 'referrers-index').map((e) => e.reason);
    expect(notes).toEqual([
      'referrers index entry manifests[0] was skipped: not a descriptor object',
      'referrers index entry manifests[1] was skipped: not a descriptor object',
      'referrers index entry manifests[2] was skipped: digest is missing or not a digest',
      'referrers index entry manifests[3] was skipped: digest is missing or not a digest',
      `referrers index entry manifests[4] (${sizeless.digest}) is malformed (size is missing or not a non-negative integer); its manifest was judged on its own`,
    ]);
  });

  const unusable: Array<[string, () => void, RegExp]> = [
    ['not JSON', () => writeIndexBytes(Buffer.from('this is not json')), /the body is not JSON/],
    ['{"manifests":5}', () => writeIndexBytes(Buffer.from('{"manifests":5}')), /schemaVersion is not 2/],
    [
      'an image manifest stored under the tag',
      () =>
        writeIndexBytes(
          Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_MANIFEST, config: EMPTY_DESCRIPTOR, layers: [] })),
          MEDIA_TYPE.OCI_MANIFEST,
        ),
      /Content-Type is application\/vnd\.oci\.image\.manifest\.v1\+json/,
    ],
    [
      'over the manifest size limit',
      () => writeIndexBytes(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [], pad: 'x'.repeat(4 * 1024 * 1024) }))),
      /over the \d+-byte limit/,
    ],
  ];
  test.each(unusable)(
    'an index that is %s: reported as evidence, and a legacy .sig next to it still verifies',
    async (_name, write, why) => {
      write();
      const sig = legacySignature();
      const evidence = await collector().collect(repo, image.digest);
      expect(byDigest(evidence, sig)).toMatchObject({ format: 'cosign-legacy-signature', verified: true, keyName: 'alice' });
      const note = evidence.find((e) => e.format === 'referrers-index')!;
      expect(note).toMatchObject({ verified: false, kind: 'other' });
      expect(note.reason).toMatch(/^the referrers of sha256:[0-9a-f]{64} could not be read: /);
      expect(note.reason).toMatch(why);
    },
  );

  test('200 junk entries listed before a valid one: the valid one verifies (no positional cap)', async () => {
    const junk = Array.from({ length: 200 }, (_, i) => {
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MEDIA_TYPE.OCI_MANIFEST,
          artifactType: BUNDLE,
          config: EMPTY_DESCRIPTOR,
          layers: [],
          junk: i,
        }),
      );
      return {
        mediaType: MEDIA_TYPE.OCI_MANIFEST,
        digest: fake.storeManifest(REPOSITORY, bytes, MEDIA_TYPE.OCI_MANIFEST),
        size: 1,
        artifactType: BUNDLE,
      };
    });
    const r = await signedReferrer(alice, image);
    const good = storeRaw(r.manifest, r.blobs);
    writeIndex([...junk, { mediaType: MEDIA_TYPE.OCI_MANIFEST, ...good, artifactType: BUNDLE }]);
    const evidence = await collector().collect(repo, image.digest);
    expect(byDigest(evidence, good.digest)).toMatchObject({ verified: true });
    expect(evidence.some((e) => /not examined/.test(e.reason ?? ''))).toBe(false);
  });

  test('the same digest listed many times is examined once, and said so', async () => {
    const r = await signedReferrer(alice, image);
    const good = storeRaw(r.manifest, r.blobs);
    const entry = { mediaType: MEDIA_TYPE.OCI_MANIFEST, ...good, artifactType: BUNDLE };
    writeIndex([entry, entry, entry]);
    const evidence = await collector().collect(repo, image.digest);
    expect(byDigest(evidence, good.digest).verified).toBe(true);
    expect(fake.requestsMatching('GET', new RegExp(`/manifests/${good.digest}$`))).toHaveLength(1);
    expect(evidence.find((e) => e.format === 'referrers-index')!.reason).toBe('2 duplicate referrer entries were examined once');
  });
});

describe('a referrers API answer that is not an index is evidence, not an error', () => {
  beforeEach(() => setup({ referrersApi: true }));

  test('non-JSON from the API: reported; nothing thrown', async () => {
    fake.inject({ method: 'GET', path: /\/referrers\//, status: 200, headers: { 'content-type': MEDIA_TYPE.OCI_INDEX }, body: 'garbage' });
    const evidence = await collector({ legacy: false }).collect(repo, image.digest);
    expect(evidence).toEqual([
      expect.objectContaining({
        format: 'referrers-index',
        verified: false,
        reason: expect.stringMatching(/could not be read: .*not JSON/) as unknown,
      }),
    ]);
  });
});

/**
 * The signature in a bundle referrer signs only its payload; the manifest around it is the
 * pusher's. Each case wraps THE SAME valid bundle (alice's, for this image) in a manifest edited
 * the way an attacker with push access can: if the edit were ignored, the copy would count as a
 * signature although the registry, cosign or containerd read the manifest as something else.
 */
describe('edited copies of a valid bundle referrer (the manifest is unsigned)', () => {
  beforeEach(() => setup({}));

  type Edit = (m: Record<string, unknown>) => void;
  const otherDigest = `sha256:${'ab'.repeat(32)}`;
  const CASES: Array<[string, Edit, RegExp, string?]> = [
    [
      'a "Subject" key naming another image beside subject',
      (m) => (m.Subject = { ...(m.subject as object), digest: otherDigest }),
      /key "Subject".*Go client/,
    ],
    ['only "Subject" (a Go reader sees a subject, we would see none)', (m) => ((m.Subject = m.subject), delete m.subject), /key "Subject"/],
    ['an extra "Layers" key', (m) => (m.Layers = []), /key "Layers"/],
    ['a non-ASCII key folding onto layers', (m) => (m['layerſ'] = []), /key "layer\\u017f"|key "layerſ"/],
    [
      'a case-folded key inside the subject descriptor',
      (m) => ((m.subject as Record<string, unknown>).Digest = otherDigest),
      /key "subject\.Digest"/,
    ],
    [
      'an artifactType that only starts like a bundle type',
      (m) => (m.artifactType = 'application/vnd.dev.sigstore.bundle-evil+json'),
      /is not a signature or attestation format/,
    ],
    [
      'an artifactType that is no media type',
      (m) => (m.artifactType = 'application/vnd.dev.sigstore.bundle.v0.3+json\n'),
      /artifactType .* is not a media type/,
    ],
    [
      'an artifactType with megabytes of parameters (it would be reported as written)',
      (m) => (m.artifactType = `${BUNDLE};x=${'y'.repeat(1_000_000)}`),
      /artifactType .* is not a media type/,
    ],
    ['schemaVersion 1', (m) => (m.schemaVersion = 1), /schemaVersion is 1, not 2/],
    ['no schemaVersion', (m) => delete m.schemaVersion, /schemaVersion is \(absent\), not 2/],
    [
      'a Docker manifest mediaType',
      (m) => (m.mediaType = MEDIA_TYPE.DOCKER_MANIFEST),
      /mediaType .* not application\/vnd\.oci\.image\.manifest/,
    ],
    ['image and index at once', (m) => (m.manifests = []), /image index or a schema 1 manifest/],
    ['schema 1 fsLayers', (m) => (m.fsLayers = []), /image index or a schema 1 manifest/],
    ['no config', (m) => delete m.config, /config is not a descriptor/],
    ['a subject without a size', (m) => delete (m.subject as Record<string, unknown>).size, /subject\.size \(absent\)/],
    [
      'a subject digest in upper case',
      (m) => ((m.subject as Record<string, unknown>).digest = (m.subject as Descriptor).digest.toUpperCase()),
      /subject\.digest .* is not a sha256 or sha512 digest/,
    ],
    [
      'a subject that is another image',
      (m) => ((m.subject as Record<string, unknown>).digest = otherDigest),
      /subject is sha256:abab.*, not sha256:/,
    ],
    ['no subject', (m) => delete m.subject, /has no subject/],
    [
      'a non-string annotation',
      (m) => ((m.annotations as Record<string, unknown>)['org.opencontainers.image.created'] = { at: 'now' }),
      /annotations\["org\.opencontainers\.image\.created"\] is not a string/,
    ],
    ['annotations that are an array', (m) => (m.annotations = ['x']), /annotations is not an object/],
    ['a layer with a negative size', (m) => ((m.layers as Array<Record<string, unknown>>)[0]!.size = -1), /layers\[0\]\.size -1/],
  ];

  async function copyOfValid(edit: Edit, servedAs?: string): Promise<{ valid: ArtifactToAttach; copy: string }> {
    const valid = await signedReferrer(alice, image);
    const m = JSON.parse(valid.manifestBytes.toString('utf8')) as Record<string, unknown>;
    edit(m);
    const bytes = Buffer.from(JSON.stringify(m));
    return {
      valid,
      copy: attachUnchecked({ manifest: m as unknown as ImageManifest, manifestBytes: bytes, blobs: valid.blobs }, servedAs),
    };
  }

  test.each(CASES)('%s: unverified, with the reason', async (_name, edit, why) => {
    const { copy } = await copyOfValid(edit);
    const evidence = (await collector().collect(repo, image.digest)).filter((e) => e.format !== 'referrers-index');
    expect(evidence).toHaveLength(1);
    expect(evidence[0]).toMatchObject({ referrerDigest: copy, verified: false });
    expect(evidence[0]!.reason).toMatch(why);
    // The reason quotes what the pusher wrote on one visible line.
    expect(evidence[0]!.reason).not.toMatch(/[\n\r]/);
  });

  test('the original next to an edited copy still verifies', async () => {
    const { valid, copy } = await copyOfValid((m) => (m.Subject = m.subject));
    const original = await attach(valid);
    const evidence = (await collector().collect(repo, image.digest)).filter((e) => e.format !== 'referrers-index');
    expect(byDigest(evidence, original)).toMatchObject({ verified: true, keyName: 'alice' });
    expect(byDigest(evidence, copy)).toMatchObject({ verified: false, format: 'sigstore-bundle' });
  });

  test('a referrer the registry serves as a Docker manifest: unverified', async () => {
    const { copy } = await copyOfValid(() => undefined, MEDIA_TYPE.DOCKER_MANIFEST);
    const [e] = (await collector().collect(repo, image.digest)).filter((x) => x.format !== 'referrers-index');
    expect(e).toMatchObject({ referrerDigest: copy, verified: false });
    expect(e!.reason).toMatch(/serves the referrer as "application\/vnd\.docker\.distribution\.manifest\.v2\+json"/);
  });

  test('a created annotation that is no RFC 3339 date-time is dropped, the signature still counts', async () => {
    const { copy } = await copyOfValid(
      (m) => ((m.annotations as Record<string, string>)['org.opencontainers.image.created'] = 'yesterday'),
    );
    const [e] = await collector().collect(repo, image.digest);
    expect(e).toMatchObject({ referrerDigest: copy, verified: true, keyName: 'alice' });
    expect(e!.created).toBeUndefined();
  });

  test('a valid created annotation is kept', async () => {
    const { copy } = await copyOfValid(() => undefined);
    const [e] = await collector().collect(repo, image.digest);
    expect(e).toMatchObject({ referrerDigest: copy, verified: true, created: '2026-02-03T04:05:06Z' });
  });
});
