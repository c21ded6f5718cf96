/**
 * `registry.exclusiveReferrerWrites`: the composition root's choice of the referrer-index write
 * lock (src/app.ts referrerWriteLock), and what it does to a Sign's index write on a registry
 * without the referrers API: the settle delay is waited for unless the setting (or a shared store)
 * says no other process writes the tag. Counts the waits through the store's injected timer.
 */
import { referrerWriteLock } from '../../src/app';
import { loadConfig } from '../../src/config/config';
import { RegistryClient } from '../../src/registry/client';
import { referrersTagFor } from '../../src/registry/reference';
import { ReferrerStore } from '../../src/registry/referrer-store';
import { CountersignError } from '../../src/shared/errors';
import { InProcessWriteLock, type HeldLock, type WriteLock } from '../../src/registry/write-lock';
import { MEDIA_TYPE, type Descriptor, type RepositoryRef } from '../../src/registry/types';
import { FakeRegistry } from './registry/fake-registry';
import { artifact, imageManifest } from './registry/helpers';

let fake: FakeRegistry;
let client: RegistryClient;
let repo: RepositoryRef;
let subject: Descriptor;

beforeEach(async () => {
  fake = await FakeRegistry.start({});
  client = new RegistryClient({ retryBaseMs: 5 });
  repo = { registry: fake.host, repository: 'team/app' };
  const { bytes } = imageManifest(Buffer.from('layer'));
  const digest = fake.storeManifest(repo.repository, bytes, MEDIA_TYPE.OCI_MANIFEST, 'v1');
  subject = { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size: bytes.length };
});

afterEach(async () => {
  await client.close();
  await fake.close();
});

const configWith = (exclusiveReferrerWrites: boolean) =>
  loadConfig({}, exclusiveReferrerWrites ? { COUNTERSIGN_EXCLUSIVE_REFERRER_WRITES: 'true' } : {}, '/tmp');

/**
 * Signs `n` artifacts of one subject one after another through a store with `lock` (and the
 * setting, as app.ts passes it); returns the settle waits asked for and the index reads made.
 */
async function settleWaits(lock: WriteLock | undefined, n = 1, onlyWriter = false): Promise<{ waits: number[]; indexReads: number }> {
  const waits: number[] = [];
  const store = new ReferrerStore(client, { ...(lock ? { writeLock: lock } : {}), onlyWriter, sleep: async (ms) => void waits.push(ms) });
  for (let i = 0; i < n; i++) expect((await store.attach(repo, artifact(subject))).referrersUpdate).toBe('tag');
  const tag = referrersTagFor(subject.digest);
  expect(fake.requestsMatching('PUT', new RegExp(`/manifests/${tag}$`))).toHaveLength(n);
  const listed = fake.taggedManifest(repo.repository, tag);
  expect((JSON.parse(listed!.bytes.toString('utf8')) as { manifests: unknown[] }).manifests).toHaveLength(n);
  return { waits, indexReads: fake.requestsMatching('GET', new RegExp(`/manifests/${tag}$`)).length };
}

/** A lock standing in for the shared store's (PostgreSQL) one. */
const sharedLock: WriteLock = {
  run: <T>(_key: string, fn: (held: HeldLock) => Promise<T>) => fn({ exclusiveAcrossProcesses: true }),
};

describe('the setting', () => {
  test('is off by default: one settle wait per index write', async () => {
    const config = configWith(false);
    expect(config.registry.exclusiveReferrerWrites).toBe(false);
    const lock = referrerWriteLock(config, { clusterWorker: false });
    expect(lock).toBeUndefined();
    expect(await settleWaits(lock, 3)).toEqual({ waits: [expect.any(Number), expect.any(Number), expect.any(Number)], indexReads: 6 });
  });

  test('on, in one process: no settle wait, and the accepted write is not read back', async () => {
    const lock = referrerWriteLock(configWith(true), { clusterWorker: false });
    expect(lock).toBeInstanceOf(InProcessWriteLock);
    expect(await settleWaits(lock, 3, true)).toEqual({ waits: [], indexReads: 3 });
  });

  test('a worker of `serve --workers N` takes the lock its primary holds', () => {
    const primaryHeld: WriteLock = { run: (key, fn) => sharedLock.run(key, fn) };
    expect(referrerWriteLock(configWith(true), { clusterWorker: true, workerWriteLock: primaryHeld })).toBe(primaryHeld);
    // Without the setting the worker keeps the in-process mutex and the settle delay.
    expect(referrerWriteLock(configWith(false), { clusterWorker: true, workerWriteLock: primaryHeld })).toBeUndefined();
  });

  test('refused in a cluster worker with no primary-held lock (another primary forked it)', () => {
    let refusal: unknown;
    try {
      referrerWriteLock(configWith(true), { clusterWorker: true });
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(CountersignError);
    expect((refusal as CountersignError).code).toBe('FAILED_PRECONDITION');
    expect((refusal as CountersignError).message).toMatch(
      /registry\.exclusiveReferrerWrites cannot be honoured.*serve --workers N.*store\.url/,
    );
  });

  test('a shared store lock is used whatever the setting (and without a settle wait)', async () => {
    expect(referrerWriteLock(configWith(false), { shared: sharedLock, clusterWorker: true })).toBe(sharedLock);
    expect(referrerWriteLock(configWith(true), { shared: sharedLock, clusterWorker: true })).toBe(sharedLock);
    // Without the setting a writer outside Countersign is possible: read back at once, no wait.
    expect(await settleWaits(sharedLock, 2)).toEqual({ waits: [], indexReads: 4 });
  });

  test('the environment variable takes true or false only', () => {
    expect(loadConfig({}, { COUNTERSIGN_EXCLUSIVE_REFERRER_WRITES: 'false' }, '/tmp').registry.exclusiveReferrerWrites).toBe(false);
    expect(() => loadConfig({}, { COUNTERSIGN_EXCLUSIVE_REFERRER_WRITES: 'yes' }, '/tmp')).toThrow(
      /COUNTERSIGN_EXCLUSIVE_REFERRER_WRITES must be "true" or "false", got "yes"/,
    );
  });
});
