/**
 * How the managed key store keeps a key: the `keys` table and its migrations, the row as read back
 * (on either backend), and the two shapes a row is turned into: the public `KeyInfo` and the
 * `TrustedKey` verification reads. Shared by the key lifecycle (managed-key-store.ts) and the trust
 * view (key-trust-view.ts); no state of its own.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { CountersignError } from '../shared/errors';
import { quoteUntrusted } from '../shared/untrusted-text';
import type { SchemaMigration, SqlExecutor } from '../store';
import type { TrustedAnchorState, TrustedCaBundle, TrustedKey } from '../trust/types';
import { CA_BUNDLE_KIND, caBundleCertificates } from './crypto/ca-bundle';
import { certificateFactsOf, keyKindOf, type KeySource } from './crypto';
import { keyIdOf } from './key-id';
import type { KeyInfo, KeyPurpose, KeyState } from './types';

const KEYS_TABLE = `
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
  CHECK ((purpose = 'signing') = (sealed_private_key IS NOT NULL))`;

/**
 * What `sealed_private_key` holds once a signing key is rotated out or revoked: its private half
 * is gone, not merely refused. Nothing signs with such a key again (Sign checks the state first),
 * and nothing should be able to: a row written back to 'active' outside Countersign (a database
 * writer without the KEK), or a later leak of the KEK with an old backup of the store's current
 * state, finds no key to use. Not NULL: a signing row keeps the column set (the table's CHECK).
 */
export const DESTROYED_PRIVATE_KEY = 'destroyed';

const DESTROY_RETIRED = `
  UPDATE keys SET sealed_private_key = '${DESTROYED_PRIVATE_KEY}' WHERE sealed_private_key IS NOT NULL AND state <> 'active';
`;

const KIND_COLUMNS = `
  ALTER TABLE keys ADD COLUMN key_kind TEXT NOT NULL DEFAULT '';
  ALTER TABLE keys ADD COLUMN key_source TEXT NOT NULL DEFAULT '';
  ALTER TABLE keys ADD COLUMN certificate_pem TEXT;
  UPDATE keys SET key_source = 'spki' WHERE purpose = 'verification';
`;

/** The same tables on both backends; `sealed_private_key` is the KEK-sealed blob, never plaintext. */
export const KEY_STORE_MIGRATIONS: readonly SchemaMigration[] = [
  {
    version: 1,
    sqlite: `
      CREATE TABLE keys (${KEYS_TABLE});
      CREATE TABLE key_store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO key_store_meta (name, value) VALUES ('trust_revision', '0');
    `,
    postgres: `
      CREATE TABLE keys (${KEYS_TABLE});
      CREATE TABLE key_store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO key_store_meta (name, value) VALUES ('trust_revision', '0');
    `,
  },
  {
    // What each key is and the format it came in (issue 10 item 5). Rows stored before: the kind
    // is derived from the public key on read; verification keys could only be SPKI PEM imports.
    version: 2,
    sqlite: KIND_COLUMNS,
    postgres: KIND_COLUMNS,
  },
  {
    // A rotated or revoked key never signs again: its private half is destroyed (see
    // DESTROYED_PRIVATE_KEY), in the stores written before that rule too.
    version: 3,
    sqlite: DESTROY_RETIRED,
    postgres: DESTROY_RETIRED,
  },
];

/** What a new row is made from: the key, what it is for, and the format it came in. */
export interface KeyMaterial {
  purpose: KeyPurpose;
  publicKey: KeyObject;
  /** Signing keys only: sealed with the KEK before it is written. */
  privateKey?: KeyObject;
  source: KeySource;
  certificatePem?: string;
  /** A CA bundle's own id and kind (its row's public key is only its first CA's: the column needs one). */
  anchor?: { id: string; kind: string };
}

/** One row of `keys`, as read back. */
export interface KeyRow {
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
  key_kind: string;
  key_source: string;
  certificate_pem: string | null;
}

/** The `key_store_meta` row holding the random part of the trust revision. */
const TRUST_REVISION_NONCE = 'trust_revision_nonce';

