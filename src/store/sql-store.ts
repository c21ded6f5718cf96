/**
 * The asynchronous storage seam that every stateful component (keys, tokens, the audit chain)
 * is written against, implemented by the embedded SQLite (the default, one replica) and by
 * PostgreSQL (several replicas sharing one database: `store.url`).
 *
 * What an implementation promises (the same as `Database`'s, made asynchronous):
 * - **Durability**: once `transaction` resolves, its writes survive a crash; a crash before that
 *   leaves none of them.
 * - **Serialized writers**: `transaction` runs `fn` with exclusive write access across every
 *   process using the store (SQLite: `BEGIN IMMEDIATE` plus an in-process queue; PostgreSQL: a
 *   transaction-scoped advisory lock), so a read-then-write inside it (read the audit head,
 *   append the next entry) cannot interleave with another writer. Waiting is bounded; past the
 *   bound it rejects with UNAVAILABLE.
 * - **All or nothing**: if `fn` rejects, every write it made is rolled back and the error
 *   propagates unchanged.
 * - **Changes are published on commit**: `tx.changed(kind)` inside a transaction bumps that kind's
 *   revision in the same transaction and, once it has committed, tells every process using the
 *   store (this one synchronously, before `transaction` resolves) through `changes`.
 * - **Positional parameters** only (`?`, rewritten to `$n` for PostgreSQL), SQL from the common
 *   subset of both dialects; schema changes go through `migrateSchema` (schema.ts), which takes
 *   one script per dialect.
 *
 * Work inside `fn` must be store work only (no registry requests, no timers): the write lock is
 * held for as long as `fn` runs. Use `tx`, never the store itself, inside `fn` (the store's own
 * methods would wait for the transaction that is running them).
 */
import type { SqlParam, SqlRow } from './database';
import type { StoreChanges, ChangeKind } from './store-changes';

export type { SqlParam, SqlRow, SqlValue } from './database';

/** Reads and writes, inside or outside a transaction. */
export interface SqlExecutor {
  /** Every row of a query. */
  all(sql: string, ...params: SqlParam[]): Promise<SqlRow[]>;
  /** The first row, or undefined. */
  get(sql: string, ...params: SqlParam[]): Promise<SqlRow | undefined>;
  /** A write; `changes` is the number of rows it touched. */
  run(sql: string, ...params: SqlParam[]): Promise<{ changes: number }>;
}

export interface SqlTransaction extends SqlExecutor {
  /** Runs one or more statements that take no parameters and return nothing (DDL). */
  exec(sql: string): Promise<void>;
  /** Publishes `kind` as changed once this transaction commits (nothing is published on rollback). */
  changed(kind: ChangeKind): void;
}

export type StoreDialect = 'sqlite' | 'postgres';

export interface SqlStore extends SqlExecutor {
  readonly dialect: StoreDialect;
  /** What it is, for messages and logs: `database /path/countersign.db`, `PostgreSQL user@host:port/db` (never a password). */
  readonly description: string;
  /** Where changes made by any process using the store are announced. */
  readonly changes: StoreChanges;
  /** Runs `fn` as one serialized write transaction (see the promises above). */
  transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T>;
  /**
   * Why the store cannot currently be relied on (undefined when it can): for readiness and for
   * Verify's decisions that need the store. Synchronous: it reports what the store last saw.
   */
  health(): string | undefined;
  /**
   * Why changes made through other processes or replicas may currently go unseen here (the
   * listening connection is down, the periodic check fails), else undefined. Cheap (no query):
   * Verify asks on every call.
   */
  staleness(): string | undefined;
  /** Closes connections and timers; later calls fail. Closing twice is harmless. */
  close(): Promise<void>;
}

/**
 * `?` placeholders → `$1`, `$2`, … (PostgreSQL). Question marks inside single-quoted literals,
 * double-quoted identifiers and comments are left alone.
 */
export function numberedPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end === -1 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '?') {
      out += `$${++n}`;
    } else {
      out += c;
    }
  }
  return out;
}
