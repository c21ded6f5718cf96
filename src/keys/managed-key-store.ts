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
 *   window and revocation, and the revision tells caches when anything changed. Keys and revision
 *   are held in memory (Verify reads them on every call, with no query): this process's changes
 *   replace the copy before the method that makes them returns; another process's or replica's
 *   are re-read when the store announces them (`store.changes`: SQLite's data_version, PostgreSQL's
 *   NOTIFY and the periodic revision check).
 */
import crypto, { type KeyObject } from 'node:crypto';
import type { AuditLog } from '../audit';
import { CountersignError } from '../shared/errors';
import { scopeProblem } from '../shared/image-pattern';
import {
  Refresher,
  migrateSchema,
  type SchemaMigration,
  type SqlExecutor,
  type SqlRow,
  type SqlStore,
  type SqlTransaction,
} from '../store';
import type { TrustedAnchorState, TrustedCaBundle, TrustedKey, TrustStore } from '../trust/types';
import { CA_BUNDLE_KIND, caBundleCertificates, parseCaBundlePem } from './crypto/ca-bundle';
import {
  certificateFactsOf,
  decryptCosignPrivateKey,
  kekFingerprint,
  keyKindOf,
  openPrivateKey,
  parsePublicKeyPem,
  parseTrustAnchorPem,
  sealPrivateKey,
  type KeySource,
} from './crypto';
import { validateKeyName } from './key-name';
import { keyIdOf } from './key-id';
import type { KeyInfo, KeyPurpose, KeyState, KeyStore, SigningKey } from './types';

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

const KIND_COLUMNS = `
  ALTER TABLE keys ADD COLUMN key_kind TEXT NOT NULL DEFAULT '';
  ALTER TABLE keys ADD COLUMN key_source TEXT NOT NULL DEFAULT '';
  ALTER TABLE keys ADD COLUMN certificate_pem TEXT;
  UPDATE keys SET key_source = 'spki' WHERE purpose = 'verification';
`;

/** The same tables on both backends; `sealed_private_key` is the KEK-sealed blob, never plaintext. */
const MIGRATIONS: readonly SchemaMigration[] = [
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
];

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
  key_kind: string;
  key_source: string;
  certificate_pem: string | null;
}

type Material = {
  purpose: KeyPurpose;
  publicKey: KeyObject;
  privateKey?: KeyObject;
  source: KeySource;
  certificatePem?: string;
  /** A CA bundle's own id and kind (its row's public key is only its first CA's: the column needs one). */
  anchor?: { id: string; kind: string };
};

export class ManagedKeyStore implements KeyStore {
  private rows: Row[] = [];
  private trusted: TrustedKey[] = [];
  private trustedById = new Map<string, TrustedKey>();
  private trustedCaBundles: TrustedCaBundle[] = [];
  private rev = '';
  /** Bumped by every change of the copy, so a read that started before a newer change is dropped. */
  private generation = 0;
  private readonly listeners = new Set<() => void>();
  private readonly opened = new Map<string, KeyObject>();
  private readonly now: () => Date;
  private readonly unsubscribe: () => void;
  private readonly refresher = new Refresher(() => this.refreshNow());
  /** The same keys as verification sees them (every version, with validity and revocation). */
  readonly trust: TrustStore;

  private constructor(
    private readonly store: SqlStore,
    private readonly kek: Buffer,
    private readonly audit: AuditLog,
    opts: { now?: () => Date },
  ) {
    this.now = opts.now ?? (() => new Date());
    this.trust = {
      revision: () => this.revision(),
      list: () => this.trustedKeys(),
      byId: (id) => this.byId(id),
      caBundles: () => [...this.trustedCaBundles],
      onChange: (listener) => this.onChange(listener),
      stale: () => this.store.staleness(),
    };
    this.unsubscribe = store.changes.subscribe((signal) => {
      if (signal === 'keys' || signal === 'all') this.refreshIfChanged().catch(() => undefined);
    });
  }

  /**
   * Opens the key store on `store`, creating or upgrading its tables, and reads every key into memory.
   * @param kek key-encryption key; checked against the fingerprint stored at first use, so a
   *            wrong KEK is a startup error rather than a failure at the first Sign.
   */
  static async open(store: SqlStore, kek: Buffer, audit: AuditLog, opts: { now?: () => Date } = {}): Promise<ManagedKeyStore> {
    await migrateSchema(store, 'keys', MIGRATIONS);
    const keys = new ManagedKeyStore(store, kek, audit, opts);
    try {
      await keys.checkKek();
      await keys.reload();
    } catch (err) {
      keys.close();
      throw err;
    }
    return keys;
  }

