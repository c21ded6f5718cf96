import { packDigest, unpackDigest } from '../../../src/shared/compact-strings';
import { EvidenceCache } from '../../../src/verification/evidence-cache';
import { CacheKeys } from '../../../src/verification/verification-service';
import type { Evidence } from '../../../src/policy/input';

/**
 * The cache stores evidence compactly (packed digests and times, shared parts, the subject digest
 * taken from the key): whatever was stored, including what a pusher wrote that is not a digest or
 * a time, comes back exactly.
 */
const hex = (c: string): string => c.repeat(64);
const repo = { registry: 'registry.example.com:5000', repository: 'team/app' };

test.each([
  `sha256:${hex('a')}`,
  `sha512:${'b'.repeat(128)}`,
  `sha256:${hex('A')}`, // upper-case hex is not a canonical digest: kept as written
  'x'.repeat(32),
  'y'.repeat(33),
  '\u0001raw',
  '\u0000' + 'z'.repeat(32),
  '',
])('a digest packs and unpacks to itself: %j', (digest) => {
  expect(unpackDigest(packDigest(digest))).toBe(digest);
});

test('packed digests of different digests differ (keys never collide)', () => {
  const digests = [`sha256:${hex('a')}`, `sha256:${hex('b')}`, '\u0000' + 'a'.repeat(32), `sha256:${hex('A')}`];
  expect(new Set(digests.map(packDigest)).size).toBe(digests.length);
  const keys = new CacheKeys();
  const all = [
    keys.of(repo, digests[0]!),
    keys.of(repo, digests[1]!),
    keys.of({ ...repo, repository: 'team/other' }, digests[0]!),
    keys.of({ ...repo, registry: 'other.example.com' }, digests[0]!),
  ];
  expect(new Set(all).size).toBe(all.length);
  expect(keys.of(repo, digests[0]!)).toBe(all[0]);
});

function evidence(subjectDigest: string, over: Partial<Evidence> = {}): Evidence {
  return {
    referrerDigest: `sha256:${hex('1')}`,
    format: 'sigstore-bundle',
    artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    kind: 'signature',
    subjectDigest,
    verified: true,
    keyId: 'k1',
    keyName: 'release',
    bundleVersion: '0.3',
    content: 'dsse',
    transparencyLogEntries: 0,
    timestamps: 0,
    predicateType: 'https://sigstore.dev/cosign/sign/v1',
    created: '2026-12-02T05:41:43Z',
    ...over,
  };
}

/** Without the fields `over` set to undefined (absent, as a collector leaves them). */
const defined = (e: Evidence): Evidence => Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined)) as unknown as Evidence;

test.each([
  ['a canonical time', {}],
  ['a time with milliseconds', { created: '2026-12-02T05:41:43.123Z' }],
  ['a time with .000', { created: '2026-12-02T05:41:43.000Z' }],
  ['a time with an offset', { created: '2026-12-02T05:41:43+01:00' }],
  ['not a time', { created: 'yesterday' }],
  ['no time', { created: undefined }],
  ['a referrer digest that is not one', { referrerDigest: 'not-a-digest' }],
  ['a subject digest other than the key', { subjectDigest: `sha256:${hex('9')}` }],
  ['a predicate', { kind: 'attestation' as const, predicate: { a: [1, 2, { b: 'c' }] } }],
  ['an unverified entry', { verified: false, reason: 'signature does not verify' }],
  ['a keyless identity', { keyId: undefined, keyName: undefined, identity: { subject: 's', issuer: 'i', extensions: { x: 'y' } } }],
])('evidence comes back exactly as stored: %s', async (_name, over) => {
  const digest = `sha256:${hex('c')}`;
  const stored = [evidence(digest, over), evidence(digest, { referrerDigest: `sha256:${hex('2')}`, keyName: 'other' })].map(defined);
  const expected = structuredClone(stored);
  const cache = new EvidenceCache();
  const key = new CacheKeys().of(repo, digest);
  await cache.get(key, 'r1', async () => stored);
  const hit = await cache.get(key, 'r1', async () => {
    throw new Error('not cached');
  });
  expect(hit.cached).toBe(true);
  expect(hit.evidence).toStrictEqual(expected);
});

test('entries that share parts stay distinct: a different reason or key is its own', async () => {
  const cache = new EvidenceCache();
  const keys = new CacheKeys();
  const d1 = `sha256:${hex('d')}`;
  const d2 = `sha256:${hex('e')}`;
  await cache.get(keys.of(repo, d1), 'r1', async () => [evidence(d1)]);
  await cache.get(keys.of(repo, d2), 'r1', async () => [evidence(d2, { verified: false, reason: 'key revoked', keyName: 'old' })]);
  const a = cache.peek(keys.of(repo, d1), 'r1', async () => []);
  const b = cache.peek(keys.of(repo, d2), 'r1', async () => []);
  expect(a?.[0]).toMatchObject({ verified: true, keyName: 'release', subjectDigest: d1 });
  expect(a?.[0]?.reason).toBeUndefined();
  expect(b?.[0]).toMatchObject({ verified: false, reason: 'key revoked', keyName: 'old', subjectDigest: d2 });
  // Shared by every caller, so no caller can change what the next one is given.
  expect(Object.isFrozen(a)).toBe(true);
  expect(Object.isFrozen(a?.[0])).toBe(true);
  expect(() => {
    (a![0] as { verified: boolean }).verified = false;
  }).toThrow(TypeError);
  expect(cache.peek(keys.of(repo, d1), 'r1', async () => [])?.[0]?.verified).toBe(true);
});
