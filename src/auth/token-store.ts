import crypto from 'node:crypto';
import type { AuditLog } from '../audit';
import { CountersignError } from '../shared/errors';
import type { SqlRow } from '../store/database';
import { migrateSchema, type SchemaMigration } from '../store/schema';
import type { SqlStore } from '../store/sql-store';
import { Refresher } from '../store/refresher';
import { validateGrant } from './grants';
import { isRole, type Identity, type Role } from './types';

/**
 * Bearer tokens for callers that cannot present a client certificate (typically CI jobs).
 *
 * A token is `cst_` followed by 32 random bytes in base64url (43 characters). It is shown once,
 * when it is created; the database keeps only:
 * - its SHA-256. Tokens are 256-bit uniformly random values, not passwords, so a fast hash is the
 *   right choice: recovering a token from its hash means searching 2^256 candidates, which no
 *   amount of hashing speed makes feasible, and no salt is needed since every input is unique
 *   and unguessable. A deliberately slow hash (bcrypt, scrypt, Argon2) only pays off for
 *   low-entropy secrets that can be guessed; here it would add tens of milliseconds of CPU to
 *   every RPC and hand unauthenticated callers a cheap way to exhaust the server.
 * - a prefix (`cst_` and the first 8 characters, 48 of the 256 bits), unique, used to find the
 *   row to compare against and shown in `list()` so that an operator can tell which token a
 *   leaked string is. It is an identifier, not a secret: the 208 bits that remain unknown are
 *   still far out of reach of guessing.
 *
 * The comparison against the stored hash is constant-time, and it is performed even when no row
 * has the prefix, so the time an answer takes reveals nothing about the stored hash.
 *
 * Every RPC presents its token, so the rows (prefix, hash and grant, never a token) are held in
 * memory and a check makes no query: a change through this store updates the copy before the
 * call that made it returns (a revocation takes effect at once), and a change by another process
 * or replica (the `countersign token` CLI, another replica on the same PostgreSQL, a sibling
 * worker) is re-read when the store announces it (`store.changes`). From the announcement until
 * that re-read is done, checks wait for it rather than answer from the copy it replaces: a
 * revocation announced by another replica is in force for the very next call. A prefix the copy
 * does not know is looked up in the store (a token created elsewhere a moment ago); a caller
 * cannot grow the copy, which only ever holds rows of the table.
 *
 * A token that matched its row once is remembered (presented token → row, `grants`), so the
 * calls after it skip the hash and the comparison and allocate nothing: a Map lookup of the
 * whole token, then the revocation and the expiry against the clock, on every call. Only genuine
 * tokens enter (at most one per row, and a bound besides), so a caller sending made-up tokens
 * cannot grow it; it is emptied whenever the rows change and on every announcement. The lookup
 * hashes the presented string with V8's seeded string hash and compares contents only on a
 * full hash match, so its timing tells a caller no more than whether they already hold a token.
 * It keeps the tokens in use themselves in the heap (every call's metadata holds one for a
 * moment anyway): a heap snapshot or core dump of a running server shows them, so such a dump is
 * a secret; keying by the hash instead would put the hash back on every call.
 */

const TOKEN_PREFIX = 'cst_';
const TOKEN_RANDOM_BYTES = 32;
/** `cst_` + 43 base64url characters (32 bytes, unpadded). */
const TOKEN_RE = /^cst_[A-Za-z0-9_-]{43}$/;
/** `cst_` + the first 8 characters of the random part. */
const PREFIX_LENGTH = TOKEN_PREFIX.length + 8;
const NAME_RE = /^[a-z0-9](?:[a-z0-9._-]{0,62})$/;
const MAX_ACTOR = 256;
const MAX_REASON = 1024;

const TABLE = `
  name TEXT PRIMARY KEY,
  prefix TEXT NOT NULL UNIQUE,
  token_sha256 TEXT NOT NULL,
  roles TEXT NOT NULL,
  scopes TEXT NOT NULL,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  expires_at TEXT,
  revoked_at TEXT,
  revoked_by TEXT,
  revoke_reason TEXT`;

