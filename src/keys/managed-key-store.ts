/**
 * The managed key store's lifecycle: every key the service signs with and every public key it
 * trusts, created, imported, rotated and revoked in the store (SQLite by default, PostgreSQL for
 * replicas).
 *
 * - Private keys are sealed at rest with the key-encryption key (AES-256-GCM, the key id as
 *   associated data, so a sealed blob cannot be moved to another row). They are opened only to
 *   sign and never leave this module.
 * - Every change runs in one transaction with its audit entry and a bump of the trust revision:
 *   either all of it is stored or none of it.
 * - What verification reads is the `trust` view (key-trust-view.ts: every version of every key
 *   with its validity window and revocation, and the revision, in memory); each change here
 *   replaces that copy before it returns. The table and the row conversions are key-rows.ts; the
 *   import of pre-managed-store PEM files is legacy-import.ts.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { PEM_PRIVATE_KEY, type AuditLog } from '../audit';
import { CountersignError } from '../shared/errors';
import { scopeProblem } from '../shared/image-pattern';
import { migrateSchema, type SqlExecutor, type SqlStore, type SqlTransaction } from '../store';
import type { TrustStore } from '../trust/types';
import { decryptCosignPrivateKey, kekFingerprint, keyKindOf, openPrivateKey, parseTrustAnchorPem, sealPrivateKey } from './crypto';
import { CA_BUNDLE_KIND, parseCaBundlePem } from './crypto/ca-bundle';
import { validateKeyName } from './key-name';
import { keyIdOf } from './key-id';
import {
  KEY_STORE_MIGRATIONS,
  bumpTrustRevision,
  describeKey,
  DESTROYED_PRIVATE_KEY,
  keyInfoOf,
  keyRowFromDb,
  keyRowsFromDb,
  noSuchKey,
  readKeySnapshot,
  type KeyMaterial,
  type KeyRow,
} from './key-rows';
import { KeyTrustView } from './key-trust-view';
import { importLegacyKeys, type LegacyKeyFile } from './legacy-import';
import type { KeyInfo, KeyStore, SigningKey } from './types';

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

export class ManagedKeyStore implements KeyStore {
  private readonly opened = new Map<string, KeyObject>();
  private readonly now: () => Date;
  private readonly view: KeyTrustView;
  /** The same keys as verification sees them (every version, with validity and revocation). */
  readonly trust: TrustStore;

  private constructor(
    private readonly store: SqlStore,
    private readonly kek: Buffer,
    private readonly audit: AuditLog,
    opts: { now?: () => Date },
  ) {
    this.now = opts.now ?? (() => new Date());
    this.view = new KeyTrustView(store);
    this.trust = this.view;
  }

  /**
   * Opens the key store on `store`, creating or upgrading its tables, and reads every key into memory.
   * @param kek key-encryption key; checked against the fingerprint stored at first use, so a
   *            wrong KEK is a startup error rather than a failure at the first Sign.
   */
  static async open(store: SqlStore, kek: Buffer, audit: AuditLog, opts: { now?: () => Date } = {}): Promise<ManagedKeyStore> {
    await migrateSchema(store, 'keys', KEY_STORE_MIGRATIONS);
    const keys = new ManagedKeyStore(store, kek, audit, opts);
    try {
      await keys.checkKek();
      await keys.view.reload();
    } catch (err) {
      keys.close();
      throw err;
    }
    return keys;
  }

  /** Stops following the store's changes. */
  close(): void {
    this.view.close();
  }

  /** Re-reads the keys if the stored trust revision moved (see KeyTrustView.refreshIfChanged). */
  refreshIfChanged(): Promise<void> {
    return this.view.refreshIfChanged();
  }

  /**
   * Rotates the key-encryption key: every sealed private half is opened with `oldKek` and sealed
   * again with `newKek`, and the stored fingerprint changes, in one transaction (all or nothing),
   * with an audit entry. Run it with every replica stopped, then start them with the new KEK: a
   * replica still running with the old one can no longer seal or open a key (it is told to restart).
   */
  static async rotateKek(
    store: SqlStore,
    audit: AuditLog,
    oldKek: Buffer,
    newKek: Buffer,
    actor: string,
  ): Promise<{ resealed: number; fingerprint: string }> {
    await migrateSchema(store, 'keys', KEY_STORE_MIGRATIONS);
    const from = kekFingerprint(oldKek);
    const to = kekFingerprint(newKek);
    if (from === to)
      throw new CountersignError(
        'INVALID_ARGUMENT',
        'the new key-encryption key is the old one; generate a new one with: openssl rand -base64 32',
      );
    const resealed = await store.transaction(async (tx) => {
      const stored = await tx.get(`SELECT value FROM key_store_meta WHERE name = 'kek_fingerprint'`);
      if (stored && stored.value !== from) {
        throw new CountersignError(
          'FAILED_PRECONDITION',
          `the old key-encryption key given is not the one the keys in ${store.description} are sealed with (fingerprint ${from}, expected ${String(stored.value)})`,
        );
      }
      const rows = await tx.all(
        'SELECT id, sealed_private_key FROM keys WHERE sealed_private_key IS NOT NULL AND sealed_private_key <> ? ORDER BY id',
        DESTROYED_PRIVATE_KEY,
      );
      for (const row of rows) {
        const id = String(row.id);
        const der = openPrivateKey(String(row.sealed_private_key), oldKek, id);
        try {
          await tx.run('UPDATE keys SET sealed_private_key = ? WHERE id = ?', sealPrivateKey(der, newKek, id), id);
        } finally {
          der.fill(0);
        }
      }
      if (stored) await tx.run(`UPDATE key_store_meta SET value = ? WHERE name = 'kek_fingerprint'`, to);
      else await tx.run(`INSERT INTO key_store_meta (name, value) VALUES ('kek_fingerprint', ?)`, to);
      await audit.append(
        { actor, action: 'kek.rotate', outcome: 'success', details: { resealed: rows.length, previousFingerprint: from, fingerprint: to } },
        tx,
      );
      tx.changed('keys');
      return rows.length;
    });
    return { resealed, fingerprint: to };
  }

  // ---- KeyStore (signing) -----------------------------------------------------------------

  async createKey(attrs: KeyAttributes, actor: string): Promise<KeyInfo> {
    validateKeyName(attrs.name);
    checkAttributes(attrs);
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return this.insertNew(attrs, actor, 'key.create', { purpose: 'signing', publicKey, privateKey, source: 'generated' });
  }

  /**
   * A trusted public key: verifies, never signs. PEM `PUBLIC KEY` (e.g. a cosign.pub) or
   * `CERTIFICATE` (its public key) of a kind verification supports (see crypto/trust-anchor.ts).
   * A certificate's validity bounds the key's: the key verifies only inside both the certificate's
   * period and the one asked for; an expired certificate is refused, since its key could never
   * vouch for anything.
   */
  async importPublicKey(attrs: KeyAttributes, pem: string, actor: string): Promise<KeyInfo> {
    validateKeyName(attrs.name);
    checkAttributes(attrs);
    const anchor = parseTrustAnchorPem(pem);
    let bounded = attrs;
    if (anchor.certificate) {
      const { notBefore, notAfter } = anchor.certificate;
      if (notAfter.getTime() <= this.now().getTime()) {
        throw new CountersignError(
          'INVALID_ARGUMENT',
          `the certificate (subject ${anchor.certificate.subject}, serial ${anchor.certificate.serialNumber}) expired at ${notAfter.toISOString()}; ` +
            'import a current certificate, or its public key (openssl x509 -pubkey -noout) with the validity you mean',
        );
      }
      const validFrom = attrs.validFrom && attrs.validFrom > notBefore ? attrs.validFrom : notBefore;
      const validUntil = attrs.validUntil && attrs.validUntil < notAfter ? attrs.validUntil : notAfter;
      if (validFrom >= validUntil) {
        throw new CountersignError(
          'INVALID_ARGUMENT',
          `the validity asked for lies outside the certificate's (${notBefore.toISOString()} to ${notAfter.toISOString()})`,
        );
      }
      bounded = { ...attrs, validFrom, validUntil };
    }
    return this.insertNew(bounded, actor, 'key.import', {
      purpose: 'verification',
      publicKey: anchor.publicKey,
      source: anchor.source,
      ...(anchor.certificatePem ? { certificatePem: anchor.certificatePem } : {}),
    });
  }

  /**
   * A CA bundle (one or more CA certificates, see crypto/ca-bundle.ts): signatures whose
   * certificate chains to one of its CAs count as this entry's. Validity, scopes and revocation
   * apply as to a key; each CA's own validity is checked on every verification.
   */
  async importCaBundle(attrs: KeyAttributes, pem: string, actor: string): Promise<KeyInfo> {
    validateKeyName(attrs.name);
    checkAttributes(attrs);
    const bundle = parseCaBundlePem(pem, this.now());
    return this.insertNew(attrs, actor, 'key.import', {
      purpose: 'verification',
      publicKey: bundle.certificates[0]!.publicKey,
      source: 'ca-bundle',
      certificatePem: bundle.pem,
      anchor: { id: bundle.id, kind: CA_BUNDLE_KIND },
    });
  }

  /** A cosign encrypted private key: decrypted with its password, re-sealed under our KEK. */
  async importCosignPrivateKey(attrs: KeyAttributes, pem: string, password: string, actor: string): Promise<KeyInfo> {
    validateKeyName(attrs.name);
    checkAttributes(attrs);
    const privateKey = decryptCosignPrivateKey(pem, password);
    return this.insertNew(attrs, actor, 'key.import', {
      purpose: 'signing',
      publicKey: crypto.createPublicKey(privateKey),
      privateKey,
      source: 'cosign',
    });
  }

  /**
   * The key to sign with. The trust revision is read from the store first (one small query), so a
   * key revoked through another replica a moment ago never signs here.
   */
  async getSigningKey(nameOrId: string): Promise<SigningKey> {
    if (!nameOrId) throw new CountersignError('INVALID_ARGUMENT', 'a key name or id is required (--key NAME)');
    await this.refreshIfChanged();
    const row = this.view.rowById(nameOrId) ?? this.view.currentByName(nameOrId);
    if (!row) {
      throw noSuchKey(nameOrId, '; see "countersign keys list"');
    }
    if (row.purpose !== 'signing' || !row.sealed_private_key) {
      throw new CountersignError('FAILED_PRECONDITION', `key ${row.name} is a verification key (public key only); it cannot sign`);
    }
    const now = this.now();
    if (row.state === 'revoked')
      throw new CountersignError('FAILED_PRECONDITION', `key ${row.name} (${row.id}) is revoked: ${row.state_reason ?? ''}`.trim());
    if (row.state === 'rotated') {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `key ${row.name} version ${row.version} was rotated; sign with its successor (key ${row.name})`,
      );
    }
    // A validity that is not a date (the row was written outside Countersign) is no validity at
    // all: refused, never read as "no limit" (an Invalid Date compares false either way).
    const validFrom = row.valid_from ? new Date(row.valid_from) : undefined;
    const validUntil = row.valid_until ? new Date(row.valid_until) : undefined;
    if ((validFrom && Number.isNaN(validFrom.getTime())) || (validUntil && Number.isNaN(validUntil.getTime()))) {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `key ${row.name} (${row.id}) has a validity in the store that is not a date; it cannot sign`,
      );
    }
    if (validFrom && now < validFrom)
      throw new CountersignError('FAILED_PRECONDITION', `key ${row.name} is not valid before ${row.valid_from ?? ''}`);
    if (validUntil && now >= validUntil)
      throw new CountersignError('FAILED_PRECONDITION', `key ${row.name} expired at ${row.valid_until ?? ''}`);
    let privateKey = this.opened.get(row.id);
    if (!privateKey) {
      if (row.sealed_private_key === DESTROYED_PRIVATE_KEY) {
        throw new CountersignError(
          'FAILED_PRECONDITION',
          `key ${row.name} (${row.id}) was rotated out or revoked and its private half destroyed, yet the store says it is active: the store was altered outside Countersign; it cannot sign`,
        );
      }
      const der = openPrivateKey(row.sealed_private_key, this.kek, row.id);
      privateKey = crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
      der.fill(0);
      // The sealed blob opens under its row's id, but the id and the public key are columns of
      // their own: a private key that is not the one they name (another key's id and blob moved
      // into this row) never signs under this row's name.
      const derived = crypto.createPublicKey(privateKey);
      if (keyIdOf(derived) !== row.id || !derived.equals(crypto.createPublicKey(row.public_key_pem))) {
        throw new CountersignError(
          'FAILED_PRECONDITION',
          `the private key stored for key ${row.name} (${row.id}) is not the key its id and public key name: the store was altered outside Countersign; revoke the key and create a new one`,
        );
      }
      this.opened.set(row.id, privateKey);
    }
    const info = keyInfoOf(row);
    const signingKey: SigningKey = {
      ...info,
      publicKey: crypto.createPublicKey(row.public_key_pem),
      sign: (data: Buffer) => crypto.sign('sha256', data, privateKey),
    };
    Object.defineProperty(signingKey, 'toJSON', { value: () => ({ ...info }), enumerable: false });
    return signingKey;
  }

  async listKeys(opts: { activeOnly?: boolean } = {}): Promise<KeyInfo[]> {
    await this.refreshIfChanged();
    return this.view
      .allRows()
      .filter((r) => !opts.activeOnly || r.state === 'active')
      .map(keyInfoOf);
  }

  async getKey(nameOrId: string): Promise<KeyInfo> {
    await this.refreshIfChanged();
    return this.keyFromMemory(nameOrId);
  }

  /**
   * Creates a successor that signs from now on; the current version keeps verifying for
   * `overlapSeconds` (never beyond its own validity), then only the successor counts. Absent: the
   * default overlap; 0: none, the old version stops verifying at once.
   */
  async rotate(
    nameOrId: string,
    opts: { overlapSeconds?: number; reason?: string },
    actor: string,
  ): Promise<{ previous: KeyInfo; current: KeyInfo }> {
    if (opts.reason !== undefined) checkFreeText('the rotation reason', opts.reason, MAX_REASON_CHARS);
    const overlap = opts.overlapSeconds ?? DEFAULT_ROTATION_OVERLAP_SECONDS;
    if (!Number.isSafeInteger(overlap) || overlap < 0 || overlap > MAX_ROTATION_OVERLAP_SECONDS) {
      throw new CountersignError(
        'INVALID_ARGUMENT',
        `the rotation overlap must be a whole number of seconds from 0 to ${MAX_ROTATION_OVERLAP_SECONDS}, got ${String(overlap)}`,
      );
    }
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const result = await this.change(async (tx) => {
      const old = await activeRow(tx, nameOrId);
      if (old.key_kind === CA_BUNDLE_KIND) {
        throw new CountersignError(
          'FAILED_PRECONDITION',
          `key ${old.name} is a CA bundle; rotation makes a new signing key, which a bundle is not. Import the renewed bundle ` +
            `under another name (keys import NAME --ca-bundle FILE), name it in the policy, then revoke ${old.name}`,
        );
      }
      if (old.purpose !== 'signing') {
        throw new CountersignError(
          'FAILED_PRECONDITION',
          `key ${old.name} is a verification key; import the new public key instead of rotating`,
        );
      }
      const now = this.now();
      const overlapEnd = new Date(now.getTime() + overlap * 1000);
      const validUntil = old.valid_until && new Date(old.valid_until) < overlapEnd ? old.valid_until : overlapEnd.toISOString();
      const next = await this.insertRow(
        tx,
        {
          name: old.name,
          ownerTeam: old.owner_team,
          scopes: JSON.parse(old.scopes) as string[],
          ...(old.valid_until && new Date(old.valid_until) > now ? { validUntil: new Date(old.valid_until) } : {}),
        },
        actor,
        { purpose: 'signing', publicKey, privateKey, source: 'generated' },
        old.version + 1,
        old.id,
      );
      await tx.run(
        `UPDATE keys SET state = 'rotated', state_reason = ?, state_changed_at = ?, valid_until = ?, successor_id = ?, sealed_private_key = ? WHERE id = ?`,
        opts.reason ?? 'rotated',
        now.toISOString(),
        validUntil,
        next.id,
        DESTROYED_PRIVATE_KEY,
        old.id,
      );
      await this.audit.append(
        {
          actor,
          action: 'key.rotate',
          target: old.name,
          outcome: 'success',
          reason: opts.reason ?? 'rotated',
          details: { previousId: old.id, currentId: next.id, previousValidUntil: validUntil, version: next.version },
        },
        tx,
      );
      return { previousId: old.id, currentId: next.id };
    });
    return { previous: this.keyFromMemory(result.previousId), current: this.keyFromMemory(result.currentId) };
  }

  /**
   * From now on every signature by this key fails verification (cached allows included). By name,
   * every version not yet revoked is revoked (a rotated-out version verifying during its overlap
   * is usually the leaked one); by id, that version only. One transaction, one audit record.
   */
  async revoke(nameOrId: string, reason: string, actor: string): Promise<KeyInfo> {
    if (!reason || !reason.trim()) throw new CountersignError('INVALID_ARGUMENT', 'a revocation needs a reason (--reason TEXT)');
    checkFreeText('the revocation reason', reason, MAX_REASON_CHARS);
    const ids = await this.change(async (tx) => {
      const rows = await keyRowsFromDb(tx, nameOrId);
      const live = rows.filter((r) => r.state !== 'revoked');
      if (live.length === 0) {
        const row = rows[0]!;
        throw new CountersignError(
          'FAILED_PRECONDITION',
          `key ${row.name} (${rows.length === 1 ? row.id : 'every version'}) is already revoked`,
        );
      }
      const now = this.now().toISOString();
      for (const row of live) {
        // A verification key has no private half (NULL stays NULL); a signing key's is destroyed.
        await tx.run(
          `UPDATE keys SET state = 'revoked', state_reason = ?, state_changed_at = ?, sealed_private_key = CASE WHEN sealed_private_key IS NULL THEN NULL ELSE ? END WHERE id = ?`,
          reason,
          now,
          DESTROYED_PRIVATE_KEY,
          row.id,
        );
      }
      const details =
        live.length === 1
          ? { id: live[0]!.id, version: live[0]!.version }
          : { ids: live.map((r) => r.id), versions: live.map((r) => r.version) };
      await this.audit.append({ actor, action: 'key.revoke', target: live[0]!.name, outcome: 'success', reason, details }, tx);
      return live.map((r) => r.id);
    });
    for (const id of ids) this.opened.delete(id);
    return this.keyFromMemory(ids[0]!);
  }

  /** Imports the PEM key files from before the managed store (see legacy-import.ts), as `system`. */
  async importLegacy(entries: readonly LegacyKeyFile[]): Promise<{ imported: KeyInfo[]; problems: string[] }> {
    return importLegacyKeys(entries, {
      has: (id) => this.view.rowById(id) !== undefined,
      insert: (name, material) => this.insertNew({ name }, 'system', 'key.import-legacy', material),
    });
  }

  // ---- internals --------------------------------------------------------------------------

  /**
   * Runs a key change in one transaction (with its audit entry, the trust-revision bump and the
   * announcement to every replica) and replaces the in-memory copy with what the transaction
   * itself read after its writes, before returning: the change is in force here at once, even if
   * the store became unreachable right after the commit.
   */
  private async change<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    const { result, snapshot } = await this.store.transaction(async (tx) => {
      const result = await fn(tx);
      await bumpTrustRevision(tx);
      tx.changed('keys');
      return { result, snapshot: await readKeySnapshot(tx) };
    });
    this.view.apply(snapshot.rev, snapshot.rows);
    return result;
  }

  private async insertNew(attrs: KeyAttributes, actor: string, action: string, material: KeyMaterial): Promise<KeyInfo> {
    const id = await this.change(async (tx) => {
      const existing = await tx.get('SELECT id FROM keys WHERE name = ? LIMIT 1', attrs.name);
      if (existing)
        throw new CountersignError('ALREADY_EXISTS', `a key named ${attrs.name} already exists; rotate it or choose another name`);
      const row = await this.insertRow(tx, attrs, actor, material, 1, null);
      await this.audit.append(
        {
          actor,
          action,
          target: attrs.name,
          outcome: 'success',
          details: {
            id: row.id,
            purpose: material.purpose,
            kind: row.kind,
            source: material.source,
            ownerTeam: attrs.ownerTeam ?? '',
            scopes: attrs.scopes ?? [],
          },
        },
        tx,
      );
      return row.id;
    });
    return this.keyFromMemory(id);
  }

  private async insertRow(
    tx: SqlTransaction,
    attrs: KeyAttributes,
    actor: string,
    material: KeyMaterial,
    version: number,
    predecessorId: string | null,
  ): Promise<{ id: string; version: number; kind: string }> {
    const id = material.anchor?.id ?? keyIdOf(material.publicKey);
    const kind = material.anchor?.kind ?? keyKindOf(material.publicKey);
    if (await tx.get('SELECT 1 AS x FROM keys WHERE id = ?', id)) {
      throw new CountersignError('ALREADY_EXISTS', `this key is already in the store (id ${id})`);
    }
    // The one rule for what may sign, whichever way a private key arrives (created, cosign import,
    // legacy NAME.key files): Sign makes ECDSA P-256 over SHA-256 (keys/types.ts); any other kind
    // stored as a signing key would fail every Sign with an OpenSSL error.
    if (
      material.privateKey &&
      (material.privateKey.asymmetricKeyType !== 'ec' || material.privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    ) {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `only ECDSA P-256 keys can sign here (cosign's default); this is a ${describeKey(material.privateKey)} key. Import its public key to verify with it instead.`,
      );
    }
    if (material.privateKey) await this.checkKekIn(tx);
    const sealed = material.privateKey ? sealPrivateKey(material.privateKey.export({ type: 'pkcs8', format: 'der' }), this.kek, id) : null;
    await tx.run(
      `INSERT INTO keys (id, name, version, owner_team, purpose, scopes, algorithm, public_key_pem, sealed_private_key,
         valid_from, valid_until, state, created_at, created_by, predecessor_id, key_kind, key_source, certificate_pem)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?)`,
      id,
      attrs.name,
      version,
      attrs.ownerTeam ?? '',
      material.purpose,
      JSON.stringify(attrs.scopes ?? []),
      // An anchor that is not one key (a CA bundle) is named by its kind, not by its first CA's key type.
      material.anchor?.kind ?? describeKey(material.publicKey),
      material.publicKey.export({ type: 'spki', format: 'pem' }),
      sealed,
      attrs.validFrom?.toISOString() ?? null,
      attrs.validUntil?.toISOString() ?? null,
      this.now().toISOString(),
      actor,
      predecessorId,
      kind,
      material.source,
      material.certificatePem ?? null,
    );
    return { id, version, kind };
  }

  private async checkKek(): Promise<void> {
    const fp = kekFingerprint(this.kek);
    const stored = await this.store.transaction(async (tx) => {
      const row = await tx.get(`SELECT value FROM key_store_meta WHERE name = 'kek_fingerprint'`);
      if (!row) await tx.run(`INSERT INTO key_store_meta (name, value) VALUES ('kek_fingerprint', ?)`, fp);
      return row?.value ?? fp;
    });
    if (stored !== fp) {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `the key-encryption key given does not match the one the keys in ${this.store.description} are sealed with (fingerprint ${fp}, expected ${String(stored)}); start with the original KEK`,
      );
    }
  }

  /** Inside a write: the KEK may have been rotated (by `countersign kek rotate`) since this process started. */
  private async checkKekIn(tx: SqlTransaction): Promise<void> {
    const stored = await tx.get(`SELECT value FROM key_store_meta WHERE name = 'kek_fingerprint'`);
    if (stored && stored.value !== kekFingerprint(this.kek)) {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `the key-encryption key was rotated in ${this.store.description} (fingerprint ${String(stored.value)}) since this replica started; restart it with the new KEK`,
      );
    }
  }

  private keyFromMemory(nameOrId: string): KeyInfo {
    const row = this.view.rowById(nameOrId) ?? this.view.currentByName(nameOrId);
    if (!row) throw noSuchKey(nameOrId);
    return keyInfoOf(row);
  }
}

