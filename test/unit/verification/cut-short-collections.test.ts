/**
 * A collection the budget cut short (README "a collection cut short is never cached"): the
 * collector says which budget ran out (`cutShort` on the "not examined" note), and the evidence
 * cache stores what the TIME budget cut short nowhere: it says how slow the registry was at that
 * moment, not what the image has. Its callers (every caller sharing it) get it as not cached, so no
 * decision is memoized from it, and the next call collects again; a background refresh cut short
 * so keeps the entry it refreshes. What the BYTES budget cut short depends only on the content
 * (the same collection would be cut the same way) and is cached like a complete one.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SigningKey } from '../../../src/keys/types';
import type { Evidence } from '../../../src/policy/input';
import { PolicyStore } from '../../../src/policy-store';
import { RegistryClient } from '../../../src/registry/client';
import { ReferrerStore } from '../../../src/registry/referrer-store';
import type { Descriptor, RepositoryRef } from '../../../src/registry/types';
import { EvidenceCollector, type CollectorOptions } from '../../../src/verification/collector';
import { EvidenceCache } from '../../../src/verification/evidence-cache';
import { VerificationService } from '../../../src/verification/verification-service';
import { FakeRegistry } from '../registry/fake-registry';
import { newSigningKey, signedReferrer, staticTrust, storeImage, tempDir, trusted } from './bundle-fixtures';
import { newP256, sigTag, signatureLayer, storeLegacyTag } from './legacy-fixtures';

const REPOSITORY = 'team/app';
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

let tmp: ReturnType<typeof tempDir>;
let signer: SigningKey;

beforeAll(async () => {
  tmp = tempDir('cut-short');
  signer = await newSigningKey('ci');
});
afterAll(() => tmp.cleanup());

let fake: FakeRegistry;
let client: RegistryClient;
let repo: RepositoryRef;
let image: Descriptor;
/** The collection budget's clock (ms): advanced by the registry "taking time", never by waiting. */
let budgetClock = 0;

beforeEach(async () => {
  fake = await FakeRegistry.start({ referrersApi: true });
  client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
  repo = { registry: fake.host, repository: REPOSITORY };
  image = storeImage(fake, REPOSITORY, 'the image', 'v1');
  budgetClock = 0;
});

afterEach(async () => {
  fake.onRequest = undefined;
  await client.close();
  await fake.close();
});

const trust = () => staticTrust([trusted(signer)]);

function collector(extra: Partial<CollectorOptions> = {}): EvidenceCollector {
  return new EvidenceCollector({ client, trust: trust(), concurrency: 1, clock: () => budgetClock, ...extra });
}

/** Signs the image `n` times; returns how many requests the registry had seen then. */
async function signTimes(n: number): Promise<number> {
  for (let i = 0; i < n; i++) await new ReferrerStore(client).attach(repo, await signedReferrer(signer, image, { predicate: { i } }));
  return fake.requests.length;
}

/** Every referrer manifest read "takes" `ms` of the collection's time budget. */
function slowManifests(ms: number): void {
  fake.onRequest = (r) => {
    if (r.method === 'GET' && /\/manifests\/sha256:/.test(r.path)) budgetClock += ms;
  };
}

const cutNotes = (evidence: readonly Evidence[]): Evidence[] => evidence.filter((e) => e.cutShort !== undefined);
/** Referrers listings since `since` (signing lists them too). */
const referrerLists = (since = 0): number =>
  fake.requests.slice(since).filter((r) => r.method === 'GET' && r.path.includes('/referrers/')).length;

