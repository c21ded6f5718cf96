/**
 * cosign legacy keyless `.sig` (Connaisseur's mock-registry data, INDEX.md §3): certificate, chain
 * and Rekor bundle annotations, verified through the Sigstore bundle core against the production
 * root, offline. The identity is recorded for the policy; a tampered SET, payload or certificate
 * fails with a reason.
 */
import { RegistryClient } from '../../../../src/registry/client';
import type { ImageManifest, RepositoryRef } from '../../../../src/registry/types';
import { legacyCosignEvidence } from '../../../../src/verification/cosign-legacy';
import { verifyLegacyKeyless } from '../../../../src/verification/sigstore/legacy-keyless';
import { loadTrustedRootFile } from '../../../../src/verification/sigstore/trusted-root';
import { evaluate, parsePolicy } from '../../../../src/policy';
import { FakeRegistry } from '../../registry/fake-registry';
import { CONNAISSEUR_REPOSITORY, connaisseurKeys, seedConnaisseur, sigTag } from '../legacy-fixtures';
import { PRODUCTION_ROOT, STAGING_ROOT } from '../../../support/conformance-cases';
import { image } from '../../policy/fixtures';

const KEYLESS_IMAGE = 'sha256:31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee';
const PHILIPP = { subject: 'philipp.belitz@securesystems.de', issuer: 'https://github.com/login/oauth' };
const prod = loadTrustedRootFile(PRODUCTION_ROOT);
const staging = loadTrustedRootFile(STAGING_ROOT);
const NOW = new Date('2026-03-01T12:00:00Z');

let fake: FakeRegistry;
let client: RegistryClient;
let repo: RepositoryRef;
let seeded: ReturnType<typeof seedConnaisseur>;

beforeEach(async () => {
  fake = await FakeRegistry.start();
  client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
  repo = { registry: fake.host, repository: CONNAISSEUR_REPOSITORY };
  seeded = seedConnaisseur(fake);
});

afterEach(async () => {
  await client.close();
  await fake.close();
});

const collect = (roots = [prod], digest = KEYLESS_IMAGE) =>
  legacyCosignEvidence({ client, repo, imageDigest: digest, trustedKeys: Object.values(connaisseurKeys()), trustedRoots: roots });

test('the keyless signature verifies under the production root and names philipp.belitz@securesystems.de', async () => {
  const [e, ...rest] = await collect();
  expect(rest).toEqual([]);
  expect(e).toMatchObject({
    format: 'cosign-legacy-signature',
    kind: 'signature',
    verified: true,
    referrerDigest: seeded.manifests.get(sigTag(KEYLESS_IMAGE))!.digest,
    identity: { ...PHILIPP, extensions: {} },
    trustRoot: prod.name,
    transparencyLogEntries: 1,
    timestamps: 1,
  });
  expect(e!.keyId).toBeUndefined();
});

test('the policy admits it for its identity (and Connaisseur-style regexps), denies it for another', async () => {
  const evidence = await collect();
  const decide = (identity: string) =>
    evaluate(parsePolicy(`rules:\n  - name: r\n    require:\n      signatures: { identities: [${identity}] }\n`, 'p.yaml'), {
      image: image(`registry.example.com/securesystemsengineering/testimage@${KEYLESS_IMAGE}`),
      action: 'deploy',
      context: {},
      evidence,
      now: NOW,
    }).allowed;
  expect(decide(`{ issuer: "${PHILIPP.issuer}", subject: "${PHILIPP.subject}" }`)).toBe(true);
  expect(decide('{ issuerRegExp: github, subjectRegExp: philipp }')).toBe(true);
  expect(decide('{ issuerRegExp: google, subject: bob@gmail.com }')).toBe(false);
  expect(decide(`{ issuer: "https://accounts.google.com", subject: "${PHILIPP.subject}" }`)).toBe(false);
});

test('under the staging root it does not verify (another Fulcio)', async () => {
  const [e] = await collect([staging]);
  expect(e).toMatchObject({
    verified: false,
    reason: expect.stringMatching(/keyless signature does not verify: .*CERTIFICATE_ERROR|root CA/) as unknown,
  });
});

describe('tampering with the annotations or the payload', () => {
  const layer = () => {
    const sig = JSON.parse(seeded.manifests.get(sigTag(KEYLESS_IMAGE))!.bytes.toString('utf8')) as ImageManifest;
    return sig.layers[0]!.annotations!;
  };
  const payload = () =>
    [...seeded.blobs.values()].find((b) => b.digest === 'sha256:897d9e862b4599b723442f36ed7b4cfd1628bb7656643c56855988cac161d065')!.bytes;
  const sig = () => Buffer.from(layer()['dev.cosignproject.cosign/signature']!, 'base64');

  test('as found it verifies', () => {
    expect(verifyLegacyKeyless(layer(), sig(), payload(), [prod])).toMatchObject({ ok: true, identity: PHILIPP });
  });

  test('a changed integrated time breaks the SET', () => {
    const a = layer();
    const b = JSON.parse(a['dev.sigstore.cosign/bundle']!) as { Payload: { integratedTime: number } };
    b.Payload.integratedTime += 1;
    const r = verifyLegacyKeyless({ ...a, 'dev.sigstore.cosign/bundle': JSON.stringify(b) }, sig(), payload(), [prod]);
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/TLOG_INCLUSION_PROMISE_ERROR/) as unknown });
  });

  test('another payload does not match the signature or the Rekor entry', () => {
    const other = Buffer.from(payload().toString('utf8').replace('rekor-test', 'rekor-tesT'));
    expect(verifyLegacyKeyless(layer(), sig(), other, [prod]).ok).toBe(false);
  });

  test('no Rekor bundle annotation: refused (no verified signing time)', () => {
    const { ['dev.sigstore.cosign/bundle']: _drop, ...rest } = layer();
    expect(verifyLegacyKeyless(rest, sig(), payload(), [prod])).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/without a dev\.sigstore\.cosign\/bundle annotation/) as unknown,
    });
  });

  test.each([
    ['not json'],
    ['{"Payload":{}}'],
    ['{"SignedEntryTimestamp":"x","Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"zz"}}'],
  ])('a malformed Rekor bundle annotation (%s) is refused, not thrown', (text) => {
    expect(verifyLegacyKeyless({ ...layer(), 'dev.sigstore.cosign/bundle': text }, sig(), payload(), [prod]).ok).toBe(false);
  });

  test('a certificate annotation that is not one PEM certificate is refused', () => {
    expect(verifyLegacyKeyless({ ...layer(), 'dev.sigstore.cosign/certificate': 'garbage' }, sig(), payload(), [prod])).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/exactly one PEM certificate/) as unknown,
    });
  });
});
