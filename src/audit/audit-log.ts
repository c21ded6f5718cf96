import crypto from 'node:crypto';
import { CountersignError } from '../shared/errors';
import type { SqlParam, SqlRow } from '../store/database';
import { migrateSchema, type SchemaMigration } from '../store/schema';
import type { SqlExecutor, SqlStore, SqlTransaction } from '../store/sql-store';
import { canonicalJson } from '../formats/canonical-json';

export type AuditOutcome = 'success' | 'denied' | 'failure';

/**
 * What happened, as a caller reports it. `details` is free-form context (a key id, the old and new
 * state, the RPC method). It is stored and shown to operators as is, so it must never contain
 * secrets: no private keys, passphrases, tokens or credentials. Refer to keys by name or id.
 */
export interface AuditEntry {
  /** Who: the authenticated principal (a user, a service account, 'system' for the service itself). */
  actor: string;
  /** What, as a stable dotted verb: 'key.create', 'key.revoke', 'sign.denied'. */
  action: string;
  /** What it was done to: a key name or id, an image reference. */
  target?: string;
  outcome: AuditOutcome;
  /** Why: the justification given, or why it was denied or failed. */
  reason?: string;
  details?: Record<string, unknown>;
  /** When; defaults to now. Stored as an ISO 8601 UTC timestamp with milliseconds. */
  at?: Date;
}

/** An entry as recorded (the entry's fields, its time as text): its place in the chain and its hash. */
export interface AuditRecord extends Omit<AuditEntry, 'at'> {
  /** Position in the log: 1, 2, 3, ... with no gaps. */
  seq: number;
  /** ISO 8601 UTC with milliseconds, e.g. 2025-01-31T12:00:00.000Z. */
  at: string;
  /** Hash of the previous record (GENESIS_HASH for seq 1). */
  prevHash: string;
  /** See `hashRecord`. */
  hash: string;
}

/** The latest entry of the log. Writing it down (or exporting it) lets `verify` later prove that nothing was cut off. */
export interface AuditHead {
  seq: number;
  hash: string;
}

export interface AuditListOptions {
  /** At most this many entries (default 50, at most 10000). */
  limit?: number;
  /** Only entries at or after this time. */
  since?: Date;
  actor?: string;
  action?: string;
  target?: string;
}

export type AuditVerifyResult =
  { ok: true; entries: number; head: string } | { ok: false; entries: number; brokenAt: number; problem: string };

/**
 * The `prevHash` of the first entry: 64 zeros, so that an independent verifier needs no
 * Countersign-specific constant besides the record layout.
 */
export const GENESIS_HASH = '0'.repeat(64);

/** The marker line of a PEM private key of any kind (PKCS#8, RSA, EC, OpenSSH, encrypted). */
export const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
const OUTCOMES: readonly AuditOutcome[] = ['success', 'denied', 'failure'];
const MAX_LIST = 10_000;
const MAX_FIELD = 1024;
const MAX_REASON = 4096;
const MAX_DETAILS = 64 * 1024;

/** The audit_log columns after seq, and its indexes: one text for both backends. */
const AUDIT_COLUMNS = `at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
        reason TEXT,
        details TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL`;
const AUDIT_INDEXES = `CREATE INDEX audit_log_at ON audit_log (at);
      CREATE INDEX audit_log_actor ON audit_log (actor, seq);
      CREATE INDEX audit_log_target ON audit_log (target, seq);`;
/**
 * Schema of the audit trail. The triggers make UPDATE and DELETE fail, as a guard against a code
 * path that would accidentally rewrite history. They are not a security boundary: anyone with
 * write access to the file can drop them (or edit the file). That is why every entry is
 * hash-chained to the one before: `verify` detects rows that were changed, removed, inserted or
 * reordered, and, given a head written down earlier, entries cut off the end.
 *
 * The same table on both backends but for seq's type and the append-only guard.
 */