/**
 * The stored trust revision, `k<n>.<random>`: every key change, in its transaction, adds one to the
 * counter `n` (the `trust_revision` row) and writes a new random part (the `trust_revision_nonce`
 * row, see bumpTrustRevision). The counter alone is not unique: after a failover that lost the
 * last change, the next change reuses its number, and a replica that saw the lost change would
 * take the new one for what it holds. Revisions are compared for equality only, never ordered or
 * parsed. A store no change has been made in since the random part was introduced has none: `k<n>`.
 */
export async function storedTrustRevision(db: SqlExecutor): Promise<string> {
  const rows = await db.all(`SELECT name, value FROM key_store_meta WHERE name IN ('trust_revision', '${TRUST_REVISION_NONCE}')`);
  const value = (name: string): string | undefined => {
    const row = rows.find((r) => r.name === name);
    return row === undefined ? undefined : String(row.value);
  };
  const nonce = value(TRUST_REVISION_NONCE);
  return `k${value('trust_revision') ?? '0'}${nonce ? `.${nonce}` : ''}`;
}

/**
 * Bumps the trust revision inside a key change's transaction: the counter and a new random part
 * (48 bits: two changes that get one counter value, on either side of a failover, differ in it).
 * An upsert, so stores written before the random part existed need no migration, and replicas of
 * an earlier version (which bump only the counter) still change the revision.
 */
