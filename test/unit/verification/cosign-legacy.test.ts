/**
 * cosign legacy `.sig` / `.att` evidence: Connaisseur's real signatures (shared/vectors INDEX.md §3)
 * served by the in-process fake registry, plus synthetic tags signed with fresh P-256 keys.
 */
import { RegistryClient } from '../../../src/registry/client';
import { sha256Digest } from '../../../src/registry/digest';
import { MEDIA_TYPE, type RepositoryRef } from '../../../src/registry/types';
import type { TrustedKey, TrustStore } from '../../../src/trust/types';
import { CollectionBudget } from '../../../src/verification/collection-budget';
import { legacyCosignEvidence } from '../../../src/verification/cosign-legacy';
import { decodeBase64Strict } from '../../../src/verification/legacy/crypto';
import type { Evidence } from '../../../src/policy/input';
import { FakeRegistry } from '../registry/fake-registry';
import { expectCode } from '../registry/helpers';
import {
  attTag,
  attestationLayer,
  connaisseurKeys,
  CONNAISSEUR_REPOSITORY,
  dsseEnvelope,
  newP256,
  randomDigest,
  seedConnaisseur,
  sigTag,
  sign,
  signatureLayer,
  simpleSigningPayload,
  statement,
  storeLegacyTag,
  trustedKey,
  type SeededFile,
  type TestSigner,
} from './legacy-fixtures';

const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
const DSSE = 'application/vnd.dsse.envelope.v1+json';
const NOW = new Date('2026-03-01T12:00:00Z');

let fake: FakeRegistry;
let client: RegistryClient;

beforeEach(async () => {
  fake = await FakeRegistry.start();
  client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
});

afterEach(async () => {
  await client.close();
  await fake.close();
});

function evidence(repo: RepositoryRef, imageDigest: string, trustedKeys: TrustedKey[] | TrustStore): Promise<Evidence[]> {
  return legacyCosignEvidence({ client, repo, imageDigest, trustedKeys });
}

/** Distinct names of the keys that verified some evidence: what a "threshold"/"required signers" policy counts. */
function verifiedSigners(list: Evidence[]): string[] {
  return [...new Set(list.filter((e) => e.verified).map((e) => e.keyName!))].sort();
}

// ---- Connaisseur ------------------------------------------------------------------------------

