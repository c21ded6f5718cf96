import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { CountersignError } from '../shared/errors';

/** A value that can be bound to a statement parameter. */
export type SqlParam = null | number | bigint | string | Uint8Array;
/** A value read from a column. */
export type SqlValue = null | number | bigint | string | Uint8Array;
/** One result row, keyed by column name. */
export type SqlRow = Record<string, SqlValue>;

/** A prepared statement. Parameters are positional (`?`) only. */
export interface Statement {
  /** Executes a write; `changes` is the number of rows it touched. */
  run(...params: SqlParam[]): { changes: number; lastInsertRowid: number };
  /** The first row, or undefined when there is none. */
  get(...params: SqlParam[]): SqlRow | undefined;
  /** Every row, in memory. Prefer `iterate` for anything that can grow without bound. */
  all(...params: SqlParam[]): SqlRow[];
  /** Rows one at a time, so a large result is never held in memory at once. */
  iterate(...params: SqlParam[]): IterableIterator<SqlRow>;
}

/**
 * The storage seam of the service: everything that persists state (keys, their states, the audit
 * trail) talks to this interface and never to `node:sqlite` directly, so that a PostgreSQL backend
 * can follow for multi-replica deployments.
 *
 * What an implementation promises:
 * - **Durability**: once `transaction` returns, the writes made inside it survive a crash of the
 *   process (and, for the SQLite default with `synchronous=FULL`, of the machine); a crash before
 *   that leaves none of them. The file is never left corrupt by a crash mid-write.
 * - **Serialized writers**: `transaction` runs `fn` with exclusive write access (SQLite:
 *   `BEGIN IMMEDIATE`; PostgreSQL would use SERIALIZABLE or an advisory lock), so a
 *   read-then-write inside it (read the previous audit hash, append the next) cannot interleave
 *   with another writer, in this process or another. Waiting for another writer is bounded; when
 *   the bound passes it throws UNAVAILABLE (transient: retrying may work).
 * - **All or nothing**: if `fn` throws, every write it made is rolled back and the error
 *   propagates unchanged. Nested calls join the outer transaction (their writes commit only when
 *   the outermost one does), but a nested call that throws rolls back its own writes, so an outer
 *   `fn` that catches the error never commits half of an inner one.
 * - **Synchronous `fn`**: `fn` must not be async; its work would otherwise run after the commit.
 *   Passing an async function is refused (INTERNAL).
 * - **Positional parameters** only (`?`), and SQL that stays close to the common subset of SQLite
 *   and PostgreSQL. Schema changes go through `migrateSchema` (schema.ts), one SQL text per backend.
 *
 * A PostgreSQL driver is asynchronous, so that backend would implement the same promises behind
 * an async variant of this interface (or of the stores built on it); the promises above, not the
 * exact method signatures, are the contract to keep.
 */
export interface Database {
  /** Absolute path of the database file (':memory:' for an in-memory database). */
  readonly file: string;
  /** Runs one or more statements that return nothing (DDL, pragmas, bulk SQL). */
  exec(sql: string): void;
  /** Compiles a statement for repeated use. */
  prepare(sql: string): Statement;
  /** Runs `fn` in a write transaction (see the promises above) and returns its result. */
  transaction<T>(fn: () => T): T;
  /** Closes the database; later calls fail. Closing twice is harmless. */
  close(): void;
}

export interface OpenDatabaseOptions {
  /** How long to wait for another writer's lock before failing with UNAVAILABLE. Default 5000 ms. */
  busyTimeoutMs?: number;
  /**
   * Consistency check at open: 'quick' (PRAGMA quick_check, the default: b-tree structure of every
   * page, linear in the file size), 'full' (PRAGMA integrity_check, also indexes) or 'none'.
   */
  integrityCheck?: 'quick' | 'full' | 'none';
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/** SQLite primary result codes we map to something actionable (the error carries `errcode`). */
const SQLITE_PERM = 3;
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_NOTADB = 26;

/** The primary SQLite result code of an error thrown by node:sqlite, if it is one. */
export function sqliteErrorCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const errcode = (err as { errcode?: unknown }).errcode;
  return typeof errcode === 'number' ? errcode & 0xff : undefined;
}