describe('the collector says which budget cut the collection short', () => {
  test('time: the "not examined" note carries cutShort "time"', async () => {
    await signTimes(3);
    slowManifests(1000);
    const evidence = await collector({ maxCollectMs: 1500 }).collect(repo, image.digest);
    expect(evidence.filter((e) => e.verified)).toHaveLength(2);
    expect(cutNotes(evidence)).toEqual([
      expect.objectContaining({
        format: 'referrers-index',
        verified: false,
        cutShort: 'time',
        reason: expect.stringMatching(/^1 of 3 referrers were not examined: the collection used its 1500 ms budget/) as unknown,
      }),
    ]);
  });

  test('bytes: the note carries cutShort "bytes"', async () => {
    await signTimes(3);
    const evidence = await collector({ maxBytes: 1 }).collect(repo, image.digest);
    expect(evidence.filter((e) => e.verified)).toHaveLength(1);
    expect(cutNotes(evidence)).toEqual([
      expect.objectContaining({
        format: 'referrers-index',
        cutShort: 'bytes',
        reason: expect.stringMatching(/^2 of 3 referrers were not examined: the collection read its 1-byte budget/) as unknown,
      }),
    ]);
  });

  test('complete: no note, no cutShort anywhere (even when the time ran out after the last read)', async () => {
    await signTimes(2);
    slowManifests(10_000); // past the budget, but only once nothing is left to start
    const evidence = await collector({ maxCollectMs: 15_000 }).collect(repo, image.digest);
    expect(evidence).toHaveLength(2);
    expect(evidence.every((e) => e.verified)).toBe(true);
    expect(cutNotes(evidence)).toEqual([]);
  });

  test('out of time alone: "time"; out of bytes and time at once: "bytes" (that cut happens however fast the registry is)', async () => {
    await signTimes(4);
    // The first read costs the whole time budget; the byte budget is never reached.
    slowManifests(10_000);
    const evidence = await collector({ maxCollectMs: 3000, maxBytes: 64 * 1024 * 1024 }).collect(repo, image.digest);
    expect(cutNotes(evidence).map((e) => e.cutShort)).toEqual(['time']);
    budgetClock = 0;
    const both = await collector({ maxCollectMs: 3000, maxBytes: 1 }).collect(repo, image.digest);
    expect(cutNotes(both).map((e) => e.cutShort)).toEqual(['bytes']);
  });

  test('only legacy .sig layers left unread for want of time: a note says so (cutShort "time")', async () => {
    const junk = newP256();
    storeLegacyTag(
      fake,
      REPOSITORY,
      sigTag(image.digest),
      [signatureLayer(junk, image.digest), signatureLayer(junk, image.digest, { encoding: 'ieee-p1363' })],
      SIMPLE_SIGNING,
    );
    // Reading the .sig manifest takes the whole budget: no layer is examined.
    fake.onRequest = (r) => {
      if (r.method === 'GET' && r.path.endsWith('.sig')) budgetClock += 10_000;
    };
    const evidence = await collector({ maxCollectMs: 3000 }).collect(repo, image.digest);
    const layers = (list: Evidence[]): Evidence[] => list.filter((e) => e.format === 'cosign-legacy-signature');
    expect(layers(evidence).map((e) => e.reason)).toEqual([
      'layer 0: not examined: the collection used its 3000 ms budget',
      'layer 1: not examined: the collection used its 3000 ms budget',
    ]);
    expect(cutNotes(evidence)).toEqual([
      expect.objectContaining({
        format: 'referrers-index',
        cutShort: 'time',
        reason: expect.stringMatching(/^legacy signature or attestation layers were not examined/) as unknown,
      }),
    ]);
    // By bytes, the layers say so themselves and the collection stays cacheable: no note.
    budgetClock = 0;
    fake.onRequest = undefined;
    const byBytes = await collector({ maxBytes: 1 }).collect(repo, image.digest);
    expect(layers(byBytes).map((e) => e.reason)).toEqual([
      'layer 0: not examined: the collection read its 1-byte budget',
      'layer 1: not examined: the collection read its 1-byte budget',
    ]);
    expect(cutNotes(byBytes)).toEqual([]);
  });
});

describe('the evidence cache keeps no collection the time budget cut short', () => {
  const SUBJECT = 'sha256:' + 'a'.repeat(64);
  const signature = (d: string): Evidence => ({
    referrerDigest: d,
    format: 'sigstore-bundle',
    kind: 'signature',
    subjectDigest: SUBJECT,
    verified: true,
  });
  const cut = (by: 'time' | 'bytes'): Evidence => ({
    referrerDigest: 'sha256:' + 'b'.repeat(64),
    format: 'referrers-index',
    kind: 'other',
    subjectDigest: SUBJECT,
    verified: false,
    reason: `1 of 2 referrers were not examined (${by})`,
    cutShort: by,
  });

  test('cut short by time: returned as not cached, not stored; the next call collects again', async () => {
    const cache = new EvidenceCache({ now: () => 0 });
    let calls = 0;
    const collect = async () => (++calls === 1 ? [signature('r1'), cut('time')] : [signature('r2')]);
    expect(await cache.get('k', 'rev', collect)).toEqual({ evidence: [signature('r1'), cut('time')], cached: false });
    expect(cache.size).toBe(0);
    expect(cache.has('k', 'rev')).toBe(false);
    expect(await cache.get('k', 'rev', collect)).toEqual({ evidence: [signature('r2')], cached: false });
    expect(await cache.get('k', 'rev', collect)).toEqual({ evidence: [signature('r2')], cached: true });
    expect(calls).toBe(2);
  });

  test('cut short by bytes: cached like a complete collection, its note intact', async () => {
    const cache = new EvidenceCache({ now: () => 0 });
    let calls = 0;
    const collect = async () => {
      calls++;
      return [signature('r1'), cut('bytes')];
    };
    await cache.get('k', 'rev', collect);
    expect(await cache.get('k', 'rev', collect)).toEqual({ evidence: [signature('r1'), cut('bytes')], cached: true });
    expect(calls).toBe(1);
  });

  test('concurrent callers sharing one collection cut short by time: one collection, none of them cached, nothing stored', async () => {
    const cache = new EvidenceCache({ now: () => 0 });
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const collect = async () => {
      calls++;
      await gate;
      return [signature('r1'), cut('time')];
    };
    const deadlines = [new AbortController(), new AbortController()];
    const all = Promise.all([
      cache.get('k', 'rev', collect),
      cache.get('k', 'rev', collect, { signal: deadlines[0]!.signal }),
      cache.get('k', 'rev', collect, { signal: deadlines[1]!.signal }),
    ]);
    release();
    const results = await all;
    expect(calls).toBe(1);
    expect(results.map((r) => r.cached)).toEqual([false, false, false]);
    expect(results.every((r) => r.evidence.some((e) => e.cutShort === 'time'))).toBe(true);
    expect(cache.size).toBe(0);
    // The next caller does not join a finished flight: it collects again.
    await cache.get('k', 'rev', async () => {
      calls++;
      return [signature('r2')];
    });
    expect(calls).toBe(2);
  });

  test('a background refresh cut short by time keeps the entry it refreshes (as a failed refresh does); a later complete one replaces it', async () => {
    let t = 0;
    const cache = new EvidenceCache({ ttlMs: 60_000, refreshAfterMs: 100, now: () => t });
    await cache.get('k', 'rev', async () => [signature('old')]);
    t = 150;
    const refreshes: Array<() => Evidence[]> = [() => [signature('partial'), cut('time')], () => [signature('new')]];
    const collect = async () => refreshes.shift()!();
    expect((await cache.get('k', 'rev', collect)).evidence).toEqual([signature('old')]); // starts the refresh
    await cache.settled();
    expect(await cache.get('k', 'rev', collect)).toEqual({ evidence: [signature('old')], cached: true });
    t = 300;
    await cache.get('k', 'rev', collect); // the next refresh, complete
    await cache.settled();
    expect(await cache.get('k', 'rev', collect)).toEqual({ evidence: [signature('new')], cached: true });
    expect(cache.refreshes).toBe(2);
  });
});