describe('Connaisseur cosign test data (INDEX.md §3)', () => {
  const ALICE_IMAGE = 'sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81';
  const ABC_IMAGE = 'sha256:bfec161fecb0a887df7cb85e4da327c65986ccda7060cf3cd92171c6c90d7533';
  const KEYLESS_IMAGE = 'sha256:31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee';
  const UNSIGNED_IMAGE = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
  const keys = connaisseurKeys();
  let repo: RepositoryRef;
  let seeded: ReturnType<typeof seedConnaisseur>;
  const sigManifest = (image: string): SeededFile => seeded.manifests.get(sigTag(image))!;

  beforeEach(() => {
    repo = { registry: fake.host, repository: CONNAISSEUR_REPOSITORY };
    seeded = seedConnaisseur(fake);
  });

  test('the data is what INDEX.md describes: image tags hash to the named digests, blobs to their file names', () => {
    expect(seeded.manifests.get('multi-cosigned-alice')!.digest).toBe(ALICE_IMAGE);
    expect(seeded.manifests.get('multi-cosigned-alice-bob-charlie')!.digest).toBe(ABC_IMAGE);
    expect(seeded.manifests.get('keyless')!.digest).toBe(KEYLESS_IMAGE);
    expect(seeded.manifests.get('co-unsigned')!.digest).toBe(UNSIGNED_IMAGE);
    for (const [name, blob] of seeded.blobs) expect(blob.digest).toBe(name);
    expect(seeded.blobs.size).toBe(3);
  });

  test('alice-signed image: ACCEPT with key alice (one layer, the .sig manifest digest as referrer)', async () => {
    const list = await evidence(repo, ALICE_IMAGE, [keys.alice]);
    expect(list).toEqual([
      {
        referrerDigest: sigManifest(ALICE_IMAGE).digest,
        layerIndex: 0,
        format: 'cosign-legacy-signature',
        kind: 'signature',
        artifactType: MEDIA_TYPE.OCI_CONFIG,
        subjectDigest: ALICE_IMAGE,
        verified: true,
        keyId: keys.alice.id,
        keyName: 'alice',
      },
    ]);
    expect(list[0]!.predicateType).toBeUndefined();
  });

  test.each([['bob'], ['charlie'], ['default']] as const)('alice-signed image: REJECT with key %s', async (name) => {
    const list = await evidence(repo, ALICE_IMAGE, [keys[name]]);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      verified: false,
      layerIndex: 0,
      reason: expect.stringMatching(/does not verify with any of the 1 trusted key/) as unknown,
    });
    expect(list[0]!.keyName).toBeUndefined();
  });

  test('alice-signed image: with every key but alice, still REJECT; with all four keys only alice verifies', async () => {
    expect(verifiedSigners(await evidence(repo, ALICE_IMAGE, [keys.bob, keys.charlie, keys.default]))).toEqual([]);
    const all = await evidence(repo, ALICE_IMAGE, Object.values(keys));
    expect(verifiedSigners(all)).toEqual(['alice']);
  });

  test('alice-signed image: "required signers {bob}" and {alice, bob} are not met (no evidence from bob)', async () => {
    const signers = verifiedSigners(await evidence(repo, ALICE_IMAGE, [keys.alice, keys.bob]));
    expect(signers).toEqual(['alice']);
    expect(signers).not.toContain('bob');
  });

  test('3-signature image with trust roots {alice, bob}: two verified signers (threshold 2 ACCEPT, 3 REJECT)', async () => {
    const list = await evidence(repo, ABC_IMAGE, [keys.alice, keys.bob]);
    expect(list.map((e) => [e.layerIndex, e.verified, e.keyName])).toEqual([
      [0, true, 'alice'],
      [1, true, 'bob'],
      [2, false, undefined],
    ]);
    expect(list[2]!.reason).toMatch(/does not verify with any of the 2 trusted key/);
    expect(list.every((e) => e.referrerDigest === sigManifest(ABC_IMAGE).digest && e.subjectDigest === ABC_IMAGE)).toBe(true);
    const signers = verifiedSigners(list);
    expect(signers.length >= 2).toBe(true);
    expect(signers.length >= 3).toBe(false);
  });

  test('3-signature image with all three keys: alice, bob and charlie each verify their layer (threshold 3 ACCEPT)', async () => {
    const list = await evidence(repo, ABC_IMAGE, [keys.charlie, keys.bob, keys.alice]);
    expect(list.map((e) => [e.layerIndex, e.verified, e.keyName])).toEqual([
      [0, true, 'alice'],
      [1, true, 'bob'],
      [2, true, 'charlie'],
    ]);
    // The three layers share one payload blob: it is read once.
    expect(fake.requestsMatching('GET', /\/blobs\//)).toHaveLength(1);
  });

  test('3-signature image with default.key alone: REJECT (nothing verifies)', async () => {
    const list = await evidence(repo, ABC_IMAGE, [keys.default]);
    expect(list).toHaveLength(3);
    expect(list.filter((e) => e.verified)).toEqual([]);
  });

  test('keyless image: not verifiable with keys; reported as keyless, not as verified', async () => {
    const list = await evidence(repo, KEYLESS_IMAGE, Object.values(keys));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      verified: false,
      referrerDigest: sigManifest(KEYLESS_IMAGE).digest,
      reason: expect.stringContaining('keyless (certificate) signature: not supported, configure a key') as unknown,
    });
  });

  test('co-unsigned: no .sig (and no .att) tag → no evidence ("no signatures found" is the caller\'s REJECT)', async () => {
    expect(await evidence(repo, UNSIGNED_IMAGE, Object.values(keys))).toEqual([]);
    expect(
      fake
        .requestsMatching('GET', /\/manifests\//)
        .map((r) => r.path.split('/').pop())
        .sort(),
    ).toEqual([`${UNSIGNED_IMAGE.replace(':', '-')}.att`, `${UNSIGNED_IMAGE.replace(':', '-')}.sig`]);
  });

  test('a flipped byte in the payload blob: the registry copy no longer matches the layer digest → not verified', async () => {
    const blob = seeded.blobs.get('sha256:d8ee807d96efe7441b132967ad94eaffbc0172a763e69f2cd8df8f583f0ba0d4')!;
    const tampered = Buffer.from(blob.bytes);
    tampered[tampered.length - 3]! ^= 0x01;
    fake.repo(CONNAISSEUR_REPOSITORY).blobs.set(blob.digest, tampered);
    const list = await evidence(repo, ALICE_IMAGE, [keys.alice]);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      verified: false,
      reason: expect.stringMatching(/cannot read the signed payload: .*does not match its digest/) as unknown,
    });
  });

  test("a flipped byte in the payload, re-pointed to its own digest with alice's signature → signature fails", async () => {
    const blob = seeded.blobs.get('sha256:d8ee807d96efe7441b132967ad94eaffbc0172a763e69f2cd8df8f583f0ba0d4')!;
    const original = JSON.parse(sigManifest(ALICE_IMAGE).bytes.toString('utf8')) as {
      layers: Array<{ annotations: Record<string, string> }>;
    };
    const tampered = Buffer.from(blob.bytes.toString('utf8').replace('testimage', 'testimagf'));
    storeLegacyTag(
      fake,
      CONNAISSEUR_REPOSITORY,
      sigTag(ALICE_IMAGE),
      [{ payload: tampered, annotations: original.layers[0]!.annotations }],
      SIMPLE_SIGNING,
    );
    const list = await evidence(repo, ALICE_IMAGE, [keys.alice]);
    expect(list[0]).toMatchObject({ verified: false, reason: expect.stringMatching(/does not verify/) as unknown });
  });

  test("copied signature: alice's real .sig for 071bf7a9… placed under the tag of bfec161f… → not verified, names the signed digest", async () => {
    fake.storeManifest(CONNAISSEUR_REPOSITORY, sigManifest(ALICE_IMAGE).bytes, MEDIA_TYPE.OCI_MANIFEST, sigTag(ABC_IMAGE));
    const list = await evidence(repo, ABC_IMAGE, [keys.alice]);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      verified: false,
      subjectDigest: ABC_IMAGE,
      reason: expect.stringContaining(`signature is for ${ALICE_IMAGE}, not this image`) as unknown,
    });
  });
});

