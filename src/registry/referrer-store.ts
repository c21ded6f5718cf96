/**
 * Storing artifacts (signatures, attestations) as OCI 1.1 referrers of an image, and finding them.
 *
 * attach() pushes the artifact's blobs and its manifest by digest (never by tag, so nothing gets
 * overwritten), then makes sure the artifact is discoverable: on registries with the referrers API
 * the registry does that itself; on others we maintain the fallback index under the
 * `sha256-<hex>` tag, following distribution-spec "Pushing Manifests with Subject".
 */
import { setTimeout as delay } from 'node:timers/promises';
import { throwIfAborted, untilAborted } from '../shared/cancellation';
import { CountersignError, isTransient } from '../shared/errors';
import type { RegistryClient } from './client';
import { isDigest, sha256Digest } from './digest';
import { referrersTagFor } from './reference';
import { backoffDelay } from './retry';
import { readReferrersIndex, referrerDescriptor, referrerEntryProblem, withReferrers } from './referrers-index';
import {
  EMPTY_BLOB,
  EMPTY_DESCRIPTOR,
  MEDIA_TYPE,
  type CallOptions,
  type Descriptor,
  type ImageManifest,
  type RepositoryRef,
} from './types';
import { InProcessWriteLock, type HeldLock, type WriteLock } from './write-lock';

export interface ArtifactToAttach {
  /** The exact manifest bytes to push; the artifact's digest is their sha256. */
  manifestBytes: Buffer;
  /** The same manifest, parsed (must agree with manifestBytes on subject, artifactType, config and annotations). */
  manifest: ImageManifest;
  /** Blobs referenced by the manifest (the empty `{}` config is pushed even if not listed). */
  blobs: Buffer[];
  /**
   * Those of `blobs` (the same Buffer objects) that cannot be in the registry yet, such as a
   * bundle just signed: uploaded without the existence HEAD on the first attempt (one request
   * less per Sign). Retries after "blob unknown" check again.
   */
  freshBlobs?: Buffer[];
}

export interface AttachResult {
  digest: string;
  size: number;
  /** How the artifact became discoverable: the registry's referrers API, or our fallback tag update. */
  referrersUpdate: 'api' | 'tag';
}

export interface ReferrerStoreOptions {
  /**
   * How many times we write the fallback index before giving up when other writers keep
   * replacing it (412s, or our entry missing when we read back). Default 10.
   */
  maxIndexWrites?: number;
  /**
   * The wait between writing the fallback index and the read that confirms it, drawn at random
   * from [minMs, maxMs]. It must exceed the time another writer takes from its read of the index
   * to its write landing (a few ms to tens of ms on a loaded registry). Default 50–200 ms.
   */
  settleMs?: { minMs: number; maxMs: number };
  /** Replaces the timer for the settle and backoff waits (tests use it to interleave writers). */
  sleep?: (ms: number) => Promise<void>;
  /** Replaces Math.random for the jitter. */
  random?: () => number;
  /**
   * The lock held around each read-modify-write of one subject's index. Default: in-process
   * only. One that excludes every replica (`HeldLock.exclusiveAcrossProcesses`) makes the settle delay unnecessary.
   */
  writeLock?: WriteLock;
  /**
   * The operator's word (`registry.exclusiveReferrerWrites`) that no process outside the holders
   * of `writeLock` writes the fallback tags. While the lock says it excludes every process, a
   * write the registry accepted is then the index (nobody else can have written after it), so
   * it is not read back: 7 requests per Sign. Default false.
   */
  onlyWriter?: boolean;
}

/** What one read of the fallback tag found. No `version` means the tag does not exist. */
interface IndexState {
  /** The index as read, kept to add to (see withReferrers). */
  bytes?: Buffer;
  /** Its valid entries: what a reader finds there (malformed ones are skipped by every reader). */
  listed: Descriptor[];
  etag?: string;
  /** Digest of the index bytes: tells one version of the index from another. */
  version?: string;
}

/** An attach call waiting for its entry to be written. */
interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** An entry waiting to be written, and the attach calls waiting for it. */
interface QueuedEntry {
  entry: Descriptor;
  waiters: Waiter[];
}

