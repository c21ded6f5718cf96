/**
 * Crowding out (issue 10, red team): a pusher lists many junk Notary signatures beside one valid
 * one. Notary evidence is never `verified` by itself (the rule's trust policy judges it), so the
 * collector must not treat it as "unverified junk" and drop it from the answer; and junk envelope
 * layers (declared huge, or huge behind a small declared size) must not eat the collection budget.
 * The policy's onError is allow: any of this turning into a collection error would admit the image.
 * Also here, on the same fixtures: the signed targetArtifact is compared with the image as the
 * registry resolves it, never with the subject the (pusher-written) referrer manifest declares.
 */
import { createHash, sign as cryptoSign, constants, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parsePolicy } from '../../../../src/policy';
import { evaluate, type Decision } from '../../../../src/policy/evaluate';
import { RegistryClient } from '../../../../src/registry/client';
import { EMPTY_DESCRIPTOR, MEDIA_TYPE } from '../../../../src/registry/types';
import { EvidenceCollector } from '../../../../src/verification/collector';
import { notationEnvelopeLayer, notationEvidence } from '../../../../src/verification/notation/referrer';
import { checkReferrerManifest } from '../../../../src/verification/referrer-manifest';
import type { Evidence } from '../../../../src/policy/input';
import { readOciLayout } from '../../../support/oci-layout';
import { certificate, OIDS } from '../../../support/der-writer';
import { FakeRegistry } from '../../registry/fake-registry';
import { staticTrust } from '../bundle-fixtures';

const DATA = path.resolve(__dirname, '../../../../../shared/vectors/notation/test/e2e/testdata');
const KEYS = path.join(DATA, 'config/localkeys');
const IMAGE = 'sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9';
const NOW = new Date('2026-12-01T00:00:00Z');
const KEY = createPrivateKey(readFileSync(path.join(KEYS, 'e2e.key')));
const CERT_B64 = readFileSync(path.join(KEYS, 'e2e.crt'), 'utf8').replace(/-----[^-]+-----|\s/g, '');
const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-crowding-'));
const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const HEADER = {
  alg: 'PS256',
  crit: ['io.cncf.notary.signingScheme'],
  cty: 'application/vnd.cncf.notary.payload.v1+json',
  'io.cncf.notary.signingScheme': 'notary.x509',
  'io.cncf.notary.signingTime': '2026-11-30T10:00:00Z',
};
const TARGET: { targetArtifact: { digest: string; mediaType: string; size: number } } = {
  targetArtifact: { digest: IMAGE, mediaType: MEDIA_TYPE.OCI_MANIFEST, size: 517 },
};

// A stranger: an intact signature by a self-signed certificate nobody trusts.
const strangerKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const stranger = certificate({
  subject: [
    ['C', 'US'],
    ['ST', 'WA'],
    ['O', 'Stranger'],
    ['CN', 'junk'],
  ],
  publicKey: strangerKeys.publicKey,
  key: strangerKeys.privateKey,
  notBefore: new Date('2025-01-01T00:00:00Z'),
  notAfter: new Date('2030-01-01T00:00:00Z'),
  eku: [OIDS.codeSigning],
});

function jws(o: { key?: typeof KEY; cert?: string; note?: string; target?: Partial<(typeof TARGET)['targetArtifact']> } = {}): Buffer {
  const protectedB64 = b64url(HEADER);
  const payloadB64 = b64url(o.target ? { targetArtifact: { ...TARGET.targetArtifact, ...o.target } } : TARGET);
  const signature = cryptoSign('sha256', Buffer.from(`${protectedB64}.${payloadB64}`), {
    key: o.key ?? KEY,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
  });
  return Buffer.from(
    JSON.stringify({
      payload: payloadB64,
      protected: protectedB64,
      header: { x5c: [o.cert ?? CERT_B64], 'io.cncf.notary.signingAgent': o.note ?? 'test' },
      signature: signature.toString('base64url'),
    }),
  );
}

let fake: FakeRegistry;
let client: RegistryClient;

beforeAll(async () => {
  fake = await FakeRegistry.start({ referrersApi: true });
  client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
});

afterAll(async () => {
  await client.close();
  await fake.close();
});

