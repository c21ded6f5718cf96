import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate, openDatabase, type Database, type Migration } from '../../../src/store';
import { CountersignError } from '../../../src/shared/errors';

const dirs: string[] = [];
function tmpFile(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-migrate-'));
  dirs.push(dir);
  return path.join(dir, 'countersign.db');
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const V1: Migration = { version: 1, sql: 'CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL)' };
const V2: Migration = { version: 2, sql: 'ALTER TABLE widgets ADD COLUMN colour TEXT' };
const V3: Migration = { version: 3, sql: 'CREATE INDEX widgets_name ON widgets (name)' };

function recorded(db: Database, component: string): number[] {
  return db
    .prepare('SELECT version FROM schema_migrations WHERE component = ? ORDER BY version')
    .all(component)
    .map((r) => Number(r.version));
}

function columns(db: Database, table: string): string[] {
  return db
    .prepare(`PRAGMA table_info(${table})`)
    .all()
    .map((r) => String(r.name));
}

describe('migrate', () => {
  test('applies pending migrations once and records each with a timestamp', () => {
    const file = tmpFile();
    const db = openDatabase(file);
    const before = Date.now();
    expect(migrate(db, 'widgets', [V1, V2])).toEqual({ version: 2, applied: [1, 2] });
    expect(columns(db, 'widgets')).toEqual(['id', 'name', 'colour']);
    const rows = db.prepare('SELECT component, version, applied_at FROM schema_migrations').all();
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row.component).toBe('widgets');
      const at = Date.parse(String(row.applied_at));
      expect(at).toBeGreaterThanOrEqual(before - 1000);
      expect(at).toBeLessThanOrEqual(Date.now() + 1000);
    }
    // Running again in the same process does nothing (re-running V1 would fail: table exists).
    expect(migrate(db, 'widgets', [V1, V2])).toEqual({ version: 2, applied: [] });
    db.close();

    // Re-opening (a restart) is a no-op too, and data written in between is kept.
    const again = openDatabase(file);
    again.prepare("INSERT INTO widgets (name) VALUES ('a')").run();
    expect(migrate(again, 'widgets', [V1, V2])).toEqual({ version: 2, applied: [] });
    // A newer build adds V3: only V3 runs.
    expect(migrate(again, 'widgets', [V1, V2, V3])).toEqual({ version: 3, applied: [3] });
    expect(recorded(again, 'widgets')).toEqual([1, 2, 3]);
    expect(Number(again.prepare('SELECT COUNT(*) AS n FROM widgets').get()?.n)).toBe(1);
    again.close();
  });

  test('components have independent versions', () => {
    const db = openDatabase(tmpFile());
    migrate(db, 'widgets', [V1, V2]);
    expect(migrate(db, 'gadgets', [{ version: 1, sql: 'CREATE TABLE gadgets (id INTEGER)' }])).toEqual({
      version: 1,
      applied: [1],
    });
    expect(recorded(db, 'widgets')).toEqual([1, 2]);
    expect(recorded(db, 'gadgets')).toEqual([1]);
    db.close();
  });

  test('a database written by a newer Countersign is refused', () => {
    const file = tmpFile();
    const newer = openDatabase(file);
    migrate(newer, 'widgets', [V1, V2, V3]);
    newer.close();

    const older = openDatabase(file);
    let caught: unknown;
    try {
      migrate(older, 'widgets', [V1, V2]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CountersignError);
    expect(caught).toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect((caught as Error).message).toMatch(/database .* was written by a newer Countersign/);
    expect((caught as Error).message).toContain(file);
    expect((caught as Error).message).toContain('version 3');
    // Nothing was changed by the refusal.
    expect(recorded(older, 'widgets')).toEqual([1, 2, 3]);
    older.close();
  });

  test('a failing migration is rolled back whole and leaves the version where it was', () => {
    const db = openDatabase(tmpFile());
    migrate(db, 'widgets', [V1]);
    const broken: Migration = {
      version: 2,
      sql: 'CREATE TABLE half_done (x INTEGER); ALTER TABLE no_such_table ADD COLUMN y TEXT',
    };
    expect(() => migrate(db, 'widgets', [V1, broken])).toThrow(
      expect.objectContaining({ code: 'INTERNAL', message: expect.stringMatching(/widgets v2 failed/) as unknown }) as Error,
    );
    expect(recorded(db, 'widgets')).toEqual([1]);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'half_done'").get()).toBeUndefined();
    // A fixed migration then applies.
    expect(migrate(db, 'widgets', [V1, V2]).applied).toEqual([2]);
    db.close();
  });

  test('versions must be strictly increasing positive integers', () => {
    const db = openDatabase(tmpFile());
    expect(() => migrate(db, 'widgets', [V2, V1])).toThrow(expect.objectContaining({ code: 'INTERNAL' }) as Error);
    expect(() => migrate(db, 'widgets', [V1, V1])).toThrow(/strictly increasing/);
    expect(() => migrate(db, 'widgets', [{ version: 0, sql: 'SELECT 1' }])).toThrow(/strictly increasing/);
    expect(() => migrate(db, 'Bad Name', [V1])).toThrow(/component/);
    db.close();
  });

  test('two handles migrating the same file apply each migration once', () => {
    const file = tmpFile();
    const a = openDatabase(file);
    const b = openDatabase(file);
    expect(migrate(a, 'widgets', [V1]).applied).toEqual([1]);
    // b opened before the migration ran; it must see it inside its own transaction.
    expect(migrate(b, 'widgets', [V1, V2]).applied).toEqual([2]);
    expect(migrate(a, 'widgets', [V1, V2]).applied).toEqual([]);
    expect(recorded(a, 'widgets')).toEqual([1, 2]);
    a.close();
    b.close();
  });
});
