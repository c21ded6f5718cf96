/**
 * The embedded SQLite behind the asynchronous store interface (the default: one replica, or
 * several processes on one data directory). node:sqlite is synchronous, so every call completes
 * before its promise is returned; what the adapter adds is an in-process queue, because an
 * asynchronous transaction would otherwise let another caller's statements run on the same
 * connection between two of its awaits (and see, or join, its uncommitted writes).
 */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { ChangeWatch } from './change-watch';
import { sqliteErrorCode, type Database, type SqlParam, type SqlRow, type Statement } from './database';
import { BUMP_REVISION_SQL, migrateSchema, STORE_MIGRATIONS } from './schema';
import type { SqlStore, SqlTransaction } from './sql-store';
import { ChangeFeed, type ChangeKind } from './store-changes';
import { CountersignError } from '../shared/errors';

export interface SqliteStoreOptions {
  /**
   * Commits by other processes on the same file (announced as `all`) are noticed as they are
   * written: the database file and its WAL are watched (inotify), and each write is followed by one
   * PRAGMA data_version read. This is how often data_version is also read on a timer, as the safety
   * net: default 5000 ms while the files are watched, 100 ms when they cannot be (no inotify, out
   * of watches). 0: neither the watch nor the timer (tests drive `changes.markStale()` or `poll()`).
   */
  changeCheckMs?: number;
  /** Every query and transaction, with its duration (the store-latency histogram). */
  observe?: (operation: 'query' | 'transaction', seconds: number) => void;
}

/** The safety-net read of data_version while the files are watched, and without a watch. */
const WATCHED_CHECK_MS = 5000;
const UNWATCHED_CHECK_MS = 100;

const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;

/**
 * The queue of one database file, shared by every SqliteStore of this process on that file: node:sqlite
 * waits for another connection's write lock synchronously (busy_timeout), which would block the
 * very event loop the holder needs to finish its transaction. Two handles in one process therefore
 * take turns here first; other processes only ever wait in SQLite.
 */
interface FileQueue {
  tail: Promise<void>;
  /** Callers waiting for, or holding, exclusive use. */
  queued: number;
}
const queues = new Map<string, FileQueue>();

export class SqliteStore implements SqlStore {
  readonly dialect = 'sqlite' as const;
  readonly description: string;
  readonly changes = new ChangeFeed();
  private readonly statements = new Map<string, Statement>();
  private readonly watch: ChangeWatch;
  private timer: NodeJS.Timeout | undefined;
  /** The inotify watches on the database file and its WAL (none: polled on the timer alone). */
  private watchers: FSWatcher[] = [];
  /** A poll is queued for the next turn of the event loop (the writes of one commit are one poll). */
  private pollQueued = false;
  private readonly observe: SqliteStoreOptions['observe'];
  private readonly queue: FileQueue;
  private closed = false;
  /** The database under the store (tests reach through it for raw SQL and pragmas). */
  readonly db: Database;

  private constructor(db: Database, options: SqliteStoreOptions) {
    this.db = db;
    this.description = db.file === ':memory:' ? 'in-memory database' : `database ${db.file}`;
    const shared = db.file === ':memory:' ? undefined : queues.get(db.file);
    this.queue = shared ?? { tail: Promise.resolve(), queued: 0 };
    if (!shared && db.file !== ':memory:') queues.set(db.file, this.queue);
    this.observe = options.observe;
    this.watch = new ChangeWatch(db, 0);
    if (options.changeCheckMs === 0) return;
    // An idle service wakes only for the safety net (a 100 ms timer alone woke it ten times a
    // second: 3-10% of a core on a small VM, enough that it never looked idle). WAL needs shared
    // memory, so every writer is on this kernel and its writes reach inotify.
    const watched = db.file !== ':memory:' && this.watchFiles([db.file, `${db.file}-wal`]);
    this.every(options.changeCheckMs ?? (watched ? WATCHED_CHECK_MS : UNWATCHED_CHECK_MS));
  }