const DEFAULT_SETTLE = { minMs: 50, maxMs: 200 };
/** No settle or backoff wait is longer than this. */
const MAX_SETTLE_MS = 2000;
/** Settled reads in a row that list our entry while others keep changing the index: confirmed. */
const CONFIRM_READS = 3;
/** Attempts at pushing an artifact manifest that the registry refuses for "unknown" blobs. */
const MANIFEST_PUSHES = 3;
/** Extra attempts for an index read that fails transiently. */
const READ_RETRIES = 3;

function sameAnnotations(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ka = Object.keys(a ?? {});
  const kb = Object.keys(b ?? {});
  return ka.length === kb.length && ka.every((k) => (a ?? {})[k] === (b ?? {})[k]);
}

export class ReferrerStore {
  private readonly lock: WriteLock;
  /** Entries waiting for the next write of their index, per index (see addToReferrersTag). */
  private readonly queued = new Map<string, Map<string, QueuedEntry>>();
  private readonly maxIndexWrites: number;

  constructor(
    private readonly client: RegistryClient,
    private readonly options: ReferrerStoreOptions = {},
  ) {
    this.maxIndexWrites = options.maxIndexWrites ?? 10;
    this.lock = options.writeLock ?? new InProcessWriteLock();
  }

  async attach(repo: RepositoryRef, artifact: ArtifactToAttach, opts: CallOptions = {}): Promise<AttachResult> {
    const { manifest, manifestBytes } = artifact;
    const subject = this.checkArtifact(artifact);
    const digest = sha256Digest(manifestBytes);
    const size = manifestBytes.length;
    // Readers skip an entry that is no valid descriptor: such an artifact could never be found.
    const entry = referrerDescriptor(manifest, digest, size);
    const problem = referrerEntryProblem(entry);
    if (problem !== undefined) {
      throw new CountersignError('INVALID_ARGUMENT', `the artifact could not be listed as a referrer (its index entry's ${problem})`);
    }
    const mediaType = manifest.mediaType ?? MEDIA_TYPE.OCI_MANIFEST;

    // (a) Blobs first: registries may refuse a manifest whose blobs they do not have.
    const blobs = [...artifact.blobs];
    const usesEmpty = [manifest.config, ...manifest.layers].some((d) => d.digest === EMPTY_DESCRIPTOR.digest);
    if (usesEmpty && !blobs.some((b) => b.equals(EMPTY_BLOB))) blobs.push(EMPTY_BLOB);
    // (b) Then the manifest, by digest (idempotent, so it may be pushed again).
    let pushed: Awaited<ReturnType<RegistryClient['putManifest']>>;
    for (let attempt = 1; ; attempt++) {
      const fresh = attempt === 1 ? (artifact.freshBlobs ?? []) : [];
      await Promise.all(blobs.map((b) => this.client.pushBlob(repo, b, undefined, fresh.includes(b) ? { ...opts, fresh: true } : opts)));
      // A caller that gave up while its blobs went up gets no manifest: nothing it was told failed is published.
      throwIfAborted(opts.signal);
      try {
        pushed = await this.client.putManifest(repo, digest, manifestBytes, mediaType, opts);
        break;
      } catch (err) {
        // "Blob unknown" for blobs we have just pushed: Distribution says so when its check of a
        // blob meets another process's upload of the same blob (every Sign uses the one empty
        // config) rewriting the blob's link. Push again (a HEAD each when they are there) and retry.
        const blobUnknown = err instanceof CountersignError && err.code === 'FAILED_PRECONDITION' && err.details?.status === 400;
        if (!blobUnknown || attempt >= MANIFEST_PUSHES) throw err;
        await this.sleep(this.backoffMs(attempt));
      }
    }

    // (c) Discoverability. OCI-Subject alone is not trusted (some registries send it without
    // serving the API), and without it the spec makes index maintenance the client's job.
    if (pushed.ociSubject !== undefined && (await this.client.pingReferrersApi(repo, opts))) {
      return { digest, size, referrersUpdate: 'api' };
    }
    // The caller's signal bounds its wait for the index write, not the write: see addToReferrersTag.
    await this.addToReferrersTag(repo, subject.digest, entry, opts.signal);
    return { digest, size, referrersUpdate: 'tag' };
  }

