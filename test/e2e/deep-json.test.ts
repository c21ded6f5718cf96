/**
 * Deeply nested JSON against the real registry (issue 7 item 14). JSON.parse survives any depth,
 * but JSON.stringify and recursive walkers overflow the stack, so a 100,000-deep document must be
 * refused at parse: from a CI user as INVALID_ARGUMENT (nothing written), from a pusher as
 * evidence that does not verify (never INTERNAL, never a collection error, never hiding the valid
 * signature next to it).
 */
import { pushSampleImage } from '../../src/dev/sample-image';
import { EMPTY_BLOB, EMPTY_DESCRIPTOR, MEDIA_TYPE, ReferrerStore, RegistryClient, sha256Digest } from '../../src/registry';
import { MAX_JSON_DEPTH } from '../../src/shared/json-depth';
import { COSIGN_SIGN_PREDICATE_TYPE } from '../../src/formats/in-toto';
import { bundleReferrer } from '../../src/signing';
import { startService, testRegistryHost, uniqueRepo, type RunningService } from '../support/harness';

const DEPTH = 100_000;
const deepArray = `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`;

let svc: RunningService;
let host: string;
let pusher: RegistryClient;

interface VerifyResponse {
  allowed: boolean;
  reasons: string[];
  evidence: Array<{ format: string; verified: boolean; reason: string; referrerDigest: string }>;
}

beforeAll(async () => {
  host = testRegistryHost();
  pusher = new RegistryClient({});
  svc = await startService({ verification: { cacheTtlMs: 300_000, negativeCacheTtlMs: 0, maxDurationMs: 8000 } });
  await svc.app.keys.createKey({ name: 'ci' }, 'test');
});

afterAll(async () => {
  await svc.stop();
  await pusher.close();
});

async function image(prefix: string) {
  const repository = uniqueRepo(prefix);
  const img = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  return { repo: { registry: host, repository }, ref: `${host}/${repository}:v1`, digest: img.digest, subject: img };
}

const verify = (ref: string) => svc.call<VerifyResponse>('Verify', { image: ref, action: 'ACTION_DEPLOY' });

/** A pusher's referrer: a "bundle" whose fields a verifier reads (and quotes) are 100,000 levels deep. */
async function pushDeepBundle(img: Awaited<ReturnType<typeof image>>, bundle: string) {
  const manifest = await pusher.headManifest(img.repo, img.digest);
  const artifact = bundleReferrer({
    bundleBytes: Buffer.from(bundle),
    subject: manifest,
    predicateType: COSIGN_SIGN_PREDICATE_TYPE,
    created: new Date(),
  });
  await new ReferrerStore(pusher).attach(img.repo, {
    manifest: artifact.manifest,
    manifestBytes: artifact.manifestBytes,
    blobs: artifact.blobs,
  });
  return artifact.digest;
}

/** A pusher's legacy cosign `.att` tag whose DSSE envelope is 100,000 levels deep. */
async function pushDeepLegacyAttestation(img: Awaited<ReturnType<typeof image>>, envelope: string) {
  const blob = Buffer.from(envelope);
  await pusher.pushBlob(img.repo, blob);
  await pusher.pushBlob(img.repo, EMPTY_BLOB);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
      config: EMPTY_DESCRIPTOR,
      layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', digest: sha256Digest(blob), size: blob.length }],
    }),
  );
  await pusher.putManifest(img.repo, `sha256-${img.digest.slice('sha256:'.length)}.att`, manifest, MEDIA_TYPE.OCI_MANIFEST);
}

describe('hostile deep JSON in the registry is evidence that does not verify', () => {
  test.each([
    ['bundle mediaType', `{"mediaType":${deepArray}}`],
    [
      'DSSE payloadType',
      `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"","payloadType":${deepArray},"signatures":[{}]}}`,
    ],
  ])('a referrer bundle with a 100,000-deep %s next to a valid signature: allowed, the junk named', async (_what, bundle) => {
    const img = await image('deep-bundle');
    const junk = await pushDeepBundle(img, bundle);
    await svc.call('Sign', { image: img.ref, key: 'ci' });
    const r = await verify(img.ref);
    expect(r.allowed).toBe(true);
    const bad = r.evidence.find((e) => e.referrerDigest === junk);
    expect(bad).toMatchObject({ verified: false });
    expect(bad!.reason).toContain(`bundle nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
  });

  test('a legacy .att envelope with a 100,000-deep payloadType next to a valid signature: allowed', async () => {
    const img = await image('deep-legacy');
    await pushDeepLegacyAttestation(img, `{"payloadType":${deepArray},"payload":"","signatures":[{}]}`);
    await svc.call('Sign', { image: img.ref, key: 'ci' });
    const r = await verify(img.ref);
    expect(r.allowed).toBe(true);
    const legacy = r.evidence.find((e) => e.format === 'cosign-legacy-attestation');
    expect(legacy).toMatchObject({ verified: false });
  });

  test('and without a valid signature: denied for want of one, not an error', async () => {
    const img = await image('deep-only');
    await pushDeepBundle(img, `{"mediaType":${deepArray}}`);
    await pushDeepLegacyAttestation(img, `{"payloadType":${deepArray},"payload":"","signatures":[{}]}`);
    const r = await verify(img.ref);
    expect(r.allowed).toBe(false);
    expect(r.reasons.join('\n')).toMatch(/no signature by a trusted key|signature/);
    expect(r.reasons.join('\n')).not.toMatch(/INTERNAL|error/i);
  });
});
