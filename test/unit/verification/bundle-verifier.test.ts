/**
 * verifyBundleReferrer on its own: real bundles signed with managed-store keys, and variants that
 * each break exactly one of the checks the verifier makes on top of @sigstore/verify.
 */
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SigningKey } from '../../../src/keys/types';
import { MEDIA_TYPE, type Descriptor, type ImageManifest } from '../../../src/registry/types';
import { COSIGN_SIGN_PREDICATE_TYPE, IN_TOTO_PAYLOAD_TYPE } from '../../../src/formats/in-toto';
import type { TrustedKey } from '../../../src/trust/types';
import { verifyBundleReferrer } from '../../../src/verification/bundle-verifier';
import { checkReferrerManifest, type ReferrerManifest } from '../../../src/verification/referrer-manifest';
import { loadTrustedRootFile } from '../../../src/verification/sigstore/trusted-root';
import type { Evidence } from '../../../src/policy/input';
import { VECTORS } from '../../support/conformance-cases';
import {
  mutated,
  newSigningKey,
  referrerFor,
  signedReferrer,
  signRaw,
  statementFor,
  tempDir,
  trusted,
  type BundleJson,
} from './bundle-fixtures';

const SLSA = 'https://slsa.dev/provenance/v1';
const digestOf = (s: string): string => `sha256:${crypto.createHash('sha256').update(s).digest('hex')}`;
const IMAGE: Descriptor = { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: digestOf('image'), size: 123 };
const OTHER_IMAGE = digestOf('other image');

const unverifiedBase: Evidence = { referrerDigest: '', format: 'sigstore-bundle', kind: 'other', subjectDigest: '', verified: false };

/** A manifest our own fixtures wrote, checked as the collector checks every referrer. */
function checkedManifest(written: ImageManifest): ReferrerManifest {
  const checked = checkReferrerManifest(written, IMAGE.digest);
  if ('problem' in checked) throw new Error(checked.problem);
  return checked.manifest;
}

let tmp: ReturnType<typeof tempDir>;
let alice: SigningKey;
let bob: SigningKey;
let mallory: SigningKey;
let trustedKeys: TrustedKey[];

beforeAll(async () => {
  tmp = tempDir('bundle-verifier');
  alice = await newSigningKey('alice');
  bob = await newSigningKey('bob');
  mallory = await newSigningKey('mallory');
  trustedKeys = [trusted(alice), trusted(bob)];
});

afterAll(() => tmp.cleanup());

/** As the collector does: the referrer manifest is checked first, then its bundle verified. */
function verify(written: ImageManifest, bundleBytes: Buffer, opts: { imageDigest?: string; keys?: TrustedKey[] } = {}): Evidence {
  const keys = opts.keys ?? trustedKeys;
  const checked = checkReferrerManifest(written, opts.imageDigest ?? IMAGE.digest);
  if ('problem' in checked) return { ...unverifiedBase, referrerDigest: digestOf(JSON.stringify(written)), reason: checked.problem };
  const manifest = checked.manifest;
  return verifyBundleReferrer({
    manifest,
    manifestDigest: digestOf(JSON.stringify(written)),
    bundleBytes,
    imageDigest: opts.imageDigest ?? IMAGE.digest,
    trustedKeys: keys,
    byId: (id) => keys.find((k) => k.id === id),
  });
}

test('a Countersign signature bundle verifies, naming the key, kind and predicate type', async () => {
  const r = await signedReferrer(alice, IMAGE);
  const e = verify(r.manifest, r.bundleBytes);
  expect(e).toMatchObject({
    verified: true,
    format: 'sigstore-bundle',
    kind: 'signature',
    keyId: alice.id,
    keyName: 'alice',
    predicateType: COSIGN_SIGN_PREDICATE_TYPE,
    subjectDigest: IMAGE.digest,
    artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    created: '2026-02-03T04:05:06Z',
  });
  expect(e.reason).toBeUndefined();
  expect(e.predicate).toBeUndefined();
});

test('the second trusted key is found through its hint', async () => {
  const r = await signedReferrer(bob, IMAGE);
  expect(verify(r.manifest, r.bundleBytes)).toMatchObject({ verified: true, keyName: 'bob' });
});