  /** The referrers of `subjectDigest` (optionally only one artifactType). */
  async discover(repo: RepositoryRef, subjectDigest: string, opts: { artifactType?: string } & CallOptions = {}): Promise<Descriptor[]> {
    return (await this.client.listReferrers(repo, subjectDigest, opts)).manifests;
  }

  /**
   * Adds `entry` to the fallback index of `subjectDigest` and returns once it is listed there
   * to stay; throws only when it is not listed.
   *
   * The tag is a last-writer-wins register on registries that ignore If-Match (Distribution 2.8):
   * A reads [x], B reads [x], A writes [x,a], B writes [x,b], and `a` is gone, although a read-back
   * by A between the two writes showed it. So a read that lists our entry proves nothing about a
   * write already on its way from someone who read before us. The protocol:
   *
   * 1. Union: every write is the latest index we read (kept exactly: other tools' entries and
   *    fields are not ours to rewrite) plus every entry we have seen in any read of this
   *    operation plus ours. A concurrent writer's entry, once seen, is never removed by us, so
   *    writers repair each other and the protocol converges instead of ping-ponging.
   * 2. Settle: after a write we wait a randomized delay (longer than a writer takes from its
   *    read to its write landing; see `settleMs`) and read again. A stale write from a read made
   *    before ours lands within that window, so this read shows it: our entry missing means we
   *    write again (built on that fresh read, so immediately), from step 1.
   * 3. Confirmed when that read lists our entry and the index is the version we wrote (nobody
   *    wrote in the window: the uncontended case), or the same version as at the previous read
   *    (stable for a whole window), or our entry survived `CONFIRM_READS` windows in a row while
   *    other writers kept changing the index (each of whom had seen our entry).
   *
   * With two writers per subject (two processes) this is safe as long as no write takes longer
   * than the settle delay from its read to landing; with more, a chain of several independent
   * stale writers inside one window could still drop an entry — only a writer serialized across
   * replicas (or a registry honouring If-Match, whose 412 restarts us from a fresh read) closes
   * that completely. The union can also put back an entry that another tool deleted while we
   * were writing (a dangling entry, skipped by readers); we accept that to never lose one.
   *
   * Cost (the trade-off against speed): the uncontended path makes the same three index
   * requests as a plain read-modify-write with read-back (GET, PUT, GET after the settle delay)
   * and adds 50–200 ms of waiting, not requests; each contention round adds a settle delay and
   * one GET (plus a PUT when our entry was dropped). A single read-back right after the PUT would
   * be cheaper in time but proves nothing across processes (see above). Because entries queued in
   * this process behind a write are written together (group commit), concurrent Signs of one
   * digest share rounds instead of paying a settle delay each.
   *
   * Failures are reported from what is really there: a write that fails in transit may have
   * landed, so it is followed by a settled read, and only an index without our entry makes the
   * error final; reads are retried on transient errors (Distribution answers 500 when a read
   * meets a concurrent tag write). On giving up, the decision comes from the last settled read.
   * Inside this process, writers of one index are serialized by the write lock (the keyed mutex).
   *
   * With a write lock that excludes every replica (PostgreSQL advisory lock per subject, when
   * `store.url` is set), no other Countersign writer can be between our read and our write, so
   * the settle delay is skipped while the lock is known to be held (not after its database
   * session died, nor after a write that failed in transit): the read-back follows the write at once and the same
   * confirmation rules apply (a writer outside Countersign still shows as a changed version and
   * costs further reads). Everything else is the same protocol. The same holds for the locks of
   * `registry.exclusiveReferrerWrites` (one process, or the `serve --workers` primary's), and
   * under that setting (`onlyWriter`: no writer outside Countersign either) a write the registry
   * accepted is not read back at all: GET, PUT.
   *
   * `signal` (the caller's deadline or cancellation) ends the wait for the lock: an entry still
   * queued when it fires is taken out, so no later holder writes what its caller was told failed
   * (the caller's retry would add a second referrer). Once a holder has taken the entry, its write
   * is shared by every caller in that batch (group commit) and runs to its end whatever one
   * caller's signal does, bounded by maxIndexWrites and the registry timeout: the caller then
   * gets that write's outcome, late rather than wrong.
   */
  private async addToReferrersTag(repo: RepositoryRef, subjectDigest: string, entry: Descriptor, signal?: AbortSignal): Promise<void> {
    // Nothing is queued for a caller already gone.
    throwIfAborted(signal);
    const tag = referrersTagFor(subjectDigest);
    const key = `${repo.registry}/${repo.repository}@${subjectDigest}`;
    // Group commit: entries that arrive while another write of the same index is under way
    // wait in one queue, and the next holder of the mutex writes and confirms them together (one
    // round of requests and one settle delay for all of them, instead of one each).
    const queue = this.queued.get(key) ?? new Map<string, QueuedEntry>();
    this.queued.set(key, queue);
    let waiter!: Waiter;
    const done = new Promise<void>((resolve, reject) => {
      waiter = { resolve, reject };
      const queuedBefore = queue.get(entry.digest);
      if (queuedBefore) queuedBefore.waiters.push(waiter);
      else queue.set(entry.digest, { entry, waiters: [waiter] });
    });
    done.catch(() => undefined); // settled inside the lock below and awaited after it
    const locked = this.lock.run(key, async (held) => {
      const batch = this.queued.get(key);
      if (!batch) return; // an earlier holder wrote our entry along with its own
      this.queued.delete(key);
      const items = [...batch.values()];
      try {
        const unlisted = await this.writeEntries(
          repo,
          tag,
          items.map((i) => i.entry),
          held,
        );
        for (const item of items) {
          const err = unlisted.get(item.entry.digest);
          for (const w of item.waiters) {
            if (err) w.reject(err);
            else w.resolve();
          }
        }
      } catch (err) {
        for (const item of items) for (const w of item.waiters) w.reject(err);
      }
    });
    try {
      // A wait the caller gave up on leaves `locked` running: when it gets the lock it writes
      // whatever is queued then (others' entries), or finds the queue gone and returns.
      await untilAborted(locked, signal);
    } catch (err) {
      // The lock could not be had (the store is down, or the wait timed out), or the caller gave
      // up waiting for it: our entry was not written by us, and must not be written later by a
      // holder that takes the queue after we reported failure. Take it out, unless a holder
      // already took it along (then its outcome is ours).
      if (this.queued.get(key) !== queue) {
        await done;
        return;
      }
      this.dequeue(key, queue, entry.digest, waiter);
      throw err;
    }
    await done;
  }