  /** Stops following the store's changes. */
  close(): void {
    this.unsubscribe();
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
    await migrateSchema(store, 'keys', MIGRATIONS);
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
      const rows = await tx.all('SELECT id, sealed_private_key FROM keys WHERE sealed_private_key IS NOT NULL ORDER BY id');
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
    if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `only ECDSA P-256 keys can sign here (cosign's default); this is a ${describeKey(privateKey)} key. Import its public key to verify with it instead.`,
      );
    }
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
    const row = this.rowById(nameOrId) ?? this.currentByName(nameOrId);
    if (!row) {
      throw new CountersignError('NOT_FOUND', `no key named or with id ${JSON.stringify(nameOrId)}; see "countersign keys list"`);
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
    if (row.valid_from && now < new Date(row.valid_from))
      throw new CountersignError('FAILED_PRECONDITION', `key ${row.name} is not valid before ${row.valid_from}`);
    if (row.valid_until && now >= new Date(row.valid_until))
      throw new CountersignError('FAILED_PRECONDITION', `key ${row.name} expired at ${row.valid_until}`);
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

  async listKeys(opts: { activeOnly?: boolean } = {}): Promise<KeyInfo[]> {
    await this.refreshIfChanged();
    return this.rows.filter((r) => !opts.activeOnly || r.state === 'active').map(toInfo);
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
        `UPDATE keys SET state = 'rotated', state_reason = ?, state_changed_at = ?, valid_until = ?, successor_id = ? WHERE id = ?`,
        opts.reason ?? 'rotated',
        now.toISOString(),
        validUntil,
        next.id,
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

  /** From now on every signature by this key fails verification (cached allows included). */
  async revoke(nameOrId: string, reason: string, actor: string): Promise<KeyInfo> {
    if (!reason || !reason.trim()) throw new CountersignError('INVALID_ARGUMENT', 'a revocation needs a reason (--reason TEXT)');
    const id = await this.change(async (tx) => {
      const row = await rowFromDb(tx, nameOrId);
      if (row.state === 'revoked') throw new CountersignError('FAILED_PRECONDITION', `key ${row.name} (${row.id}) is already revoked`);
      const now = this.now().toISOString();
      await tx.run(`UPDATE keys SET state = 'revoked', state_reason = ?, state_changed_at = ? WHERE id = ?`, reason, now, row.id);
      await this.audit.append(
        { actor, action: 'key.revoke', target: row.name, outcome: 'success', reason, details: { id: row.id, version: row.version } },
        tx,
      );
      return row.id;
    });
    this.opened.delete(id);
    return this.keyFromMemory(id);
  }

  /**
   * Keys made before the managed store (PEM files in the keys directory) are imported on first
   * start, not lost: `NAME.key` as signing keys, a lone `NAME.pub` as a trusted public key. Files
   * are left in place; a key already in the store (same id) is skipped.
   */
  async importLegacy(
    entries: Array<{ name: string; privatePem?: string; publicPem?: string }>,
  ): Promise<{ imported: KeyInfo[]; problems: string[] }> {
    const imported: KeyInfo[] = [];
    const problems: string[] = [];
    for (const e of entries) {
      try {
        validateKeyName(e.name);
        if (e.privatePem) {
          const privateKey = crypto.createPrivateKey(e.privatePem);
          const publicKey = crypto.createPublicKey(privateKey);
          if (this.rowById(keyIdOf(publicKey))) continue;
          imported.push(
            await this.insertNew({ name: e.name }, 'system', 'key.import-legacy', {
              purpose: 'signing',
              publicKey,
              privateKey,
              source: 'pem',
            }),
          );
        } else if (e.publicPem) {
          const publicKey = parsePublicKeyPem(e.publicPem);
          if (this.rowById(keyIdOf(publicKey))) continue;
          imported.push(
            await this.insertNew({ name: e.name }, 'system', 'key.import-legacy', { purpose: 'verification', publicKey, source: 'spki' }),
          );
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

  /** From memory (no query): kept current by this process's changes and the store's announcements. */
  revision(): string {
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
    return [...this.trusted];
  }

  /**
   * Re-reads the keys if the stored trust revision moved (one small query when it did not);
   * resolves once a check that started after this call is done.
   */
  refreshIfChanged(): Promise<void> {
    return this.refresher.request();
  }

  private async refreshNow(): Promise<void> {
    const generation = this.generation;
    const rev = await storedRevision(this.store);
    // A change applied meanwhile (this process's own) is at least as new as what was read.
    if (rev !== this.rev && generation === this.generation) await this.reload();
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
      await tx.run(`UPDATE key_store_meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE name = 'trust_revision'`);
      tx.changed('keys');
      return { result, snapshot: await readSnapshot(tx) };
    });
    this.apply(snapshot.rev, snapshot.rows);
    return result;
  }

  private async insertNew(attrs: KeyAttributes, actor: string, action: string, material: Material): Promise<KeyInfo> {
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
    material: Material,
    version: number,
    predecessorId: string | null,
  ): Promise<{ id: string; version: number; kind: string }> {
    const id = material.anchor?.id ?? keyIdOf(material.publicKey);
    const kind = material.anchor?.kind ?? keyKindOf(material.publicKey);
    if (await tx.get('SELECT 1 AS x FROM keys WHERE id = ?', id)) {
      throw new CountersignError('ALREADY_EXISTS', `this key is already in the store (id ${id})`);
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
      describeKey(material.publicKey),
      material.publicKey.export({ type: 'spki', format: 'pem' }) as string,
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

  private async reload(): Promise<void> {
    const generation = ++this.generation;
    const { rev, rows } = await readSnapshot(this.store);
    // A change applied while this read was under way is newer than what it read.
    if (generation !== this.generation) return;
    this.apply(rev, rows);
  }

  private apply(rev: string, rows: Row[]): void {
    this.generation++;
    const changed = rev !== this.rev;
    this.rows = rows;
    this.trusted = rows.filter((r) => r.key_source !== 'ca-bundle').map(toTrusted);
    this.trustedCaBundles = rows.filter((r) => r.key_source === 'ca-bundle').map(toTrustedCaBundle);
    this.trustedById = new Map(this.trusted.map((k) => [k.id, k]));
    this.rev = rev;
    if (changed) for (const l of this.listeners) l();
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
    const row = this.rowById(nameOrId) ?? this.currentByName(nameOrId);
    if (!row) throw new CountersignError('NOT_FOUND', `no key named or with id ${JSON.stringify(nameOrId)}`);
    return toInfo(row);
  }

  private rowById(id: string): Row | undefined {
    return this.rows.find((r) => r.id === id);
  }

  /** The version of `name` that signs (active), else its latest version. */
  private currentByName(name: string): Row | undefined {
    const versions = this.rows.filter((r) => r.name === name);
    return versions.find((r) => r.state === 'active') ?? versions[versions.length - 1];
  }
}

async function storedRevision(db: SqlExecutor): Promise<string> {
  const row = await db.get(`SELECT value FROM key_store_meta WHERE name = 'trust_revision'`);
  return `k${String(row?.value ?? '0')}`;
}

/** The revision and every key, read by one executor (inside a transaction: one consistent view). */
async function readSnapshot(db: SqlExecutor): Promise<{ rev: string; rows: Row[] }> {
  const rev = await storedRevision(db);
  const rows = (await db.all('SELECT * FROM keys ORDER BY name, version')) as unknown as Row[];
  return { rev, rows: rows.map(normalizeRow) };
}

/** Integer columns as numbers whichever backend read them. */
function normalizeRow(r: Row): Row {
  return { ...r, version: Number(r.version) };
}

/** Re-read inside a transaction (another writer may have changed it). */
async function rowFromDb(tx: SqlExecutor, nameOrId: string): Promise<Row> {
  const row = ((await tx.get('SELECT * FROM keys WHERE id = ?', nameOrId)) ??
    (await tx.get(`SELECT * FROM keys WHERE name = ? ORDER BY (state = 'active') DESC, version DESC LIMIT 1`, nameOrId))) as
    SqlRow | undefined;
  if (!row) throw new CountersignError('NOT_FOUND', `no key named or with id ${JSON.stringify(nameOrId)}`);
  return normalizeRow(row as unknown as Row);
}

async function activeRow(tx: SqlExecutor, nameOrId: string): Promise<Row> {
  const row = await rowFromDb(tx, nameOrId);
  if (row.state !== 'active') {
    throw new CountersignError(
      'FAILED_PRECONDITION',
      `key ${row.name} version ${row.version} is ${row.state}; only the active version can be rotated`,
    );
  }
  return row;
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

function toTrusted(r: Row): TrustedKey {
  return { ...anchorState(r), publicKey: crypto.createPublicKey(r.public_key_pem) };
}

function toTrustedCaBundle(r: Row): TrustedCaBundle {
  return { ...anchorState(r), certificates: caBundleCertificates(r.certificate_pem ?? '') };
}

function anchorState(r: Row): TrustedAnchorState {
  const key: TrustedAnchorState = { id: r.id, name: r.name };
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
