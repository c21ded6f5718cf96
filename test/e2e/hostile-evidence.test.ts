/**
 * Attacks on the evidence path against the real registry (Distribution 2.8: no referrers API, so
 * the `sha256-<hex>` fallback tag is what a pusher can rewrite). Only content Distribution accepts
 * is pushed; variants it refuses (not JSON, over 4 MiB) are covered by the unit tests with the
 * fake registry. Each case is checked under a strict rule and under `onError: allow`: hostile
 * content must be a deny for that evidence, never an error a lenient rule turns into an allow.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pushSampleImage } from '../../src/dev/sample-image';
import { RegistryClient } from '../../src/registry';
import { sha256Digest } from '../../src/registry/digest';
import { referrersTagFor } from '../../src/registry/reference';
import { EMPTY_BLOB, EMPTY_DESCRIPTOR, MEDIA_TYPE, type Descriptor, type RepositoryRef } from '../../src/registry/types';
import { startService, testRegistryHost, uniqueRepo, type RunningService } from '../support/harness';
import { listReferrers } from '../support/independent-verify';

interface VerifyResponse {
  allowed: boolean;
  rule: string;
  requirements: Array<{ requirement: string; satisfied: boolean; message: string }>;
  evidence: Array<{ referrerDigest: string; format: string; verified: boolean; reason: string }>;
  warnings: string[];
  reasons: string[];
}

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const POLICIES = ['strict', 'lenient'] as const;

let host: string;
let pusher: RegistryClient;
let svc: RunningService;
/** A service without a policy file (the built-in default: multiArch either). */
let plain: RunningService;

beforeAll(async () => {
  host = testRegistryHost();
  pusher = new RegistryClient({});
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-hostile-'));
  const policyFile = path.join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `defaults: { mode: enforce, onUnmatched: deny, onError: deny }
rules:
  - name: lenient
    match: { images: ["${host}/countersign-test/h-lenient-*"] }
    onError: allow
    require: { signatures: { keys: [ci-release] } }
${['index', 'platforms', 'either']
  .map(
    (m) =>
      `  - name: multi-${m}\n    match: { images: ["${host}/countersign-test/h-${m}-*"] }\n    multiArch: ${m}\n    require: { signatures: { keys: [ci-release] } }\n`,
  )
  .join('')}  - name: strict
    match: { images: ["${host}/countersign-test/**"] }
    require: { signatures: { keys: [ci-release] } }
`,
  );
  svc = await startService({ policyFile, verification: { cacheTtlMs: 300_000, negativeCacheTtlMs: 0, maxDurationMs: 8000 } });
  await svc.app.keys.createKey({ name: 'ci-release' }, 'test');
  plain = await startService({ verification: { cacheTtlMs: 300_000, negativeCacheTtlMs: 0, maxDurationMs: 8000 } });
  await plain.app.keys.createKey({ name: 'ci-release' }, 'test');
});

afterAll(async () => {
  await svc.stop();
  await plain.stop();
  await pusher.close();
});

const explain = (r: VerifyResponse): string => `${r.allowed ? 'allow' : 'deny'}: ${r.reasons.join(' | ')} :: ${JSON.stringify(r.evidence)}`;

async function verify(via: RunningService, image: string): Promise<VerifyResponse> {
  return via.call<VerifyResponse>('Verify', { image, action: 'ACTION_DEPLOY', context: { namespace: 'default' } });
}

async function newImage(prefix: string) {
  const repository = uniqueRepo(prefix);
  const repo: RepositoryRef = { registry: host, repository };
  const pushed = await pushSampleImage(pusher, repo, 'v1');
  return { repo, ...pushed, ref: `${host}/${repository}@${pushed.digest}` };
}