  /** Takes `waiter` (and its entry, when nobody else waits for it) out of a queue not yet taken. */
  private dequeue(key: string, queue: Map<string, QueuedEntry>, digest: string, waiter: Waiter): void {
    const item = queue.get(digest);
    if (!item) return;
    item.waiters = item.waiters.filter((w) => w !== waiter);
    if (item.waiters.length === 0) queue.delete(digest);
    if (queue.size === 0) this.queued.delete(key);
  }

  /**
   * The protocol described at addToReferrersTag, for a batch of entries. Resolves with the
   * entries that are not listed when it gave up (an error for each; empty on success), and
   * throws when none of them can have been written (or when what is there cannot be known).
   */
  private async writeEntries(
    repo: RepositoryRef,
    tag: string,
    entries: Descriptor[],
    held: HeldLock,
  ): Promise<Map<string, CountersignError>> {
    const where = `${repo.registry}/${repo.repository}:${tag}`;
    const details = { registry: repo.registry, repository: repo.repository, tag };
    // Every entry met in this operation (first sighting kept exactly), in the order met.
    const seen = new Map<string, Descriptor>();
    let writes = 0;
    const read = async (): Promise<IndexState> => {
      const state = await this.readIndexRetrying(repo, tag, entries, where, writes > 0);
      for (const d of state.listed) if (!seen.has(d.digest)) seen.set(d.digest, d);
      return state;
    };
    const missing = (s: IndexState): Descriptor[] => {
      const listed = new Set(s.listed.map((d) => d.digest));
      return entries.filter((e) => !listed.has(e.digest));
    };

    let readAt = Date.now();
    let state = await read();
    // The index version that must still be there after the next settle delay for our entries to
    // count as confirmed: what we wrote, or what the previous read showed.
    let anchor = missing(state).length === 0 ? state.version : undefined;
    let windows = 0; // consecutive settled reads that listed all our entries
    let slowestWriteMs = 0; // our own read-to-write-landed time: the settle delay must exceed it
    for (;;) {
      let writeError: { error: unknown } | undefined; // boxed: what was thrown may be any value
      const absent = missing(state);
      if (absent.length > 0) {
        windows = 0;
        if (writes >= this.maxIndexWrites) {
          // Decided from the last settled read: what it lists stays a success.
          return new Map(
            absent.map((e) => [
              e.digest,
              new CountersignError(
                'UNAVAILABLE',
                `could not add ${e.digest} to the referrers index ${where} after ${writes} writes: other writers kept replacing it, and it is not listed; retry the operation`,
                { details },
              ),
            ]),
          );
        }
        // Built completely in memory before anything is written: never a partial index.
        const { bytes } = withReferrers(state.bytes, state.listed, [...seen.values(), ...entries]);
        writes++;
        try {
          await this.client.putManifest(repo, tag, bytes, MEDIA_TYPE.OCI_INDEX, state.etag !== undefined ? { ifMatch: state.etag } : {});
          anchor = sha256Digest(bytes);
        } catch (err) {
          if (err instanceof CountersignError && err.code === 'FAILED_PRECONDITION' && err.details?.status === 412) {
            // A registry that honours If-Match told us someone wrote since our read: no settle
            // needed, just a fresh read (after a jittered backoff) to build on.
            await this.sleep(this.backoffMs(writes));
            readAt = Date.now();
            state = await read();
            anchor = missing(state).length === 0 ? state.version : undefined;
            continue;
          }
          // A refusal (4xx) stored nothing. A transport failure may have stored it anyway:
          // decide from the index after the settle delay.
          if (!isTransient(err)) throw err;
          writeError = { error: err };
          anchor = undefined;
        }
        slowestWriteMs = Math.max(slowestWriteMs, Date.now() - readAt);
        // The only writer, and every other holder excluded: what the registry accepted stays.
        if (writeError === undefined && this.options.onlyWriter === true && held.exclusiveAcrossProcesses) return new Map();
      }
      // Serialized across replicas, no other Countersign write can land in between: read back at
      // once. Except after a write that failed in transit (it may still land, so give it time),
      // or once the cross-replica lock may have been lost (its session died).
      if (!held.exclusiveAcrossProcesses || writeError !== undefined) await this.sleep(this.settleDelayMs(writes, slowestWriteMs));
      readAt = Date.now();
      const next = await read();
      const stillAbsent = missing(next);
      if (stillAbsent.length === 0) {
        windows++;
        if (next.version === anchor || windows >= CONFIRM_READS) return new Map();
        anchor = next.version;
      } else if (writeError !== undefined && stillAbsent.length === entries.length) {
        throw writeError.error; // our write did not land: the failure is real
      }
      state = next;
    }
  }

