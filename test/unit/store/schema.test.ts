/**
 * migrateSchema (src/store/schema.ts), the one migration runner, over the embedded database: the
 * PostgreSQL side runs the same code (test/unit/store/postgres-store.test.ts).
 */
import { migrateSchema, openDatabase, SqliteStore, type SchemaMigration } from '../../../src/store';
import { CountersignError } from '../../../src/shared/errors';
import { removeTempDirs, tempDatabaseFile } from '../../support/temp-dirs';

const tmpFile = (): string => tempDatabaseFile('countersign-migrate-');
afterAll(removeTempDirs);

/** A migration whose SQL is the same on both backends. */
const both = (version: number, sql: string): SchemaMigration => ({ version, sqlite: sql, postgres: sql });
const V1 = both(1, 'CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
const V2 = both(2, 'ALTER TABLE widgets ADD COLUMN colour TEXT');
const V3 = both(3, 'CREATE INDEX widgets_name ON widgets (name)');

const open = (file: string): Promise<SqliteStore> => SqliteStore.open(openDatabase(file), { changeCheckMs: 0 });

async function recorded(store: SqliteStore, component: string): Promise<number[]> {
  const rows = await store.all('SELECT version FROM schema_migrations WHERE component = ? ORDER BY version', component);
  return rows.map((r) => Number(r.version));
}

async function columns(store: SqliteStore, table: string): Promise<string[]> {
  return (await store.all(`PRAGMA table_info(${table})`)).map((r) => String(r.name));
}

describe('migrateSchema', () => {
  test('applies pending migrations once and records each with a timestamp', async () => {
    const file = tmpFile();
    const store = await open(file);
    const before = Date.now();
    expect(await migrateSchema(store, 'widgets', [V1, V2])).toEqual({ version: 2, applied: [1, 2] });
    expect(await columns(store, 'widgets')).toEqual(['id', 'name', 'colour']);
    const rows = await store.all("SELECT component, version, applied_at FROM schema_migrations WHERE component = 'widgets'");
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      const at = Date.parse(String(row.applied_at));
      expect(at).toBeGreaterThanOrEqual(before - 1000);
      expect(at).toBeLessThanOrEqual(Date.now() + 1000);
    }
    // Running again in the same process does nothing (re-running V1 would fail: table exists).
    expect(await migrateSchema(store, 'widgets', [V1, V2])).toEqual({ version: 2, applied: [] });
    await store.close();

    // Re-opening (a restart) is a no-op too, and data written in between is kept.
    const again = await open(file);
    await again.transaction((tx) => tx.run("INSERT INTO widgets (name) VALUES ('a')"));
    expect(await migrateSchema(again, 'widgets', [V1, V2])).toEqual({ version: 2, applied: [] });
    // A newer build adds V3: only V3 runs.
    expect(await migrateSchema(again, 'widgets', [V1, V2, V3])).toEqual({ version: 3, applied: [3] });
    expect(await recorded(again, 'widgets')).toEqual([1, 2, 3]);
    expect(Number((await again.get('SELECT COUNT(*) AS n FROM widgets'))?.n)).toBe(1);
    await again.close();
  });

  test('components have independent versions', async () => {
    const store = await open(tmpFile());
    await migrateSchema(store, 'widgets', [V1, V2]);
    expect(await migrateSchema(store, 'gadgets', [both(1, 'CREATE TABLE gadgets (id INTEGER)')])).toEqual({ version: 1, applied: [1] });
    expect(await recorded(store, 'widgets')).toEqual([1, 2]);
    expect(await recorded(store, 'gadgets')).toEqual([1]);
    await store.close();
  });

  test('a database written by a newer Countersign is refused', async () => {
    const file = tmpFile();
    const newer = await open(file);
    await migrateSchema(newer, 'widgets', [V1, V2, V3]);
    await newer.close();

    const older = await open(file);
    let caught: unknown;
    try {
      await migrateSchema(older, 'widgets', [V1, V2]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CountersignError);
    expect(caught).toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect((caught as Error).message).toMatch(/database .* was written by a newer Countersign/);
    expect((caught as Error).message).toContain(file);
    expect((caught as Error).message).toContain('version 3');
    // Nothing was changed by the refusal.
    expect(await recorded(older, 'widgets')).toEqual([1, 2, 3]);
    await older.close();
  });

  test('a failing migration is rolled back whole and leaves the version where it was', async () => {
    const store = await open(tmpFile());
    await migrateSchema(store, 'widgets', [V1]);
    const broken = both(2, 'CREATE TABLE half_done (x INTEGER); ALTER TABLE no_such_table ADD COLUMN y TEXT');
    await expect(migrateSchema(store, 'widgets', [V1, broken])).rejects.toMatchObject({
      code: 'INTERNAL',
      message: expect.stringMatching(/widgets v2 failed/) as unknown,
    });
    expect(await recorded(store, 'widgets')).toEqual([1]);
    expect(await store.get("SELECT name FROM sqlite_master WHERE name = 'half_done'")).toBeUndefined();
    // A fixed migration then applies.
    expect((await migrateSchema(store, 'widgets', [V1, V2])).applied).toEqual([2]);
    await store.close();
  });

  test('versions must be strictly increasing positive integers', async () => {
    const store = await open(tmpFile());
    await expect(migrateSchema(store, 'widgets', [V2, V1])).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(migrateSchema(store, 'widgets', [V1, V1])).rejects.toThrow(/strictly increasing/);
    await expect(migrateSchema(store, 'widgets', [both(0, 'SELECT 1')])).rejects.toThrow(/strictly increasing/);
    await expect(migrateSchema(store, 'Bad Name', [V1])).rejects.toThrow(/component/);
    await store.close();
  });

  test('two handles migrating the same file apply each migration once', async () => {
    const file = tmpFile();
    const a = await open(file);
    const b = await open(file);
    expect((await migrateSchema(a, 'widgets', [V1])).applied).toEqual([1]);
    // b opened before the migration ran; it must see it inside its own transaction.
    expect((await migrateSchema(b, 'widgets', [V1, V2])).applied).toEqual([2]);
    expect((await migrateSchema(a, 'widgets', [V1, V2])).applied).toEqual([]);
    expect(await recorded(a, 'widgets')).toEqual([1, 2]);
    await a.close();
    await b.close();
  });
});
