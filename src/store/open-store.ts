import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { openDatabase } from './database';
import { PostgresStore } from './postgres-store';
import type { SqlStore } from './sql-store';
import { SqliteStore } from './sqlite-store';

export interface OpenStoreOptions {
  /** The data directory: the SQLite file lives there when no `url` is given. */
  dataDir: string;
  /** `postgres://…` (store.url / COUNTERSIGN_STORE_URL): the shared store of several replicas. */
  url?: string;
  /** Every query and transaction, with its duration. */
  observe?: (operation: 'query' | 'transaction', seconds: number) => void;
}

/** The file of the embedded store in a data directory. */
export function sqliteFileOf(dataDir: string): string {
  return path.join(dataDir, 'countersign.db');
}

/** The configured store: PostgreSQL when a URL is given, else the SQLite file in the data directory. */
export async function openStore(options: OpenStoreOptions): Promise<SqlStore> {
  const observe = options.observe ? { observe: options.observe } : {};
  if (options.url) return PostgresStore.connect(options.url, observe);
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  return SqliteStore.open(openDatabase(sqliteFileOf(options.dataDir)), observe);
}
