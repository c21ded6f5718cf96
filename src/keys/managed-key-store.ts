/**
 * The managed key store: every key the service signs with and every public key it trusts, with
 * their lifecycle (create, import, rotate, revoke), in the embedded SQLite database.
 *
 * - Private keys are sealed at rest with the key-encryption key (AES-256-GCM, the key id as
 *   associated data, so a sealed blob cannot be moved to another row). They are opened only to
 *   sign and never leave this module.
 * - Every change runs in one transaction with its audit entry and a bump of the trust revision:
 *   either all of it is stored or none of it.
 * - It is also the TrustStore: verification sees every version of every key with its validity
 *   window and revocation, and the revision tells caches when anything changed. The revision is
 *   held in memory (Verify reads it on every call): this process's changes reload it in the
 *   method that makes them; another process's (the `countersign key` CLI, a second instance on
 *   the same data directory) is noticed through SQLite's data_version, read at most once every
 *   `changeCheckMs` (default 100 ms) by revision()/list(), and by the background poll.
 */
import crypto, { type KeyObject } from 'node:crypto';
import type { AuditLog } from '../audit';
import { CountersignError } from '../shared/errors';
import { scopeProblem } from '../shared/image-pattern';
import { ChangeWatch, migrate, type Database, type SqlRow, type Statement } from '../store';
import type { TrustedKey, TrustStore } from '../trust/types';
import { decryptCosignPrivateKey, kekFingerprint, openPrivateKey, parsePublicKeyPem, sealPrivateKey } from './crypto';
import { validateKeyName } from './key-name';
import { keyIdOf } from './key-id';
import type { KeyInfo, KeyPurpose, KeyState, KeyStore, SigningKey } from './types';

const MIGRATIONS = [
  {
    version: 1,
    sql: `
      CREATE TABLE keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        owner_team TEXT NOT NULL DEFAULT '',
        purpose TEXT NOT NULL CHECK (purpose IN ('signing', 'verification')),
        scopes TEXT NOT NULL DEFAULT '[]',
        algorithm TEXT NOT NULL,
        public_key_pem TEXT NOT NULL,
        sealed_private_key TEXT,
        valid_from TEXT,
        valid_until TEXT,
        state TEXT NOT NULL CHECK (state IN ('active', 'rotated', 'revoked')),
        state_reason TEXT,
        state_changed_at TEXT,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        predecessor_id TEXT,
        successor_id TEXT,
        UNIQUE (name, version),
        CHECK ((purpose = 'signing') = (sealed_private_key IS NOT NULL))
      );
      CREATE TABLE key_store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO key_store_meta (name, value) VALUES ('trust_revision', '0');
    `,
  },
];

/** How late a key change made by another process may be seen by revision() (see ChangeWatch). */
export const DEFAULT_CHANGE_CHECK_MS = 100;

/** Default overlap during which a rotated key still verifies. */
export const DEFAULT_ROTATION_OVERLAP_SECONDS = 7 * 24 * 3600;
/**
 * Longest overlap accepted: 100 years. Not a policy (an overlap cannot outlast the key's own
 * validity anyway), only a bound that keeps the end of the overlap a representable time.
 */
export const MAX_ROTATION_OVERLAP_SECONDS = 100 * 366 * 24 * 3600;

export interface KeyAttributes {
  name: string;
  ownerTeam?: string;
  scopes?: string[];
  validFrom?: Date;
  validUntil?: Date;
}

interface Row {
  id: string;
  name: string;
  version: number;
  owner_team: string;
  purpose: KeyPurpose;
  scopes: string;
  algorithm: string;
  public_key_pem: string;
  sealed_private_key: string | null;
  valid_from: string | null;
  valid_until: string | null;
  state: KeyState;
  state_reason: string | null;
  state_changed_at: string | null;
  created_at: string;
  created_by: string;
  predecessor_id: string | null;
  successor_id: string | null;
}

export class ManagedKeyStore implements KeyStore {
  private rows: Row[] = [];
  private trusted: TrustedKey[] = [];
  private trustedById = new Map<string, TrustedKey>();
  private rev = '';
  private readonly listeners = new Set<() => void>();
  private readonly opened = new Map<string, KeyObject>();
  private timer?: NodeJS.Timeout;
  private readonly now: () => Date;
  private readonly watch: ChangeWatch;
  private revisionStmt?: Statement;
  /** The same keys as verification sees them (every version, with validity and revocation). */
  readonly trust: TrustStore;