// ---- synthetic --------------------------------------------------------------------------------

describe('synthetic .sig signatures', () => {
  let repo: RepositoryRef;
  let signer: TestSigner;
  let key: TrustedKey;
  let image: string;

  beforeEach(() => {
    repo = { registry: fake.host, repository: 'team/app' };
    signer = newP256();
    key = trustedKey('release', signer.publicKey);
    image = randomDigest();
  });

  const onlyOne = async (keys: TrustedKey[] | TrustStore): Promise<Evidence> => {
    const list = await evidence(repo, image, keys);
    expect(list).toHaveLength(1);
    return list[0]!;
  };

  test('a DER signature by a trusted key verifies; the Evidence carries the .sig manifest digest and key', async () => {
    const sigDigest = storeLegacyTag(fake, repo.repository, sigTag(image), [signatureLayer(signer, image)], SIMPLE_SIGNING);
    expect(await onlyOne([key])).toMatchObject({
      verified: true,
      keyId: key.id,
      keyName: 'release',
      referrerDigest: sigDigest,
      layerIndex: 0,
    });
  });

  test('an IEEE-P1363 (64-byte r||s) signature is accepted too', async () => {
    const layer = signatureLayer(signer, image, { encoding: 'ieee-p1363' });
    expect(decodeBase64Strict(layer.annotations!['dev.cosignproject.cosign/signature'])!.length).toBe(64);
    storeLegacyTag(fake, repo.repository, sigTag(image), [layer], SIMPLE_SIGNING);
    expect(await onlyOne([key])).toMatchObject({ verified: true, keyName: 'release' });
  });

  test('a TrustStore is accepted in place of a key list', async () => {
    storeLegacyTag(fake, repo.repository, sigTag(image), [signatureLayer(signer, image)], SIMPLE_SIGNING);
    const store: TrustStore = {
      revision: () => '1',
      list: () => [key],
      byId: (id) => (id === key.id ? key : undefined),
      onChange: () => () => undefined,
    };
    expect(await onlyOne(store)).toMatchObject({ verified: true, keyName: 'release' });
  });

  test('copied signature: a valid signature over a payload for another digest → not verified, with the reason', async () => {
    const other = randomDigest();
    storeLegacyTag(fake, repo.repository, sigTag(image), [signatureLayer(signer, other)], SIMPLE_SIGNING);
    const e = await onlyOne([key]);
    expect(e.verified).toBe(false);
    expect(e.reason).toContain(`signature is for ${other}, not this image (${image})`);
    expect(e.keyName).toBeUndefined();
  });

  test('a payload whose critical.type is not a cosign signature, or whose digest key is not lowercase → not verified', async () => {
    const wrongType = simpleSigningPayload(image, 'registry.example/team/app', 'atomic container signature');
    const capitalised = Buffer.from(
      JSON.stringify({
        critical: {
          identity: { 'docker-reference': 'x' },
          image: { 'Docker-manifest-digest': image },
          type: 'cosign container image signature',
        },
        optional: null,
      }),
    );
    storeLegacyTag(
      fake,
      repo.repository,
      sigTag(image),
      [signatureLayer(signer, image, { payload: wrongType }), signatureLayer(signer, image, { payload: capitalised })],
      SIMPLE_SIGNING,
    );
    const list = await evidence(repo, image, [key]);
    expect(list.map((e) => e.verified)).toEqual([false, false]);
    expect(list[0]!.reason).toMatch(/critical\.type is "atomic container signature"/);
    expect(list[1]!.reason).toMatch(/no critical\.image\["docker-manifest-digest"\]/);
  });

  test('tampered payload: the signature was made over different bytes → not verified', async () => {
    const signed = simpleSigningPayload(image);
    const served = simpleSigningPayload(image, 'registry.example/team/evil');
    storeLegacyTag(
      fake,
      repo.repository,
      sigTag(image),
      [{ payload: served, annotations: { 'dev.cosignproject.cosign/signature': sign(signer, signed).toString('base64') } }],
      SIMPLE_SIGNING,
    );
    const e = await onlyOne([key]);
    expect(e).toMatchObject({ verified: false, reason: expect.stringMatching(/does not verify with any of the 1 trusted key/) as unknown });
  });

  test('the signature covers the exact bytes: the same JSON re-serialized with different whitespace does not verify', async () => {
    const signed = simpleSigningPayload(image);
    const pretty = Buffer.from(JSON.stringify(JSON.parse(signed.toString('utf8')), null, 2));
    storeLegacyTag(
      fake,
      repo.repository,
      sigTag(image),
      [{ payload: pretty, annotations: { 'dev.cosignproject.cosign/signature': sign(signer, signed).toString('base64') } }],
      SIMPLE_SIGNING,
    );
    expect((await onlyOne([key])).verified).toBe(false);
  });

  test('key state is not judged here (the result is cached): revoked, expired, not yet valid or out-of-scope keys still name the key that verified', async () => {
    // VerificationService.withKeyState applies revocation, validity and scope at decision time,
    // for legacy and bundle evidence alike (see verification-service.test.ts).
    storeLegacyTag(fake, repo.repository, sigTag(image), [signatureLayer(signer, image)], SIMPLE_SIGNING);
    for (const state of [
      { revokedAt: NOW, revocationReason: 'leaked' },
      { validUntil: new Date('2026-01-01T00:00:00Z') },
      { validFrom: new Date('2099-06-01T00:00:00Z') },
      { scopes: ['registry.example/**'] },
    ]) {
      expect(await onlyOne([{ ...key, ...state }])).toMatchObject({ verified: true, keyId: key.id, keyName: 'release' });
    }
  });

  test('malformed layers next to a valid one: each reported unverified with a reason, the valid one still verifies', async () => {
    const notJson = Buffer.from('this is not json');
    storeLegacyTag(
      fake,
      repo.repository,
      sigTag(image),
      [
        { payload: simpleSigningPayload(image), annotations: { 'dev.cosignproject.cosign/signature': 'not*base64!' } },
        signatureLayer(signer, image),
        { payload: notJson, annotations: { 'dev.cosignproject.cosign/signature': sign(signer, notJson).toString('base64') } },
        { payload: Buffer.from('no annotation') },
        { payload: Buffer.from('missing blob'), store: false, annotations: { 'dev.cosignproject.cosign/signature': 'AAAA' } },
        { payload: Buffer.from('not a signature layer'), mediaType: 'application/vnd.oci.image.layer.v1.tar' },
      ],
      SIMPLE_SIGNING,
    );
    const list = await evidence(repo, image, [key]);
    expect(list.map((e) => [e.layerIndex, e.verified])).toEqual([
      [0, false],
      [1, true],
      [2, false],
      [3, false],
      [4, false],
    ]);
    expect(list[0]!.reason).toMatch(/not valid base64/);
    expect(list[2]!.reason).toMatch(/signed payload is not valid JSON/);
    expect(list[3]!.reason).toMatch(/no dev\.cosignproject\.cosign\/signature annotation/);
    expect(list[4]!.reason).toMatch(/cannot read the signed payload: .*not found/);
  });

  test('keyless layer (certificate annotation) signed by an untrusted key → the keyless reason', async () => {
    const ephemeral = newP256();
    const layer = signatureLayer(ephemeral, image);
    layer.annotations!['dev.sigstore.cosign/certificate'] = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    layer.annotations!['dev.sigstore.cosign/bundle'] = '{"SignedEntryTimestamp":"x","Payload":{}}';
    storeLegacyTag(fake, repo.repository, sigTag(image), [layer], SIMPLE_SIGNING);
    expect(await onlyOne([key])).toMatchObject({
      verified: false,
      reason: expect.stringContaining('keyless (certificate) signature: not supported, configure a key') as unknown,
    });
  });

  test('a key-based signature that was also uploaded to Rekor (bundle annotation, no certificate) verifies with the key', async () => {
    const layer = signatureLayer(signer, image);
    layer.annotations!['dev.sigstore.cosign/bundle'] = '{"SignedEntryTimestamp":"x","Payload":{}}';
    storeLegacyTag(fake, repo.repository, sigTag(image), [layer], SIMPLE_SIGNING);
    expect(await onlyOne([key])).toMatchObject({ verified: true, keyName: 'release' });
  });

  test('no trusted keys → not verified, saying so', async () => {
    storeLegacyTag(fake, repo.repository, sigTag(image), [signatureLayer(signer, image)], SIMPLE_SIGNING);
    expect(await onlyOne([])).toMatchObject({
      verified: false,
      reason: expect.stringMatching(/no trusted keys are configured/) as unknown,
    });
  });

  test('70 junk layers before a valid one: the valid one verifies (no positional cap); identical layers are read once', async () => {
    const junk = Array.from({ length: 70 }, (_, i) => ({
      payload: Buffer.from(`junk ${i}`),
      annotations: { 'dev.cosignproject.cosign/signature': Buffer.from(`not a signature ${i}`).toString('base64') },
    }));
    const valid = signatureLayer(signer, image);
    storeLegacyTag(fake, repo.repository, sigTag(image), [...junk, valid, valid, valid], SIMPLE_SIGNING);
    const list = await evidence(repo, image, [key]);
    expect(list).toHaveLength(73);
    expect(list.map((e) => e.layerIndex)).toEqual(Array.from({ length: 73 }, (_, i) => i));
    expect(list.slice(0, 70).every((e) => !e.verified)).toBe(true);
    expect(list.slice(70).map((e) => [e.verified, e.keyName])).toEqual([
      [true, 'release'],
      [true, 'release'],
      [true, 'release'],
    ]);
    expect(list[69]!.reason).toMatch(/^layer 69: the signature does not verify/);
    // 70 junk payloads + the valid one (three identical layers: one read).
    expect(fake.requestsMatching('GET', /\/blobs\//)).toHaveLength(71);
  });

  test('the byte budget bounds the reads: small payloads first, the rest reported "not examined"', async () => {
    // 12 large distinct payloads listed before a small valid one; 8 reads run at once.
    const large = Array.from({ length: 12 }, (_, i) => ({
      payload: Buffer.alloc(50_000 + i, i),
      annotations: { 'dev.cosignproject.cosign/signature': 'AAAA' },
    }));
    storeLegacyTag(fake, repo.repository, sigTag(image), [...large, signatureLayer(signer, image)], SIMPLE_SIGNING);
    const budget = new CollectionBudget({ maxBytes: 10_000, maxMs: 60_000, clock: () => 0 });
    const list = await legacyCosignEvidence({ client, repo, imageDigest: image, trustedKeys: [key], budget });
    expect(list).toHaveLength(13);
    expect(list[12]).toMatchObject({ verified: true, keyName: 'release' });
    const unread = list.filter((e) => /not examined: the collection read its 10000-byte budget/.test(e.reason ?? ''));
    expect(unread.length).toBeGreaterThanOrEqual(4);
    expect(fake.requestsMatching('GET', /\/blobs\//).length).toBe(13 - unread.length);
  });

  test('a .sig manifest over the size limit is unverified evidence, not an error; the .att next to it is still read', async () => {
    const small = new RegistryClient({ maxRetries: 0, retryBaseMs: 1, maxManifestBytes: 2000 });
    try {
      const layers = Array.from({ length: 20 }, () => signatureLayer(signer, image));
      storeLegacyTag(fake, repo.repository, sigTag(image), layers, SIMPLE_SIGNING);
      const list = await legacyCosignEvidence({ client: small, repo, imageDigest: image, trustedKeys: [key] });
      expect(list).toEqual([
        expect.objectContaining({
          format: 'cosign-legacy-signature',
          verified: false,
          reason: expect.stringMatching(/could not be read: .*over the 2000-byte limit/) as unknown,
        }),
      ]);
    } finally {
      await small.close();
    }
  });

  test('the .sig tag holds an image index → one unverified Evidence explaining it', async () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: [] }));
    const digest = fake.storeManifest(repo.repository, index, MEDIA_TYPE.OCI_INDEX, sigTag(image));
    expect(await onlyOne([key])).toEqual({
      referrerDigest: digest,
      format: 'cosign-legacy-signature',
      kind: 'signature',
      subjectDigest: image,
      verified: false,
      reason: expect.stringMatching(/is a "application\/vnd\.oci\.image\.index\.v1\+json", not an OCI or Docker image manifest/) as unknown,
    });
  });

  test('the .sig tag holds a manifest whose body contradicts its media type, or is not JSON → unverified', async () => {
    fake.storeManifest(
      repo.repository,
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: [] })),
      MEDIA_TYPE.OCI_MANIFEST,
      sigTag(image),
    );
    expect(await onlyOne([key])).toMatchObject({ verified: false, reason: expect.stringMatching(/says its mediaType is/) as unknown });
    fake.storeManifest(repo.repository, Buffer.from('{not json'), MEDIA_TYPE.OCI_MANIFEST, sigTag(image));
    expect(await onlyOne([key])).toMatchObject({ verified: false, reason: expect.stringMatching(/is not valid JSON/) as unknown });
  });

  test('a valid .sig manifest edited with a key cosign (Go) reads as another spelling of a field → unverified, naming the key', async () => {
    storeLegacyTag(fake, repo.repository, sigTag(image), [signatureLayer(signer, image)], SIMPLE_SIGNING);
    // Unedited, it verifies: only the edit below makes it unverified.
    expect(await onlyOne([key])).toMatchObject({ verified: true });
    const written = JSON.parse(fake.taggedManifest(repo.repository, sigTag(image))!.bytes.toString('utf8')) as Record<string, unknown>;
    for (const [field, value] of [
      ['Layers', []],
      ['layerſ', []],
      ['Config', written.config],
    ] as const) {
      const edited = { ...written, [field]: value };
      fake.storeManifest(repo.repository, Buffer.from(JSON.stringify(edited)), MEDIA_TYPE.OCI_MANIFEST, sigTag(image));
      const e = await onlyOne([key]);
      expect(e.verified).toBe(false);
      expect(e.reason).toContain(`has the key "${field}", which a Go client`);
    }
  });

  test('a Docker-media-type .sig manifest (COSIGN_DOCKER_MEDIA_TYPES=1) is read too', async () => {
    const payload = simpleSigningPayload(image);
    fake.storeBlob(repo.repository, payload);
    const manifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.DOCKER_MANIFEST,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256Digest(Buffer.from('{}')), size: 2 },
      layers: [
        {
          mediaType: SIMPLE_SIGNING,
          digest: sha256Digest(payload),
          size: payload.length,
          annotations: { 'dev.cosignproject.cosign/signature': sign(signer, payload).toString('base64') },
        },
      ],
    };
    fake.storeManifest(repo.repository, Buffer.from(JSON.stringify(manifest)), MEDIA_TYPE.DOCKER_MANIFEST, sigTag(image));
    expect(await onlyOne([key])).toMatchObject({ verified: true, artifactType: 'application/vnd.docker.container.image.v1+json' });
  });

  test('registry failures other than "not found" propagate as CountersignErrors', async () => {
    storeLegacyTag(fake, repo.repository, sigTag(image), [signatureLayer(signer, image)], SIMPLE_SIGNING);
    fake.inject({ method: 'GET', path: /\/manifests\/sha256-[0-9a-f]+\.sig$/, status: 503 });
    await expectCode(evidence(repo, image, [key]), 'UNAVAILABLE');
    fake.inject({ method: 'GET', path: /\/blobs\//, status: 500 });
    await expectCode(evidence(repo, image, [key]), 'UNAVAILABLE');
    fake.inject({ method: 'GET', path: /\/manifests\/sha256-[0-9a-f]+\.att$/, status: 403 });
    await expectCode(evidence(repo, image, [key]), 'PERMISSION_DENIED');
    // And without faults, the same tag verifies.
    expect(await onlyOne([key])).toMatchObject({ verified: true });
  });

  test('a registry answering a missing tag with 400 MANIFEST_UNKNOWN counts as "no tag"', async () => {
    fake.inject({
      method: 'GET',
      path: /\/manifests\//,
      status: 400,
      times: 2,
      headers: { 'content-type': 'application/json' },
      body: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}',
    });
    expect(await evidence(repo, image, [key])).toEqual([]);
    fake.inject({
      method: 'GET',
      path: /\/manifests\//,
      status: 400,
      headers: { 'content-type': 'application/json' },
      body: '{"errors":[{"code":"NAME_INVALID","message":"bad name"}]}',
    });
    await expectCode(evidence(repo, image, [key]), 'INVALID_ARGUMENT');
  });

  test('a non-digest image reference is rejected; a sha512 digest has no legacy tags', async () => {
    await expectCode(evidence(repo, 'latest', [key]), 'INVALID_ARGUMENT');
    expect(await evidence(repo, `sha512:${'a'.repeat(128)}`, [key])).toEqual([]);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('synthetic .att DSSE attestations', () => {
  let repo: RepositoryRef;
  let signer: TestSigner;
  let key: TrustedKey;
  let image: string;
  const SBOM = 'https://cyclonedx.org/bom';
  const predicate = { bomFormat: 'CycloneDX', specVersion: '1.5', components: [] };

  beforeEach(() => {
    repo = { registry: fake.host, repository: 'team/app' };
    signer = newP256();
    key = trustedKey('release', signer.publicKey);
    image = randomDigest();
  });

  test('a valid attestation verifies: kind attestation, signed predicateType and predicate', async () => {
    const attDigest = storeLegacyTag(
      fake,
      repo.repository,
      attTag(image),
      [attestationLayer(dsseEnvelope(statement(image, SBOM, predicate), [signer]), SBOM)],
      DSSE,
    );
    expect(await evidence(repo, image, [key])).toEqual([
      {
        referrerDigest: attDigest,
        layerIndex: 0,
        format: 'cosign-legacy-attestation',
        kind: 'attestation',
        artifactType: MEDIA_TYPE.OCI_CONFIG,
        subjectDigest: image,
        verified: true,
        keyId: key.id,
        keyName: 'release',
        predicateType: SBOM,
        predicate,
      },
    ]);
  });

  test('in-toto Statement v0.1 (what cosign attest emits) is accepted; a cosign/sign/v1 predicate counts as a signature', async () => {
    storeLegacyTag(
      fake,
      repo.repository,
      attTag(image),
      [
        attestationLayer(dsseEnvelope(statement(image, SBOM, predicate, 'https://in-toto.io/Statement/v0.1'), [signer]), SBOM),
        attestationLayer(
          dsseEnvelope(statement(image, 'https://sigstore.dev/cosign/sign/v1', {}), [signer]),
          'https://sigstore.dev/cosign/sign/v1',
        ),
      ],
      DSSE,
    );
    const list = await evidence(repo, image, [key]);
    expect(list.map((e) => [e.verified, e.kind, e.predicateType])).toEqual([
      [true, 'attestation', SBOM],
      [true, 'signature', 'https://sigstore.dev/cosign/sign/v1'],
    ]);
  });

  test('tampered attestation: payload changed after signing → not verified and no predicate', async () => {
    const envelope = JSON.parse(dsseEnvelope(statement(image, SBOM, predicate), [signer]).toString('utf8')) as { payload: string };
    envelope.payload = statement(image, SBOM, { ...predicate, components: [{ name: 'evil' }] }).toString('base64');
    storeLegacyTag(fake, repo.repository, attTag(image), [attestationLayer(Buffer.from(JSON.stringify(envelope)), SBOM)], DSSE);
    const [e] = await evidence(repo, image, [key]);
    expect(e).toMatchObject({
      verified: false,
      format: 'cosign-legacy-attestation',
      reason: expect.stringMatching(/does not verify/) as unknown,
    });
    expect(e!.predicate).toBeUndefined();
    expect(e!.predicateType).toBeUndefined();
  });

  test('a signature over the bare payload (not the PAE) does not verify', async () => {
    const payload = statement(image, SBOM, predicate);
    const envelope = {
      payloadType: 'application/vnd.in-toto+json',
      payload: payload.toString('base64'),
      signatures: [{ sig: sign(signer, payload).toString('base64') }],
    };
    storeLegacyTag(fake, repo.repository, attTag(image), [attestationLayer(Buffer.from(JSON.stringify(envelope)), SBOM)], DSSE);
    expect((await evidence(repo, image, [key]))[0]).toMatchObject({ verified: false });
  });

  test('attestation for another image (copied .att) → not verified, predicate withheld', async () => {
    storeLegacyTag(
      fake,
      repo.repository,
      attTag(image),
      [attestationLayer(dsseEnvelope(statement(randomDigest(), SBOM, predicate), [signer]), SBOM)],
      DSSE,
    );
    const [e] = await evidence(repo, image, [key]);
    expect(e).toMatchObject({
      verified: false,
      predicateType: SBOM,
      reason: expect.stringMatching(/subjects do not include this image/) as unknown,
    });
    expect(e!.predicate).toBeUndefined();
  });

  test('two signatures, a wrong payloadType, or an unknown statement _type → not verified', async () => {
    const other = newP256();
    storeLegacyTag(
      fake,
      repo.repository,
      attTag(image),
      [
        attestationLayer(dsseEnvelope(statement(image, SBOM, predicate), [signer, other]), SBOM),
        attestationLayer(dsseEnvelope(statement(image, SBOM, predicate), [signer], 'application/json'), SBOM),
        attestationLayer(dsseEnvelope(statement(image, SBOM, predicate, 'https://in-toto.io/Statement/v9'), [signer]), SBOM),
        attestationLayer(Buffer.from('not an envelope'), SBOM),
      ],
      DSSE,
    );
    const list = await evidence(repo, image, [key]);
    expect(list.map((e) => e.verified)).toEqual([false, false, false, false]);
    expect(list[0]!.reason).toMatch(/has 2 signatures; exactly one is required/);
    expect(list[1]!.reason).toMatch(/payloadType is "application\/json"/);
    expect(list[2]!.reason).toMatch(/_type is "https:\/\/in-toto\.io\/Statement\/v9"/);
    expect(list[3]!.reason).toMatch(/not a JSON object/);
  });

  test('a revoked key on an attestation: collection still names the key (its state is applied at decision time)', async () => {
    storeLegacyTag(
      fake,
      repo.repository,
      attTag(image),
      [attestationLayer(dsseEnvelope(statement(image, SBOM, predicate), [signer]), SBOM)],
      DSSE,
    );
    const [e] = await evidence(repo, image, [{ ...key, revokedAt: new Date('2026-02-01T00:00:00Z') }]);
    expect(e).toMatchObject({ verified: true, keyId: key.id, keyName: 'release' });
  });

  test('.sig and .att together: signatures first, then attestations', async () => {
    storeLegacyTag(fake, repo.repository, sigTag(image), [signatureLayer(signer, image)], SIMPLE_SIGNING);
    storeLegacyTag(
      fake,
      repo.repository,
      attTag(image),
      [attestationLayer(dsseEnvelope(statement(image, SBOM, predicate), [signer]), SBOM)],
      DSSE,
    );
    const list = await evidence(repo, image, [key]);
    expect(list.map((e) => [e.format, e.verified])).toEqual([
      ['cosign-legacy-signature', true],
      ['cosign-legacy-attestation', true],
    ]);
  });
});

describe('decodeBase64Strict', () => {
  test.each([
    ['AAAA', true],
    ['AAA=', true],
    ['AA==', true],
    ['AA', true],
    ['', false],
    ['A', false],
    ['AA=', false],
    ['AB==', false], // non-zero trailing bits: not canonical
    ['AA AA', false],
    ['not*base64!', false],
  ])('%j → %s', (text, ok) => {
    expect(decodeBase64Strict(text) !== undefined).toBe(ok);
  });

  test('URL-safe only when allowed', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0xbf, 0xfb, 0xff, 0xbf]);
    expect(bytes.toString('base64url')).toBe('-_-_-_-_');
    expect(decodeBase64Strict('-_-_-_-_')).toBeUndefined();
    expect(decodeBase64Strict('-_-_-_-_', { urlSafe: true })).toEqual(bytes);
    expect(decodeBase64Strict('+/+/+/+/', { urlSafe: true })).toEqual(bytes);
    expect(decodeBase64Strict('+/-_+/+/', { urlSafe: true })).toBeUndefined();
  });
});
