/**
 * PostgreSQL behind the asynchronous store interface, for several replicas sharing one database
 * (`store.url: postgres://…`): a connection pool for queries and transactions, one dedicated
 * connection that LISTENs for the other replicas' changes, and a periodic revision check.
 *
 * - Writers are serialized across replicas by a transaction-scoped advisory lock taken first in
 *   every write transaction (released by COMMIT or ROLLBACK, or by the server when a replica dies
 *   mid-transaction), the counterpart of SQLite's BEGIN IMMEDIATE: the audit head is read and the
 *   next entry appended by one writer at a time, across all replicas.
 * - A transaction that changed a kind bumps its row in `store_revisions` and sends
 *   `NOTIFY countersign_changes, '<kind>'` inside the transaction: PostgreSQL delivers it to every
 *   listening replica when (and only if) the transaction commits.
 * - The listening connection reconnects when it drops (announcing `all`: notifications may have
 *   been missed meanwhile), and every `revisionCheckMs` the revisions are compared with the last
 *   seen (the safety net for a lost notification). While either fails, `health()` says why.
 * - A notification's payload is only a hint: an unknown or malformed one is ignored, a forged one
 *   (any user of the database may NOTIFY) causes a re-read and nothing else.
 * - This replica's own NOTIFY comes back to its listener too: it is recognised (the sending
 *   session's backend pid and the kind, noted before COMMIT) and skipped, since the commit was
 *   already announced here. A note whose notification never came (the listener was down) is
 *   dropped when the listener reconnects.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { CountersignError } from '../shared/errors';
import { describeStoreUrl, isConnectionError, storeError } from './postgres-errors';
import { createPostgresPool } from './postgres-pool';
import { BUMP_REVISION_SQL, migrateSchema, STORE_MIGRATIONS } from './schema';
import { numberedPlaceholders, type SqlStore, type SqlTransaction } from './sql-store';
import type { SqlParam, SqlRow } from './database';
import { CHANGE_KINDS, ChangeFeed, isChangeKind, type ChangeKind } from './store-changes';

/** The channel every replica LISTENs on. */
export const CHANGES_CHANNEL = 'countersign_changes';

export interface PostgresStoreOptions {
  /** Connections in the pool. Default 10. */
  maxConnections?: number;
  /** Time allowed to connect (startup check included). Default 5 s. */
  connectTimeoutMs?: number;
  /** How long a write waits for another replica's write lock before UNAVAILABLE. Default 5 s. */
  lockTimeoutMs?: number;
  /** The safety-net revision check. Default 3000 ms; 0: none (tests). */
  revisionCheckMs?: number;
  /** First delay before reconnecting the listening connection (doubles up to 5 s). Default 250 ms. */
  reconnectMs?: number;
  /**
   * How long the revision check waits for the database, and for the listening connection to
   * answer a ping, before it reports the store behind (and reconnects the listener). Default 5 s.
   */
  answerTimeoutMs?: number;
  /** Every query and transaction, with its duration (the store-latency histogram). */
  observe?: (operation: 'query' | 'transaction', seconds: number) => void;
}

/** The advisory-lock keys of the store's write lock (namespaced, so other users of the database do not collide). */
function writeLockKeys(): [number, number] {
  const h = createHash('sha256').update('countersign/store/write').digest();
  return [h.readInt32BE(0), h.readInt32BE(4)];
}
const [WRITE_K1, WRITE_K2] = writeLockKeys();

export class PostgresStore implements SqlStore {
  readonly dialect = 'postgres' as const;
  readonly description: string;
  readonly changes = new ChangeFeed();
  private readonly options: PostgresStoreOptions;
  private listener: pg.Client | undefined;
  /** Drops the listening connection as lost (and reconnects): set while one is open. */
  private dropListener: ((why: string) => void) | undefined;
  private listenerProblem: string | undefined;
  private checkProblem: string | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay: number;
  private checkTimer: NodeJS.Timeout | undefined;
  private revisions = new Map<string, string>();
  /** `<backend pid>:<kind>` of this replica's notifications on their way back to its listener, with their count. */
  private readonly ownNotifications = new Map<string, number>();
  private closed = false;
  private readonly url: string;
  private readonly pool: pg.Pool;

  private constructor(url: string, pool: pg.Pool, options: PostgresStoreOptions) {
    this.url = url;
    this.pool = pool;
    this.description = describeStoreUrl(url);
    this.options = options;
    this.reconnectDelay = options.reconnectMs ?? 250;
  }

  /**
   * Connects (so an unreachable server, refused credentials or a missing database fail at startup
   * with a message saying which), creates or checks the store's tables, starts listening.
   */
  static async connect(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const pool = createPostgresPool(url, options);
    const store = new PostgresStore(url, pool, options);
    try {
      await pool.query('SELECT 1').catch((err: unknown) => {
        throw storeError(store.description, 'connecting', err);
      });
      await migrateSchema(store, 'store', STORE_MIGRATIONS);
      await store.listen();
      store.revisions = await store.readRevisions();
    } catch (err) {
      await store.close();
      throw err;
    }
    const every = options.revisionCheckMs ?? 3000;
    if (every > 0) {
      store.checkTimer = setInterval(() => void store.checkRevisions(), every);
      store.checkTimer.unref();
    }
    return store;
  }