const MIGRATIONS: readonly SchemaMigration[] = [
  {
    version: 1,
    sqlite: `
      CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        ${AUDIT_COLUMNS}
      ) STRICT;
      ${AUDIT_INDEXES}
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be updated'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be deleted'); END;
    `,
    // The same table; seq is the chain position, so two replicas can never both write entry n.
    postgres: `
      CREATE TABLE audit_log (
        seq BIGINT PRIMARY KEY,
        ${AUDIT_COLUMNS}
      );
      ${AUDIT_INDEXES}
      CREATE FUNCTION countersign_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN RAISE EXCEPTION 'audit_log is append-only: entries cannot be %', CASE TG_OP WHEN 'UPDATE' THEN 'updated' ELSE 'deleted' END; END
      $body$;
      CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION countersign_audit_append_only();
      CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION countersign_audit_append_only();
    `,
  },
];

/** Rows read per query by `verify` (the log is never loaded at once). */
const VERIFY_PAGE = 1000;

const COLUMNS = 'seq, at, actor, action, target, outcome, reason, details, prev_hash, hash';

/**
 * The hash of a record: lowercase hex SHA-256 over the UTF-8 bytes of
 * `prevHash + canonicalJson(body)`, where `body` is the record without `prevHash` and `hash`
 * (fields that are absent are left out, not written as null). With the genesis value above, a
 * verifier outside Countersign can recompute the chain from an export of the table.
 */
export function hashRecord(prevHash: string, record: Omit<AuditRecord, 'prevHash' | 'hash'>): string {
  return crypto
    .createHash('sha256')
    .update(prevHash + canonicalJson(bodyOf(record)), 'utf8')
    .digest('hex');
}

function bodyOf(record: Omit<AuditRecord, 'prevHash' | 'hash'>): Record<string, unknown> {
  return {
    seq: record.seq,
    at: record.at,
    actor: record.actor,
    action: record.action,
    target: record.target,
    outcome: record.outcome,
    reason: record.reason,
    details: record.details,
  };
}

/**
 * The append-only, hash-chained audit trail: every key change and every access denial, with who,
 * what, when and why. Record a change's entry inside the same store transaction as the change
 * itself (`append(entry, tx)`), so that there is never a change without its entry.
 */
export class AuditLog {
  private readonly store: SqlStore;

  private constructor(store: SqlStore) {
    this.store = store;
  }

  /** Opens the audit trail of `store`, creating or upgrading its table. */
  static async open(store: SqlStore): Promise<AuditLog> {
    await migrateSchema(store, 'audit', MIGRATIONS);
    return new AuditLog(store);
  }