const MIGRATIONS: readonly SchemaMigration[] = [
  { version: 1, sqlite: `CREATE TABLE auth_tokens (${TABLE}) STRICT;`, postgres: `CREATE TABLE auth_tokens (${TABLE});` },
];

const COLUMNS = 'name, prefix, token_sha256, roles, scopes, created_at, created_by, expires_at, revoked_at, revoked_by, revoke_reason';

export interface CreateTokenRequest {
  /** Unique (also among revoked tokens): lowercase letters, digits, '.', '_', '-'; e.g. "ci-team-a". */
  name: string;
  roles: Role[];
  /** Repository patterns for the signer role (required with it); ignored by the other roles. */
  scopes?: string[];
  /** After this instant the token no longer authenticates. None: until revoked. */
  expiresAt?: Date;
  /** Who asked for it (recorded, and in the audit trail). */
  createdBy: string;
}

/** A token as listed: everything except the secret and its hash. */
export interface TokenRecord {
  name: string;
  /** Non-secret identifier: the token's first 12 characters, e.g. `cst_Ab3dEf9h`. */
  prefix: string;
  roles: Role[];
  scopes: string[];
  /** ISO 8601 UTC. */
  createdAt: string;
  createdBy: string;
  expiresAt?: string;
  revokedAt?: string;
  revokedBy?: string;
  revokeReason?: string;
  /** As of the time of the call. */
  state: 'active' | 'expired' | 'revoked';
}

/** Why a token did or did not authenticate (more precise than `authenticate`, for messages). */
export type TokenCheck =
  | { ok: true; identity: Identity; record: TokenRecord }
  | { ok: false; problem: 'malformed' | 'unknown' }
  /** The token is genuine but no longer valid; `name` and `at` are safe to tell its holder. */
  | { ok: false; problem: 'expired' | 'revoked'; name: string; at: string };

export interface TokenStoreOptions {
  /** Records token.create and token.revoke in the same transaction as the change. */
  audit?: AuditLog;
  /** Clock, for tests. */
  now?: () => Date;
}

/** A hash that no token has, compared against when no row matches, so both paths do the same work. */
const NO_MATCH = Buffer.alloc(32);
/** Genuine tokens remembered (one per row at most); beyond it the oldest is forgotten (a bound, not a policy). */
const MAX_GRANTS = 10_000;

export class TokenStore {
  private readonly store: SqlStore;
  private readonly audit: AuditLog | undefined;
  private readonly now: () => Date;
  /** prefix → row (and its decoding, done once): the whole table, as of the last read. */
  private rows = new Map<string, Known>();
  /** Presented token → its row in `rows`, for tokens that matched it (see the class comment). */
  private readonly grants = new Map<string, Known>();
  /** Bumped by every change of `rows`, so a read that started before a newer change is not applied as it is. */
  private generation = 0;
  /** A change was announced and not yet re-read: checks wait for `catchingUp`. */
  private stale = false;
  /** The re-read that covers every announcement so far. */
  private catchingUp: Promise<void> | undefined;
  private readonly unsubscribe: () => void;
  private readonly refresher = new Refresher(() => this.reload());

  private constructor(store: SqlStore, options: TokenStoreOptions) {
    this.store = store;
    this.audit = options.audit;
    this.now = options.now ?? (() => new Date());
    this.unsubscribe = store.changes.subscribe((signal) => {
      if (signal === 'tokens' || signal === 'all') this.announced();
    });
  }

  /** Opens the tokens of `store`, creating or upgrading the table, and reads them into memory. */
  static async open(store: SqlStore, options: TokenStoreOptions = {}): Promise<TokenStore> {
    await migrateSchema(store, 'auth', MIGRATIONS);
    const tokens = new TokenStore(store, options);
    await tokens.refresh();
    return tokens;
  }

  /** Stops following the store's changes. */
  close(): void {
    this.unsubscribe();
  }