function image(repository: string): void {
  const layout = readOciLayout(path.join(DATA, 'registry/oci_layout/e2e'));
  for (const b of layout.blobs) fake.storeBlob(repository, b);
  for (const m of layout.manifests) fake.storeManifest(repository, m.bytes, m.mediaType, m.tag);
}

/** A signature referrer whose one layer is `envelope` (stored) described with `declaredSize`. */
function referrer(
  repository: string,
  envelope: Buffer,
  o: { declaredSize?: number; store?: boolean; n?: number; subject?: Record<string, unknown> } = {},
): string {
  if (o.store !== false) fake.storeBlob(repository, envelope);
  return fake.storeManifest(repository, manifestBytes(envelope, o), MEDIA_TYPE.OCI_MANIFEST);
}

/**
 * The valid signature, listed after every other referrer (the fake registry lists by digest): an
 * annotation is varied until its manifest digest sorts last.
 */
function lastReferrer(repository: string, envelope: Buffer): string {
  const listed = [...fake.repo(repository).manifests.keys()].sort((a, b) => a.localeCompare(b));
  const max = listed.at(-1) ?? '';
  for (let n = 1_000_000; ; n++) {
    const bytes = manifestBytes(envelope, { n });
    if (`sha256:${createHash('sha256').update(bytes).digest('hex')}`.localeCompare(max) > 0) return referrer(repository, envelope, { n });
  }
}

function manifestBytes(envelope: Buffer, o: { declaredSize?: number; n?: number; subject?: Record<string, unknown> }): Buffer {
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.OCI_MANIFEST,
    artifactType: 'application/vnd.cncf.notary.signature',
    config: EMPTY_DESCRIPTOR,
    layers: [
      {
        mediaType: 'application/jose+json',
        digest: `sha256:${createHash('sha256').update(envelope).digest('hex')}`,
        size: o.declaredSize ?? envelope.length,
      },
    ],
    subject: { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: IMAGE, size: 517, ...o.subject },
    annotations: { n: String(o.n ?? 0) },
  };
  return Buffer.from(JSON.stringify(manifest));
}

function allowOnErrorPolicy(): ReturnType<typeof parsePolicy> {
  const text = `defaults: { onError: allow }\nrules:\n  - name: notation\n    onError: allow\n    require:\n      signatures: { notation: { trustStore: [${JSON.stringify(path.join(KEYS, 'e2e.crt'))}], identities: ["x509.subject: C=US, ST=WA, O=Notary, CN=e2e"] } }\n`;
  const file = path.join(dir, 'policy.yaml');
  writeFileSync(file, text);
  return parsePolicy(text, file);
}

async function decide(
  repository: string,
  collectorOptions: { maxBytes?: number } = {},
): Promise<{ decision: Decision; evidence: Evidence[] }> {
  const collector = new EvidenceCollector({
    client,
    trust: staticTrust([]),
    legacy: false,
    concurrency: 1,
    maxCollectMs: 600_000,
    ...collectorOptions,
  });
  const evidence = await collector.collect({ registry: fake.host, repository }, IMAGE);
  const decision = evaluate(allowOnErrorPolicy(), {
    image: {
      reference: `${fake.host}/${repository}@${IMAGE}`,
      registry: fake.host,
      repository,
      digest: IMAGE,
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
    },
    action: 'deploy',
    context: {},
    evidence,
    now: NOW,
  });
  return { decision, evidence };
}
const message = (d: Decision) => d.requirements.map((r) => r.message).join(' | ');

test('40 intact signatures by an untrusted stranger and 40 broken ones, listed before the one valid signature, do not hide it', async () => {
  const repo = 'crowd-intact';
  image(repo);
  for (let i = 0; i < 40; i++)
    referrer(repo, jws({ key: strangerKeys.privateKey, cert: stranger.der.toString('base64'), note: `junk ${i}` }), { n: i });
  for (let i = 0; i < 40; i++) referrer(repo, Buffer.from(`{"payload":"junk ${i}"}`), { n: 100 + i });
  lastReferrer(repo, jws());
  const { decision, evidence } = await decide(repo);
  expect(decision.allowed).toBe(true);
  expect(message(decision)).toContain('Notation signer C=US, ST=WA, L=Seattle, O=Notary, CN=e2e');
  // Intact signatures are all kept for the trust policy (41); the broken junk is summarized (16 and one summary).
  expect(evidence.filter((e) => e.notation !== undefined)).toHaveLength(41);
  expect(evidence.filter((e) => e.notation === undefined)).toHaveLength(17);
  expect(JSON.stringify(decision).length).toBeLessThan(64 * 1024);
});