  /**
   * Appends an entry and returns it as recorded. Given `tx`, inside that transaction (the change
   * and its entry commit together, or neither); else in a transaction of its own. The previous
   * hash is read inside the write transaction, which the store serializes across every process
   * and replica, so concurrent appends form one chain.
   * Refuses (INTERNAL) details that look like private key material: that is a caller bug.
   */
  async append(entry: AuditEntry, tx?: SqlTransaction): Promise<AuditRecord> {
    const at = entry.at ?? new Date();
    validate(entry, at);
    const details = entry.details === undefined ? undefined : canonicalJson(entry.details);
    if (details !== undefined && details.length > MAX_DETAILS) {
      throw new CountersignError(
        'RESOURCE_EXHAUSTED',
        `audit details of ${entry.action} are ${details.length} bytes of JSON; the limit is ${MAX_DETAILS}: record references, not contents`,
      );
    }
    const fields = {
      at: at.toISOString(),
      actor: storable(entry.actor),
      action: storable(entry.action),
      target: entry.target === undefined ? undefined : storable(entry.target),
      outcome: entry.outcome,
      reason: entry.reason === undefined ? undefined : storable(entry.reason),
      details: entry.details === undefined ? undefined : (JSON.parse(details as string) as Record<string, unknown>),
    };
    // Defence in depth: the whole entry, not only details, is checked for PEM private keys (the
    // marker, not the words: "PRIVATE KEY custodians" is an owner team, not a key).
    if (PEM_PRIVATE_KEY.test(canonicalJson(fields))) {
      throw new CountersignError(
        'INTERNAL',
        `refusing to record audit entry ${entry.action}: it contains a PEM private key marker, which looks like private key material. ` +
          'Audit entries must never contain secrets; refer to keys by name or id (this is a bug in the caller)',
      );
    }
    const write = async (w: SqlTransaction): Promise<AuditRecord> => {
      const last = await w.get('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
      const seq = last === undefined ? 1 : Number(last.seq) + 1;
      const prevHash = last === undefined ? GENESIS_HASH : String(last.hash);
      const record = { seq, ...fields };
      const hash = hashRecord(prevHash, record);
      await w.run(
        `INSERT INTO audit_log (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        seq,
        record.at,
        record.actor,
        record.action,
        record.target ?? null,
        record.outcome,
        record.reason ?? null,
        details ?? null,
        prevHash,
        hash,
      );
      // What the store gives back is what verify will hash: read it back in the same transaction,
      // so that no driver or database rewriting text (encodings, NUL, normalization) can store an
      // entry that fails verification for good. It is refused instead, and nothing is written.
      const stored = await w.get(`SELECT ${COLUMNS} FROM audit_log WHERE seq = ?`, seq);
      if (stored === undefined || hashRecord(prevHash, decode(stored)) !== hash) {
        throw new CountersignError('INTERNAL', `the store did not keep audit entry ${entry.action} as written; nothing was recorded`);
      }
      return withoutUndefined({ ...record, prevHash, hash });
    };
    return tx ? write(tx) : this.store.transaction(write);
  }

  /** Recent entries, newest first, optionally filtered (filters combine with AND). */
  async list(options: AuditListOptions = {}): Promise<AuditRecord[]> {
    const limit = options.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) {
      throw new CountersignError('INVALID_ARGUMENT', `limit must be an integer from 1 to ${MAX_LIST}, got ${limit}`);
    }
    const where: string[] = [];
    const params: string[] = [];
    if (options.since !== undefined) {
      if (!(options.since instanceof Date) || Number.isNaN(options.since.getTime())) {
        throw new CountersignError('INVALID_ARGUMENT', 'since must be a valid date');
      }
      checkYear(options.since, 'since');
      // ISO 8601 UTC strings of the same shape (years 0000-9999) sort like the instants they name.
      where.push('at >= ?');
      params.push(options.since.toISOString());
    }
    for (const column of ['actor', 'action', 'target'] as const) {
      const value = options[column];
      if (value !== undefined) {
        where.push(`${column} = ?`);
        params.push(value);
      }
    }
    const sql =
      `SELECT ${COLUMNS} FROM audit_log` + (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') + ` ORDER BY seq DESC LIMIT ${limit}`;
    return (await this.store.all(sql, ...params)).map((row) => {
      try {
        return decode(row);
      } catch (err) {
        throw new CountersignError(
          'DATA_LOSS',
          `audit entry ${String(row.seq)} cannot be read (${(err as Error).message}); run \`countersign audit verify\``,
          { cause: err },
        );
      }
    });
  }

  /** The latest entry's seq and hash; `{ seq: 0, hash: GENESIS_HASH }` for an empty log. */
  async head(): Promise<AuditHead> {
    return headOf(this.store);
  }

  /**
   * Recomputes the chain from the first entry to the last, one row at a time (the log is never
   * loaded at once). Detects entries that were modified (their hash no longer matches), deleted
   * (a gap in seq, or a first seq other than 1), inserted or reordered (an entry no longer links to
   * the one before it). With `expectHead` (a head recorded earlier) it also detects that entries
   * were cut off the end or rewritten from there on.
   *
   * What the chain alone cannot show: someone with write access to the file who recomputes every
   * hash after their change, or who removes trailing entries, produces a log that is consistent
   * with itself. Comparing with a head kept elsewhere is what catches that.
   *
   * `entries` is the number of entries that verified (before the problem, when there is one);
   * `brokenAt` is the seq of the first entry that does not.
   */
  async verify(options: { expectHead?: AuditHead } = {}): Promise<AuditVerifyResult> {
    const expectHead = options.expectHead;
    if (expectHead !== undefined && (!Number.isInteger(expectHead.seq) || expectHead.seq < 0 || !/^[0-9a-f]{64}$/.test(expectHead.hash))) {
      throw new CountersignError(
        'INVALID_ARGUMENT',
        'the expected head must be a seq (a non-negative integer) and a hash (64 lowercase hex digits), as returned by AuditLog.head()',
      );
    }
    let prev = GENESIS_HASH;
    let expectedSeq = 1;
    let entries = 0;
    let headFound = expectHead === undefined || (expectHead.seq === 0 && expectHead.hash === GENESIS_HASH);
    const fail = (brokenAt: number, problem: string): AuditVerifyResult => ({ ok: false, entries, brokenAt, problem });

    // Page by page in seq order (entries appended meanwhile extend the chain; none can change it).
    for await (const row of this.rowsInOrder()) {
      const seq = Number(row.seq);
      if (seq < expectedSeq) {
        // Only possible for seq < 1: seq is unique and read in ascending order.
        return fail(seq, `there is an entry with seq ${seq}, before the first: it was inserted`);
      }
      if (seq !== expectedSeq) {
        return fail(
          seq,
          expectedSeq === 1
            ? `the log starts at seq ${seq} instead of 1: the first ${seq - 1} entr${seq === 2 ? 'y was' : 'ies were'} deleted`
            : `entries ${expectedSeq}${seq - 1 > expectedSeq ? `..${seq - 1}` : ''} are missing: deleted from the log`,
        );
      }
      let record: AuditRecord;
      try {
        record = decode(row);
      } catch (err) {
        return fail(seq, `entry ${seq} cannot be read (${(err as Error).message}): it was modified`);
      }
      if (record.details !== undefined && canonicalJson(record.details) !== row.details) {
        return fail(seq, `entry ${seq} stores its details in a form Countersign never writes: they were modified`);
      }
      if (record.prevHash !== prev) {
        return fail(
          seq,
          seq === 1
            ? 'entry 1 does not start from the genesis hash: the start of the log was replaced'
            : `entry ${seq} does not link to entry ${seq - 1}: entries were inserted, removed, reordered or rewritten here`,
        );
      }
      if (hashRecord(prev, record) !== record.hash) {
        return fail(seq, `entry ${seq} does not match its hash: its content was modified`);
      }
      if (expectHead !== undefined && seq === expectHead.seq) {
        if (record.hash !== expectHead.hash) {
          return fail(
            seq,
            `entry ${seq} is not the recorded head (hash ${expectHead.hash}): the log was rewritten from entry ${seq} or earlier`,
          );
        }
        headFound = true;
      }
      prev = record.hash;
      expectedSeq++;
      entries++;
    }
    if (!headFound && expectHead !== undefined) {
      return fail(
        expectHead.seq,
        entries === 0
          ? `the log is empty but the recorded head is entry ${expectHead.seq}: the log was truncated or replaced`
          : `the log ends at entry ${entries} but the recorded head is entry ${expectHead.seq}: entries were removed from the end`,
      );
    }
    return { ok: true, entries, head: prev };
  }

  /** Every row in seq order, VERIFY_PAGE at a time. */
  private async *rowsInOrder(): AsyncGenerator<SqlRow> {
    let rows = await this.store.all(`SELECT ${COLUMNS} FROM audit_log ORDER BY seq LIMIT ${VERIFY_PAGE}`);
    while (rows.length > 0) {
      yield* rows;
      if (rows.length < VERIFY_PAGE) return;
      const last = rows[rows.length - 1]!.seq as SqlParam;
      rows = await this.store.all(`SELECT ${COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ${VERIFY_PAGE}`, last);
    }
  }
}