  /**
   * Creates a token. `token` is the only copy of the secret: hand it to its user now, it cannot
   * be shown again (create a new one if it is lost, and revoke the old).
   */
  async create(request: CreateTokenRequest): Promise<{ token: string; record: TokenRecord }> {
    const name = request.name;
    if (typeof name !== 'string' || !NAME_RE.test(name)) {
      throw new CountersignError(
        'INVALID_ARGUMENT',
        `token name ${JSON.stringify(name)} is not valid: 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. "ci-team-a")`,
      );
    }
    const { roles, scopes } = validateGrant(`token ${name}`, request.roles, request.scopes);
    const createdBy = request.createdBy;
    if (typeof createdBy !== 'string' || createdBy.length === 0 || createdBy.length > MAX_ACTOR) {
      throw new CountersignError('INVALID_ARGUMENT', `token ${name}: createdBy must name who creates it (at most ${MAX_ACTOR} characters)`);
    }
    const now = this.now();
    const expiresAt = request.expiresAt;
    if (expiresAt !== undefined) {
      if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime())) {
        throw new CountersignError('INVALID_ARGUMENT', `token ${name}: expiresAt must be a valid date`);
      }
      if (expiresAt.getTime() <= now.getTime()) {
        throw new CountersignError('INVALID_ARGUMENT', `token ${name}: expiresAt ${expiresAt.toISOString()} is not in the future`);
      }
    }

    const { token, row } = await this.store.transaction(async (tx) => {
      const existing = await tx.get('SELECT revoked_at FROM auth_tokens WHERE name = ?', name);
      if (existing !== undefined) {
        const revoked = existing.revoked_at === null ? '' : ` (revoked at ${String(existing.revoked_at)}; names are never reused)`;
        throw new CountersignError('ALREADY_EXISTS', `a token named ${name} already exists${revoked}; choose another name`);
      }
      let secret: string;
      let prefix: string;
      // A prefix collision is a 1-in-2^48 event per pair of tokens; drawing again settles it.
      do {
        secret = TOKEN_PREFIX + crypto.randomBytes(TOKEN_RANDOM_BYTES).toString('base64url');
        prefix = secret.slice(0, PREFIX_LENGTH);
      } while ((await tx.get('SELECT 1 AS found FROM auth_tokens WHERE prefix = ?', prefix)) !== undefined);

      const createdAt = now.toISOString();
      await tx.run(
        `INSERT INTO auth_tokens (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)`,
        name,
        prefix,
        sha256(secret).toString('hex'),
        JSON.stringify(roles),
        JSON.stringify(scopes),
        createdAt,
        createdBy,
        expiresAt?.toISOString() ?? null,
      );
      await this.audit?.append(
        {
          actor: createdBy,
          action: 'token.create',
          target: name,
          outcome: 'success',
          details: { roles, scopes, ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}) },
          at: now,
        },
        tx,
      );
      tx.changed('tokens');
      return { token: secret, row: await mustGet(tx, name) };
    });
    this.remember(row);
    return { token, record: decode(row, now) };
  }

  /** The identity a token stands for, or undefined if it is malformed, unknown, expired or revoked. */
  async authenticate(token: string): Promise<Identity | undefined> {
    const result = await this.check(token);
    return result.ok ? result.identity : undefined;
  }

  /**
   * Like `authenticate`, but says why a token was refused. Synchronous when the answer is in
   * memory (a remembered or known token and no announced change pending: no promise, no query,
   * and no dependence on the store being up); a promise when it must wait for the re-read of an
   * announced change or look up a prefix it has never seen. Throws (or rejects) DATA_LOSS for a
   * row modified outside Countersign, and the store's error when a re-read it waits for fails.
   */
  check(token: string): TokenCheck | Promise<TokenCheck> {
    if (typeof token !== 'string' || !TOKEN_RE.test(token)) return { ok: false, problem: 'malformed' };
    if (this.stale) return this.checkAfterCatchUp(token);
    // The store says this copy may miss changes (its announcements lost, or it does not answer):
    // a revocation made through another replica may be among them, so the token's row is read
    // now, on every call until the store is current again (and refused when it cannot be read).
    const behind = this.store.staleness();
    if (behind !== undefined) {
      return this.lookUp(token).catch((err: unknown) => {
        if (err instanceof CountersignError) throw err;
        throw new CountersignError('UNAVAILABLE', `the token cannot be checked: ${behind}`);
      });
    }
    const remembered = this.grants.get(token);
    if (remembered !== undefined) return answer(remembered, this.now());
    const prefix = token.slice(0, PREFIX_LENGTH);
    const known = this.rows.get(prefix);
    if (known !== undefined) return this.judge(token, known);
    return this.lookUp(token);
  }

  /** `token` judged by its row as read from the store now (a store that cannot be read rejects). */
  private async lookUp(token: string): Promise<TokenCheck> {
    const prefix = token.slice(0, PREFIX_LENGTH);
    const generation = this.generation;
    return this.store.get(`SELECT ${COLUMNS} FROM auth_tokens WHERE prefix = ?`, prefix).then((row) => {
      if (row === undefined) return this.judge(token, undefined);
      // A change made here while this read was under way is newer: answer from what was read
      // (the call began before it), but do not put the older row into the copy.
      return this.judge(token, generation === this.generation ? this.remember(row) : { row });
    });
  }

  /** `check` once every announced change has been re-read (again and again while new ones come). */
  private async checkAfterCatchUp(token: string): Promise<TokenCheck> {
    while (this.stale) await this.catchUp();
    return this.check(token);
  }

  /** Compares `token` with the row of its prefix (constant-time) and, if it is that row's token, remembers it. */
  private judge(token: string, known: Known | undefined): TokenCheck {
    const presented = sha256(token);
    const stored = known === undefined ? NO_MATCH : (known.hash ??= Buffer.from(String(known.row.token_sha256), 'hex'));
    // Constant-time: how long this takes does not depend on how many leading bytes agree.
    const equal = stored.length === presented.length && crypto.timingSafeEqual(presented, stored);
    if (known === undefined || !equal) return { ok: false, problem: 'unknown' };
    // Decoded (and a tampered row refused) before anything is remembered.
    const result = answer(known, this.now());
    // Only a row that is the copy's current one: a change empties `grants` and replaces its rows.
    if (this.rows.get(String(known.row.prefix)) === known) {
      if (this.grants.size >= MAX_GRANTS) this.grants.delete(this.grants.keys().next().value as string);
      this.grants.set(token, known);
    }
    return result;
  }

  /** Every token, oldest first, with its state; never the secret or its hash. */
  async list(): Promise<TokenRecord[]> {
    const now = this.now();
    return (await this.store.all(`SELECT ${COLUMNS} FROM auth_tokens ORDER BY created_at, name`)).map((row) => decode(row, now));
  }

  /** True when any token is active (neither revoked nor expired), from memory. */
  anyActive(): boolean {
    const now = this.now();
    for (const known of this.rows.values()) if (decode(known.row, now).state === 'active') return true;
    return false;
  }

  async get(name: string): Promise<TokenRecord | undefined> {
    const row = await this.store.get(`SELECT ${COLUMNS} FROM auth_tokens WHERE name = ?`, name);
    return row === undefined ? undefined : decode(row, this.now());
  }

  /**
   * Revokes a token: it stops authenticating at once (on this process before this returns; on
   * every other replica when the store's change reaches it). Revoking a revoked token changes
   * nothing and returns it as it is. Unknown names are NOT_FOUND.
   */
  async revoke(name: string, options: { revokedBy?: string; reason?: string } = {}): Promise<TokenRecord> {
    const revokedBy = options.revokedBy ?? 'system';
    if (revokedBy.length === 0 || revokedBy.length > MAX_ACTOR) {
      throw new CountersignError('INVALID_ARGUMENT', `revokedBy must be 1 to ${MAX_ACTOR} characters`);
    }
    if (options.reason !== undefined && options.reason.length > MAX_REASON) {
      throw new CountersignError('INVALID_ARGUMENT', `the revocation reason is longer than ${MAX_REASON} characters`);
    }
    const now = this.now();
    const row = await this.store.transaction(async (tx) => {
      const current = await tx.get(`SELECT ${COLUMNS} FROM auth_tokens WHERE name = ?`, name);
      if (current === undefined) {
        throw new CountersignError('NOT_FOUND', `no token named ${JSON.stringify(name)}; list tokens to see their names`);
      }
      if (current.revoked_at !== null && current.revoked_at !== undefined) return current;
      await tx.run(
        'UPDATE auth_tokens SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE name = ?',
        now.toISOString(),
        revokedBy,
        options.reason ?? null,
        name,
      );
      await this.audit?.append(
        {
          actor: revokedBy,
          action: 'token.revoke',
          target: name,
          outcome: 'success',
          ...(options.reason !== undefined ? { reason: options.reason } : {}),
          at: now,
        },
        tx,
      );
      tx.changed('tokens');
      return mustGet(tx, name);
    });
    this.remember(row);
    return decode(row, now);
  }

  /** Re-reads every row; resolves once a read that started after this call is done (announcements call it). */
  refresh(): Promise<void> {
    return this.refresher.request();
  }

  /** A change was announced (any process, any replica): nothing is answered from the copy until it is re-read. */
  private announced(): void {
    this.stale = true;
    this.grants.clear();
    // Started now, so that the calls that wait for it wait as little as possible; a failure is
    // theirs to report (they fail), and the next call starts another.
    this.catchUp(true).catch(() => undefined);
  }

  /**
   * The re-read that covers every announcement so far. `restart`: a new announcement (a re-read
   * already under way may have started before it; the Refresher queues one that starts after).
   */
  private catchUp(restart = false): Promise<void> {
    if (this.catchingUp !== undefined && !restart) return this.catchingUp;
    const run: Promise<void> = this.refresher.request().then(
      () => {
        // Only the latest: an earlier one may have read before the latest announcement.
        if (this.catchingUp !== run) return;
        this.catchingUp = undefined;
        this.stale = false;
      },
      (err: unknown) => {
        // Still stale (fail closed): the calls waiting fail, the next one tries again.
        if (this.catchingUp === run) this.catchingUp = undefined;
        throw err;
      },
    );
    this.catchingUp = run;
    return run;
  }

  /**
   * Re-reads every row. A read overtaken by a change made here is done again rather than
   * dropped: it may hold other processes' changes (what an announcement was about), which would
   * otherwise stay unseen until the next announcement.
   */
  private async reload(): Promise<void> {
    for (;;) {
      const generation = ++this.generation;
      const rows = await this.store.all(`SELECT ${COLUMNS} FROM auth_tokens`);
      if (generation !== this.generation) continue;
      this.rows = new Map(rows.map((row) => [String(row.prefix), { row }]));
      this.grants.clear();
      return;
    }
  }

  /** A row just written or read: newer than any read still under way. */
  private remember(row: SqlRow): Known {
    this.generation++;
    const known: Known = { row };
    const rows = new Map(this.rows);
    rows.set(String(row.prefix), known);
    this.rows = rows;
    this.grants.clear();
    return known;
  }
}