export async function bumpTrustRevision(tx: SqlExecutor): Promise<void> {
  await tx.run(`UPDATE key_store_meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE name = 'trust_revision'`);
  await tx.run(
    `INSERT INTO key_store_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
    TRUST_REVISION_NONCE,
    crypto.randomBytes(6).toString('hex'),
  );
}

/** The revision and every key, read by one executor (inside a transaction: one consistent view). */
export async function readKeySnapshot(db: SqlExecutor): Promise<{ rev: string; rows: KeyRow[] }> {
  const rev = await storedTrustRevision(db);
  const rows = (await db.all('SELECT * FROM keys ORDER BY name, version')) as unknown as StoredKeyRow[];
  return { rev, rows: rows.map(normalizeRow) };
}

/** A row as a driver gives it: PostgreSQL's may give an integer column as text. */
type StoredKeyRow = Omit<KeyRow, 'version'> & { version: number | string };

/** Integer columns as numbers whichever backend read them. */
function normalizeRow(r: StoredKeyRow): KeyRow {
  return { ...r, version: Number(r.version) };
}

/**
 * A key by id, else the version of that name that signs (active), else its latest version, read
 * inside a transaction (another writer may have changed it); NOT_FOUND when there is none.
 */
export async function keyRowFromDb(tx: SqlExecutor, nameOrId: string): Promise<KeyRow> {
  const row =
    (await tx.get('SELECT * FROM keys WHERE id = ?', nameOrId)) ??
    (await tx.get(`SELECT * FROM keys WHERE name = ? ORDER BY (state = 'active') DESC, version DESC LIMIT 1`, nameOrId));
  if (!row) throw noSuchKey(nameOrId);
  return normalizeRow(row as unknown as StoredKeyRow);
}

/**
 * The key by id (that one version), else every version of that name, newest first; NOT_FOUND
 * when there is none. What a revocation by name covers: a rotated-out version still verifying
 * during its overlap is usually the very one that leaked.
 */
export async function keyRowsFromDb(tx: SqlExecutor, nameOrId: string): Promise<KeyRow[]> {
  const byId = await tx.get('SELECT * FROM keys WHERE id = ?', nameOrId);
  const rows = byId ? [byId] : await tx.all('SELECT * FROM keys WHERE name = ? ORDER BY version DESC', nameOrId);
  if (rows.length === 0) throw noSuchKey(nameOrId);
  return rows.map((r) => normalizeRow(r as unknown as StoredKeyRow));
}

/** NOT_FOUND naming what was asked for, bounded and escaped (a caller may send a megabyte of anything). */
export function noSuchKey(nameOrId: string, hint = ''): CountersignError {
  return new CountersignError('NOT_FOUND', `no key named or with id ${quoteUntrusted(nameOrId, 80)}${hint}`);
}

/** What the `algorithm` column says of a key. */
export function describeKey(key: KeyObject): string {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return curve === 'prime256v1' ? 'ecdsa-p256-sha256' : `ecdsa-${curve ?? 'unknown'}`;
  }
  return key.asymmetricKeyType ?? 'unknown';
}

/** For rows stored before the kind was recorded; never throws (an old row must still list). */
function kindOfPem(pem: string): string {
  try {
    return keyKindOf(crypto.createPublicKey(pem));
  } catch {
    return 'unsupported';
  }
}

function date(v: string | null): Date | undefined {
  return v ? new Date(v) : undefined;
}

/** The public facts of a stored key. */
export function keyInfoOf(r: KeyRow): KeyInfo {
  const info: KeyInfo = {
    id: r.id,
    name: r.name,
    // Rows stored before bundles were named by their kind say their first CA's key type.
    algorithm: r.key_kind === CA_BUNDLE_KIND ? CA_BUNDLE_KIND : r.algorithm,
    publicKeyPem: r.public_key_pem,
    createdAt: new Date(r.created_at),
    version: r.version,
    ownerTeam: r.owner_team,
    purpose: r.purpose,
    scopes: JSON.parse(r.scopes) as string[],
    state: r.state,
    createdBy: r.created_by,
    kind: r.key_kind || kindOfPem(r.public_key_pem),
  };
  if (r.key_source) info.source = r.key_source as KeySource;
  const certificate = r.certificate_pem ? certificateFactsOf(r.certificate_pem) : undefined;
  if (certificate) info.certificate = certificate;
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

/**
 * A stored key as verification sees it: state and validity decide what it may vouch for. A key's
 * id is the SHA-256 of its public key: a row whose public key is not the one its id names (written
 * outside Countersign, to make other signatures verify under a trusted name) vouches for nothing.
 */
export function trustedKeyOf(r: KeyRow): TrustedKey {
  const publicKey = crypto.createPublicKey(r.public_key_pem);
  const state = anchorState(r);
  if (keyIdOf(publicKey) !== r.id) {
    return {
      ...state,
      publicKey,
      revokedAt: new Date(0),
      revocationReason: 'its stored public key is not the one its id names (the store was altered)',
    };
  }
  return { ...state, publicKey };
}

/** A stored CA bundle as verification sees it: its CAs, with the same state and validity rules as a key. */
export function trustedCaBundleOf(r: KeyRow): TrustedCaBundle {
  return { ...anchorState(r), certificates: caBundleCertificates(r.certificate_pem ?? '') };
}

/** Whether a row is a CA bundle (kept apart from keys: its public key column is only its first CA's). */
export function isCaBundleRow(r: KeyRow): boolean {
  return r.key_source === 'ca-bundle';
}

function anchorState(r: KeyRow): TrustedAnchorState {
  const key: TrustedAnchorState = { id: r.id, name: r.name };
  const vf = date(r.valid_from);
  const vu = date(r.valid_until);
  if (vf) key.validFrom = vf;
  if (vu) key.validUntil = vu;
  const unreadable = (d: Date | undefined): boolean => d !== undefined && Number.isNaN(d.getTime());
  if (r.state === 'revoked') {
    // Revoked is revoked at once on every replica (trust/usability.ts): the time is the revoking
    // replica's clock, for display. Revoked at an unreadable time: shown as revoked from the start.
    const at = date(r.state_changed_at);
    key.revokedAt = at === undefined || unreadable(at) ? new Date(0) : at;
    if (r.state_reason) key.revocationReason = r.state_reason;
  } else if (unreadable(vf) || unreadable(vu)) {
    // A validity that is not a date is no validity: it vouches for nothing, never for everything.
    key.revokedAt = new Date(0);
    key.revocationReason = 'its validity in the store is not a date (the store was altered)';
  } else if (r.state === 'rotated' && vu !== undefined) {
    // Rotated out with no overlap left (`--overlap 0`, or its own validity ended first): both times
    // are the rotating replica's clock, so "valid until then" would give a replica whose clock lags
    // the skew in extra verifications. It stops at once instead; a positive overlap is measured
    // from the recorded rotation time.
    const rotatedAt = date(r.state_changed_at);
    if (rotatedAt !== undefined && !unreadable(rotatedAt) && vu.getTime() <= rotatedAt.getTime()) key.expiredOnRotation = true;
  }
  const scopes = JSON.parse(r.scopes) as string[];
  if (scopes.length) key.scopes = scopes;
  return key;
}
