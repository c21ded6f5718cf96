import { openDatabase } from '../../../src/store/database';
import { SqliteStore } from '../../../src/store/sqlite-store';
import type { ChangeSignal } from '../../../src/store/store-changes';
import { removeTempDirs, tempDatabaseFile } from '../../support/temp-dirs';

/**
 * Commits by another process on the same file are noticed from the file itself (inotify on the
 * database and its WAL), not by waking ten times a second: "another process" is a second
 * connection here, which SQLite treats alike (data_version moves only for other connections).
 */
describe("SqliteStore: other processes' commits", () => {
  const stores: SqliteStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  afterAll(removeTempDirs);
  const open = async (file: string, changeCheckMs?: number): Promise<SqliteStore> => {
    const s = await SqliteStore.open(openDatabase(file), changeCheckMs === undefined ? {} : { changeCheckMs });
    stores.push(s);
    return s;
  };
  const turns = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
  };
  /** Long enough for a watch event already on its way to be heard (a few loop turns and 50 ms). */
  const settled = async (): Promise<void> => {
    await turns(5);
    await new Promise((r) => setTimeout(r, 50));
    await turns(5);
  };
  /** Resolves once `done` holds (the test's timeout bounds it). */
  const until = async (done: () => boolean): Promise<void> => {
    while (!done()) await new Promise((r) => setTimeout(r, 5));
  };
  /** The signals `s` announces from now on (after what opening the stores wrote has been heard). */
  const signals = async (s: SqliteStore): Promise<ChangeSignal[]> => {
    await settled();
    const seen: ChangeSignal[] = [];
    s.changes.subscribe((signal) => seen.push(signal));
    return seen;
  };

  test('a commit through another connection is announced as it is written, long before the safety-net timer', async () => {
    const file = tempDatabaseFile();
    // A safety net of a minute: an announcement within the test can only come from the watch.
    const watcher = await open(file, 60_000);
    const other = await open(file, 0);
    expect(watcher.watchedFiles).toBe(2);
    const seen = await signals(watcher);
    await other.run('CREATE TABLE IF NOT EXISTS t (x INTEGER)');
    await until(() => seen.length >= 1);
    expect(seen).toEqual(['all']);
    // One commit is one announcement however many writes it made to the files; the next commit is another.
    await other.run('INSERT INTO t VALUES (1)');
    await until(() => seen.length >= 2);
    await settled();
    expect(seen).toEqual(['all', 'all']);
  });

  test("this connection's own commits are not announced as another process's", async () => {
    const file = tempDatabaseFile();
    const store = await open(file, 60_000);
    const seen = await signals(store);
    await store.run('CREATE TABLE IF NOT EXISTS t (x INTEGER)');
    await store.run('INSERT INTO t VALUES (1)');
    await settled();
    expect(seen).toEqual([]);
  });

  test('changeCheckMs 0: no watch and no timer (a test drives poll())', async () => {
    const file = tempDatabaseFile();
    const quiet = await open(file, 0);
    const other = await open(file, 0);
    expect(quiet.watchedFiles).toBe(0);
    const seen = await signals(quiet);
    await other.run('CREATE TABLE IF NOT EXISTS t (x INTEGER)');
    await settled();
    expect(seen).toEqual([]);
    quiet.poll();
    expect(seen).toEqual(['all']);
  });

  test('closing stops the watch', async () => {
    const file = tempDatabaseFile();
    const store = await open(file);
    expect(store.watchedFiles).toBe(2);
    await store.close();
    expect(store.watchedFiles).toBe(0);
  });
});