test('hint of a trusted key but signature by another key: refused, the reason names the hinted key', async () => {
  // Signed by mallory (untrusted) while claiming alice's hint.
  const { bytes } = await signRaw(mallory, Buffer.from(JSON.stringify(statementFor(IMAGE))), IN_TOTO_PAYLOAD_TYPE, alice.id);
  const e = verify(referrerFor(bytes, IMAGE, COSIGN_SIGN_PREDICATE_TYPE).manifest, bytes);
  expect(e.verified).toBe(false);
  expect(e.reason).toMatch(/signature does not verify with key alice/);
  expect(e.keyId).toBeUndefined();
});

test('hint of one trusted key, signature by another trusted key: still refused (the hint picks the only candidate)', async () => {
  const { bytes } = await signRaw(bob, Buffer.from(JSON.stringify(statementFor(IMAGE))), IN_TOTO_PAYLOAD_TYPE, alice.id);
  const e = verify(referrerFor(bytes, IMAGE, COSIGN_SIGN_PREDICATE_TYPE).manifest, bytes);
  expect(e.verified).toBe(false);
  expect(e.reason).toMatch(/key alice/);
});

test('an unknown hint falls back to trying every trusted key', async () => {
  const { bytes } = await signRaw(bob, Buffer.from(JSON.stringify(statementFor(IMAGE))), IN_TOTO_PAYLOAD_TYPE, 'not-a-key-id-we-know');
  const e = verify(referrerFor(bytes, IMAGE, COSIGN_SIGN_PREDICATE_TYPE).manifest, bytes);
  expect(e).toMatchObject({ verified: true, keyId: bob.id, keyName: 'bob', kind: 'signature' });
});

test('an empty hint falls back too', async () => {
  const r = await signedReferrer(alice, IMAGE);
  const bytes = mutated(JSON.parse(r.bundleBytes.toString('utf8')), (b) => {
    b.verificationMaterial.publicKey!.hint = '';
  });
  expect(verify(r.manifest, bytes)).toMatchObject({ verified: true, keyName: 'alice' });
});

