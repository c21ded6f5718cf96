/**
 * PostgreSQL for the tests: the throwaway cluster (src/dev/local-postgres.ts, shared with the
 * bench), the suite's cluster that globalSetup starts, and fresh databases in it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { ChangeSignal, PostgresStore } from '../../src/store';

export { startPostgres } from '../../src/dev/local-postgres';
export type { LocalPostgres } from '../../src/dev/local-postgres';

/** The suite's cluster (globalSetup starts it and sets COUNTERSIGN_TEST_POSTGRES). */
export function testPostgresUrl(): string {
  const url = process.env.COUNTERSIGN_TEST_POSTGRES;
  if (!url) throw new Error('COUNTERSIGN_TEST_POSTGRES is not set: run the suite through jest (globalSetup starts PostgreSQL)');
  return url;
}

/**
 * A new, empty database in the suite's cluster (so each test file, or test, has a store of its own:
 * keys sealed under its own KEK, its own audit chain); returns its URL.
 */
export async function freshDatabase(prefix = 'cs'): Promise<string> {
  const base = testPostgresUrl();
  const name = `${prefix.replace(/[^a-z0-9_]/g, '_')}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A KEK (base64) for replicas that share one store: they must all seal and open with the same one. */
export function sharedKek(): string {
  return randomBytes(32).toString('base64');
}

/** Resolves with the signals `store` announces, once `until` says enough has arrived. */
export function collectChanges(store: PostgresStore, until: (seen: ChangeSignal[]) => boolean): Promise<ChangeSignal[]> {
  const seen: ChangeSignal[] = [];
  return new Promise((resolve) => {
    const off = store.changes.subscribe((signal) => {
      seen.push(signal);
      if (until(seen)) {
        off();
        resolve(seen);
      }
    });
  });
}
