import v8 from 'node:v8';
import vm from 'node:vm';
import { EvidenceCache } from '../../../src/verification/evidence-cache';
import { CacheKeys } from '../../../src/verification/verification-service';
import type { Evidence } from '../../../src/policy/input';

/**
 * Bytes of heap per cached digest, measured after full GCs (not a timing): the cache at 100,000
 * digests must fit the service's memory target (README, Benchmarks). Keys and digests are built
 * the way the service builds them (a template-literal key, a digest sliced out of the request),
 * which is what made each entry hold its key as a chain of parts and its digest inside the
 * request: ~870 bytes an entry before compact-strings.ts, ~660 after; ~295 with the service's
 * cache keys (a repository id and the packed digest), packed digests and times, and the parts
 * evidence entries repeat shared (measured here).
 */
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const N = 20_000;
const registry = 'registry.example.com:5000';
const repository = 'team-a/service-with-a-longer-name';

function evidenceFor(digest: string, i: number): Evidence[] {
  // Fields as a verified Sigstore bundle signature has them; strings made fresh per entry, as
  // JSON.parse of each referrer makes them.
  const hex = i.toString(16).padStart(64, '0');
  return [
    {
      referrerDigest: `sha256:${hex.slice(1)}f`,
      format: 'sigstore-bundle',
      artifactType: `application/vnd.dev.sigstore.bundle.v0.3+json${''.padEnd(i % 1)}`,
      kind: 'signature',
      subjectDigest: digest,
      verified: true,
      keyId: `a1b2c3d4e5f60718${''.padEnd(i % 1)}`,
      keyName: 'release-signing-key',
      bundleVersion: '0.3',
      content: 'dsse',
      transparencyLogEntries: 0,
      timestamps: 0,
      predicateType: `https://sigstore.dev/cosign/sign/v1${''.padEnd(i % 1)}`,
      created: `2026-12-0${1 + (i % 9)}T05:41:${String(i % 60).padStart(2, '0')}Z`,
    },
  ];
}

test(`one cached digest costs at most 340 bytes of heap (${N.toLocaleString('en')} entries, measured)`, async () => {
  const cache = new EvidenceCache({ maxEntries: N * 2 });
  const keys = new CacheKeys();
  const before = heapAfterGc();
  for (let i = 0; i < N; i++) {
    const request = `${registry}/${repository}@sha256:${i.toString(16).padStart(64, '0')}`;
    const digest = request.slice(request.indexOf('@') + 1); // a slice of the request, as parsed
    await cache.get(keys.of({ registry, repository }, digest), 'rev-1', async () => evidenceFor(digest, i));
  }
  const perEntry = (heapAfterGc() - before) / N;
  expect(cache.size).toBe(N);
  expect(perEntry).toBeLessThan(340);
});

test('a key the caller holds flat anyway (the manifest facts are keyed by it) is stored as given: one copy, not two', async () => {
  const keys = new CacheKeys();
  const measure = async (keyIsFlat: boolean): Promise<number> => {
    // The caller's own flat keys, held for the whole measurement (as the manifest facts hold theirs).
    const held = Array.from({ length: N }, (_, i) => {
      const digest = `sha256:${i.toString(16).padStart(64, '0')}`;
      return JSON.parse(JSON.stringify(keys.of({ registry, repository }, digest))) as string;
    });
    const cache = new EvidenceCache({ maxEntries: N * 2 });
    const before = heapAfterGc();
    for (let i = 0; i < N; i++) {
      const digest = `sha256:${i.toString(16).padStart(64, '0')}`;
      await cache.get(held[i]!, 'rev-1', async () => evidenceFor(digest, i), { keyIsFlat });
    }
    const perEntry = (heapAfterGc() - before) / N;
    expect(cache.size).toBe(N);
    expect(held).toHaveLength(N);
    return perEntry;
  };
  const copied = await measure(false);
  const shared = await measure(true);
  // A key is ~35 one-byte characters: a string of at least 48 bytes saved per entry, ~0 if the key
  // were copied in both. The bound is half of that: heap readings after GC move by a few bytes an
  // entry from run to run (CI read 39.7 once), which must not pass for the copy coming back.
  expect(copied - shared).toBeGreaterThan(24);
});