/** A small artifact manifest that exists in the repository (Distribution refuses index entries that do not). */
async function junkManifest(repo: RepositoryRef, i: number, artifactType = BUNDLE): Promise<Descriptor> {
  await pusher.pushBlob(repo, EMPTY_BLOB);
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
      artifactType,
      config: EMPTY_DESCRIPTOR,
      layers: [],
      annotations: { junk: String(i) },
    }),
  );
  const { digest } = await pusher.putManifest(repo, sha256Digest(bytes), bytes, MEDIA_TYPE.OCI_MANIFEST);
  return { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size: bytes.length };
}

async function writeReferrersTag(repo: RepositoryRef, subject: string, entries: unknown[]): Promise<void> {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: entries }));
  await pusher.putManifest(repo, referrersTagFor(subject), bytes, MEDIA_TYPE.OCI_INDEX);
}

/** cosign's legacy `.sig` tag, signed with the service's ci-release key. */
async function legacySignature(via: RunningService, repo: RepositoryRef, subject: string): Promise<string> {
  const key = await via.app.keys.getSigningKey('ci-release');
  const payload = Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': `${repo.registry}/${repo.repository}` },
        image: { 'docker-manifest-digest': subject },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
  await pusher.pushBlob(repo, payload);
  await pusher.pushBlob(repo, EMPTY_BLOB);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
      config: EMPTY_DESCRIPTOR,
      layers: [
        {
          mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          digest: sha256Digest(payload),
          size: payload.length,
          annotations: { 'dev.cosignproject.cosign/signature': key.sign(payload).toString('base64') },
        },
      ],
    }),
  );
  return (await pusher.putManifest(repo, `${referrersTagFor(subject)}.sig`, manifest, MEDIA_TYPE.OCI_MANIFEST)).digest;
}

/**
 * Malformed referrers indexes Distribution stores. `signed` says whether a valid signature is also
 * present (listed in the index, or as a legacy `.sig` when the tag holds no index at all).
 */
const VARIANTS: Array<{
  name: string;
  write: (repo: RepositoryRef, subject: string, valid: Descriptor | undefined) => Promise<void>;
  legacy?: boolean;
}> = [
  {
    name: 'entries without mediaType and size',
    write: async (repo, subject, valid) =>
      writeReferrersTag(repo, subject, [{ digest: (await junkManifest(repo, 1)).digest }, ...(valid ? [valid] : [])]),
  },
  {
    name: 'an entry with a negative size',
    write: async (repo, subject, valid) =>
      writeReferrersTag(repo, subject, [{ ...(await junkManifest(repo, 2)), size: -5 }, ...(valid ? [valid] : [])]),
  },
  {
    name: 'an entry with a numeric artifactType',
    write: async (repo, subject, valid) =>
      writeReferrersTag(repo, subject, [{ ...(await junkManifest(repo, 3)), artifactType: 5 }, ...(valid ? [valid] : [])]),
  },
  {
    name: 'the valid entry itself listed without size',
    write: async (repo, subject, valid) =>
      writeReferrersTag(repo, subject, [
        await junkManifest(repo, 4),
        ...(valid ? [{ digest: valid.digest, mediaType: valid.mediaType }] : []),
      ]),
  },
  {
    name: 'an image manifest stored under the sha256-<hex> tag',
    legacy: true,
    write: async (repo, subject) => {
      await pusher.pushBlob(repo, EMPTY_BLOB);
      const bytes = Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_MANIFEST, config: EMPTY_DESCRIPTOR, layers: [] }),
      );
      await pusher.putManifest(repo, referrersTagFor(subject), bytes, MEDIA_TYPE.OCI_MANIFEST);
    },
  },
];