  private every(ms: number): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => this.poll(), ms);
    this.timer.unref();
  }

  /** Watches `files` (those that exist); false, and no watch, when any of them cannot be watched. */
  private watchFiles(files: string[]): boolean {
    try {
      for (const file of files) {
        if (!existsSync(file)) continue;
        const watcher = watch(file, { persistent: false }, () => this.queuePoll());
        // A watch that fails later (the file removed under us) leaves the timer, at its short interval.
        watcher.on('error', () => this.unwatch(true));
        this.watchers.push(watcher);
      }
      return this.watchers.length > 0;
    } catch {
      this.unwatch(false);
      return false;
    }
  }

  private unwatch(shortenTimer: boolean): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (shortenTimer && !this.closed) this.every(UNWATCHED_CHECK_MS);
  }

  private queuePoll(): void {
    if (this.pollQueued) return;
    this.pollQueued = true;
    setImmediate(() => {
      this.pollQueued = false;
      this.poll();
    });
  }

  /** How many files are watched for other processes' commits (0: the timer alone). */
  get watchedFiles(): number {
    return this.watchers.length;
  }

  /** Wraps an open database (the store takes it over: `close()` closes it) and creates the store's own tables. */
  static async open(db: Database, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    const store = new SqliteStore(db, options);
    try {
      await migrateSchema(store, 'store', STORE_MIGRATIONS);
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  /** Announces `all` if another process committed since the last look. */
  poll(): void {
    if (this.closed) return;
    try {
      if (this.watch.changed()) this.changes.emit('all');
    } catch {
      // Reported by health() and by the next real query.
    }
  }

  all(sql: string, ...params: SqlParam[]): Promise<SqlRow[]> {
    return this.outside(() => this.statement(sql).all(...params));
  }

  get(sql: string, ...params: SqlParam[]): Promise<SqlRow | undefined> {
    return this.outside(() => this.statement(sql).get(...params));
  }

  run(sql: string, ...params: SqlParam[]): Promise<{ changes: number }> {
    return this.outside(() => ({ changes: this.statement(sql).run(...params).changes }));
  }

  async transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      const started = process.hrtime.bigint();
      const kinds = new Set<ChangeKind>();
      let open = true;
      const inside = <R>(work: () => R): Promise<R> => {
        if (!open) return Promise.reject(new CountersignError('INTERNAL', 'a store transaction was used after it ended'));
        try {
          return Promise.resolve(work());
        } catch (err) {
          return Promise.reject(err);
        }
      };
      const tx: SqlTransaction = {
        all: (sql, ...params) => inside(() => this.statement(sql).all(...params)),
        get: (sql, ...params) => inside(() => this.statement(sql).get(...params)),
        run: (sql, ...params) => inside(() => ({ changes: this.statement(sql).run(...params).changes })),
        exec: (sql) => inside(() => this.db.exec(sql)),
        changed: (kind) => {
          kinds.add(kind);
        },
      };
      try {
        // IMMEDIATE takes the write lock now (waiting up to busy_timeout): the reads inside see the
        // latest commit of every process and no other writer slips in before our writes.
        this.db.exec('BEGIN IMMEDIATE');
      } catch (err) {
        throw this.writeError(err);
      }
      let result: T;
      try {
        result = await fn(tx);
        for (const kind of kinds) this.statement(BUMP_REVISION_SQL).run(kind);
        this.db.exec('COMMIT');
      } catch (err) {
        open = false;
        try {
          this.db.exec('ROLLBACK');
        } catch {
          // SQLite may have rolled back on its own (e.g. after SQLITE_FULL); the original error matters.
        }
        throw this.writeError(err);
      } finally {
        open = false;
        this.observe?.('transaction', Number(process.hrtime.bigint() - started) / 1e9);
      }
      for (const kind of kinds) this.changes.emit(kind, 'local');
      return result;
    });
  }

  /** A local file: other processes' commits are seen at the next data_version read, whatever happens. */
  staleness(): string | undefined {
    return this.closed ? `${this.description} is closed` : undefined;
  }

  health(): string | undefined {
    if (this.closed) return `${this.description} is closed`;
    try {
      // On every gRPC health Check, /readyz and every 5 s (app.ts): the statement is prepared once, not on every check.
      this.statement('SELECT 1').get();
      return undefined;
    } catch (err) {
      return `${this.description} does not answer: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.unwatch(false);
    // Let a transaction in progress finish first.
    await this.queue.tail;
    this.db.close();
  }

  private statement(sql: string): Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  /** A statement outside any transaction: at once when nobody holds the connection, else after them. */
  private outside<R>(work: () => R): Promise<R> {
    if (this.queue.queued === 0) {
      const started = process.hrtime.bigint();
      try {
        return Promise.resolve(work());
      } catch (err) {
        return Promise.reject(err);
      } finally {
        this.observe?.('query', Number(process.hrtime.bigint() - started) / 1e9);
      }
    }
    return this.exclusive(async () => work());
  }

  private async exclusive<R>(fn: () => Promise<R>): Promise<R> {
    if (this.closed) throw new CountersignError('UNAVAILABLE', `${this.description} is closed`);
    const queue = this.queue;
    queue.queued++;
    const previous = queue.tail;
    let release!: () => void;
    queue.tail = new Promise<void>((resolve) => (release = resolve));
    try {
      await previous;
      return await fn();
    } finally {
      queue.queued--;
      release();
    }
  }

  private writeError(err: unknown): unknown {
    const code = sqliteErrorCode(err);
    if (code === SQLITE_BUSY || code === SQLITE_LOCKED) {
      return new CountersignError(
        'UNAVAILABLE',
        `${this.description} is busy: another writer held it for more than the busy timeout; retry`,
        { cause: err },
      );
    }
    return err;
  }
}