  /**
   * @param kek key-encryption key; checked against the fingerprint stored at first use, so a
   *            wrong KEK is a startup error rather than a failure at the first Sign.
   */
  constructor(
    private readonly db: Database,
    private readonly kek: Buffer,
    private readonly audit: AuditLog,
    opts: { now?: () => Date; pollMs?: number; changeCheckMs?: number } = {},
  ) {
    this.now = opts.now ?? (() => new Date());
    this.watch = new ChangeWatch(db, opts.changeCheckMs ?? DEFAULT_CHANGE_CHECK_MS, () => this.now().getTime());
    this.trust = {
      revision: () => this.revision(),
      list: () => this.trustedKeys(),
      byId: (id) => this.byId(id),
      onChange: (listener) => this.onChange(listener),
    };
    migrate(db, 'keys', MIGRATIONS);
    this.checkKek();
    this.reload();
    if (opts.pollMs !== 0) {
      this.timer = setInterval(() => this.refreshIfChanged(), opts.pollMs ?? 2000);
      this.timer.unref();
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  // ---- KeyStore (signing) -----------------------------------------------------------------

  createKey(attrs: KeyAttributes, actor: string): KeyInfo {
    validateKeyName(attrs.name);
    checkAttributes(attrs);
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return this.insertNew(attrs, actor, 'key.create', { purpose: 'signing', publicKey, privateKey });
  }

  /** A trusted public key (PEM `PUBLIC KEY`, e.g. a cosign.pub): verifies, never signs. */
  importPublicKey(attrs: KeyAttributes, pem: string, actor: string): KeyInfo {
    validateKeyName(attrs.name);
    checkAttributes(attrs);
    const publicKey = parsePublicKeyPem(pem);
    return this.insertNew(attrs, actor, 'key.import', { purpose: 'verification', publicKey });
  }

  /** A cosign encrypted private key: decrypted with its password, re-sealed under our KEK. */
  importCosignPrivateKey(attrs: KeyAttributes, pem: string, password: string, actor: string): KeyInfo {
    validateKeyName(attrs.name);
    checkAttributes(attrs);
    const privateKey = decryptCosignPrivateKey(pem, password);
    if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `only ECDSA P-256 keys can sign here (cosign's default); this is a ${describeKey(privateKey)} key. Import its public key to verify with it instead.`,
      );
    }
    return this.insertNew(attrs, actor, 'key.import', { purpose: 'signing', publicKey: crypto.createPublicKey(privateKey), privateKey });
  }

  async getSigningKey(nameOrId: string): Promise<SigningKey> {
    if (!nameOrId) throw new CountersignError('INVALID_ARGUMENT', 'a key name or id is required (--key NAME)');
    this.refreshIfChanged();
    const row = this.rowById(nameOrId) ?? this.currentByName(nameOrId);
    if (!row) {
      throw new CountersignError('NOT_FOUND', `no key named or with id ${JSON.stringify(nameOrId)}; see "countersign keys list"`);
    }
    if (row.purpose !== 'signing' || !row.sealed_private_key) {
      throw new CountersignError('FAILED_PRECONDITION', `key ${row.name} is a verification key (public key only); it cannot sign`);
    }
    const now = this.now();
    if (row.state === 'revoked') throw new CountersignError('FAILED_PRECONDITION', `key ${row.name} (${row.id}) is revoked: ${row.state_reason ?? ''}`.trim());
    if (row.state === 'rotated') {
      throw new CountersignError('FAILED_PRECONDITION', `key ${row.name} version ${row.version} was rotated; sign with its successor (key ${row.name})`);
    }
    if (row.valid_from && now < new Date(row.valid_from)) throw new CountersignError('FAILED_PRECONDITION', `key ${row.name} is not valid before ${row.valid_from}`);
    if (row.valid_until && now >= new Date(row.valid_until)) throw new CountersignError('FAILED_PRECONDITION', `key ${row.name} expired at ${row.valid_until}`);
    let privateKey = this.opened.get(row.id);
    if (!privateKey) {
      const der = openPrivateKey(row.sealed_private_key, this.kek, row.id);
      privateKey = crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
      der.fill(0);
      this.opened.set(row.id, privateKey);
    }
    const info = toInfo(row);
    const signingKey: SigningKey = {
      ...info,
      publicKey: crypto.createPublicKey(row.public_key_pem),
      sign: (data: Buffer) => crypto.sign('sha256', data, privateKey),
    };
    Object.defineProperty(signingKey, 'toJSON', { value: () => ({ ...info }), enumerable: false });
    return signingKey;
  }

  listKeys(opts: { activeOnly?: boolean } = {}): KeyInfo[] {
    this.refreshIfChanged();
    return this.rows.filter((r) => !opts.activeOnly || r.state === 'active').map(toInfo);
  }

