/** ReferrerStore.attach / discover against the fake: API vs fallback tag, index maintenance, concurrency. */
import { RegistryClient } from '../../../src/registry/client';
import { CountersignError } from '../../../src/shared/errors';
import { sha256Digest } from '../../../src/registry/digest';
import { referrersTagFor } from '../../../src/registry/reference';
import { ReferrerStore } from '../../../src/registry/referrer-store';
import { InProcessWriteLock, type HeldLock, type WriteLock } from '../../../src/registry/write-lock';
import { EMPTY_DESCRIPTOR, MEDIA_TYPE, type Descriptor, type ImageIndex, type RepositoryRef } from '../../../src/registry/types';
import { FakeRegistry, type FakeRegistryOptions } from './fake-registry';
import { artifact, expectCode, imageManifest } from './helpers';

let fake: FakeRegistry;
let client: RegistryClient;
let store: ReferrerStore;
let repo: RepositoryRef;
let subject: Descriptor;
let tag: string;

async function setup(opts: FakeRegistryOptions = {}): Promise<void> {
  fake = await FakeRegistry.start(opts);
  client = new RegistryClient({ retryBaseMs: 5 });
  store = new ReferrerStore(client);
  repo = { registry: fake.host, repository: 'team/app' };
  const { bytes } = imageManifest(Buffer.from('layer'));
  const digest = fake.storeManifest(repo.repository, bytes, MEDIA_TYPE.OCI_MANIFEST, 'v1');
  subject = { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size: bytes.length };
  tag = referrersTagFor(digest);
}

afterEach(async () => {
  await client.close();
  await fake.close();
});

function fallbackIndex(): ImageIndex | undefined {
  const m = fake.taggedManifest(repo.repository, tag);
  return m ? (JSON.parse(m.bytes.toString('utf8')) as ImageIndex) : undefined;
}

function writeIndex(manifests: Descriptor[], extra: Record<string, unknown> = {}): void {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, ...extra, manifests }));
  fake.storeManifest(repo.repository, bytes, MEDIA_TYPE.OCI_INDEX, tag);
}

const tagPuts = (): number => fake.requestsMatching('PUT', new RegExp(`/manifests/${tag}$`)).length;
const tagGets = (): number => fake.requestsMatching('GET', new RegExp(`/manifests/${tag}$`)).length;
const listedDigests = (): string[] => fallbackIndex()?.manifests.map((d) => d.digest) ?? [];
const foreignEntry = (name: string): Descriptor => ({
  mediaType: MEDIA_TYPE.OCI_MANIFEST,
  digest: sha256Digest(Buffer.from(name)),
  size: name.length,
  artifactType: 'x/y',
});