describe.each(VARIANTS)('referrers index with $name', ({ write, legacy }) => {
  test.each(POLICIES)('%s: without a valid signature denied (no onError), with one allowed', async (policy) => {
    const unsigned = await newImage(`h-${policy}-unsigned`);
    await write(unsigned.repo, unsigned.digest, undefined);
    const denied = await verify(svc, unsigned.ref);
    expect(denied.allowed).toBe(false);
    expect(denied.rule).toBe(policy);
    expect(denied.requirements.map((q) => q.requirement)).toEqual(['signatures']);
    expect(denied.warnings).toEqual([]);

    const signed = await newImage(`h-${policy}-signed`);
    let valid: Descriptor | undefined;
    if (legacy) {
      await legacySignature(svc, signed.repo, signed.digest);
    } else {
      await svc.call('Sign', { image: signed.ref, key: 'ci-release' });
      valid = (await listReferrers(host, signed.repo.repository, signed.digest)).manifests[0];
      expect(valid).toBeDefined();
    }
    await write(signed.repo, signed.digest, valid);
    const allowed = await verify(svc, signed.ref);
    expect({ allowed: allowed.allowed, warnings: allowed.warnings }).toEqual({ allowed: true, warnings: [] });
    expect(allowed.rule).toBe(policy);
  });
});

test.each(POLICIES)('%s: 200 junk entries listed before a valid one → allowed', async (policy) => {
  const img = await newImage(`h-${policy}-junk`);
  await svc.call('Sign', { image: img.ref, key: 'ci-release' });
  const valid = (await listReferrers(host, img.repo.repository, img.digest)).manifests[0] as Descriptor;
  const junk: Descriptor[] = [];
  for (let i = 0; i < 200; i++) junk.push({ ...(await junkManifest(img.repo, 1000 + i)), artifactType: BUNDLE });
  await writeReferrersTag(img.repo, img.digest, [...junk, valid]);
  const r = await verify(svc, img.ref);
  expect(r.allowed).toBe(true);
  expect(r.warnings).toEqual([]);
  // The junk is reported compactly, not dropped silently.
  expect(r.evidence.some((e) => /more unverified/.test(e.reason))).toBe(true);
});

describe('an index with an unsigned child a runtime could run', () => {
  async function indexWith(prefix: string, via: RunningService, extra: Record<string, unknown>) {
    const repository = uniqueRepo(prefix);
    const repo: RepositoryRef = { registry: host, repository };
    const amd = await pushSampleImage(pusher, repo, 'amd64', { architecture: 'amd64' });
    const other = await pushSampleImage(pusher, repo, 'other', { architecture: 'arm64' });
    await via.call('Sign', { image: `${host}/${repository}@${amd.digest}`, key: 'ci-release' });
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.OCI_INDEX,
        manifests: [
          { mediaType: amd.mediaType, digest: amd.digest, size: amd.size, platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: other.mediaType, digest: other.digest, size: other.size, ...extra },
        ],
      }),
    );
    await pusher.putManifest(repo, 'v1', bytes, MEDIA_TYPE.OCI_INDEX);
    return { ref: `${host}/${repository}:v1`, other };
  }

  const CHILDREN: Array<[string, Record<string, unknown>]> = [
    ['without platform', {}],
    ['with os unknown and architecture arm64', { platform: { os: 'unknown', architecture: 'arm64' } }],
  ];
  describe.each(CHILDREN)('child %s', (_name, extra) => {
    test.each(['index', 'platforms', 'either'])('multiArch %s: denied', async (mode) => {
      const { ref, other } = await indexWith(`h-${mode}-child`, svc, extra);
      const r = await verify(svc, ref);
      expect(r.rule).toBe(`multi-${mode}`);
      expect(r.allowed).toBe(false);
      if (mode !== 'index') expect(explain(r)).toContain(other.digest.slice(0, 19));
    });

    test('no policy file (default policy): denied', async () => {
      const { ref, other } = await indexWith('h-default-child', plain, extra);
      const r = await verify(plain, ref);
      expect(r.allowed).toBe(false);
      expect(explain(r)).toContain(other.digest.slice(0, 19));
    });
  });
});