async function activeRow(tx: SqlExecutor, nameOrId: string): Promise<KeyRow> {
  const row = await keyRowFromDb(tx, nameOrId);
  if (row.state !== 'active') {
    throw new CountersignError(
      'FAILED_PRECONDITION',
      `key ${row.name} version ${row.version} is ${row.state}; only the active version can be rotated`,
    );
  }
  return row;
}

/** Free text a caller gives (reasons, owner teams): shown in CLI output and stored in audit records. */
const MAX_REASON_CHARS = 1024;
const MAX_OWNER_TEAM_CHARS = 256;
const MAX_SCOPES = 64;
// C0/C1 controls, bidi embeddings, overrides and isolates, line separators: they forge lines and disguise text.
// eslint-disable-next-line no-control-regex
const CONTROL_OR_BIDI = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

/**
 * INVALID_ARGUMENT, saying why without echoing the text, when `text` is longer than `max`,
 * holds control or bidi characters, or holds a PEM private key (which must never be stored).
 */
function checkFreeText(what: string, text: string, max: number): void {
  if (text.length > max)
    throw new CountersignError('INVALID_ARGUMENT', `${what} is ${text.length} characters long; at most ${max} are accepted`);
  if (CONTROL_OR_BIDI.test(text)) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `${what} holds control or text-direction characters (newlines, escapes, bidi marks); use plain text`,
    );
  }
  if (PEM_PRIVATE_KEY.test(text)) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `${what} holds a PEM private key; never paste key material, refer to keys by name or id`,
    );
  }
}

function checkAttributes(attrs: KeyAttributes): void {
  if (attrs.ownerTeam !== undefined) checkFreeText('the owner team', attrs.ownerTeam, MAX_OWNER_TEAM_CHARS);
  if ((attrs.scopes?.length ?? 0) > MAX_SCOPES) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `${attrs.scopes!.length} scopes given; at most ${MAX_SCOPES} are accepted (use ** patterns)`,
    );
  }
  for (const s of attrs.scopes ?? []) {
    const problem = scopeProblem(s);
    if (problem !== undefined) throw new CountersignError('INVALID_ARGUMENT', `invalid key scope: ${problem}`);
  }
  if (attrs.validFrom && attrs.validUntil && attrs.validFrom >= attrs.validUntil) {
    throw new CountersignError('INVALID_ARGUMENT', 'valid-from must be before valid-until');
  }
}