async function headOf(executor: SqlExecutor): Promise<AuditHead> {
  const last = await executor.get('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
  return last === undefined ? { seq: 0, hash: GENESIS_HASH } : { seq: Number(last.seq), hash: String(last.hash) };
}

function validate(entry: AuditEntry, at: Date): void {
  const text = (name: string, value: unknown, required: boolean, max: number): void => {
    if (value === undefined && !required) return;
    if (typeof value !== 'string' || (required && value.length === 0) || value.length > max) {
      throw new CountersignError(
        'INVALID_ARGUMENT',
        `audit entry ${name} must be ${required ? 'a non-empty' : 'a'} string of at most ${max} characters`,
      );
    }
  };
  text('actor', entry.actor, true, MAX_FIELD);
  text('action', entry.action, true, MAX_FIELD);
  text('target', entry.target, false, MAX_FIELD);
  text('reason', entry.reason, false, MAX_REASON);
  if (!OUTCOMES.includes(entry.outcome)) {
    throw new CountersignError('INVALID_ARGUMENT', `audit entry outcome must be one of ${OUTCOMES.join(', ')}`);
  }
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) {
    throw new CountersignError('INVALID_ARGUMENT', 'audit entry at must be a valid date');
  }
  checkYear(at, 'audit entry at');
  // The declared type says object; what a caller hands over at run time (a decoded request) may be anything.
  const details: unknown = entry.details;
  if (details !== undefined && (typeof details !== 'object' || details === null || Array.isArray(details))) {
    throw new CountersignError('INVALID_ARGUMENT', 'audit entry details must be a JSON object');
  }
}