describe('a malformed image index (as Distribution stores it) is a deny, never onError', () => {
  const MALFORMED: Array<[string, (d: Descriptor) => Record<string, unknown>, RegExp]> = [
    ['a child without mediaType and size', (d) => ({ digest: d.digest }), /manifests\[0\]\.mediaType/],
    ['a child with a negative size', (d) => ({ mediaType: d.mediaType, digest: d.digest, size: -1 }), /manifests\[0\]\.size/],
    [
      'a child whose platform has no architecture',
      (d) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, platform: { os: 'linux' } }),
      /manifests\[0\]\.platform/,
    ],
  ];
  test.each(MALFORMED)('%s: denied under onError: allow, even with the index signed', async (_name, entry, why) => {
    const repository = uniqueRepo('h-lenient-index');
    const repo: RepositoryRef = { registry: host, repository };
    const img = await pushSampleImage(pusher, repo, 'child');
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: [entry(img)] }));
    const { digest } = await pusher.putManifest(repo, 'v1', bytes, MEDIA_TYPE.OCI_INDEX);
    await svc.call('Sign', { image: `${host}/${repository}@${digest}`, key: 'ci-release' });
    const r = await verify(svc, `${host}/${repository}:v1`);
    expect(r.allowed).toBe(false);
    expect(r.rule).toBe('lenient');
    expect(r.warnings).toEqual([]);
    expect(r.requirements).toEqual([expect.objectContaining({ requirement: 'image', satisfied: false })]);
    expect(r.reasons[0]).toMatch(/the image index is malformed: /);
    expect(r.reasons[0]).toMatch(why);
  });
});

/**
 * The referrer manifest around a valid bundle is unsigned: a pusher can re-wrap the image's own
 * signature in a manifest that Distribution (a Go program) reads otherwise than we do. Such a copy
 * is no signature, even under onError: allow, and it does not hide the original next to it.
 */
describe('an edited copy of a valid signature referrer', () => {
  const EDITS: Array<[string, (m: Record<string, unknown>) => void, RegExp]> = [
    ['a "Subject" key beside subject', (m) => (m.Subject = m.subject), /key "Subject"/],
    ['a bundle-like artifactType', (m) => (m.artifactType = `${BUNDLE}.evil`), /is not a signature or attestation format/],
    // Go keeps the last of `layers` / `Layers`: Distribution sees no layers, we would see the bundle.
    ['an empty "Layers" after layers', (m) => (m.Layers = []), /key "Layers"/],
  ];

  test.each(EDITS)('%s: the copy alone is a deny; the original beside it still allows', async (_name, edit, why) => {
    const img = await newImage('h-lenient-copy');
    await svc.call('Sign', { image: img.ref, key: 'ci-release' });
    const [original] = (await listReferrers(host, img.repo.repository, img.digest)).manifests;
    const { bytes } = await pusher.getManifest(img.repo, original!.digest);
    const m = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    edit(m);
    const copyBytes = Buffer.from(JSON.stringify(m));
    const { digest: copy } = await pusher.putManifest(img.repo, sha256Digest(copyBytes), copyBytes, MEDIA_TYPE.OCI_MANIFEST);
    const entry = (digest: string, size: number) => ({ mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size, artifactType: BUNDLE });

    await writeReferrersTag(img.repo, img.digest, [entry(copy, copyBytes.length)]);
    const alone = await verify(svc, img.ref);
    expect(alone.allowed).toBe(false);
    expect(alone.rule).toBe('lenient');
    expect(alone.warnings).toEqual([]);
    const judged = alone.evidence.find((e) => e.referrerDigest === copy);
    expect(judged).toMatchObject({ verified: false });
    expect(judged!.reason).toMatch(why);

    await writeReferrersTag(img.repo, img.digest, [entry(copy, copyBytes.length), entry(original!.digest, bytes.length)]);
    const both = await verify(svc, img.ref);
    expect(both.allowed).toBe(true);
    expect(both.evidence.filter((e) => e.verified).map((e) => e.referrerDigest)).toEqual([original!.digest]);
  });
});