test('the same deny when no valid signature is among the junk: bounded, and never an error (onError allow must not apply)', async () => {
  const repo = 'crowd-no-valid';
  image(repo);
  for (let i = 0; i < 40; i++)
    referrer(repo, jws({ key: strangerKeys.privateKey, cert: stranger.der.toString('base64'), note: `junk ${i}` }), { n: i });
  const { decision } = await decide(repo);
  expect(decision.allowed).toBe(false);
  expect(message(decision)).toMatch(/authenticity validation failed/);
  expect(JSON.stringify(decision).length).toBeLessThan(64 * 1024);
});

test('junk envelope layers declared huge are refused without being read: they do not exhaust the byte budget before the valid signature', async () => {
  const repo = 'crowd-huge-declared';
  image(repo);
  const big = Buffer.alloc(1024 * 1024, 0x20);
  for (let i = 0; i < 6; i++) referrer(repo, Buffer.concat([big, Buffer.from(String(i))]), { n: i });
  lastReferrer(repo, jws());
  const { decision, evidence } = await decide(repo, { maxBytes: 4 * 1024 * 1024 });
  expect(decision.allowed).toBe(true);
  expect(evidence.map((e) => e.reason ?? '').join('\n')).toMatch(/envelope layer .* larger than/);
});

test('junk envelope layers that lie about their size (1 MiB behind a declared 100 bytes) cost at most the envelope bound each', async () => {
  const repo = 'crowd-huge-lying';
  image(repo);
  const big = Buffer.alloc(1024 * 1024, 0x20);
  for (let i = 0; i < 6; i++) referrer(repo, Buffer.concat([big, Buffer.from(String(i))]), { declaredSize: 100, n: i });
  lastReferrer(repo, jws());
  const { decision, evidence } = await decide(repo, { maxBytes: 4 * 1024 * 1024 });
  expect(decision.allowed).toBe(true);
  expect(evidence.map((e) => e.reason ?? '').join('\n')).toMatch(/over the \d+-byte limit|larger than/);
});

test('a thousand referrers sharing one junk envelope blob: the blob is read once, not a thousand times', async () => {
  const repo = 'crowd-shared-blob';
  image(repo);
  const junk = Buffer.concat([Buffer.from('{"payload":"'), Buffer.alloc(200 * 1024, 0x41), Buffer.from('"}')]);
  fake.storeBlob(repo, junk);
  for (let i = 0; i < 1000; i++) referrer(repo, junk, { store: false, n: i });
  lastReferrer(repo, jws());
  const { decision } = await decide(repo, { maxBytes: 16 * 1024 * 1024 });
  expect(decision.allowed).toBe(true);
  // A thousand referrers through the fake registry take ~8 s alone and over a minute on a loaded CI
  // machine with coverage on; the assertion is the decision, not the time.
}, 180_000);

