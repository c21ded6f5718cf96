/**
 * Real production Sigstore bundles (shared/vectors/INDEX.md §2: sigstore-js, sigstore-go, cosign),
 * each with its expected verdict, through the verification core Verify uses.
 *
 * One deliberate choice: a certificate chain that ships a root CA is refused
 * (sigstore-conformance `bundle-with-root-cert_fail`: leaf, root, intermediate), except when the
 * root ends the chain and is the trusted root's own CA, as 2023 clients wrote v0.1 bundles
 * (sigstore-js `bundleV01-full-cert-chain`, sigstore-go `dsse.sigstore.json`): those are accepted.
 */
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { X509Certificate } from '@sigstore/core';
import { identityMatches, type IdentityMatcher } from '../../../../src/policy/identity';
import { signerIdentity } from '../../../../src/verification/sigstore/identity';
import { loadTrustedRootFile, type SigstoreTrustRoot } from '../../../../src/verification/sigstore/trusted-root';
import {
  verifySigstoreBundle,
  type BundleArtifact,
  type BundleResult,
  type CandidateKey,
} from '../../../../src/verification/sigstore/verify-bundle';
import { PRODUCTION_ROOT, STAGING_ROOT, VECTORS } from '../../../support/conformance-cases';

const v = (p: string) => path.join(VECTORS, p);
const prod = loadTrustedRootFile(PRODUCTION_ROOT);
const staging = loadTrustedRootFile(STAGING_ROOT);
const goPublicGood = loadTrustedRootFile(v('sigstore-go/pkg/testing/data/trusted-roots/public-good.json'));
const pgi = loadTrustedRootFile(v('cosign/pkg/cosign/testdata/trusted_root_pgi.json'));

function keyless(file: string, roots: SigstoreTrustRoot[], artifact?: BundleArtifact): BundleResult<CandidateKey> {
  return verifySigstoreBundle(readFileSync(v(file)), { roots }, artifact);
}

function withKey(file: string, roots: SigstoreTrustRoot[], keyFile: string, artifact?: BundleArtifact): BundleResult<CandidateKey> {
  const publicKey = crypto.createPublicKey(readFileSync(v(keyFile)));
  const key = { id: 'k', name: path.basename(keyFile), publicKey };
  return verifySigstoreBundle(
    readFileSync(v(file)),
    { roots, keys: { byHint: () => undefined, all: () => [key] }, keyless: false },
    artifact,
  );
}

/** Verified AND signed by the identity (the policy's part, as Verify does it). */
function acceptedFor(result: BundleResult<CandidateKey>, m: IdentityMatcher): boolean {
  return result.ok && result.signer.kind === 'certificate' && identityMatches(m, result.signer.identity);
}