describe('attach without a referrers API (fallback tag)', () => {
  beforeEach(() => setup());

  test('pushes blobs and the manifest by digest, then writes the spec-conformant index entry', async () => {
    const a = artifact(subject, {
      annotations: {
        'org.opencontainers.image.created': '2026-01-02T03:04:05Z',
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1',
      },
    });
    const digest = sha256Digest(a.manifestBytes);
    const result = await store.attach(repo, a);
    expect(result).toEqual({ digest, size: a.manifestBytes.length, referrersUpdate: 'tag' });

    // (a) blobs, (b) manifest PUT by digest (not by tag)
    expect(fake.repo(repo.repository).blobs.has(EMPTY_DESCRIPTOR.digest)).toBe(true);
    expect(fake.repo(repo.repository).blobs.has(a.manifest.layers[0]!.digest)).toBe(true);
    const manifestPut = fake.requestsMatching('PUT', /\/manifests\/sha256:/);
    expect(manifestPut.map((r) => r.path)).toEqual([`/v2/team/app/manifests/${digest}`]);
    expect(manifestPut[0]!.headers['content-type']).toBe(MEDIA_TYPE.OCI_MANIFEST);

    // (c) the index: exactly the spec's entry, PUT as an OCI index
    expect(fallbackIndex()).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.OCI_INDEX,
      manifests: [
        {
          mediaType: MEDIA_TYPE.OCI_MANIFEST,
          digest,
          size: a.manifestBytes.length,
          artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
          annotations: {
            'org.opencontainers.image.created': '2026-01-02T03:04:05Z',
            'dev.sigstore.bundle.content': 'dsse-envelope',
            'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1',
          },
        },
      ],
    });
    const indexPut = fake.requestsMatching('PUT', new RegExp(`/manifests/${tag}$`))[0]!;
    expect(indexPut.headers['content-type']).toBe(MEDIA_TYPE.OCI_INDEX);
    // The tag did not exist: no If-Match to send.
    expect(indexPut.headers['if-match']).toBeUndefined();

    // and discover finds it
    expect((await store.discover(repo, subject.digest)).map((d) => d.digest)).toEqual([digest]);
  });

  test('artifactType falls back to config.mediaType when the manifest has none', async () => {
    const a = artifact(subject, { withArtifactType: false });
    await store.attach(repo, a);
    expect(fallbackIndex()!.manifests[0]!.artifactType).toBe(EMPTY_DESCRIPTOR.mediaType);
  });

  test('appends to an existing index, leaving foreign entries and fields untouched, with If-Match', async () => {
    const foreign = {
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
      digest: sha256Digest(Buffer.from('cosign')),
      size: 7,
      artifactType: EMPTY_DESCRIPTOR.mediaType,
      'x-extra': { keep: true },
    };
    writeIndex([foreign], { annotations: { owner: 'someone-else' } });
    const etag = `"${sha256Digest(fake.taggedManifest(repo.repository, tag)!.bytes)}"`;
    const a = artifact(subject);
    await store.attach(repo, a);
    const index = fallbackIndex()!;
    expect(index.annotations).toEqual({ owner: 'someone-else' });
    expect(index.manifests).toHaveLength(2);
    expect(index.manifests[0]).toEqual(foreign);
    expect(index.manifests[1]!.digest).toBe(sha256Digest(a.manifestBytes));
    expect(fake.requestsMatching('PUT', new RegExp(`/manifests/${tag}$`))[0]!.headers['if-match']).toBe(etag);
  });

  test('attaching the same artifact again adds no duplicate and writes nothing', async () => {
    const a = artifact(subject);
    await store.attach(repo, a);
    await store.attach(repo, a);
    expect(fallbackIndex()!.manifests).toHaveLength(1);
    expect(tagPuts()).toBe(1);
  });

  test('a non-index under the referrers tag is reported (DATA_LOSS), never overwritten', async () => {
    const { bytes } = imageManifest(Buffer.from('squatter'));
    fake.storeManifest(repo.repository, bytes, MEDIA_TYPE.OCI_MANIFEST, tag);
    await expectCode(store.attach(repo, artifact(subject)), 'DATA_LOSS', /not an OCI image index/);
    expect(tagPuts()).toBe(0);
    expect(fake.taggedManifest(repo.repository, tag)!.bytes).toEqual(bytes);
  });

  test('a failing index write is thrown (not retried: tag PUTs are not idempotent) and leaves the index as it was', async () => {
    const first = artifact(subject);
    await store.attach(repo, first);
    const before = fake.taggedManifest(repo.repository, tag)!.bytes;
    fake.inject({ method: 'PUT', path: new RegExp(`/manifests/${tag}$`), status: 500, times: 5 });
    await expectCode(store.attach(repo, artifact(subject)), 'UNAVAILABLE', /failed with 500/);
    expect(tagPuts()).toBe(2);
    expect(fake.taggedManifest(repo.repository, tag)!.bytes).toEqual(before);
  });

  test('an index overwritten by another writer right after our PUT is detected on read-back and re-applied', async () => {
    const other = { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: sha256Digest(Buffer.from('other process')), size: 3, artifactType: 'x/y' };
    let overwritten = false;
    fake.afterManifestPut = (_repo, ref) => {
      if (ref === tag && !overwritten) {
        overwritten = true;
        writeIndex([other]); // a writer elsewhere, working from a stale read
      }
    };
    const a = artifact(subject);
    await store.attach(repo, a);
    expect(overwritten).toBe(true);
    expect(tagPuts()).toBe(2);
    expect(fallbackIndex()!.manifests.map((d) => d.digest)).toEqual([other.digest, sha256Digest(a.manifestBytes)]);
  });

  test('gives up with UNAVAILABLE after maxIndexWrites when the entry keeps disappearing', async () => {
    const s = new ReferrerStore(client, { maxIndexWrites: 3 });
    fake.afterManifestPut = (_repo, ref) => {
      if (ref === tag) writeIndex([]);
    };
    await expectCode(s.attach(repo, artifact(subject)), 'UNAVAILABLE', /after 3 writes/);
    expect(tagPuts()).toBe(3);
  });

  test('50 concurrent attaches to one subject leave 50 entries, written together (group commit)', async () => {
    // The first index write is held in its settle delay until every other attach has pushed its
    // manifest and queued its entry: those are then written by one more write, not 49.
    const original = client.putManifest.bind(client);
    let manifestsPushed = 0;
    let allPushed!: () => void;
    const gate = new Promise<void>((resolve) => (allPushed = resolve));
    jest.spyOn(client, 'putManifest').mockImplementation(async (...args) => {
      const result = await original(...args);
      if (args[1].startsWith('sha256:') && ++manifestsPushed === 50) allPushed();
      return result;
    });
    let held = false;
    const s = new ReferrerStore(client, {
      sleep: async () => {
        if (!held) {
          held = true;
          await gate;
        }
      },
    });
    const artifacts = Array.from({ length: 50 }, (_, i) => artifact(subject, { payload: `sig-${i}` }));
    const results = await Promise.all(artifacts.map((a) => s.attach(repo, a)));
    expect(results.every((r) => r.referrersUpdate === 'tag')).toBe(true);
    const listed = fallbackIndex()!
      .manifests.map((d) => d.digest)
      .sort();
    expect(listed).toEqual(artifacts.map((a) => sha256Digest(a.manifestBytes)).sort());
    expect(new Set(listed).size).toBe(50);
    // Serialized in-process and batched: nothing had to be redone.
    expect(tagPuts()).toBeLessThanOrEqual(2);
  });

  test('rejects an artifact whose manifest object disagrees with its bytes, before any request', async () => {
    const a = artifact(subject);
    a.manifest = { ...a.manifest, annotations: { tampered: 'yes' } };
    await expectCode(store.attach(repo, a), 'INVALID_ARGUMENT', /does not match manifestBytes/);
    const noSubject = artifact(subject);
    delete noSubject.manifest.subject;
    await expectCode(store.attach(repo, noSubject), 'INVALID_ARGUMENT', /no valid subject/);
    expect(fake.requests).toHaveLength(0);
  });
});