test('a signature manifest whose subject or layer descriptor is the wrong type is a named integrity failure, not an exception', () => {
  const envelope = jws();
  const layer = {
    mediaType: 'application/jose+json',
    digest: `sha256:${createHash('sha256').update(envelope).digest('hex')}`,
    size: envelope.length,
  };
  const subject = { digest: IMAGE, mediaType: MEDIA_TYPE.OCI_MANIFEST, size: 517 };
  const odd: Array<[Record<string, unknown>, RegExp]> = [
    [{ subject: null, layers: [layer] }, /subject is not a descriptor/],
    [{ subject: 'sha256:x', layers: [layer] }, /subject is not a descriptor/],
    [{ layers: [layer] }, /has no subject/],
    [{ subject: { ...subject, size: '517' }, layers: [layer] }, /subject\.size "517" is not a non-negative integer/],
    [{ subject, layers: [{ ...layer, size: '1e9' }] }, /layers\[0\]\.size "1e9" is not a non-negative integer/],
    [{ subject, layers: [{ ...layer, size: -1 }] }, /layers\[0\]\.size -1 is not a non-negative integer/],
    [{ subject, layers: [{ ...layer, mediaType: 'application/json' }] }, /the envelope media type application\/json is neither/],
  ];
  for (const [o, why] of odd) {
    const written = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
      artifactType: 'application/vnd.cncf.notary.signature',
      config: EMPTY_DESCRIPTOR,
      ...o,
    };
    // As the collector does: the manifest is checked, then its envelope layer, then the envelope.
    const checked = checkReferrerManifest(written, IMAGE);
    let reason: string | undefined;
    if ('problem' in checked) reason = `integrity validation failed: ${checked.problem}`;
    else {
      const layerOrWhy = notationEnvelopeLayer(checked.manifest);
      reason =
        typeof layerOrWhy === 'string'
          ? layerOrWhy
          : notationEvidence({
              manifest: checked.manifest,
              manifestDigest: `sha256:${'12'.repeat(32)}`,
              envelopeBytes: envelope,
              target: { digest: IMAGE, mediaType: MEDIA_TYPE.OCI_MANIFEST, size: 517 },
              artifactType: 'application/vnd.cncf.notary.signature',
            }).reason;
    }
    expect(reason).toMatch(/^integrity validation failed: /);
    expect(reason).toMatch(why);
  }
});

describe("the signed targetArtifact is the image as the registry resolves it, not the referrer's subject", () => {
  // The e2e image: an OCI manifest of 517 bytes. A trusted signer's payload that names its digest
  // with another size or media type describes no content that exists; a referrer written to
  // declare that same size or type must not make it pass (notation-go compares the payload with
  // the resolved descriptor).
  test.each([
    ['size', { size: 999 }, /integrity validation failed: the payload targetArtifact size 999 is not the image's 517/],
    [
      'media type',
      { mediaType: MEDIA_TYPE.DOCKER_MANIFEST },
      /integrity validation failed: the payload targetArtifact mediaType application\/vnd\.docker\.distribution\.manifest\.v2\+json is not the image's application\/vnd\.oci\.image\.manifest\.v1\+json/,
    ],
  ])("a signed %s that is not the image's is refused, whatever the referrer declares", async (_what, claim, reason) => {
    const repo = `target-${Object.keys(claim)[0]!.toLowerCase()}`;
    image(repo);
    referrer(repo, jws({ target: claim }), { subject: claim });
    const { decision, evidence } = await decide(repo);
    expect(decision.allowed).toBe(false);
    expect(evidence.map((e) => e.reason ?? '').join('\n')).toMatch(reason);
    expect(evidence.filter((e) => e.notation !== undefined)).toHaveLength(0);
  });

  test("a referrer whose subject misstates the image's size does not spoil a signature that states it right", async () => {
    const repo = 'target-subject-lies';
    image(repo);
    referrer(repo, jws(), { subject: { size: 999 } });
    const { decision } = await decide(repo);
    expect(decision.allowed).toBe(true);
    expect(message(decision)).toContain('Notation signer C=US, ST=WA, L=Seattle, O=Notary, CN=e2e');
  });

  test('an image the registry cannot resolve leaves a valid signature unverified evidence: never an error (onError allow must not apply)', async () => {
    const repo = 'target-image-gone';
    // The signature and its referrer, but no image manifest: the HEAD of the image is a 404. The
    // collection must still resolve (a throw here is what onError would decide).
    referrer(repo, jws());
    const { decision, evidence } = await decide(repo);
    expect(decision.allowed).toBe(false);
    expect(evidence.filter((e) => e.notation !== undefined)).toHaveLength(0);
    expect(evidence.map((e) => e.reason ?? '').join('\n')).toMatch(/referrer could not be read: .*not found/i);
  });

  test('the image is resolved once per collection, however many Notary signatures it has', async () => {
    const repo = 'target-one-head';
    image(repo);
    for (let i = 0; i < 5; i++) referrer(repo, jws({ note: `copy ${i}` }), { n: i });
    const heads = () => fake.requestsMatching('HEAD', new RegExp(`/v2/${repo}/manifests/${IMAGE}$`)).length;
    const before = heads();
    const { decision } = await decide(repo);
    expect(decision.allowed).toBe(true);
    expect(heads() - before).toBe(1);
  });
});
