import { CountersignError } from '../shared/errors';
import type { SqlStore, StoreDialect } from './sql-store';

/**
 * One schema change of a component, written once per dialect ("the same tables in spirit":
 * SQLite's STRICT tables and triggers, PostgreSQL's types and rules). Versions are positive
 * integers, strictly increasing; a released migration is never edited, only followed by a new one.
 */
export interface SchemaMigration {
  version: number;
  sqlite: string;
  postgres: string;
}

const COMPONENT = /^[a-z][a-z0-9_-]{0,62}$/;

/**
 * Checks a component's name and its list of migrations (versions positive integers, strictly
 * increasing; INTERNAL otherwise: a bug in this code, not in the database) and returns the newest
 * version it knows.
 */
function newestMigrationVersion(component: string, migrations: readonly { version: number }[]): number {
  if (!COMPONENT.test(component)) throw new CountersignError('INTERNAL', `invalid migration component name ${JSON.stringify(component)}`);
  let known = 0;
  for (const m of migrations) {
    if (!Number.isInteger(m.version) || m.version <= known) {
      throw new CountersignError(
        'INTERNAL',
        `migrations of ${component} must have strictly increasing positive integer versions (got ${m.version} after ${known})`,
      );
    }
    known = m.version;
  }
  return known;
}

const SCHEMA_TABLE: Record<StoreDialect, string> = {
  sqlite: `CREATE TABLE IF NOT EXISTS schema_migrations (
      component TEXT NOT NULL,
      version INTEGER NOT NULL,
      applied_at TEXT NOT NULL,
      PRIMARY KEY (component, version)
    ) STRICT`,
  postgres: `CREATE TABLE IF NOT EXISTS schema_migrations (
      component TEXT NOT NULL,
      version INTEGER NOT NULL,
      applied_at TEXT NOT NULL,
      PRIMARY KEY (component, version)
    )`,
};

/**
 * Brings `component`'s tables up to the newest of `migrations` (one `schema_migrations` table, a
 * version line per component, so modules evolve their tables independently).
 * Each pending migration runs in its own write transaction with the row that records it; the
 * current version is read again inside it, so replicas starting at once apply each migration once.
 * A version newer than this code knows is refused (FAILED_PRECONDITION) naming both versions.
 */
export async function migrateSchema(
  store: SqlStore,
  component: string,
  migrations: readonly SchemaMigration[],
): Promise<{ version: number; applied: number[] }> {
  const known = newestMigrationVersion(component, migrations);
  const refuseNewer = (version: number): void => {
    if (version > known) {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `${store.description} was written by a newer Countersign: its ${component} schema is at version ${version}, ` +
          `this version of Countersign knows up to ${known}. Upgrade Countersign, or restore a backup taken before the upgrade`,
        { details: { store: store.description, component, version, known } },
      );
    }
  };
  const applied: number[] = [];
  let version = 0;
  await store.transaction(async (tx) => {
    await tx.exec(SCHEMA_TABLE[store.dialect]);
    const row = await tx.get('SELECT MAX(version) AS version FROM schema_migrations WHERE component = ?', component);
    version = Number(row?.version ?? 0);
    refuseNewer(version);
  });
  for (const m of migrations) {
    if (m.version <= version) continue;
    await store.transaction(async (tx) => {
      const row = await tx.get('SELECT MAX(version) AS version FROM schema_migrations WHERE component = ?', component);
      const now = Number(row?.version ?? 0);
      refuseNewer(now);
      version = now;
      if (m.version <= now) return;
      try {
        await tx.exec(store.dialect === 'sqlite' ? m.sqlite : m.postgres);
      } catch (err) {
        throw new CountersignError(
          'INTERNAL',
          `migration ${component} v${m.version} failed on ${store.description}: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      }
      await tx.run(
        'INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)',
        component,
        m.version,
        new Date().toISOString(),
      );
      applied.push(m.version);
      version = m.version;
    });
  }
  return { version, applied };
}

/**
 * The store's own tables: one revision counter per change kind, bumped by `tx.changed(kind)` in
 * the transaction that makes the change, so the periodic check (the safety net under
 * notifications) can tell what changed with one small query.
 */
export const STORE_MIGRATIONS: readonly SchemaMigration[] = [
  {
    version: 1,
    sqlite: `
      CREATE TABLE store_revisions (kind TEXT PRIMARY KEY, revision INTEGER NOT NULL) STRICT;
      INSERT INTO store_revisions (kind, revision) VALUES ('keys', 0), ('tokens', 0);
    `,
    postgres: `
      CREATE TABLE store_revisions (kind TEXT PRIMARY KEY, revision BIGINT NOT NULL);
      INSERT INTO store_revisions (kind, revision) VALUES ('keys', 0), ('tokens', 0);
    `,
  },
  {
    // The stored image policy (SetPolicy), a change kind of its own.
    version: 2,
    sqlite: `INSERT INTO store_revisions (kind, revision) VALUES ('policy', 0);`,
    postgres: `INSERT INTO store_revisions (kind, revision) VALUES ('policy', 0);`,
  },
];

export const BUMP_REVISION_SQL = 'UPDATE store_revisions SET revision = revision + 1 WHERE kind = ?';