async function mustGet(tx: { get(sql: string, ...params: string[]): Promise<SqlRow | undefined> }, name: string): Promise<SqlRow> {
  const row = await tx.get(`SELECT ${COLUMNS} FROM auth_tokens WHERE name = ?`, name);
  if (row === undefined) throw new CountersignError('INTERNAL', `token ${name} vanished inside its own transaction`);
  return row;
}

/** A stored row and, once a check needed them, its decoding and the answers that do not change with the clock. */
interface Known {
  row: SqlRow;
  hash?: Buffer;
  /** Decoded once; its `state` is as of that moment (the state is recomputed per call: expiry). */
  record?: TokenRecord;
  /** `expiresAt` in ms (Infinity: none; NaN, unreadable: expired). */
  expiresMs?: number;
  /** The answer while the token is active: frozen, and shared by every call. */
  active?: Extract<TokenCheck, { ok: true }>;
}

/** The answer for a genuine token of `known`'s row at `now`: revoked, expired (checked on every call), or its grant. */
function answer(known: Known, now: Date): TokenCheck {
  const record = (known.record ??= decode(known.row, now));
  if (record.revokedAt !== undefined) return { ok: false, problem: 'revoked', name: record.name, at: record.revokedAt };
  const expiresMs = (known.expiresMs ??= record.expiresAt === undefined ? Infinity : Date.parse(record.expiresAt));
  // `!(… > …)`: an unreadable expiry counts as expired (fail closed).
  if (record.expiresAt !== undefined && !(expiresMs > now.getTime()))
    return { ok: false, problem: 'expired', name: record.name, at: record.expiresAt };
  return (known.active ??= activeAnswer(record));
}