  getKey(nameOrId: string): KeyInfo {
    this.refreshIfChanged();
    const row = this.rowById(nameOrId) ?? this.currentByName(nameOrId);
    if (!row) throw new CountersignError('NOT_FOUND', `no key named or with id ${JSON.stringify(nameOrId)}`);
    return toInfo(row);
  }

  /**
   * Creates a successor that signs from now on; the current version keeps verifying for
   * `overlapSeconds` (never beyond its own validity), then only the successor counts. Absent: the
   * default overlap; 0: none, the old version stops verifying at once.
   */
  rotate(nameOrId: string, opts: { overlapSeconds?: number; reason?: string }, actor: string): { previous: KeyInfo; current: KeyInfo } {
    const overlap = opts.overlapSeconds ?? DEFAULT_ROTATION_OVERLAP_SECONDS;
    if (!Number.isSafeInteger(overlap) || overlap < 0 || overlap > MAX_ROTATION_OVERLAP_SECONDS) {
      throw new CountersignError('INVALID_ARGUMENT', `the rotation overlap must be a whole number of seconds from 0 to ${MAX_ROTATION_OVERLAP_SECONDS}, got ${String(overlap)}`);
    }
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const result = this.db.transaction(() => {
      const old = this.activeRow(nameOrId);
      if (old.purpose !== 'signing') {
        throw new CountersignError('FAILED_PRECONDITION', `key ${old.name} is a verification key; import the new public key instead of rotating`);
      }
      const now = this.now();
      const overlapEnd = new Date(now.getTime() + overlap * 1000);
      const validUntil = old.valid_until && new Date(old.valid_until) < overlapEnd ? old.valid_until : overlapEnd.toISOString();
      const next = this.insertRow(
        { name: old.name, ownerTeam: old.owner_team, scopes: JSON.parse(old.scopes) as string[], ...(old.valid_until && new Date(old.valid_until) > now ? { validUntil: new Date(old.valid_until) } : {}) },
        actor,
        { purpose: 'signing', publicKey, privateKey },
        old.version + 1,
        old.id,
      );
      this.db
        .prepare(`UPDATE keys SET state = 'rotated', state_reason = ?, state_changed_at = ?, valid_until = ?, successor_id = ? WHERE id = ?`)
        .run(opts.reason ?? 'rotated', now.toISOString(), validUntil, next.id, old.id);
      this.bumpRevision();
      this.audit.append({
        actor,
        action: 'key.rotate',
        target: old.name,
        outcome: 'success',
        reason: opts.reason ?? 'rotated',
        details: { previousId: old.id, currentId: next.id, previousValidUntil: validUntil, version: next.version },
      });
      return { previousId: old.id, currentId: next.id };
    });
    this.reload();
    return { previous: this.getKey(result.previousId), current: this.getKey(result.currentId) };
  }

  /** From now on every signature by this key fails verification (cached allows included). */
  revoke(nameOrId: string, reason: string, actor: string): KeyInfo {
    if (!reason || !reason.trim()) throw new CountersignError('INVALID_ARGUMENT', 'a revocation needs a reason (--reason TEXT)');
    const id = this.db.transaction(() => {
      const row = this.rowFromDb(nameOrId);
      if (row.state === 'revoked') throw new CountersignError('FAILED_PRECONDITION', `key ${row.name} (${row.id}) is already revoked`);
      const now = this.now().toISOString();
      this.db.prepare(`UPDATE keys SET state = 'revoked', state_reason = ?, state_changed_at = ? WHERE id = ?`).run(reason, now, row.id);
      this.bumpRevision();
      this.audit.append({ actor, action: 'key.revoke', target: row.name, outcome: 'success', reason, details: { id: row.id, version: row.version } });
      return row.id;
    });
    this.opened.delete(id);
    this.reload();
    return this.getKey(id);
  }

  /**
   * Keys made before the managed store (PEM files in the keys directory) are imported on first
   * start, not lost: `NAME.key` as signing keys, a lone `NAME.pub` as a trusted public key. Files
   * are left in place; a key already in the store (same id) is skipped.
   */
  importLegacy(entries: Array<{ name: string; privatePem?: string; publicPem?: string }>): { imported: KeyInfo[]; problems: string[] } {
    const imported: KeyInfo[] = [];
    const problems: string[] = [];
    for (const e of entries) {
      try {
        validateKeyName(e.name);
        if (e.privatePem) {
          const privateKey = crypto.createPrivateKey(e.privatePem);
          const publicKey = crypto.createPublicKey(privateKey);
          if (this.rowById(keyIdOf(publicKey))) continue;
          imported.push(this.insertNew({ name: e.name }, 'system', 'key.import-legacy', { purpose: 'signing', publicKey, privateKey }));
        } else if (e.publicPem) {
          const publicKey = parsePublicKeyPem(e.publicPem);
          if (this.rowById(keyIdOf(publicKey))) continue;
          imported.push(this.insertNew({ name: e.name }, 'system', 'key.import-legacy', { purpose: 'verification', publicKey }));
        }
      } catch (err) {
        // One unreadable file must not stop the service or the other imports; it is reported.
        // (Parse errors are not echoed: they can quote key bytes.)
        const why = err instanceof CountersignError ? err.message : 'not a readable PEM key';
        problems.push(`${e.name}: ${why}`);
      }
    }
    return { imported, problems };
  }