/**
 * Times are stored as ISO 8601 text and compared as text (`since`): only years 0000-9999 print in
 * the one shape that sorts like the instant ("+010000-…" sorts before "2025-…").
 */
function checkYear(date: Date, name: string): void {
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new CountersignError('INVALID_ARGUMENT', `${name} must be a date in the years 0000 to 9999`);
}

/**
 * Text as both stores keep it: well-formed UTF-16 (a lone surrogate, what cutting a string at a
 * UTF-16 index leaves, is stored as U+FFFD by both drivers' UTF-8 encoding) and no U+0000
 * (PostgreSQL refuses it in TEXT). Applied before hashing, so what is hashed is what is stored;
 * a denied caller's text must still make a record, so it is replaced rather than refused.
 */
function storable(text: string): string {
  return text.toWellFormed().replaceAll('\u0000', '\ufffd');
}

function decode(row: SqlRow): AuditRecord {
  const str = (column: string): string => {
    const value = row[column];
    if (typeof value !== 'string') throw new Error(`${column} is not text`);
    return value;
  };
  const optional = (column: string): string | undefined => (row[column] === null ? undefined : str(column));
  const outcome = str('outcome');
  if (!(OUTCOMES as readonly string[]).includes(outcome)) throw new Error(`unknown outcome ${JSON.stringify(outcome)}`);
  const detailsText = optional('details');
  let details: Record<string, unknown> | undefined;
  if (detailsText !== undefined) {
    const parsed: unknown = JSON.parse(detailsText);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('details is not a JSON object');
    details = parsed as Record<string, unknown>;
  }
  return withoutUndefined({
    seq: Number(row.seq),
    at: str('at'),
    actor: str('actor'),
    action: str('action'),
    target: optional('target'),
    outcome: outcome as AuditOutcome,
    reason: optional('reason'),
    details,
    prevHash: str('prev_hash'),
    hash: str('hash'),
  });
}

/** Drops absent optional fields, so records compare and print cleanly. */
function withoutUndefined<T extends object>(record: T): T {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as T;
}