  all(sql: string, ...params: SqlParam[]): Promise<SqlRow[]> {
    return this.query(sql, params).then((r) => r.rows);
  }

  get(sql: string, ...params: SqlParam[]): Promise<SqlRow | undefined> {
    return this.query(sql, params).then((r) => r.rows[0]);
  }

  run(sql: string, ...params: SqlParam[]): Promise<{ changes: number }> {
    return this.query(sql, params).then((r) => ({ changes: r.rowCount ?? 0 }));
  }

  async transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    this.ensureOpen();
    const started = process.hrtime.bigint();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      this.noteFailure(err);
      throw storeError(this.description, 'connecting', err);
    }
    // A connection that dies while we hold it must not crash the process.
    const onError = (): void => undefined;
    client.on('error', onError);
    const kinds = new Set<ChangeKind>();
    const notes: string[] = [];
    let open = true;
    const exec = async (sql: string, params: SqlParam[] = []): Promise<pg.QueryResult<SqlRow>> => {
      if (!open) throw new CountersignError('INTERNAL', 'a store transaction was used after it ended');
      return client.query<SqlRow>(numberedPlaceholders(sql), params as unknown[]);
    };
    const tx: SqlTransaction = {
      all: async (sql, ...params) => (await exec(sql, params)).rows,
      get: async (sql, ...params) => (await exec(sql, params)).rows[0],
      run: async (sql, ...params) => ({ changes: (await exec(sql, params)).rowCount ?? 0 }),
      exec: async (sql) => {
        if (!open) throw new CountersignError('INTERNAL', 'a store transaction was used after it ended');
        await client.query(sql);
      },
      changed: (kind) => {
        kinds.add(kind);
      },
    };
    let broken = false as boolean; // set by the catch blocks below before they throw: TypeScript's flow analysis does not carry that into finally
    let backendPid: number | undefined;
    try {
      try {
        await client.query('BEGIN');
        // Bounds the wait for another replica's write (an ordinary lock wait): past it, 55P03.
        await client.query(`SELECT set_config('lock_timeout', $1, true)`, [`${this.options.lockTimeoutMs ?? 5000}ms`]);
        // The backend pid names this session in the notifications it sends (no extra round trip).
        const locked = await client.query<{ pid: number }>('SELECT pg_advisory_xact_lock($1, $2), pg_backend_pid() AS pid', [
          WRITE_K1,
          WRITE_K2,
        ]);
        backendPid = locked.rows[0]?.pid;
      } catch (err) {
        broken = true;
        throw this.mapError(err, 'starting a write');
      }
      let result: T;
      try {
        result = await fn(tx);
        for (const kind of kinds) {
          await client.query(numberedPlaceholders(BUMP_REVISION_SQL), [kind]);
          await client.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, kind]);
          // Noted before COMMIT: the listener may receive it before COMMIT's reply arrives here.
          if (backendPid !== undefined) notes.push(this.noteOwnNotification(backendPid, kind));
        }
        await client.query('COMMIT');
      } catch (err) {
        for (const note of notes) this.forgetOwnNotification(note);
        open = false;
        try {
          await client.query('ROLLBACK');
        } catch {
          // The session is gone: the server rolled the transaction back with it.
          broken = true;
        }
        throw this.mapError(err, 'writing');
      }
      open = false;
      for (const kind of kinds) this.changes.emit(kind, 'local');
      return result;
    } finally {
      open = false;
      client.off('error', onError);
      // A connection whose state we are unsure of is closed, not reused.
      client.release(broken ? true : undefined);
      this.options.observe?.('transaction', Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  staleness(): string | undefined {
    if (this.closed) return `${this.description} is closed`;
    return this.listenerProblem ?? this.checkProblem;
  }

  health(): string | undefined {
    return this.staleness();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.checkTimer) clearInterval(this.checkTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  /**
   * Runs the safety-net check now (tests; the timer calls it every revisionCheckMs): reads the
   * revisions, and pings the listening connection, each within answerTimeoutMs. A listener that
   * does not answer is dropped and reconnected: a half-open connection (its peer gone without a
   * reset) would otherwise stay "connected" and deliver no notification ever again.
   */
  async checkRevisions(): Promise<void> {
    if (this.closed) return;
    const ping = this.pingListener();
    let now: Map<string, string>;
    try {
      now = await this.readRevisions();
    } catch (err) {
      this.checkProblem = `${this.description} does not answer: ${err instanceof Error ? err.message : String(err)}`;
      await ping;
      return;
    }
    await ping;
    const recovered = this.checkProblem !== undefined;
    this.checkProblem = undefined;
    const previous = this.revisions;
    this.revisions = now;
    if (recovered) {
      this.changes.emit('all');
      return;
    }
    for (const kind of CHANGE_KINDS) if (now.get(kind) !== previous.get(kind)) this.changes.emit(kind);
  }

  private async query(sql: string, params: SqlParam[]): Promise<pg.QueryResult<SqlRow>> {
    this.ensureOpen();
    const started = process.hrtime.bigint();
    try {
      return await this.pool.query<SqlRow>(numberedPlaceholders(sql), params as unknown[]);
    } catch (err) {
      throw this.mapError(err, 'reading');
    } finally {
      this.options.observe?.('query', Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  private async readRevisions(): Promise<Map<string, string>> {
    // BIGINT comes as text unless a type parser someone set process-wide (pg.types) makes it a number or a bigint.
    const rows = (
      await this.pool.query<{ kind: string; revision: string | number | bigint }>({
        text: 'SELECT kind, revision FROM store_revisions',
        query_timeout: this.answerTimeoutMs(),
      } as pg.QueryConfig)
    ).rows;
    return new Map(rows.map((r) => [r.kind, String(r.revision)]));
  }

  private answerTimeoutMs(): number {
    return this.options.answerTimeoutMs ?? 5000;
  }

  private async pingListener(): Promise<void> {
    const listener = this.listener;
    const drop = this.dropListener;
    if (!listener || !drop) return;
    try {
      await listener.query({ text: 'SELECT 1', query_timeout: this.answerTimeoutMs() } as pg.QueryConfig);
    } catch (err) {
      if (this.listener === listener) drop(`it did not answer a ping (${err instanceof Error ? err.message : String(err)})`);
    }
  }

  private mapError(err: unknown, doing: string): unknown {
    if (err instanceof CountersignError) return err;
    const code = (err as { code?: string }).code;
    if (code === '55P03') {
      return new CountersignError('UNAVAILABLE', `timed out waiting for another replica's write to ${this.description}; retry`, {
        cause: err,
      });
    }
    if (isConnectionError(err)) {
      this.noteFailure(err);
      return storeError(this.description, doing, err);
    }
    return err;
  }

  /** A failed connection is reported by health() at once, not only at the next revision check. */
  private noteFailure(err: unknown): void {
    this.checkProblem ??= `${this.description} does not answer: ${err instanceof Error ? err.message : String(err)}`;
  }

  private ensureOpen(): void {
    if (this.closed) throw new CountersignError('UNAVAILABLE', `${this.description} is closed`);
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5000,
      application_name: 'countersign-listen',
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    const lost = (why: string): void => {
      if (this.listener !== client) return;
      this.listener = undefined;
      this.dropListener = undefined;
      this.listenerProblem = `the connection that receives other replicas' changes from ${this.description} was lost (${why}); reconnecting`;
      client.end().catch(() => undefined);
      this.scheduleReconnect();
    };
    client.on('error', (err) => lost(err.message));
    client.on('end', () => lost('closed by the server'));
    client.on('notification', (msg) => {
      if (msg.channel !== CHANGES_CHANNEL) return;
      // Our own commit, announced here when it committed: no second re-read.
      if (this.forgetOwnNotification(`${msg.processId}:${msg.payload ?? ''}`)) return;
      // Only a known kind is acted on (and acting is re-reading); anything else is ignored: the
      // periodic check catches up whatever a lost or mangled notification hid.
      if (isChangeKind(msg.payload)) this.changes.emit(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch (err) {
      client.removeAllListeners('end');
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      throw storeError(this.description, 'listening for changes', err);
    }
    this.listener = client;
    this.dropListener = lost;
    // Notifications sent while nobody listened never come: their notes would only linger.
    this.ownNotifications.clear();
  }

  private noteOwnNotification(backendPid: number, kind: ChangeKind): string {
    const note = `${backendPid}:${kind}`;
    this.ownNotifications.set(note, (this.ownNotifications.get(note) ?? 0) + 1);
    return note;
  }

  /** Removes one `note`; false when there was none. */
  private forgetOwnNotification(note: string): boolean {
    const count = this.ownNotifications.get(note);
    if (count === undefined) return false;
    if (count > 1) this.ownNotifications.set(note, count - 1);
    else this.ownNotifications.delete(note);
    return true;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(delay * 2, 5000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed) return;
      this.listen().then(
        () => {
          this.reconnectDelay = this.options.reconnectMs ?? 250;
          // Whatever was announced while we were not listening is re-read now. Announced before
          // the problem is cleared, in the same turn: the copies are re-reading (pending) from
          // the moment the store stops saying it is behind, never current-looking in between.
          this.changes.emit('all');
          this.listenerProblem = undefined;
          void this.checkRevisions();
        },
        () => this.scheduleReconnect(),
      );
    }, delay);
    this.reconnectTimer.unref();
  }
}