  // ---- trust (see `trust`) -------------------------------------------------------------------------

  revision(): string {
    if (this.watch.changed()) this.refreshIfChanged();
    return this.rev;
  }

  byId(id: string): TrustedKey | undefined {
    return this.trustedById.get(id);
  }

  find(nameOrId: string): TrustedKey | undefined {
    const byId = this.trustedById.get(nameOrId);
    if (byId) return byId;
    const row = this.currentByName(nameOrId);
    return row ? this.trustedById.get(row.id) : undefined;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every version of every key (state and validity decide what it may vouch for). */
  trustedKeys(): TrustedKey[] {
    if (this.watch.changed()) this.refreshIfChanged();
    return [...this.trusted];
  }

  // ---- internals --------------------------------------------------------------------------

  private insertNew(
    attrs: KeyAttributes,
    actor: string,
    action: string,
    material: { purpose: KeyPurpose; publicKey: KeyObject; privateKey?: KeyObject },
  ): KeyInfo {
    const id = this.db.transaction(() => {
      const existing = this.db.prepare('SELECT id FROM keys WHERE name = ? LIMIT 1').get(attrs.name);
      if (existing) throw new CountersignError('ALREADY_EXISTS', `a key named ${attrs.name} already exists; rotate it or choose another name`);
      const row = this.insertRow(attrs, actor, material, 1, null);
      this.bumpRevision();
      this.audit.append({
        actor,
        action,
        target: attrs.name,
        outcome: 'success',
        details: { id: row.id, purpose: material.purpose, ownerTeam: attrs.ownerTeam ?? '', scopes: attrs.scopes ?? [] },
      });
      return row.id;
    });
    this.reload();
    return this.getKey(id);
  }

  private insertRow(
    attrs: KeyAttributes,
    actor: string,
    material: { purpose: KeyPurpose; publicKey: KeyObject; privateKey?: KeyObject },
    version: number,
    predecessorId: string | null,
  ): { id: string; version: number } {
    const id = keyIdOf(material.publicKey);
    if (this.db.prepare('SELECT 1 AS x FROM keys WHERE id = ?').get(id)) {
      throw new CountersignError('ALREADY_EXISTS', `this key is already in the store (id ${id})`);
    }
    const sealed = material.privateKey
      ? sealPrivateKey(material.privateKey.export({ type: 'pkcs8', format: 'der' }), this.kek, id)
      : null;
    this.db
      .prepare(
        `INSERT INTO keys (id, name, version, owner_team, purpose, scopes, algorithm, public_key_pem, sealed_private_key,
           valid_from, valid_until, state, created_at, created_by, predecessor_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?)`,
      )
      .run(
        id,
        attrs.name,
        version,
        attrs.ownerTeam ?? '',
        material.purpose,
        JSON.stringify(attrs.scopes ?? []),
        describeKey(material.publicKey),
        material.publicKey.export({ type: 'spki', format: 'pem' }) as string,
        sealed,
        attrs.validFrom?.toISOString() ?? null,
        attrs.validUntil?.toISOString() ?? null,
        this.now().toISOString(),
        actor,
        predecessorId,
      );
    if (predecessorId) this.db.prepare('UPDATE keys SET predecessor_id = ? WHERE id = ?').run(predecessorId, id);
    return { id, version };
  }

  private bumpRevision(): void {
    this.db.prepare(`UPDATE key_store_meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE name = 'trust_revision'`).run();
  }

  private storedRevision(): string {
    this.revisionStmt ??= this.db.prepare(`SELECT value FROM key_store_meta WHERE name = 'trust_revision'`);
    const row = this.revisionStmt.get();
    return `k${String(row?.value ?? '0')}`;
  }

  private refreshIfChanged(): void {
    if (this.storedRevision() !== this.rev) this.reload();
  }

  private reload(): void {
    const rev = this.storedRevision();
    const rows = this.db.prepare('SELECT * FROM keys ORDER BY name, version').all() as unknown as Row[];
    const changed = rev !== this.rev;
    this.rows = rows;
    this.trusted = rows.map(toTrusted);
    this.trustedById = new Map(this.trusted.map((k) => [k.id, k]));
    this.rev = rev;
    if (changed) for (const l of this.listeners) l();
  }

  private checkKek(): void {
    const fp = kekFingerprint(this.kek);
    const stored = this.db.prepare(`SELECT value FROM key_store_meta WHERE name = 'kek_fingerprint'`).get();
    if (!stored) {
      this.db.prepare(`INSERT INTO key_store_meta (name, value) VALUES ('kek_fingerprint', ?)`).run(fp);
    } else if (stored.value !== fp) {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `the key-encryption key given does not match the one this data directory's keys are sealed with (fingerprint ${fp}, expected ${String(stored.value)}); start with the original KEK`,
      );
    }
  }