  /** Waits `ms` (the settle and backoff delays; tests may inject their own). */
  private sleep(ms: number): Promise<void> {
    return this.options.sleep ? this.options.sleep(ms) : delay(ms).then(() => undefined);
  }

  /**
   * The settle delay after write number `writes`: random in [minMs, maxMs] so that two writers
   * do not stay in lockstep, doubling per rewrite (up to 4x) when writers keep colliding, and at
   * least twice the slowest read-to-write we saw ourselves (a loaded registry is slow for every
   * writer), capped at MAX_SETTLE_MS.
   */
  private settleDelayMs(writes: number, slowestWriteMs: number): number {
    const { minMs, maxMs } = this.options.settleMs ?? DEFAULT_SETTLE;
    const factor = 2 ** Math.min(Math.max(writes - 1, 0), 2);
    const jittered = (minMs + this.random() * (maxMs - minMs)) * factor;
    return Math.round(Math.min(MAX_SETTLE_MS, Math.max(jittered, 2 * slowestWriteMs)));
  }

  /** Jittered exponential backoff before attempt `attempt` (1 = first retry). */
  private backoffMs(attempt: number): number {
    return backoffDelay(attempt - 1, this.options.settleMs?.minMs ?? DEFAULT_SETTLE.minMs, MAX_SETTLE_MS, () => this.random());
  }