/**
 * Opens (creating if needed) the SQLite database at `file`: the parent directory is created with
 * mode 0700 and a new file with mode 0600 (SQLite gives its -wal and -shm files the same mode).
 * The file is checked for corruption before use; a corrupt file is refused with
 * FAILED_PRECONDITION rather than silently repaired or replaced, because it holds the audit trail.
 */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}): Database {
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new CountersignError('INVALID_ARGUMENT', `busyTimeoutMs must be a non-negative integer, got ${busyTimeoutMs}`);
  }
  const memory = file === ':memory:';
  const absolute = memory ? file : path.resolve(file);
  if (!memory) prepareFile(absolute);

  let raw: DatabaseSync;
  try {
    raw = new DatabaseSync(absolute, { timeout: busyTimeoutMs, enableForeignKeyConstraints: true, defensive: true });
  } catch (err) {
    throw openError(absolute, err);
  }
  try {
    // Check before anything writes to the file (switching to WAL writes the header).
    const check = options.integrityCheck ?? 'quick';
    if (check !== 'none') checkIntegrity(raw, absolute, check);
    if (!memory) {
      const mode = raw.prepare('PRAGMA journal_mode = WAL').get()?.journal_mode;
      if (mode !== 'wal') {
        throw new CountersignError(
          'FAILED_PRECONDITION',
          `database ${absolute} could not be switched to write-ahead logging (journal_mode is ${String(mode)}); ` +
            'put the data directory on a local filesystem (WAL does not work on network filesystems)',
        );
      }
    }
    // FULL: a commit is on disk (WAL fsynced) before COMMIT returns; a crash loses nothing committed.
    raw.exec('PRAGMA synchronous = FULL');
    raw.exec('PRAGMA foreign_keys = ON');
    raw.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
  } catch (err) {
    try {
      raw.close();
    } catch {
      // Already failing; the original error is the one to report.
    }
    throw err instanceof CountersignError ? err : openError(absolute, err);
  }
  return new SqliteDatabase(raw, absolute);
}

function prepareFile(file: string): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // Create the file ourselves so that it starts 0600 whatever the umask; an empty file is a
    // valid new SQLite database. An existing file is opened without changing it.
    closeSync(openSync(file, 'a', 0o600));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CountersignError(
      'FAILED_PRECONDITION',
      `cannot create database ${file} (${code ?? String(err)}): check that the data directory exists and is writable by the service user`,
      { cause: err },
    );
  }
}

function checkIntegrity(raw: DatabaseSync, file: string, check: 'quick' | 'full'): void {
  const pragma = check === 'quick' ? 'quick_check' : 'integrity_check';
  let problems: string[];
  try {
    // Up to 10 problems are enough to describe the damage.
    problems = raw
      .prepare(`PRAGMA ${pragma}(10)`)
      .all()
      .map((row) => String(Object.values(row)[0]));
  } catch (err) {
    throw openError(file, err);
  }
  if (problems.length === 1 && problems[0] === 'ok') return;
  throw corruptError(file, problems.join('; '));
}

function corruptError(file: string, detail: string, cause?: unknown): CountersignError {
  return new CountersignError(
    'FAILED_PRECONDITION',
    `database ${file} is corrupt (${detail}). Countersign will not use it. Stop the service, keep a copy of the ` +
      'file for investigation (it holds the audit trail), and restore the latest backup in its place',
    { cause, details: { file } },
  );
}

/** Maps an error from opening or checking the file to an actionable CountersignError. */
function openError(file: string, err: unknown): CountersignError {
  const message = err instanceof Error ? err.message : String(err);
  switch (sqliteErrorCode(err)) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return corruptError(file, message, err);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return new CountersignError(
        'UNAVAILABLE',
        `database ${file} is locked by another process (${message}); retry, or stop the other process`,
        { cause: err, details: { file } },
      );
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return new CountersignError(
        'FAILED_PRECONDITION',
        `cannot open database ${file} for writing (${message}): check the permissions of the file and its directory`,
        { cause: err, details: { file } },
      );
    case SQLITE_FULL:
    case SQLITE_IOERR:
      return new CountersignError(
        'UNAVAILABLE',
        `I/O error on database ${file} (${message}): check free disk space and the health of the disk`,
        { cause: err, details: { file } },
      );
    default:
      return new CountersignError('INTERNAL', `cannot open database ${file}: ${message}`, {
        cause: err,
        details: { file },
      });
  }
}

