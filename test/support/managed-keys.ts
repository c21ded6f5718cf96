/**
 * The one way tests and the bench get keys: the managed key store over a temporary database
 * (a fresh KEK, no polling), exactly as the service holds them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditLog } from '../../src/audit';
import { generateKek } from '../../src/keys/crypto';
import { ManagedKeyStore, type KeyAttributes } from '../../src/keys/managed-key-store';
import type { SigningKey } from '../../src/keys/types';
import { openDatabase, SqliteStore } from '../../src/store';

export interface TempKeyStore {
  store: ManagedKeyStore;
  db: SqliteStore;
  dir: string;
  /** Creates a signing key and returns its signing handle. */
  signingKey(name: string, attrs?: Omit<KeyAttributes, 'name'>): Promise<SigningKey>;
  close(): Promise<void>;
}

export async function tempKeyStore(opts: { now?: () => Date } = {}): Promise<TempKeyStore> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-keys-'));
  const db = await SqliteStore.open(openDatabase(path.join(dir, 'countersign.db')), { changeCheckMs: 0 });
  const store = await ManagedKeyStore.open(db, generateKek(), await AuditLog.open(db), opts.now ? { now: opts.now } : {});
  return {
    store,
    db,
    dir,
    async signingKey(name, attrs = {}) {
      await store.createKey({ ...attrs, name }, 'test');
      return store.getSigningKey(name);
    },
    async close() {
      store.close();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh P-256 signing key held by a managed store of its own. */
export async function newSigningKey(name: string): Promise<SigningKey> {
  return (await tempKeyStore()).signingKey(name);
}