/** Frozen all the way down: every call gets the same object, and none may change what the next one sees. */
function activeAnswer(decoded: TokenRecord): Extract<TokenCheck, { ok: true }> {
  const record: TokenRecord = Object.freeze({
    ...decoded,
    roles: Object.freeze([...decoded.roles]) as Role[],
    scopes: Object.freeze([...decoded.scopes]) as string[],
    state: 'active' as const,
  });
  const identity: Identity = Object.freeze({
    subject: `token:${record.name}`,
    roles: Object.freeze([...record.roles]) as Role[],
    scopes: Object.freeze([...record.scopes]) as string[],
    via: 'token' as const,
  });
  return Object.freeze({ ok: true as const, record, identity });
}

function sha256(text: string): Buffer {
  // One-shot (no Hash object): this runs on every call that presents a token.
  return crypto.hash('sha256', text, 'buffer');
}

function stateOf(revokedAt: string | undefined, expiresAt: string | undefined, now: Date): TokenRecord['state'] {
  if (revokedAt !== undefined) return 'revoked';
  // `!(… > …)`: an unreadable expiry counts as expired (fail closed).
  return expiresAt !== undefined && !(Date.parse(expiresAt) > now.getTime()) ? 'expired' : 'active';
}

function decode(row: SqlRow, now: Date): TokenRecord {
  const name = String(row.name);
  const list = (column: 'roles' | 'scopes'): string[] => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(String(row[column]));
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === 'string')) {
      throw new CountersignError(
        'DATA_LOSS',
        `token ${name}: stored ${column} are not a list of strings; the auth_tokens table was modified outside Countersign`,
      );
    }
    return parsed;
  };
  const roles = list('roles');
  const unknown = roles.find((r) => !isRole(r));
  if (unknown !== undefined) {
    // Fail closed: a role this version does not know grants nothing, but the row is suspicious.
    throw new CountersignError(
      'DATA_LOSS',
      `token ${name}: stored role ${JSON.stringify(unknown)} is unknown to this version of Countersign`,
    );
  }
  const optional = (column: string): string | undefined =>
    row[column] === null || row[column] === undefined ? undefined : String(row[column]);
  const expiresAt = optional('expires_at');
  const revokedAt = optional('revoked_at');
  const revokedBy = optional('revoked_by');
  const revokeReason = optional('revoke_reason');
  const state = stateOf(revokedAt, expiresAt, now);
  return {
    name,
    prefix: String(row.prefix),
    roles: roles as Role[],
    scopes: list('scopes'),
    createdAt: String(row.created_at),
    createdBy: String(row.created_by),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
    ...(revokedAt !== undefined ? { revokedAt } : {}),
    ...(revokedBy !== undefined ? { revokedBy } : {}),
    ...(revokeReason !== undefined ? { revokeReason } : {}),
    state,
  };
}