  private random(): number {
    return (this.options.random ?? Math.random)();
  }

  /**
   * readIndex, retried on transient failures (Distribution answers 500 for a tag read that meets
   * a concurrent write of the tag). `afterWrite` is set once we may have written: then a read that
   * keeps failing leaves the outcome unknown, and the error says so instead of claiming failure.
   */
  private async readIndexRetrying(
    repo: RepositoryRef,
    tag: string,
    entries: Descriptor[],
    where: string,
    afterWrite: boolean,
  ): Promise<IndexState> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.readIndex(repo, tag);
      } catch (err) {
        if (!isTransient(err)) throw err;
        if (attempt >= READ_RETRIES) {
          if (!afterWrite) throw err;
          const why = err instanceof Error ? err.message : String(err);
          const which = entries.length === 1 ? `${entries[0]!.digest} is` : `${entries.length} new entries (${entries[0]!.digest}, …) are`;
          throw new CountersignError(
            'UNAVAILABLE',
            `wrote the referrers index ${where} but could not read it back to confirm that ${which} listed (${why}); it may be listed: check with a Verify before signing again`,
            { cause: err, details: { registry: repo.registry, repository: repo.repository, tag } },
          );
        }
        await this.sleep(this.backoffMs(attempt + 1));
      }
    }
  }

  private async readIndex(repo: RepositoryRef, tag: string): Promise<IndexState> {
    try {
      const found = await this.client.getManifest(repo, tag);
      // Something other than an index under the tag is reported, never overwritten.
      const { manifests } = readReferrersIndex(
        found.bytes,
        found.descriptor.mediaType,
        `referrers tag ${repo.registry}/${repo.repository}:${tag}`,
      );
      const state: IndexState = { bytes: found.bytes, listed: manifests, version: found.descriptor.digest };
      if (found.etag !== undefined) state.etag = found.etag;
      return state;
    } catch (err) {
      if (err instanceof CountersignError && err.code === 'NOT_FOUND') return { listed: [] };
      throw err;
    }
  }

  /** The manifest object must describe the bytes we push: the index entry is built from it. */
  private checkArtifact(artifact: ArtifactToAttach): Descriptor {
    const { manifest, manifestBytes } = artifact;
    const subject = manifest.subject;
    if (!subject || typeof subject.digest !== 'string' || !isDigest(subject.digest)) {
      throw new CountersignError(
        'INVALID_ARGUMENT',
        'the artifact manifest has no valid subject descriptor (mediaType, digest, size of the image it refers to)',
      );
    }
    if (manifest.mediaType !== undefined && manifest.mediaType !== MEDIA_TYPE.OCI_MANIFEST) {
      throw new CountersignError('INVALID_ARGUMENT', `artifact manifests must be ${MEDIA_TYPE.OCI_MANIFEST}, not ${manifest.mediaType}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(manifestBytes.toString('utf8'));
    } catch {
      throw new CountersignError('INVALID_ARGUMENT', 'artifact manifestBytes are not JSON');
    }
    // The bytes may hold any JSON value: fields are read only from objects (anything else has none).
    const fields = (value: unknown): Record<string, unknown> =>
      typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
    const bytesSay = fields(parsed);
    const agrees =
      fields(bytesSay.subject).digest === subject.digest &&
      bytesSay.mediaType === manifest.mediaType &&
      bytesSay.artifactType === manifest.artifactType &&
      fields(bytesSay.config).mediaType === manifest.config.mediaType &&
      fields(bytesSay.config).digest === manifest.config.digest &&
      // Compared key by key, whatever the bytes hold there.
      sameAnnotations(bytesSay.annotations as Record<string, string> | undefined, manifest.annotations);
    if (!agrees) {
      throw new CountersignError(
        'INVALID_ARGUMENT',
        'artifact manifest object does not match manifestBytes (subject, mediaType, artifactType, config or annotations differ); serialize the manifest once and pass both',
      );
    }
    return subject;
  }
}
