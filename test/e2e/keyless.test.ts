/**
 * Keyless Sigstore evidence in the real registry: cosign's own OCI attestation bundle
 * (cosign pkg/cosign/testdata/oci-attestation.sigstore.json, production Fulcio + Rekor, signed by
 * cody@soyland.com via GitHub OAuth) attached as a referrer to the image it is about —
 * go-containerregistry's empty.Image, rebuilt byte for byte, whose digest is the statement's
 * subject — and verified offline against the public-good root Countersign ships. Admitted under a
 * policy naming its identity, denied under one naming another subject or issuer.
 */
import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ReferrerStore, RegistryClient } from '../../src/registry';
import { EMPTY_DESCRIPTOR, MEDIA_TYPE, type ImageManifest } from '../../src/registry/types';
import { startService, testRegistryHost, uniqueRepo, type RunningService } from '../support/harness';

const VECTORS = path.resolve(__dirname, '../../../shared/vectors');
const BUNDLE = readFileSync(path.join(VECTORS, 'cosign/pkg/cosign/testdata/oci-attestation.sigstore.json'));
const SUBJECT = 'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4';
const CODY = { issuer: 'https://github.com/login/oauth', subject: 'cody@soyland.com' };
const PREDICATE = 'https://cosign.sigstore.dev/attestation/v1';
const sha256 = (b: Buffer) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

/** go-containerregistry's empty.Image: a Docker v2 manifest with no layers and an empty config. */
function emptyImage() {
  const config = Buffer.from(
    '{"architecture":"","created":"0001-01-01T00:00:00Z","os":"","rootfs":{"type":"layers","diff_ids":null},"config":{}}',
  );
  const manifest = Buffer.from(
    `{"schemaVersion":2,"mediaType":"${MEDIA_TYPE.DOCKER_MANIFEST}","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":${config.length},"digest":"${sha256(config)}"},"layers":[]}`,
  );
  return { config, manifest };
}

interface VerifyResponse {
  allowed: boolean;
  requirements: Array<{ requirement: string; satisfied: boolean; message: string }>;
  evidence: Array<{
    referrerDigest: string;
    format: string;
    kind: string;
    verified: boolean;
    reason: string;
    predicateType: string;
    identity?: { issuer: string; subject: string };
    bundleVersion: string;
    trustRoot: string;
    transparencyLogEntries: number;
  }>;
}

let host: string;
let pusher: RegistryClient;
let svc: RunningService;
const repos: Record<'cody' | 'otherSubject' | 'otherIssuer' | 'regexp', string> = {
  cody: uniqueRepo('k-cody'),
  otherSubject: uniqueRepo('k-other-subject'),
  otherIssuer: uniqueRepo('k-other-issuer'),
  regexp: uniqueRepo('k-regexp'),
};

function rule(name: string, repo: string, identity: string): string {
  return `  - name: ${name}
    match: { images: ["${host}/${repo}"] }
    require:
      attestations: [{ predicateType: "${PREDICATE}", identities: [${identity}] }]
`;
}

beforeAll(async () => {
  host = testRegistryHost();
  pusher = new RegistryClient({});
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-keyless-'));
  const policyFile = path.join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `rules:
${rule('cody', repos.cody, `{ issuer: "${CODY.issuer}", subject: "${CODY.subject}" }`)}${rule('other-subject', repos.otherSubject, `{ issuer: "${CODY.issuer}", subject: "someone@else.com" }`)}${rule('other-issuer', repos.otherIssuer, `{ issuer: "https://accounts.google.com", subject: "${CODY.subject}" }`)}${rule('regexp', repos.regexp, `{ issuerRegExp: "^https://github\\\\.com/", subjectRegExp: "@soyland\\\\.com$" }`)}`,
  );
  // No trusted root configured: the public-good root shipped with Countersign is used.
  svc = await startService({ policyFile, verification: { cacheTtlMs: 300_000, negativeCacheTtlMs: 0, maxDurationMs: 8000 } });
  const { config, manifest } = emptyImage();
  expect(sha256(manifest)).toBe(SUBJECT);
  const store = new ReferrerStore(pusher);
  for (const repository of Object.values(repos)) {
    const repo = { registry: host, repository };
    await pusher.pushBlob(repo, config);
    await pusher.putManifest(repo, SUBJECT, manifest, MEDIA_TYPE.DOCKER_MANIFEST);
    // The referrer as cosign v3 writes it (FORMATS.md §2.2).
    const layer = { mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', digest: sha256(BUNDLE), size: BUNDLE.length };
    const referrer: ImageManifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
      artifactType: layer.mediaType,
      config: EMPTY_DESCRIPTOR,
      layers: [layer],
      subject: { mediaType: MEDIA_TYPE.DOCKER_MANIFEST, digest: SUBJECT, size: manifest.length },
      annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': PREDICATE },
    };
    await store.attach(repo, { manifest: referrer, manifestBytes: Buffer.from(JSON.stringify(referrer)), blobs: [BUNDLE] });
  }
});

afterAll(async () => {
  await svc.stop();
  await pusher.close();
});

const verify = (repository: string) =>
  svc.call<VerifyResponse>('Verify', { image: `${host}/${repository}@${SUBJECT}`, action: 'ACTION_DEPLOY', context: {} });

test('admitted under a policy naming its identity; the evidence names the format and the signer', async () => {
  const r = await verify(repos.cody);
  expect(r.allowed).toBe(true);
  expect(r.requirements[0]!.message).toContain('cody@soyland.com (issuer https://github.com/login/oauth)');
  expect(r.evidence).toHaveLength(1);
  expect(r.evidence[0]).toMatchObject({
    format: 'sigstore-bundle',
    kind: 'attestation',
    verified: true,
    predicateType: PREDICATE,
    identity: CODY,
    bundleVersion: '0.3',
    trustRoot: 'public-good',
    transparencyLogEntries: 1,
  });
});

test('denied under a policy naming another subject, saying whose attestation it found', async () => {
  const r = await verify(repos.otherSubject);
  expect(r.allowed).toBe(false);
  expect(r.requirements[0]!.message).toMatch(
    /signed by keyless signer subject someone@else\.com.*found attestations by cody@soyland\.com \(issuer https:\/\/github\.com\/login\/oauth\), which this rule does not accept/,
  );
  // The bundle itself verified: only the identity does not match.
  expect(r.evidence[0]).toMatchObject({ verified: true, identity: CODY });
});

test('denied under a policy naming another issuer', async () => {
  const r = await verify(repos.otherIssuer);
  expect(r.allowed).toBe(false);
  expect(r.requirements[0]!.message).toMatch(/issuer https:\/\/accounts\.google\.com/);
});

test('admitted under cosign-style regular expressions for issuer and subject', async () => {
  expect((await verify(repos.regexp)).allowed).toBe(true);
});

test('a service configured with a trusted root whose tlog key has no validity start does not start', async () => {
  const bad = path.join(
    VECTORS,
    'sigstore-conformance/test/assets/bundle-verify/trust-root-tlog-missing-validity-start_fail/trusted_root.json',
  );
  await expect(
    startService({ verification: { cacheTtlMs: 1000, negativeCacheTtlMs: 0, maxDurationMs: 8000, sigstoreTrustedRoots: [bad] } }),
  ).rejects.toThrow(/tlogs\[1\]\.publicKey\.validFor\.start: missing/);
});
