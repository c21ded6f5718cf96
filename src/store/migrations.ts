import { CountersignError } from '../shared/errors';
import type { Database } from './database';
import { newestMigrationVersion } from './schema';

/**
 * One schema change of a component. Versions are positive integers, strictly increasing within a
 * component's list; a released migration is never edited, only followed by a new one.
 */
export interface Migration {
  version: number;
  sql: string;
}

export interface MigrationResult {
  /** The component's schema version after migrating. */
  version: number;
  /** Versions applied by this call (empty when the database was already up to date). */
  applied: number[];
}

/**
 * Brings `component`'s tables up to the newest of `migrations`. Each component (e.g. 'audit',
 * 'keys') has its own version line in the `schema_migrations` table, so modules can evolve their
 * tables independently.
 *
 * Each pending migration runs in its own transaction together with the row that records it, so a
 * crash leaves the schema at a recorded version, never between two. The current version is read
 * again inside that transaction, so two processes starting at once apply each migration once.
 *
 * A database whose version for the component is newer than the newest migration this code knows
 * is refused (FAILED_PRECONDITION): it was written by a newer Countersign, and an older one must
 * not write to a schema it does not understand.
 */
export function migrate(db: Database, component: string, migrations: readonly Migration[]): MigrationResult {
  const known = newestMigrationVersion(component, migrations);

  db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      component TEXT NOT NULL,
      version INTEGER NOT NULL,
      applied_at TEXT NOT NULL,
      PRIMARY KEY (component, version)
    ) STRICT`);
  });

  const current = (): number => {
    const row = db.prepare('SELECT MAX(version) AS version FROM schema_migrations WHERE component = ?').get(component);
    return Number(row?.version ?? 0);
  };
  const refuseNewer = (version: number): void => {
    if (version > known) {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `database ${db.file} was written by a newer Countersign: its ${component} schema is at version ${version}, ` +
          `this version of Countersign knows up to ${known}. Upgrade Countersign, or restore a backup taken before the upgrade`,
        { details: { file: db.file, component, version, known } },
      );
    }
  };

  refuseNewer(current());
  const applied: number[] = [];
  for (const m of migrations) {
    db.transaction(() => {
      const now = current();
      refuseNewer(now);
      if (m.version <= now) return;
      try {
        db.exec(m.sql);
      } catch (err) {
        throw new CountersignError(
          'INTERNAL',
          `migration ${component} v${m.version} failed on ${db.file}: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      }
      db.prepare('INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)').run(
        component,
        m.version,
        new Date().toISOString(),
      );
      applied.push(m.version);
    });
  }
  return { version: current(), applied };
}
