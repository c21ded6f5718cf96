import { EvidenceCache } from '../../../src/verification/evidence-cache';
import type { Evidence } from '../../../src/policy/input';

const ev = (d: string): Evidence[] => [
  { referrerDigest: d, format: 'sigstore-bundle', kind: 'signature', subjectDigest: 'sha256:x', verified: true },
];

describe('EvidenceCache', () => {
  test('hits within the TTL, misses after it', async () => {
    let t = 0;
    const cache = new EvidenceCache({ ttlMs: 1000, now: () => t });
    let calls = 0;
    const collect = async () => ev(`r${++calls}`);
    expect(await cache.get('k', 'rev1', collect)).toEqual({ evidence: ev('r1'), cached: false });
    t = 999;
    expect(await cache.get('k', 'rev1', collect)).toEqual({ evidence: ev('r1'), cached: true });
    t = 1000;
    expect(await cache.get('k', 'rev1', collect)).toEqual({ evidence: ev('r2'), cached: false });
    expect(calls).toBe(2);
  });

  test('a different trust revision is a miss', async () => {
    const cache = new EvidenceCache();
    let calls = 0;
    await cache.get('k', 'rev1', async () => ev(`r${++calls}`));
    const r = await cache.get('k', 'rev2', async () => ev(`r${++calls}`));
    expect(r).toEqual({ evidence: ev('r2'), cached: false });
  });

  test('concurrent misses share one collection', async () => {
    const cache = new EvidenceCache();
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const collect = async () => {
      calls++;
      await gate;
      return ev('shared');
    };
    const all = Promise.all(Array.from({ length: 20 }, () => cache.get('k', 'rev', collect)));
    release();
    const results = await all;
    expect(calls).toBe(1);
    expect(results.every((r) => r.evidence[0]!.referrerDigest === 'shared')).toBe(true);
  });

  test('errors are never cached, transient or not', async () => {
    const cache = new EvidenceCache();
    await expect(cache.get('k', 'rev', async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(cache.size).toBe(0);
    expect(await cache.get('k', 'rev', async () => ev('ok'))).toEqual({ evidence: ev('ok'), cached: false });
  });

  test('shorten() keeps evidence that led to a deny only for the negative TTL', async () => {
    let t = 0;
    const cache = new EvidenceCache({ ttlMs: 60_000, negativeTtlMs: 100, now: () => t });
    let calls = 0;
    const collect = async () => ev(`r${++calls}`);
    await cache.get('k', 'rev', collect);
    cache.shorten('k');
    t = 99;
    expect((await cache.get('k', 'rev', collect)).cached).toBe(true);
    t = 100;
    expect((await cache.get('k', 'rev', collect)).cached).toBe(false);
  });

  test('invalidate and clear drop entries; the LRU bound holds', async () => {
    const cache = new EvidenceCache({ maxEntries: 2 });
    await cache.get('a', 'r', async () => ev('a'));
    await cache.get('b', 'r', async () => ev('b'));
    await cache.get('a', 'r', async () => ev('a2')); // touch a
    await cache.get('c', 'r', async () => ev('c')); // evicts b
    expect((await cache.get('a', 'r', async () => ev('x'))).cached).toBe(true);
    expect((await cache.get('b', 'r', async () => ev('b2'))).cached).toBe(false);
    cache.invalidate('b');
    expect((await cache.get('b', 'r', async () => ev('b3'))).evidence[0]!.referrerDigest).toBe('b3');
    cache.clear();
    expect(cache.size).toBe(0);
  });
});

describe('EvidenceCache: callers giving up (deadlines)', () => {
  /** A collection that runs until released, and reports whether it was told to stop. */
  function gated(): { collect: (signal: AbortSignal) => Promise<Evidence[]>; release: () => void; signals: AbortSignal[] } {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const signals: AbortSignal[] = [];
    return {
      signals,
      release,
      collect: async (signal) => {
        signals.push(signal);
        await gate;
        return ev('late');
      },
    };
  }

  test('one caller reaching its deadline does not cancel the collection another caller still waits for', async () => {
    const cache = new EvidenceCache();
    const work = gated();
    const impatient = new AbortController();
    const first = cache.get('k', 'rev', work.collect, { signal: impatient.signal });
    const second = cache.get('k', 'rev', work.collect, { signal: new AbortController().signal });
    await new Promise((r) => setImmediate(r));
    impatient.abort();
    await expect(first).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(work.signals).toHaveLength(1);
    expect(work.signals[0]!.aborted).toBe(false);
    work.release();
    expect(await second).toEqual({ evidence: ev('late'), cached: false });
    expect(cache.size).toBe(1);
  });

  test('when every caller gave up the collection is cancelled and what it returns is not stored', async () => {
    const cache = new EvidenceCache();
    const work = gated();
    const a = new AbortController();
    const b = new AbortController();
    const first = cache.get('k', 'rev', work.collect, { signal: a.signal });
    const second = cache.get('k', 'rev', work.collect, { signal: b.signal });
    await new Promise((r) => setImmediate(r));
    a.abort();
    b.abort();
    await expect(first).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    await expect(second).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(work.signals[0]!.aborted).toBe(true);
    // A collection that ignores its signal and finishes anyway must not be cached.
    work.release();
    await new Promise((r) => setImmediate(r));
    expect(cache.size).toBe(0);
    // The next caller starts a fresh collection.
    let calls = 0;
    expect(await cache.get('k', 'rev', async () => ev(`fresh${++calls}`))).toEqual({ evidence: ev('fresh1'), cached: false });
  });

  test('a caller whose signal already fired does not start a collection', async () => {
    const cache = new EvidenceCache();
    const controller = new AbortController();
    controller.abort();
    let calls = 0;
    await expect(cache.get('k', 'rev', async () => ev(`r${++calls}`), { signal: controller.signal })).rejects.toMatchObject({
      code: 'DEADLINE_EXCEEDED',
    });
    expect(calls).toBe(0);
  });
});

describe('EvidenceCache at scale', () => {
  test('LRU without a cliff: a working set 10% above capacity still hits ~90% (uniform access, seeded)', async () => {
    const capacity = 1000;
    const cache = new EvidenceCache({ maxEntries: capacity });
    // A fixed-seed LCG: the same sequence (so the same count) on every run.
    let seed = 42;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const keys = Math.round(capacity * 1.1);
    const collect = async () => ev('x');
    for (let i = 0; i < keys; i++) await cache.get(`k${i}`, 'rev', collect);
    cache.hits = 0;
    cache.misses = 0;
    for (let i = 0; i < 20_000; i++) await cache.get(`k${Math.floor(next() * keys)}`, 'rev', collect);
    const ratio = cache.hits / (cache.hits + cache.misses);
    expect(ratio).toBeGreaterThan(0.88);
    expect(ratio).toBeLessThan(0.93); // capacity / working set = 0.909: LRU cannot do better on uniform access
    expect(cache.size).toBe(capacity);
  });

  test('maxEntries must be a positive integer', () => {
    expect(() => new EvidenceCache({ maxEntries: 0 })).toThrow(/positive integer/);
  });
  test('an entry refreshed in the background keeps its place in the LRU: hit again, it outlives entries not used since', async () => {
    let t = 0;
    // 8 entries: a hit moves an entry to the newest end once it has fallen more than 2 places behind.
    const cache = new EvidenceCache({ maxEntries: 8, ttlMs: 60_000, refreshAfterMs: 10, now: () => t });
    const collect = (k: string) => async () => ev(`r-${k}`);
    for (let i = 0; i < 8; i++) await cache.get(`k${i}`, 'rev', collect(`k${i}`));
    t = 20;
    // Within 2 places of the newest: not moved, refreshed in the background (replaced in place).
    expect((await cache.get('k5', 'rev', collect('k5'))).cached).toBe(true);
    await cache.settled();
    expect(cache.refreshes).toBe(1);
    await cache.get('k8', 'rev', collect('k8'));
    // Now more than 2 places behind: this hit moves it to the newest end.
    expect((await cache.get('k5', 'rev', collect('k5'))).cached).toBe(true);
    for (let i = 9; i < 15; i++) await cache.get(`k${i}`, 'rev', collect(`k${i}`));
    expect(cache.has('k5', 'rev')).toBe(true);
    for (const gone of ['k1', 'k2', 'k3', 'k4', 'k6', 'k7']) expect(cache.has(gone, 'rev')).toBe(false);
  });
});