test('an unknown hint and no trusted signer: refused with the hint in the reason', async () => {
  const { bytes } = await signRaw(mallory, Buffer.from(JSON.stringify(statementFor(IMAGE))), IN_TOTO_PAYLOAD_TYPE, 'garbage-hint');
  const e = verify(referrerFor(bytes, IMAGE, COSIGN_SIGN_PREDICATE_TYPE).manifest, bytes);
  expect(e.verified).toBe(false);
  expect(e.reason).toMatch(/not signed by any trusted key \(key hint garbage-hint/);
});

test('no trusted keys at all: refused, saying so', async () => {
  const r = await signedReferrer(alice, IMAGE);
  const e = verify(r.manifest, r.bundleBytes, { keys: [] });
  expect(e.verified).toBe(false);
  expect(e.reason).toMatch(/no trusted keys/);
});

test('a payload changed after signing does not verify', async () => {
  const r = await signedReferrer(alice, IMAGE);
  const bytes = mutated(JSON.parse(r.bundleBytes.toString('utf8')), (b) => {
    b.dsseEnvelope!.payload = Buffer.from(JSON.stringify(statementFor(IMAGE, { predicate: { evil: true } }))).toString('base64');
  });
  const e = verify(r.manifest, bytes);
  expect(e.verified).toBe(false);
  expect(e.reason).toMatch(/alice/);
});

test('two DSSE signatures are refused, even when both are valid', async () => {
  const r = await signedReferrer(alice, IMAGE);
  const bytes = mutated(JSON.parse(r.bundleBytes.toString('utf8')), (b) => {
    b.dsseEnvelope!.signatures = [b.dsseEnvelope!.signatures[0], b.dsseEnvelope!.signatures[0]];
  });
  const e = verify(r.manifest, bytes);
  expect(e.verified).toBe(false);
  expect(e.reason).toMatch(/exactly one signature, found 2/);
});

test('zero DSSE signatures are refused', async () => {
  const r = await signedReferrer(alice, IMAGE);
  const bytes = mutated(JSON.parse(r.bundleBytes.toString('utf8')), (b) => {
    b.dsseEnvelope!.signatures = [];
  });
  expect(verify(r.manifest, bytes).reason).toMatch(/exactly one signature, found 0/);
});

test('a validly signed payload of another payload type is refused', async () => {
  const { bytes } = await signRaw(alice, Buffer.from(JSON.stringify(statementFor(IMAGE))), 'application/json');
  const e = verify(referrerFor(bytes, IMAGE, COSIGN_SIGN_PREDICATE_TYPE).manifest, bytes);
  expect(e.verified).toBe(false);
  expect(e.reason).toMatch(/payload type "application\/json" is not application\/vnd\.in-toto\+json/);
});

test('the same signature in a v0.2 bundle is accepted (older sigstore clients write v0.1/v0.2)', async () => {
  const r = await signedReferrer(alice, IMAGE);
  const bytes = mutated(JSON.parse(r.bundleBytes.toString('utf8')), (b) => {
    b.mediaType = 'application/vnd.dev.sigstore.bundle+json;version=0.2';
  });
  const e = verify(r.manifest, bytes);
  expect(e).toMatchObject({ verified: true, bundleVersion: '0.2', content: 'dsse', keyName: 'alice' });
});

test.each(['application/vnd.dev.sigstore.bundle+json;version=0.4', 'application/vnd.dev.sigstore.bundle.v0.9+json', 'application/json'])(
  'an unknown bundle media type (%s) is refused',
  async (mediaType) => {
    const r = await signedReferrer(alice, IMAGE);
    const bytes = mutated(JSON.parse(r.bundleBytes.toString('utf8')), (b) => {
      b.mediaType = mediaType;
    });
    const e = verify(r.manifest, bytes);
    expect(e.verified).toBe(false);
    expect(e.reason).toMatch(/bundle media type .* is not a Sigstore bundle v0\.1, v0\.2 or v0\.3/);
  },
);

test('the alternative v0.3 media type spelling is accepted', async () => {
  const r = await signedReferrer(alice, IMAGE);
  const bytes = mutated(JSON.parse(r.bundleBytes.toString('utf8')), (b) => {
    b.mediaType = 'application/vnd.dev.sigstore.bundle+json;version=0.3';
  });
  expect(verify(r.manifest, bytes).verified).toBe(true);
});

test('a keyless (certificate) bundle is refused as keyless', async () => {
  const r = await signedReferrer(alice, IMAGE);
  const bytes = mutated(JSON.parse(r.bundleBytes.toString('utf8')), (b) => {
    b.verificationMaterial = { certificate: { rawBytes: Buffer.from('not really a certificate').toString('base64') }, tlogEntries: [] };
  });
  const e = verify(r.manifest, bytes);
  expect(e.verified).toBe(false);
  expect(e.reason).toMatch(/keyless/);
  expect(e.kind).toBe('signature');
});

test('a message-signature bundle (no DSSE envelope) is refused', async () => {
  const r = await signedReferrer(alice, IMAGE);
  const bytes = mutated(JSON.parse(r.bundleBytes.toString('utf8')), (b) => {
    delete b.dsseEnvelope;
    b.messageSignature = { messageDigest: { algorithm: 'SHA2_256', digest: 'AAAA' }, signature: 'AAAA' };
  });
  expect(verify(r.manifest, bytes).reason).toMatch(/no DSSE envelope/);
});

test('bytes that are not JSON are refused', () => {
  const r = referrerFor(Buffer.from('not json'), IMAGE, COSIGN_SIGN_PREDICATE_TYPE);
  const e = verify(r.manifest, Buffer.from('not json'));
  expect(e.verified).toBe(false);
  expect(e.reason).toMatch(/not valid JSON/);
});

test.each(['null', '42', '"a string"', '[]'])('a bundle that is JSON %s but not an object is refused, not thrown', (text) => {
  const bytes = Buffer.from(text);
  const r = referrerFor(bytes, IMAGE, COSIGN_SIGN_PREDICATE_TYPE);
  let e: Evidence | undefined;
  expect(() => {
    e = verify(r.manifest, bytes);
  }).not.toThrow();
  expect(e!.verified).toBe(false);
  expect(e!.reason).toMatch(/bundle is not a JSON object/);
});

test.each(['null', '7', 'true'])('a DSSE payload that is JSON %s (not a statement) is refused, not thrown', async (text) => {
  const { bytes } = await signRaw(alice, Buffer.from(text), IN_TOTO_PAYLOAD_TYPE);
  const r = referrerFor(bytes, IMAGE, COSIGN_SIGN_PREDICATE_TYPE);
  let e: Evidence | undefined;
  expect(() => {
    e = verify(r.manifest, bytes);
  }).not.toThrow();
  expect(e!.verified).toBe(false);
  expect(e!.reason).toMatch(/DSSE payload is not a JSON in-toto statement/);
});

test('a signed statement about another image is refused, naming that image', async () => {
  const r = await signedReferrer(alice, IMAGE, { statementDigest: OTHER_IMAGE });
  const e = verify(r.manifest, r.bundleBytes);
  expect(e.verified).toBe(false);
  expect(e.reason).toContain(`signed statement is about ${OTHER_IMAGE}, not ${IMAGE.digest}`);
  // The signature itself was good: the key is reported.
  expect(e.keyName).toBe('alice');
});

test('a bundle copied from another image (statement and manifest subject both elsewhere) is refused for this image', async () => {
  const other: Descriptor = { ...IMAGE, digest: OTHER_IMAGE };
  const r = await signedReferrer(alice, other);
  expect(verify(r.manifest, r.bundleBytes, { imageDigest: OTHER_IMAGE }).verified).toBe(true);
  const e = verify(r.manifest, r.bundleBytes, { imageDigest: IMAGE.digest });
  expect(e.verified).toBe(false);
  expect(e.reason).toMatch(/subject/);
});

test('a statement that is not in-toto is refused', async () => {
  const statement = { ...statementFor(IMAGE), _type: 'https://example.com/NotAStatement' };
  const { bytes } = await signRaw(alice, Buffer.from(JSON.stringify(statement)), IN_TOTO_PAYLOAD_TYPE);
  const e = verify(referrerFor(bytes, IMAGE, COSIGN_SIGN_PREDICATE_TYPE).manifest, bytes);
  expect(e.verified).toBe(false);
  expect(e.reason).toMatch(/not an in-toto statement/);
});

test('a statement without predicateType is refused', async () => {
  const { predicateType: _drop, ...statement } = statementFor(IMAGE);
  const { bytes } = await signRaw(alice, Buffer.from(JSON.stringify(statement)), IN_TOTO_PAYLOAD_TYPE);
  const e = verify(referrerFor(bytes, IMAGE, COSIGN_SIGN_PREDICATE_TYPE).manifest, bytes);
  expect(e.verified).toBe(false);
  expect(e.reason).toMatch(/no predicateType/);
});

test('a manifest annotation disagreeing with the signed predicate type is refused', async () => {
  const r = await signedReferrer(alice, IMAGE, {
    predicateType: SLSA,
    predicate: { builder: { id: 'x' } },
    annotatedPredicateType: COSIGN_SIGN_PREDICATE_TYPE,
  });
  const e = verify(r.manifest, r.bundleBytes);
  expect(e.verified).toBe(false);
  expect(e.reason).toContain(`annotation says predicate type "${COSIGN_SIGN_PREDICATE_TYPE}" but the signed statement says ${SLSA}`);
  expect(e.predicate).toBeUndefined();
});

test('without the annotation, the signed predicate type alone decides', async () => {
  const r = await signedReferrer(alice, IMAGE);
  const manifest: ImageManifest = { ...r.manifest, annotations: {} };
  expect(verify(manifest, r.bundleBytes)).toMatchObject({ verified: true, predicateType: COSIGN_SIGN_PREDICATE_TYPE });
});

test('a manifest whose subject is another image is refused', async () => {
  const r = await signedReferrer(alice, IMAGE);
  const manifest: ImageManifest = { ...r.manifest, subject: { ...IMAGE, digest: OTHER_IMAGE } };
  const e = verify(manifest, r.bundleBytes);
  expect(e.verified).toBe(false);
  expect(e.reason).toContain(`referrer's subject is ${OTHER_IMAGE}, not ${IMAGE.digest}`);
});

test('a manifest without a subject is refused', async () => {
  const r = await signedReferrer(alice, IMAGE);
  const { subject: _drop, ...manifest } = r.manifest;
  expect(verify(manifest as ImageManifest, r.bundleBytes).reason).toMatch(/has no subject/);
});

describe('attestations', () => {
  const predicate = { buildDefinition: { buildType: 'https://example.com/build' }, runDetails: { builder: { id: 'ci' } } };

  test('a verified attestation carries its signed predicate', async () => {
    const r = await signedReferrer(alice, IMAGE, { predicateType: SLSA, predicate });
    const e = verify(r.manifest, r.bundleBytes);
    expect(e).toMatchObject({ verified: true, kind: 'attestation', predicateType: SLSA, keyName: 'alice' });
    expect(e.predicate).toEqual(predicate);
  });

  test('an unverified attestation carries no predicate (untrusted key)', async () => {
    const r = await signedReferrer(mallory, IMAGE, { predicateType: SLSA, predicate });
    const e = verify(r.manifest, r.bundleBytes);
    expect(e).toMatchObject({ verified: false, kind: 'attestation', predicateType: SLSA });
    expect(e.predicate).toBeUndefined();
  });

  test('an unverified attestation carries no predicate (about another image)', async () => {
    const r = await signedReferrer(alice, IMAGE, { predicateType: SLSA, predicate, statementDigest: OTHER_IMAGE });
    const e = verify(r.manifest, r.bundleBytes);
    expect(e.verified).toBe(false);
    expect(e.predicate).toBeUndefined();
  });

  test('a verified signature (cosign sign predicate) carries no predicate', async () => {
    const r = await signedReferrer(alice, IMAGE, { predicate: { note: 'signed' } });
    const e = verify(r.manifest, r.bundleBytes);
    expect(e).toMatchObject({ verified: true, kind: 'signature' });
    expect(e.predicate).toBeUndefined();
  });
});

describe('bundles with transparency-log entries (cosign uploads to Rekor by default)', () => {
  const rekorEntry = (): unknown =>
    (
      JSON.parse(
        readFileSync(`${VECTORS}/sigstore-conformance/test/assets/bundle-verify/managed-key-happy-path/bundle.sigstore.json`, 'utf8'),
      ) as BundleJson
    ).verificationMaterial.tlogEntries;

  test('without a configured Sigstore trusted root they are refused, saying what to configure', async () => {
    const r = await signedReferrer(alice, IMAGE);
    const withEntry = mutated(JSON.parse(r.bundleBytes.toString()), (b) => {
      b.verificationMaterial.tlogEntries = rekorEntry();
    });
    const e = verify(r.manifest, withEntry);
    expect(e.verified).toBe(false);
    expect(e.reason).toMatch(/sigstoreTrustedRoot/);
  });

  test("with Sigstore's trusted root the entries are checked: an entry that is not this signature's fails", async () => {
    const root = loadTrustedRootFile(`${VECTORS}/sigstore-python/sigstore/_store/tuf-repo-cdn.sigstore.dev/trusted_root.json`);
    const r = await signedReferrer(alice, IMAGE);
    const withEntry = mutated(JSON.parse(r.bundleBytes.toString()), (b) => {
      b.verificationMaterial.tlogEntries = rekorEntry();
    });
    const e = verifyBundleReferrer({
      manifest: checkedManifest(r.manifest),
      manifestDigest: digestOf(JSON.stringify(r.manifest)),
      bundleBytes: withEntry,
      imageDigest: IMAGE.digest,
      trustedKeys,
      byId: (id) => trustedKeys.find((k) => k.id === id),
      trustedRoots: [root],
    });
    expect(e.verified).toBe(false);
    expect(e.reason).toMatch(/TLOG|does not verify/);
    // The same root does not get in the way of bundles without entries.
    const plain = verifyBundleReferrer({
      manifest: checkedManifest(r.manifest),
      manifestDigest: digestOf(JSON.stringify(r.manifest)),
      bundleBytes: r.bundleBytes,
      imageDigest: IMAGE.digest,
      trustedKeys,
      byId: (id) => trustedKeys.find((k) => k.id === id),
      trustedRoots: [root],
    });
    expect(plain.verified).toBe(true);
  });
});

test("an unverified bundle's predicate type is the pusher's text: reported only when short and plain", async () => {
  for (const [predicateType, reported] of [
    ['https://example.com/scan/v1', 'https://example.com/scan/v1'],
    [`https://example.com/${'x'.repeat(100_000)}`, undefined],
    ['https://example.com/a\nFAKE: allowed', undefined],
  ] as const) {
    const r = await signedReferrer(mallory, IMAGE, { predicateType, predicate: {} });
    const e = verify(r.manifest, r.bundleBytes);
    expect(e.verified).toBe(false);
    expect(e.predicateType).toBe(reported);
  }
});