describe('Verify: a decision made from a collection cut short by time is neither cached nor memoized', () => {
  let policies: PolicyStore;
  let n = 0;

  beforeEach(async () => {
    const dir = path.join(tmp.dir, `policy-${++n}`);
    mkdirSync(dir);
    const file = path.join(dir, 'policy.yaml');
    writeFileSync(file, 'rules:\n  - name: signed\n    require:\n      signatures: {}\n');
    policies = await PolicyStore.open(file, { watch: false, pollMs: 0 });
  });
  afterEach(() => policies.close());

  function service(collectorOpts: Partial<CollectorOptions>, cache = new EvidenceCache()): VerificationService {
    return new VerificationService({ registry: client, collector: collector(collectorOpts), cache, trust: trust(), policies });
  }
  const req = () => ({ image: `${fake.host}/${REPOSITORY}@${image.digest}`, action: 'deploy' as const });

  test('time: each Verify collects again (an allow included), and none is reported cached', async () => {
    const since = await signTimes(3);
    slowManifests(10_000); // every collection: the first referrer read uses up the 3 s budget
    const cache = new EvidenceCache();
    const svc = service({ maxCollectMs: 3000 }, cache);
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await svc.verify(req()));
    expect(results.map((r) => [r.allowed, r.cached])).toEqual([
      [true, false],
      [true, false],
      [true, false],
    ]);
    expect(results.every((r) => r.evidence.some((e) => /were not examined/.test(e.reason ?? '')))).toBe(true);
    expect(referrerLists(since)).toBe(3);
    expect(cache.size).toBe(0);
    expect(results[2]).not.toBe(results[1]); // not the memo of an earlier answer
  });

  test('time: concurrent Verifys share the one collection; neither is cached, and the next Verify collects again', async () => {
    const since = await signTimes(3);
    slowManifests(10_000);
    fake.inject({ method: 'GET', path: /\/referrers\//, delayMs: 50 }); // both calls join it
    const cache = new EvidenceCache();
    const svc = service({ maxCollectMs: 3000 }, cache);
    const [a, b] = await Promise.all([svc.verify(req()), svc.verify(req())]);
    expect(referrerLists(since)).toBe(1);
    expect([a.cached, b.cached]).toEqual([false, false]);
    expect(cache.size).toBe(0);
    const c = await svc.verify(req());
    expect(c.cached).toBe(false);
    expect(referrerLists(since)).toBe(2);
  });

  test('bytes: cached like a complete collection, and its allow is memoized', async () => {
    const since = await signTimes(3);
    const svc = service({ maxBytes: 1 });
    const first = await svc.verify(req());
    expect(first.evidence.some((e) => e.cutShort === 'bytes')).toBe(true);
    const second = await svc.verify(req());
    const third = await svc.verify(req());
    expect([first.allowed, first.cached, second.allowed, second.cached]).toEqual([true, false, true, true]);
    expect(third).toBe(second); // the memoized answer
    expect(referrerLists(since)).toBe(1);
  });

  test('complete: cached, and its allow is memoized', async () => {
    const since = await signTimes(2);
    const svc = service({});
    const first = await svc.verify(req());
    const second = await svc.verify(req());
    expect([first.cached, second.cached]).toEqual([false, true]);
    expect(await svc.verify(req())).toBe(second);
    expect(referrerLists(since)).toBe(1);
  });
});