class SqliteStatement implements Statement {
  private readonly stmt: StatementSync;

  constructor(stmt: StatementSync) {
    this.stmt = stmt;
  }

  run(...params: SqlParam[]): { changes: number; lastInsertRowid: number } {
    const result = this.stmt.run(...params);
    return { changes: Number(result.changes), lastInsertRowid: Number(result.lastInsertRowid) };
  }

  get(...params: SqlParam[]): SqlRow | undefined {
    return this.stmt.get(...params);
  }

  all(...params: SqlParam[]): SqlRow[] {
    return this.stmt.all(...params);
  }

  *iterate(...params: SqlParam[]): IterableIterator<SqlRow> {
    // Breaking out of the loop calls return() on the inner iterator, which resets the statement.
    yield* this.stmt.iterate(...params);
  }
}

class SqliteDatabase implements Database {
  readonly file: string;
  private readonly raw: DatabaseSync;
  /** Depth of `transaction` calls in progress: 0 outside, 1 in the outermost, >1 nested. */
  private depth = 0;
  private closed = false;

  constructor(raw: DatabaseSync, file: string) {
    this.raw = raw;
    this.file = file;
  }

  exec(sql: string): void {
    this.raw.exec(sql);
  }

  prepare(sql: string): Statement {
    return new SqliteStatement(this.raw.prepare(sql));
  }

  transaction<T>(fn: () => T): T {
    const outermost = this.depth === 0;
    const savepoint = `countersign_sp_${this.depth}`;
    if (outermost) this.begin();
    else this.raw.exec(`SAVEPOINT ${savepoint}`);
    this.depth++;
    let result: T;
    try {
      result = fn();
      if (isThenable(result)) {
        // Swallow the promise's eventual rejection: the caller gets the error below instead.
        (result as PromiseLike<unknown>).then(undefined, () => undefined);
        throw new CountersignError(
          'INTERNAL',
          'Database.transaction was given an async function; its work would run after the commit. ' +
            'Do the asynchronous work first, then run the writes in a synchronous function',
        );
      }
    } catch (err) {
      this.depth--;
      this.rollback(outermost, savepoint);
      throw err;
    }
    this.depth--;
    if (!outermost) {
      this.raw.exec(`RELEASE ${savepoint}`);
      return result;
    }
    try {
      this.raw.exec('COMMIT');
    } catch (err) {
      this.rollback(true, savepoint);
      throw this.writeError(err);
    }
    return result;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      // Cheap at close; keeps query plans good as tables grow.
      this.raw.exec('PRAGMA optimize');
    } catch {
      // Advisory only.
    }
    this.raw.close();
  }

  private begin(): void {
    try {
      // IMMEDIATE takes the write lock now (waiting up to busy_timeout), so reads inside the
      // transaction see the latest commit and no other writer can slip in before our writes.
      this.raw.exec('BEGIN IMMEDIATE');
    } catch (err) {
      throw this.writeError(err);
    }
  }

  private rollback(outermost: boolean, savepoint: string): void {
    // SQLite may already have rolled back on its own (e.g. after SQLITE_FULL); then there is
    // nothing to undo, and trying would only replace the real error with "no transaction".
    if (!this.raw.isTransaction) return;
    try {
      if (outermost) this.raw.exec('ROLLBACK');
      else this.raw.exec(`ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`);
    } catch {
      // The original error matters more than a failed rollback.
    }
  }

  private writeError(err: unknown): unknown {
    const code = sqliteErrorCode(err);
    if (code === SQLITE_BUSY || code === SQLITE_LOCKED) {
      return new CountersignError(
        'UNAVAILABLE',
        `database ${this.file} is busy: another writer held it for more than the busy timeout; retry`,
        { cause: err, details: { file: this.file } },
      );
    }
    if (code === SQLITE_FULL || code === SQLITE_IOERR) {
      return new CountersignError(
        'UNAVAILABLE',
        `could not write to database ${this.file} (${(err as Error).message}): check free disk space and the disk`,
        { cause: err, details: { file: this.file } },
      );
    }
    return err;
  }
}

function isThenable(value: unknown): boolean {
  return (
    (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}