describe('sigstore-js tests/bundles: one npm statement signed in every bundle format (production, 2023)', () => {
  const statement = JSON.parse(readFileSync(v('sigstore-js/tests/bundles/statement.json'), 'utf8')) as {
    subject: Array<{ digest: { sha512: string } }>;
  };
  const statementDigest = statement.subject[0]!.digest.sha512;
  const artifact = { digest: `sha512:${statementDigest}` };
  const brian = { subject: 'brian@dehamer.com', issuer: 'https://github.com/login/oauth' };

  test.each([
    ['bundleV01-dsse-no-proof.sigstore', '0.1'],
    ['bundleV01-dsse-with-proof.sigstore', '0.1'],
    ['bundleV01-intoto-no-proof.sigstore', '0.1'],
    ['bundleV01-intoto-with-proof.sigstore', '0.1'],
    ['bundleV02-dsse.sigstore', '0.2'],
    ['bundleV02-intoto.sigstore', '0.2'],
    ['bundleV03-dsse.sigstore', '0.3'],
    ['bundleV03-intoto.sigstore', '0.3'],
  ])('%s is accepted for brian@dehamer.com under the production root', (file, version) => {
    const r = keyless(`sigstore-js/tests/bundles/${file}`, [prod], artifact);
    expect(r).toMatchObject({ ok: true, version, content: 'dsse', root: path.basename(PRODUCTION_ROOT, '.json'), tlogEntries: 1 });
    expect(acceptedFor(r, brian)).toBe(true);
  });

  test('bundleV03-intoto: another identity, or the staging root, is refused', () => {
    const r = keyless('sigstore-js/tests/bundles/bundleV03-intoto.sigstore', [prod], artifact);
    expect(acceptedFor(r, { subject: 'someone@else.com', issuer: brian.issuer })).toBe(false);
    expect(acceptedFor(r, { subject: brian.subject, issuer: 'https://accounts.google.com' })).toBe(false);
    const underStaging = keyless('sigstore-js/tests/bundles/bundleV03-intoto.sigstore', [staging], artifact);
    expect(underStaging).toMatchObject({ ok: false, reason: expect.stringMatching(/CERTIFICATE_ERROR/) as unknown });
  });

  test('with several trusted roots the one that verified is named (staging tried first, production verifies)', () => {
    const r = keyless('sigstore-js/tests/bundles/bundleV03-intoto.sigstore', [staging, prod], artifact);
    expect(r).toMatchObject({ ok: true, root: prod.name });
  });

  test('bundleV01-full-cert-chain (leaf, intermediate, the trusted root) is accepted', () => {
    const r = keyless('sigstore-js/tests/bundles/bundleV01-full-cert-chain.sigstore', [prod], artifact);
    expect(acceptedFor(r, brian)).toBe(true);
  });

  test('the same chain ending in a root the trusted root does not hold is refused, saying so', () => {
    // The staging root does not hold the production Fulcio root the bundle ships.
    const r = keyless('sigstore-js/tests/bundles/bundleV01-full-cert-chain.sigstore', [staging], artifact);
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/root CA that is not in the trusted root/) as unknown });
  });

  test('a statement about another artifact is refused', () => {
    const r = keyless('sigstore-js/tests/bundles/bundleV02-dsse.sigstore', [prod], { digest: `sha512:${'0'.repeat(128)}` });
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/does not match any subject digest/) as unknown });
  });
});

