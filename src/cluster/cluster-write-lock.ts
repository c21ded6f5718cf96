/**
 * The referrer-index write lock of `serve --workers N` under `registry.exclusiveReferrerWrites`:
 * the primary holds one lock per key for all of its workers, and a worker asks for it over the
 * cluster IPC channel. With the operator's word that no process outside this service writes the
 * fallback tags, a holder then excludes every writer, and ReferrerStore skips its settle delay.
 *
 * Inside a worker the keyed mutex queues the callers of one key first (one request per key on
 * the channel, and ReferrerStore's group commit keeps working). The wait is bounded (UNAVAILABLE,
 * as with the PostgreSQL lock). Two ways the exclusion can fail, and what the holder is told:
 * - the channel to the primary closes while we hold the lock (the primary died: it can no longer
 *   exclude anyone): `exclusiveAcrossProcesses` turns false;
 * - the previous holder died while holding (its last write may still be in flight to the
 *   registry): the primary grants the next holder a non-exclusive hold, which keeps the settle
 *   delay, so that stale write lands before the new holder decides.
 */
import { KeyedMutex } from '../registry/keyed-mutex';
import type { HeldLock, WriteLock } from '../registry/write-lock';
import { CountersignError } from '../shared/errors';

/** The messages of the lock on the cluster IPC channel. */
export type LockMessage =
  | { countersign: 'lock'; id: number; key: string }
  | { countersign: 'lock-granted'; id: number; exclusive: boolean }
  | { countersign: 'lock-release'; id: number };

export function isLockMessage(m: unknown): m is LockMessage {
  const kind = (m as { countersign?: unknown } | null)?.countersign;
  return kind === 'lock' || kind === 'lock-granted' || kind === 'lock-release';
}

/**
 * The environment variable the primary sets on the workers it forks: a worker without it was
 * started by some other cluster primary (pm2 cluster mode, say), which holds no lock for it.
 */
export const CLUSTER_PRIMARY_ENV = 'COUNTERSIGN_CLUSTER_PRIMARY';

/** The worker's end of the IPC channel (process, or a test's fake). */
export interface WorkerChannel {
  send(message: LockMessage): void;
  connected(): boolean;
  onMessage(listener: (message: unknown) => void): () => void;
  onDisconnect(listener: () => void): () => void;
}

function processChannel(): WorkerChannel {
  return {
    send: (m) => void process.send?.(m),
    connected: () => process.connected,
    onMessage: (listener) => {
      process.on('message', listener);
      return () => process.off('message', listener);
    },
    onDisconnect: (listener) => {
      process.on('disconnect', listener);
      return () => process.off('disconnect', listener);
    },
  };
}

interface Pending {
  key: string;
  granted: (exclusive: boolean) => void;
  failed: (err: CountersignError) => void;
}

/** A worker's WriteLock: the primary's lock for the key (see the file comment). */
export class ClusterWriteLock implements WriteLock {
  private readonly local = new KeyedMutex();
  private readonly pending = new Map<number, Pending>();
  private readonly lockTimeoutMs: number;
  private seq = 0;
  private lost = false;
  private readonly detach: Array<() => void>;

  constructor(
    private readonly channel: WorkerChannel = processChannel(),
    options: { lockTimeoutMs?: number } = {},
  ) {
    this.lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
    this.detach = [channel.onMessage((m) => this.receive(m)), channel.onDisconnect(() => this.disconnected())];
  }

  run<T>(key: string, fn: (held: HeldLock) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.lockTimeoutMs;
    return this.local.run(key, async () => {
      const { id, exclusive } = await this.acquire(key, deadline);
      const held: HeldLock = {
        get exclusiveAcrossProcesses() {
          return exclusive && !lostNow();
        },
      };
      const lostNow = (): boolean => this.lost || !this.channel.connected();
      try {
        return await fn(held);
      } finally {
        if (this.channel.connected()) this.channel.send({ countersign: 'lock-release', id });
      }
    });
  }

  /** Stops listening on the channel (the worker is stopping); waiting callers fail. */
  close(): void {
    for (const d of this.detach) d();
    this.disconnected();
  }

