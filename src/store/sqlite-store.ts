/**
 * The embedded SQLite behind the asynchronous store interface (the default: one replica, or
 * several processes on one data directory). node:sqlite is synchronous, so every call completes
 * before its promise is returned; what the adapter adds is an in-process queue, because an
 * asynchronous transaction would otherwise let another caller's statements run on the same
 * connection between two of its awaits (and see, or join, its uncommitted writes).
 */
import { ChangeWatch } from './change-watch';
import { sqliteErrorCode, type Database, type SqlParam, type SqlRow, type Statement } from './database';
import { BUMP_REVISION_SQL, migrateSchema, STORE_MIGRATIONS } from './schema';
import type { SqlStore, SqlTransaction } from './sql-store';
import { ChangeFeed, type ChangeKind } from './store-changes';
import { CountersignError } from '../shared/errors';

export interface SqliteStoreOptions {
  /**
   * How often PRAGMA data_version is read to notice commits by other processes on the same file
   * (announced as `all`). Default 100 ms; 0: no timer (tests drive `changes.markStale()` or `poll()`).
   */
  changeCheckMs?: number;
  /** Every query and transaction, with its duration (the store-latency histogram). */
  observe?: (operation: 'query' | 'transaction', seconds: number) => void;
}

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
  private readonly timer: NodeJS.Timeout | undefined;
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
    const every = options.changeCheckMs ?? 100;
    if (every > 0) {
      this.timer = setInterval(() => this.poll(), every);
      this.timer.unref();
    }
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
      for (const kind of kinds) this.changes.emit(kind);
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
      this.db.prepare('SELECT 1').get();
      return undefined;
    } catch (err) {
      return `${this.description} does not answer: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
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