describe('sigstore-go testing data and examples', () => {
  const release = {
    subject: 'https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main',
    issuer: 'https://token.actions.githubusercontent.com',
  };
  const npm200 =
    '46d4e2f74c4877316640000a6fdf8a8b59f1e0847667973e9859f774dd31b8f1e0937813b777fb66a2ac67d50540fe34640966eee9fc2ccca387082b4c85cd3c';

  test('sigstore.js@2.0.0 provenance: accepted for its workflow; the identity carries the Fulcio GitHub extensions', () => {
    const r = keyless('sigstore-go/pkg/testing/data/bundles/sigstore.js@2.0.0-provenance.sigstore.json', [goPublicGood], {
      digest: `sha512:${npm200}`,
    });
    expect(acceptedFor(r, release)).toBe(true);
    expect(
      acceptedFor(r, {
        ...release,
        extensions: { githubWorkflowRepository: 'sigstore/sigstore-js', githubWorkflowRef: 'refs/heads/main' },
      }),
    ).toBe(true);
    expect(acceptedFor(r, { ...release, extensions: { githubWorkflowRepository: 'someone/else' } })).toBe(false);
    expect(acceptedFor(r, { subject: 'BadSANValue', issuer: release.issuer })).toBe(false);
    // One log entry, no RFC 3161 timestamp: a policy asking for two entries is not satisfied.
    expect(r).toMatchObject({ ok: true, tlogEntries: 1, timestamps: 1 });
  });

  test('sigstore.js@2.0.0 provenance with another artifact digest is refused', () => {
    const r = keyless('sigstore-go/pkg/testing/data/bundles/sigstore.js@2.0.0-provenance.sigstore.json', [goPublicGood], {
      digest: `sha512:5${npm200.slice(1)}`,
    });
    expect(r.ok).toBe(false);
  });

  test('dsse.sigstore.json (v0.1 SLSA provenance) is accepted for brian@dehamer.com', () => {
    const r = keyless('sigstore-go/pkg/testing/data/bundles/dsse.sigstore.json', [goPublicGood]);
    expect(acceptedFor(r, { subject: 'brian@dehamer.com', issuer: 'https://github.com/login/oauth' })).toBe(true);
  });

  test('dsse-2sigs.sigstore.json (two DSSE signatures) is refused', () => {
    const r = keyless('sigstore-go/pkg/testing/data/bundles/dsse-2sigs.sigstore.json', [goPublicGood]);
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/exactly one signature, found 2/) as unknown });
  });

  test('examples/bundle-provenance.json is accepted for the sigstore-js release workflow', () => {
    const digest =
      '76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751';
    const r = keyless('sigstore-go/examples/bundle-provenance.json', [goPublicGood], { digest: `sha512:${digest}` });
    expect(acceptedFor(r, release)).toBe(true);
  });

  test('examples/bundle-publish.json (npm registry key) is accepted with publish_key.pub, not as keyless', () => {
    const digest =
      '76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751';
    const r = withKey('sigstore-go/examples/bundle-publish.json', [goPublicGood], 'sigstore-go/examples/publish_key.pub', {
      digest: `sha512:${digest}`,
    });
    expect(r).toMatchObject({ ok: true, signer: { kind: 'key' }, tlogEntries: 1 });
    expect(keyless('sigstore-go/examples/bundle-publish.json', [goPublicGood]).ok).toBe(false);
  });

  test('public-key-validity: a key signature with only a TSA timestamp verifies over "test content", not other bytes', () => {
    const root = loadTrustedRootFile(v('sigstore-go/pkg/testing/data/trusted-roots/public-key-validity.json'));
    const bundle = 'sigstore-go/pkg/testing/data/bundles/public-key-validity.sigstore.json';
    const key = 'sigstore-go/pkg/testing/data/public-keys/public-key-validity.pem';
    const ok = withKey(bundle, [root], key, { bytes: Buffer.from('test content') });
    expect(ok).toMatchObject({ ok: true, content: 'message-signature', tlogEntries: 0, timestamps: 1 });
    expect(withKey(bundle, [root], key, { bytes: Buffer.from('test content!') }).ok).toBe(false);
  });

  test('othername: the otherName SAN is the subject, and an e-mail-form identity does not match it', () => {
    // The bundle's checkpoint is signed under another origin than its root names, so it does not
    // verify end to end (sigstore-js agrees); its certificate is used for identity parsing.
    const b = JSON.parse(readFileSync(v('sigstore-go/pkg/testing/data/bundles/othername.sigstore.json'), 'utf8')) as {
      verificationMaterial: { x509CertificateChain?: { certificates: Array<{ rawBytes: string }> }; certificate?: { rawBytes: string } };
    };
    const raw = b.verificationMaterial.x509CertificateChain?.certificates[0]?.rawBytes ?? b.verificationMaterial.certificate!.rawBytes;
    const id = signerIdentity(X509Certificate.parse(Buffer.from(raw, 'base64')));
    expect(id).toMatchObject({ subject: 'foo!oidc.local', issuer: 'http://oidc.local:8080' });
    expect(identityMatches({ subject: 'foo!oidc.local', issuer: 'http://oidc.local:8080' }, id)).toBe(true);
    expect(identityMatches({ subject: 'foo@oidc.local', issuer: 'http://oidc.local:8080' }, id)).toBe(false);
  });
});

describe('cosign pkg/cosign/testdata/oci-attestation.sigstore.json', () => {
  const image = 'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4';
  const cody = { subject: 'cody@soyland.com', issuer: 'https://github.com/login/oauth' };

  test.each([
    ['trusted_root_pgi.json', () => pgi],
    ['the production root', () => prod],
  ])('accepted for its image digest under %s', (_n, root) => {
    const r = keyless('cosign/pkg/cosign/testdata/oci-attestation.sigstore.json', [root()], { digest: image });
    expect(acceptedFor(r, cody)).toBe(true);
    expect(r).toMatchObject({ ok: true, version: '0.3', statement: { predicateType: 'https://cosign.sigstore.dev/attestation/v1' } });
  });

  test('refused for another image digest, and for a subject regexp that does not match', () => {
    expect(keyless('cosign/pkg/cosign/testdata/oci-attestation.sigstore.json', [pgi], { digest: `sha256:${'1'.repeat(64)}` }).ok).toBe(
      false,
    );
    const r = keyless('cosign/pkg/cosign/testdata/oci-attestation.sigstore.json', [pgi], { digest: image });
    expect(acceptedFor(r, { subjectRegExp: /wrong/ })).toBe(false);
    expect(acceptedFor(r, { subjectRegExp: /soyland/, issuerRegExp: /github/ })).toBe(true);
  });
});