  private rowById(id: string): Row | undefined {
    return this.rows.find((r) => r.id === id);
  }

  /** The version of `name` that signs (active), else its latest version. */
  private currentByName(name: string): Row | undefined {
    const versions = this.rows.filter((r) => r.name === name);
    return versions.find((r) => r.state === 'active') ?? versions[versions.length - 1];
  }

  /** Re-read inside a transaction (another writer may have changed it). */
  private rowFromDb(nameOrId: string): Row {
    const row = (this.db.prepare('SELECT * FROM keys WHERE id = ?').get(nameOrId) ??
      this.db.prepare(`SELECT * FROM keys WHERE name = ? ORDER BY (state = 'active') DESC, version DESC LIMIT 1`).get(nameOrId)) as
      | SqlRow
      | undefined;
    if (!row) throw new CountersignError('NOT_FOUND', `no key named or with id ${JSON.stringify(nameOrId)}`);
    return row as unknown as Row;
  }

  private activeRow(nameOrId: string): Row {
    const row = this.rowFromDb(nameOrId);
    if (row.state !== 'active') {
      throw new CountersignError('FAILED_PRECONDITION', `key ${row.name} version ${row.version} is ${row.state}; only the active version can be rotated`);
    }
    return row;
  }
}

function checkAttributes(attrs: KeyAttributes): void {
  for (const s of attrs.scopes ?? []) {
    const problem = scopeProblem(s);
    if (problem !== undefined) throw new CountersignError('INVALID_ARGUMENT', `invalid key scope: ${problem}`);
  }
  if (attrs.validFrom && attrs.validUntil && attrs.validFrom >= attrs.validUntil) {
    throw new CountersignError('INVALID_ARGUMENT', 'valid-from must be before valid-until');
  }
}

function describeKey(key: KeyObject): string {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return curve === 'prime256v1' ? 'ecdsa-p256-sha256' : `ecdsa-${curve ?? 'unknown'}`;
  }
  return key.asymmetricKeyType ?? 'unknown';
}

function date(v: string | null): Date | undefined {
  return v ? new Date(v) : undefined;
}

function toInfo(r: Row): KeyInfo {
  const info: KeyInfo = {
    id: r.id,
    name: r.name,
    algorithm: r.algorithm,
    publicKeyPem: r.public_key_pem,
    createdAt: new Date(r.created_at),
    version: r.version,
    ownerTeam: r.owner_team,
    purpose: r.purpose,
    scopes: JSON.parse(r.scopes) as string[],
    state: r.state,
    createdBy: r.created_by,
  };
  const vf = date(r.valid_from);
  const vu = date(r.valid_until);
  const sc = date(r.state_changed_at);
  if (vf) info.validFrom = vf;
  if (vu) info.validUntil = vu;
  if (sc) info.stateChangedAt = sc;
  if (r.state_reason) info.stateReason = r.state_reason;
  if (r.predecessor_id) info.predecessorId = r.predecessor_id;
  if (r.successor_id) info.successorId = r.successor_id;
  return info;
}

function toTrusted(r: Row): TrustedKey {
  const key: TrustedKey = { id: r.id, name: r.name, publicKey: crypto.createPublicKey(r.public_key_pem) };
  const vf = date(r.valid_from);
  const vu = date(r.valid_until);
  if (vf) key.validFrom = vf;
  if (vu) key.validUntil = vu;
  if (r.state === 'revoked') {
    key.revokedAt = date(r.state_changed_at) ?? new Date(0);
    if (r.state_reason) key.revocationReason = r.state_reason;
  }
  const scopes = JSON.parse(r.scopes) as string[];
  if (scopes.length) key.scopes = scopes;
  return key;
}