  private acquire(key: string, deadline: number): Promise<{ id: number; exclusive: boolean }> {
    if (this.lost || !this.channel.connected()) return Promise.reject(this.unavailable(key, 'the primary is gone'));
    const id = ++this.seq;
    return new Promise<{ id: number; exclusive: boolean }>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.pending.delete(id);
          // Out of the primary's queue (or released at once if it was granted meanwhile).
          if (this.channel.connected()) this.channel.send({ countersign: 'lock-release', id });
          reject(this.unavailable(key, `not granted within ${this.lockTimeoutMs} ms`));
        },
        Math.max(1, deadline - Date.now()),
      );
      this.pending.set(id, {
        key,
        granted: (exclusive) => {
          clearTimeout(timer);
          resolve({ id, exclusive });
        },
        failed: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.channel.send({ countersign: 'lock', id, key });
    });
  }

  private receive(m: unknown): void {
    if (!isLockMessage(m) || m.countersign !== 'lock-granted') return;
    const waiter = this.pending.get(m.id);
    this.pending.delete(m.id);
    if (waiter) waiter.granted(m.exclusive);
    // A grant nobody waits for any more (its wait timed out): give it back, or the key stays locked.
    else if (this.channel.connected()) this.channel.send({ countersign: 'lock-release', id: m.id });
  }

  private disconnected(): void {
    this.lost = true;
    for (const [id, waiter] of this.pending) {
      this.pending.delete(id);
      waiter.failed(this.unavailable(waiter.key, 'the primary is gone'));
    }
  }

  private unavailable(key: string, why: string): CountersignError {
    return new CountersignError('UNAVAILABLE', `the referrer-index write lock of ${key} (held by the serve --workers primary): ${why}`);
  }
}

/** One worker's request, as the primary keeps it. */
interface Holder<W> {
  worker: W;
  id: number;
}

/**
 * How long after a holder died the key's next holders keep the settle delay: longer than a
 * write the dead worker had sent can take to land (a registry request's timeout).
 */
export const DEAD_HOLDER_GRACE_MS = 30_000;

/**
 * The primary's side: per key, the holder and the queue behind it, in arrival order. `grant`
 * tells a worker that its request `id` holds the lock now.
 */
export class PrimaryLockTable<W> {
  private readonly keys = new Map<string, { holder: Holder<W>; queue: Holder<W>[] }>();
  /** Keys whose holder died, and when (see DEAD_HOLDER_GRACE_MS). */
  private readonly holderDiedAt = new Map<string, number>();

  constructor(
    private readonly grant: (worker: W, id: number, exclusive: boolean) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Handles a lock message from `worker`. */
  handle(worker: W, m: LockMessage): void {
    if (m.countersign === 'lock') this.request(worker, m.id, m.key);
    else if (m.countersign === 'lock-release') this.release(worker, m.id);
  }

  /** The worker died or disconnected: its holds end and its requests leave the queues. */
  workerGone(worker: W): void {
    for (const [key, entry] of this.keys) {
      entry.queue = entry.queue.filter((h) => h.worker !== worker);
      if (entry.holder.worker === worker) {
        this.holderDiedAt.set(key, this.now());
        this.next(key);
      }
    }
  }

  /** Keys held or waited for (tests). */
  get size(): number {
    return this.keys.size;
  }

  private request(worker: W, id: number, key: string): void {
    const entry = this.keys.get(key);
    if (entry) {
      entry.queue.push({ worker, id });
      return;
    }
    this.keys.set(key, { holder: { worker, id }, queue: [] });
    this.grant(worker, id, this.exclusive(key));
  }

  private release(worker: W, id: number): void {
    for (const [key, entry] of this.keys) {
      if (entry.holder.worker === worker && entry.holder.id === id) {
        this.next(key);
        return;
      }
      const before = entry.queue.length;
      entry.queue = entry.queue.filter((h) => !(h.worker === worker && h.id === id));
      if (entry.queue.length !== before) return;
    }
  }

  private next(key: string): void {
    const entry = this.keys.get(key)!;
    const following = entry.queue.shift();
    if (!following) {
      this.keys.delete(key);
      return;
    }
    entry.holder = following;
    this.grant(following.worker, following.id, this.exclusive(key));
  }

  /** False for a while after a holder of `key` died: its last write may still land, so the next holders keep the settle delay. */
  private exclusive(key: string): boolean {
    const diedAt = this.holderDiedAt.get(key);
    if (diedAt === undefined) return true;
    if (this.now() - diedAt < DEAD_HOLDER_GRACE_MS) return false;
    this.holderDiedAt.delete(key);
    return true;
  }
}
