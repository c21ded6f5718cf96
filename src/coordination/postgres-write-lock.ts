/**
 * WriteLock across replicas: a PostgreSQL session-level advisory lock per key, held on a pooled
 * connection for the whole read-modify-write. Replicas sharing one PostgreSQL (`store.url`)
 * then write a subject's referrers fallback index one at a time, which Distribution's
 * last-writer-wins tags cannot do for us.
 *
 * Inside this process the keyed mutex still queues the callers of one key first, so a process
 * holds at most one connection per key and ReferrerStore's group commit keeps working. The
 * lock-wait timeout runs from the caller's arrival (in-process queue included), and a lock that
 * cannot be had is UNAVAILABLE naming the store, never a hang or a crash.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { KeyedMutex } from '../registry/keyed-mutex';
import type { HeldLock, WriteLock } from '../registry/write-lock';
import { CountersignError } from '../shared/errors';
import { describeStoreUrl, storeError } from '../store/postgres-errors';
import { createPostgresPool } from '../store/postgres-pool';

export { describeStoreUrl };

export interface PostgresWriteLockOptions {
  /** How long a caller waits for the lock (and for a connection) before UNAVAILABLE. Default 30 s. */
  lockTimeoutMs?: number;
  /** Connections in the pool (one per subject being written at once). Default 10. */
  maxConnections?: number;
  /** Time allowed to connect (startup check included). Default 5 s. */
  connectTimeoutMs?: number;
}

/** The two 32-bit advisory-lock keys for `key`: a namespaced sha256, so other users of the database do not collide. */
export function advisoryKeys(key: string): [number, number] {
  const h = createHash('sha256').update(`countersign/referrers-index/${key}`).digest();
  return [h.readInt32BE(0), h.readInt32BE(4)];
}

export class PostgresWriteLock implements WriteLock {
  private readonly local = new KeyedMutex();
  private readonly lockTimeoutMs: number;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly store: string,
    options: PostgresWriteLockOptions,
  ) {
    this.lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
  }

  /** Connects (checking reachability and credentials now, so a bad store.url fails at startup). */
  static async connect(url: string, options: PostgresWriteLockOptions = {}): Promise<PostgresWriteLock> {
    const store = describeStoreUrl(url);
    // A lock wait is bounded by lock_timeout (see run); the client-side bound must not cut it first.
    const pool = createPostgresPool(url, { ...options, queryTimeoutMs: (options.lockTimeoutMs ?? 30_000) + 10_000 });
    try {
      await pool.query('SELECT 1');
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw storeError(store, 'connecting', err);
    }
    return new PostgresWriteLock(pool, store, options);
  }

  async run<T>(key: string, fn: (held: HeldLock) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.lockTimeoutMs;
    return this.local.run(key, async () => {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw this.timedOut(key);
      const client = await this.checkout(remaining);
      // A connection that dies while we hold it must not crash the process either; and with the
      // session gone, the server has released the lock: the holder is told it is no longer exclusive.
      let broken = false;
      const onError = () => {
        broken = true;
      };
      client.on('error', onError);
      client.on('end', onError);
      const held: HeldLock = {
        get exclusiveAcrossProcesses() {
          return !broken;
        },
      };
      try {
        const [k1, k2] = advisoryKeys(key);
        try {
          // lock_timeout bounds the wait for the advisory lock (an ordinary lock wait).
          await client.query(`SELECT set_config('lock_timeout', $1, false)`, [`${Math.max(1, deadline - Date.now())}ms`]);
          await client.query('SELECT pg_advisory_lock($1, $2)', [k1, k2]);
        } catch (err) {
          if ((err as { code?: string }).code === '55P03') throw this.timedOut(key);
          broken = true;
          throw storeError(this.store, `taking the write lock of ${key}`, err);
        }
        try {
          return await fn(held);
        } finally {
          try {
            await client.query('SELECT pg_advisory_unlock($1, $2)', [k1, k2]);
          } catch {
            // The session is gone, and PostgreSQL released its locks with it.
            broken = true;
          }
        }
      } finally {
        client.off('error', onError);
        client.off('end', onError);
        // A connection whose state we are unsure of is closed, not reused.
        client.release(broken ? true : undefined);
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async checkout(timeoutMs: number): Promise<pg.PoolClient> {
    let timer: NodeJS.Timeout | undefined;
    const connecting = this.pool.connect();
    try {
      return await Promise.race([
        connecting,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new CountersignError(
                  'UNAVAILABLE',
                  `no connection to ${this.store} within ${timeoutMs} ms (all in use or the server is slow)`,
                ),
              ),
            timeoutMs,
          );
        }),
      ]);
    } catch (err) {
      // A connection that arrives after we gave up goes back to the pool.
      connecting.then(
        (c) => c.release(),
        () => undefined,
      );
      throw storeError(this.store, 'connecting', err);
    } finally {
      clearTimeout(timer);
    }
  }

  private timedOut(key: string): CountersignError {
    return new CountersignError(
      'UNAVAILABLE',
      `timed out after ${this.lockTimeoutMs} ms waiting for the referrers-index write lock of ${key} in ${this.store}: another replica holds it (a slow registry write); retry the operation`,
      { details: { store: this.store, key } },
    );
  }
}
