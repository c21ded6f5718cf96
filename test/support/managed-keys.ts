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
import { openDatabase, type Database } from '../../src/store';

export interface TempKeyStore {
  store: ManagedKeyStore;
  db: Database;
  dir: string;
  /** Creates a signing key and returns its signing handle. */
  signingKey(name: string, attrs?: Omit<KeyAttributes, 'name'>): Promise<SigningKey>;
  close(): void;
}

export function tempKeyStore(opts: { now?: () => Date } = {}): TempKeyStore {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-keys-'));
  const db = openDatabase(path.join(dir, 'countersign.db'));
  const store = new ManagedKeyStore(db, generateKek(), new AuditLog(db), { pollMs: 0, ...(opts.now ? { now: opts.now } : {}) });
  return {
    store,
    db,
    dir,
    async signingKey(name, attrs = {}) {
      store.createKey({ ...attrs, name }, 'test');
      return store.getSigningKey(name);
    },
    close() {
      store.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh P-256 signing key held by a managed store of its own. */
export async function newSigningKey(name: string): Promise<SigningKey> {
  return tempKeyStore().signingKey(name);
}