/**
 * Another process writing the same index: the registry ignores If-Match, so its writes replace
 * ours whole. The injected `sleep` is the settle delay between our write and the read that
 * confirms it; a concurrent write "in flight" lands there (the protocol assumes none takes longer).
 */
describe('writers in other processes (no If-Match)', () => {
  beforeEach(() => setup());

  test('a stale write landing after our read-back is repaired: a read showing our entry is no proof', async () => {
    // Process B read [x] before our write and writes [x, b] afterwards: A reads [x], B reads [x],
    // A writes [x, a], B writes [x, b].
    const x = foreignEntry('x');
    const b = foreignEntry('b');
    writeIndex([x]);
    let landed = false;
    const landB = (): void => {
      if (landed) return;
      landed = true;
      writeIndex([x, b]);
    };
    const s = new ReferrerStore(client, { sleep: async () => landB() });
    const a = artifact(subject);
    await s.attach(repo, a);
    landB(); // had we returned before it landed, it lands now
    expect(listedDigests()).toEqual([x.digest, b.digest, sha256Digest(a.manifestBytes)]);
    expect(tagPuts()).toBe(2); // ours, then ours again on top of B's
  });

  test('union: every entry seen during the operation is written back, even one a stale writer dropped', async () => {
    const x = foreignEntry('x');
    const c = foreignEntry('c'); // added by process C before our first read
    const b = foreignEntry('b'); // process B read [x] before C wrote, writes [x, b] after us
    writeIndex([x, c]);
    let landed = false;
    const s = new ReferrerStore(client, {
      sleep: async () => {
        if (!landed) writeIndex([x, b]);
        landed = true;
      },
    });
    const a = artifact(subject);
    await s.attach(repo, a);
    const ours = sha256Digest(a.manifestBytes);
    expect(listedDigests()).toEqual([x.digest, b.digest, c.digest, ours]);
    expect(fallbackIndex()!.manifests[0]).toEqual(x); // kept exactly
  });

  test('an index changed by another writer inside the settle window is watched one window more', async () => {
    const b = foreignEntry('b');
    const a = artifact(subject);
    const ours = sha256Digest(a.manifestBytes);
    let sleeps = 0;
    const s = new ReferrerStore(client, {
      sleep: async () => {
        // B had read our write and adds its entry in the first window only.
        if (sleeps++ === 0) writeIndex([...fallbackIndex()!.manifests, b]);
      },
    });
    await s.attach(repo, a);
    expect(listedDigests()).toEqual([ours, b.digest]);
    expect(sleeps).toBe(2);
    expect(tagPuts()).toBe(1);
    expect(tagGets()).toBe(3); // first read, then one per window
  });

  test('writers that keep changing the index (keeping our entry) do not hold us: confirmed after three windows', async () => {
    const a = artifact(subject);
    let n = 0;
    const s = new ReferrerStore(client, {
      sleep: async () => writeIndex([...fallbackIndex()!.manifests, foreignEntry(`busy-${n++}`)]),
    });
    await s.attach(repo, a);
    expect(listedDigests()).toContain(sha256Digest(a.manifestBytes));
    expect(n).toBe(3);
    expect(tagPuts()).toBe(1);
    expect(tagGets()).toBe(4);
  });

  test('the uncontended path costs GET, PUT and one GET after the settle delay', async () => {
    const waits: number[] = [];
    const s = new ReferrerStore(client, { settleMs: { minMs: 50, maxMs: 200 }, sleep: async (ms) => void waits.push(ms) });
    await s.attach(repo, artifact(subject));
    expect(tagGets()).toBe(2);
    expect(tagPuts()).toBe(1);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(50);
  });

  test('a write whose response was lost but which landed is a success, never a failure', async () => {
    const original = client.putManifest.bind(client);
    jest.spyOn(client, 'putManifest').mockImplementation(async (...args) => {
      const result = await original(...args);
      if (args[1] === tag) throw new CountersignError('UNAVAILABLE', 'connection reset after the request was sent');
      return result;
    });
    const a = artifact(subject);
    await store.attach(repo, a);
    expect(listedDigests()).toEqual([sha256Digest(a.manifestBytes)]);
    expect(tagPuts()).toBe(1);
  });

  test("a failed read after our write (Distribution's 500 when a read meets a tag write) is retried, not reported", async () => {
    fake.afterManifestPut = (_repo, ref) => {
      if (ref === tag) fake.inject({ method: 'GET', path: new RegExp(`/manifests/${tag}$`), status: 500, times: 2 });
    };
    const a = artifact(subject);
    await store.attach(repo, a);
    expect(listedDigests()).toEqual([sha256Digest(a.manifestBytes)]);
    expect(tagGets()).toBe(4); // first read, two 500s, the confirming read
  });

  test('a failed first read is retried too; one that keeps failing after our write says the outcome is unknown', async () => {
    fake.inject({ method: 'GET', path: new RegExp(`/manifests/${tag}$`), status: 500, times: 1 });
    await store.attach(repo, artifact(subject, { payload: 'first' }));
    fake.afterManifestPut = (_repo, ref) => {
      if (ref === tag) fake.inject({ method: 'GET', path: new RegExp(`/manifests/${tag}$`), status: 500, times: 100 });
    };
    const s = new ReferrerStore(client, { sleep: async () => undefined });
    await expectCode(
      s.attach(repo, artifact(subject, { payload: 'second' })),
      'UNAVAILABLE',
      /could not read it back to confirm .* may be listed/,
    );
    expect(fallbackIndex()!.manifests).toHaveLength(2); // it was written: the error did not claim otherwise
  });

  test('a manifest refused for blobs we just pushed (a link another process was rewriting) is pushed again', async () => {
    // Distribution answers MANIFEST_BLOB_UNKNOWN (with DIGEST_INVALID) when its check of a blob
    // meets a concurrent upload of the same blob (two processes pushing the shared empty config).
    const blobUnknown = JSON.stringify({
      errors: [{ code: 'DIGEST_INVALID' }, { code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry' }],
    });
    fake.inject({
      method: 'PUT',
      path: /\/manifests\/sha256:/,
      status: 400,
      body: blobUnknown,
      headers: { 'content-type': 'application/json' },
    });
    const s = new ReferrerStore(client, { sleep: async () => undefined });
    const a = artifact(subject);
    await s.attach(repo, a);
    expect(fake.requestsMatching('PUT', /\/manifests\/sha256:/)).toHaveLength(2);
    expect(listedDigests()).toEqual([sha256Digest(a.manifestBytes)]);

    // Persistently refused: reported as such after a bounded number of attempts, nothing listed.
    fake.inject({
      method: 'PUT',
      path: /\/manifests\/sha256:/,
      status: 400,
      body: blobUnknown,
      headers: { 'content-type': 'application/json' },
      times: 10,
    });
    await expectCode(s.attach(repo, artifact(subject)), 'FAILED_PRECONDITION', /references blobs the repository does not have/);
    expect(fake.requestsMatching('PUT', /\/manifests\/sha256:/)).toHaveLength(5);
    expect(listedDigests()).toHaveLength(1);
  });

  test('two processes, 25 concurrent attaches each: every attach succeeds and is listed once', async () => {
    // Two stores with their own clients and mutexes are two processes as far as the index is concerned.
    const other = new RegistryClient({ retryBaseMs: 5 });
    // Index writes take a while to land, as on a loaded registry: the windows for lost updates open.
    fake.inject({ method: 'PUT', path: new RegExp(`/manifests/${tag}$`), delayMs: 10, times: 1000 });
    try {
      const stores = [new ReferrerStore(client), new ReferrerStore(other)];
      const artifacts = Array.from({ length: 50 }, (_, i) => artifact(subject, { payload: `two-${i}` }));
      const outcomes = await Promise.allSettled(artifacts.map((a, i) => stores[i % 2]!.attach(repo, a)));
      expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
      const listed = listedDigests();
      expect(new Set(listed).size).toBe(listed.length);
      expect([...listed].sort()).toEqual(artifacts.map((a) => sha256Digest(a.manifestBytes)).sort());
    } finally {
      await other.close();
    }
  });
});

describe('attach with a registry that honours If-Match', () => {
  test('a 412 (someone wrote between our GET and PUT) restarts from GET and keeps both entries', async () => {
    await setup({ honorIfMatch: true });
    await store.attach(repo, artifact(subject, { payload: 'first' }));
    const sneaky = { mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: sha256Digest(Buffer.from('sneaky')), size: 5, artifactType: 'x/y' };
    let raced = false;
    fake.onRequest = (r) => {
      if (!raced && r.method === 'PUT' && r.path.endsWith(`/manifests/${tag}`)) {
        raced = true;
        writeIndex([...fallbackIndex()!.manifests, sneaky]);
      }
    };
    const second = artifact(subject, { payload: 'second' });
    await store.attach(repo, second);
    expect(raced).toBe(true);
    const puts = fake.requestsMatching('PUT', new RegExp(`/manifests/${tag}$`));
    expect(puts).toHaveLength(3); // first attach, 412, retry
    const digests = fallbackIndex()!.manifests.map((d) => d.digest);
    expect(digests).toHaveLength(3);
    expect(digests.slice(1)).toEqual([sneaky.digest, sha256Digest(second.manifestBytes)]);
  });
});

describe('attach with a referrers API', () => {
  test('OCI-Subject plus a working API: the registry indexes it, no tag is written', async () => {
    await setup({ referrersApi: true });
    const a = artifact(subject);
    expect((await store.attach(repo, a)).referrersUpdate).toBe('api');
    expect(tagPuts()).toBe(0);
    const found = await store.discover(repo, subject.digest, { artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' });
    expect(found.map((d) => d.digest)).toEqual([sha256Digest(a.manifestBytes)]);
    expect(found[0]!.annotations).toEqual(a.manifest.annotations);
  });

  test('OCI-Subject without a working API (the ECR caveat): the fallback tag is maintained', async () => {
    await setup({ referrersApi: false, ociSubject: true });
    const result = await store.attach(repo, artifact(subject));
    expect(result.referrersUpdate).toBe('tag');
    expect(fallbackIndex()!.manifests).toHaveLength(1);
  });
});

describe('the write lock', () => {
  beforeEach(() => setup());

  /** A lock that says it excludes every replica (as the PostgreSQL one does), recording its keys. */
  class ReplicaLock implements WriteLock {
    readonly keys: string[] = [];
    /** Set to false to play a lock whose database session died while held. */
    exclusive = true;
    private readonly inner = new InProcessWriteLock();
    run<T>(key: string, fn: (held: HeldLock) => Promise<T>): Promise<T> {
      this.keys.push(key);
      const exclusiveNow = (): boolean => this.exclusive;
      return this.inner.run(key, () =>
        fn({
          get exclusiveAcrossProcesses() {
            return exclusiveNow();
          },
        }),
      );
    }
  }

  test('held across replicas: the read-back follows the write at once (no settle delay), under the subject key', async () => {
    const lock = new ReplicaLock();
    const waits: number[] = [];
    const s = new ReferrerStore(client, { writeLock: lock, sleep: async (ms) => void waits.push(ms) });
    const a = artifact(subject);
    await s.attach(repo, a);
    expect(waits).toEqual([]);
    expect(tagGets()).toBe(2); // read, and the read-back after the write
    expect(tagPuts()).toBe(1);
    expect(listedDigests()).toEqual([sha256Digest(a.manifestBytes)]);
    expect(lock.keys).toEqual([`${repo.registry}/${repo.repository}@${subject.digest}`]);
  });

  test('held across replicas, a write that failed in transit still gets the settle delay before deciding', async () => {
    const s = new ReferrerStore(client, { writeLock: new ReplicaLock(), sleep: async (ms) => void waits.push(ms) });
    const waits: number[] = [];
    const original = client.putManifest.bind(client);
    let failed = false;
    client.putManifest = async (...args: Parameters<RegistryClient['putManifest']>) => {
      const result = await original(...args);
      if (args[1] === tag && !failed) {
        failed = true;
        throw new CountersignError('UNAVAILABLE', 'connection reset after the write landed');
      }
      return result;
    };
    await s.attach(repo, artifact(subject));
    expect(waits).toHaveLength(1);
    expect(listedDigests()).toHaveLength(1);
  });

  test('a cross-replica lock lost while held (its session died): the settle delay is back', async () => {
    const lock = new ReplicaLock();
    const waits: number[] = [];
    const original = client.putManifest.bind(client);
    client.putManifest = async (...args: Parameters<RegistryClient['putManifest']>) => {
      if (args[1] === tag) lock.exclusive = false; // the session dies during our write
      return original(...args);
    };
    const s = new ReferrerStore(client, { writeLock: lock, sleep: async (ms) => void waits.push(ms) });
    await s.attach(repo, artifact(subject));
    expect(waits).toHaveLength(1);
    expect(listedDigests()).toHaveLength(1);
  });

  test('a lock that cannot be had: UNAVAILABLE, and the entry is not written later by the next holder', async () => {
    let arrivals = 0;
    let secondArrived!: () => void;
    const second = new Promise<void>((r) => (secondArrived = r));
    const failing: WriteLock = {
      async run<T>(_key: string, fn: (held: HeldLock) => Promise<T>): Promise<T> {
        if (++arrivals === 1) {
          await second; // both entries are queued now
          throw new CountersignError('UNAVAILABLE', 'PostgreSQL cs@db/x is unreachable');
        }
        secondArrived();
        await new Promise((r) => setImmediate(r)); // the first caller has failed and cleaned up
        return fn({ exclusiveAcrossProcesses: true });
      },
    };
    const s = new ReferrerStore(client, { writeLock: failing });
    const a = artifact(subject, { payload: 'a' });
    const b = artifact(subject, { payload: 'b' });
    const settled = await Promise.allSettled([s.attach(repo, a), s.attach(repo, b)]);
    // Whichever Sign reached the lock first is the one that failed (arrival order depends on
    // how its blob pushes went); the other was written, and only it.
    const failed = settled.findIndex((r) => r.status === 'rejected');
    expect(failed).not.toBe(-1);
    expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const reason = (settled[failed] as PromiseRejectedResult).reason as CountersignError;
    expect(reason.code).toBe('UNAVAILABLE');
    expect(reason.message).toMatch(/PostgreSQL cs@db\/x is unreachable/);
    const written = failed === 0 ? b : a;
    expect(listedDigests()).toEqual([sha256Digest(written.manifestBytes)]);
  });
});
