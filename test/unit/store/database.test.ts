import { existsSync, openSync, closeSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { openDatabase, type Database } from '../../../src/store';
import { CountersignError } from '../../../src/shared/errors';
import { removeTempDirs, tempDir } from '../../support/temp-dirs';

const tmpDir = (): string => tempDir('countersign-db-');
afterAll(removeTempDirs);

function count(db: Database, table = 't'): number {
  return Number(db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get()?.n);
}

describe('openDatabase', () => {
  test('creates the directory (0700) and the file (0600) and runs in WAL mode with durable settings', () => {
    const dir = path.join(tmpDir(), 'data', 'nested');
    const file = path.join(dir, 'countersign.db');
    const db = openDatabase(file);
    try {
      expect(db.file).toBe(file);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(db.prepare('PRAGMA journal_mode').get()?.journal_mode).toBe('wal');
      expect(db.prepare('PRAGMA synchronous').get()?.synchronous).toBe(2); // FULL
      expect(db.prepare('PRAGMA foreign_keys').get()?.foreign_keys).toBe(1);
      expect(db.prepare('PRAGMA busy_timeout').get()?.timeout).toBe(5000);
      db.exec('CREATE TABLE t (x INTEGER)');
      db.transaction(() => db.prepare('INSERT INTO t VALUES (1)').run());
      expect(existsSync(`${file}-wal`)).toBe(true);
      expect(statSync(`${file}-wal`).mode & 0o777).toBe(0o600);
    } finally {
      db.close();
    }
    // The last connection checkpoints and removes the WAL; a second close is harmless.
    expect(existsSync(`${file}-wal`)).toBe(false);
    expect(() => db.close()).not.toThrow();
    // A raw connection sees the file as a WAL database with the committed row.
    const raw = new DatabaseSync(file);
    expect(raw.prepare('PRAGMA journal_mode').get()?.journal_mode).toBe('wal');
    expect(raw.prepare('SELECT x FROM t').all()).toEqual([{ x: 1 }]);
    raw.close();
  });

  test('rows survive close and reopen', () => {
    const file = path.join(tmpDir(), 'a.db');
    const db = openDatabase(file);
    db.exec('CREATE TABLE t (x INTEGER)');
    db.transaction(() => {
      for (let i = 0; i < 10; i++) db.prepare('INSERT INTO t VALUES (?)').run(i);
    });
    db.close();
    const again = openDatabase(file);
    expect(count(again)).toBe(10);
    again.close();
  });

  test('foreign keys are enforced', () => {
    const db = openDatabase(path.join(tmpDir(), 'fk.db'));
    db.exec('CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (p INTEGER NOT NULL REFERENCES p (id))');
    expect(() => db.prepare('INSERT INTO c VALUES (42)').run()).toThrow(/FOREIGN KEY/);
    db.close();
  });

  test('an unwritable location is refused with FAILED_PRECONDITION naming the file', () => {
    const blocker = path.join(tmpDir(), 'not-a-dir');
    writeFileSync(blocker, 'x');
    const file = path.join(blocker, 'db.sqlite');
    expect(() => openDatabase(file)).toThrow(CountersignError);
    try {
      openDatabase(file);
    } catch (err) {
      expect(err).toMatchObject({ code: 'FAILED_PRECONDITION' });
      expect((err as Error).message).toContain(file);
    }
  });
});

describe('transaction', () => {
  let db: Database;
  beforeEach(() => {
    db = openDatabase(path.join(tmpDir(), 'tx.db'));
    db.exec('CREATE TABLE t (x INTEGER NOT NULL)');
  });
  afterEach(() => db.close());

  test('commits and returns the result of fn', () => {
    const result = db.transaction(() => {
      db.prepare('INSERT INTO t VALUES (1)').run();
      db.prepare('INSERT INTO t VALUES (2)').run();
      return 'done';
    });
    expect(result).toBe('done');
    expect(count(db)).toBe(2);
  });

  test('rolls back every write when fn throws, and rethrows the same error', () => {
    const boom = new Error('boom');
    expect(() =>
      db.transaction(() => {
        db.prepare('INSERT INTO t VALUES (1)').run();
        db.prepare('INSERT INTO t VALUES (2)').run();
        throw boom;
      }),
    ).toThrow(boom);
    expect(count(db)).toBe(0);
    // A failing statement half way rolls back the earlier ones too.
    expect(() =>
      db.transaction(() => {
        db.prepare('INSERT INTO t VALUES (3)').run();
        db.prepare('INSERT INTO t VALUES (NULL)').run();
      }),
    ).toThrow(/NOT NULL/);
    expect(count(db)).toBe(0);
    // And the handle is usable afterwards.
    db.transaction(() => db.prepare('INSERT INTO t VALUES (4)').run());
    expect(count(db)).toBe(1);
  });

  test('nested calls join the outer transaction', () => {
    const other = openDatabase(db.file);
    try {
      db.transaction(() => {
        db.prepare('INSERT INTO t VALUES (1)').run();
        db.transaction(() => db.prepare('INSERT INTO t VALUES (2)').run());
        // The inner writes are visible inside, but not committed until the outer one finishes.
        expect(count(db)).toBe(2);
        expect(count(other)).toBe(0);
      });
      expect(count(other)).toBe(2);

      // The outer transaction failing after the inner one finished undoes both.
      expect(() =>
        db.transaction(() => {
          db.transaction(() => db.prepare('INSERT INTO t VALUES (3)').run());
          throw new Error('outer fails');
        }),
      ).toThrow('outer fails');
      expect(count(db)).toBe(2);

      // An inner failure that the outer fn catches leaves none of the inner writes behind.
      db.transaction(() => {
        db.prepare('INSERT INTO t VALUES (4)').run();
        try {
          db.transaction(() => {
            db.prepare('INSERT INTO t VALUES (5)').run();
            throw new Error('inner fails');
          });
        } catch {
          // handled
        }
        db.prepare('INSERT INTO t VALUES (6)').run();
      });
      expect(
        db
          .prepare('SELECT x FROM t ORDER BY x')
          .all()
          .map((r) => r.x),
      ).toEqual([1, 2, 4, 6]);
    } finally {
      other.close();
    }
  });

  test('an async fn is refused and nothing is committed', () => {
    expect(() =>
      db.transaction(async () => {
        db.prepare('INSERT INTO t VALUES (1)').run();
      }),
    ).toThrow(expect.objectContaining({ code: 'INTERNAL' }) as Error);
    expect(count(db)).toBe(0);
  });

  test('a writer blocked past the busy timeout gets UNAVAILABLE', () => {
    const other = openDatabase(db.file, { busyTimeoutMs: 50 });
    try {
      db.transaction(() => {
        db.prepare('INSERT INTO t VALUES (1)').run();
        const started = Date.now();
        let caught: unknown;
        try {
          other.transaction(() => other.prepare('INSERT INTO t VALUES (2)').run());
        } catch (err) {
          caught = err;
        }
        expect(caught).toBeInstanceOf(CountersignError);
        expect(caught).toMatchObject({ code: 'UNAVAILABLE' });
        expect(Date.now() - started).toBeGreaterThanOrEqual(40);
      });
      // Once the first writer committed, the second can write.
      other.transaction(() => other.prepare('INSERT INTO t VALUES (2)').run());
      expect(count(db)).toBe(2);
    } finally {
      other.close();
    }
  });

  test('iterate streams rows and can stop early', () => {
    db.transaction(() => {
      for (let i = 0; i < 100; i++) db.prepare('INSERT INTO t VALUES (?)').run(i);
    });
    const stmt = db.prepare('SELECT x FROM t ORDER BY x');
    const seen: unknown[] = [];
    for (const row of stmt.iterate()) {
      seen.push(row.x);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual([0, 1, 2]);
    // Breaking out reset the statement, so it can run again.
    expect([...stmt.iterate()]).toHaveLength(100);
  });
});

describe('corruption', () => {
  function populated(file: string, rows: number): void {
    const db = openDatabase(file);
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL); CREATE INDEX t_body ON t (body)');
    const insert = db.prepare('INSERT INTO t (id, body) VALUES (?, ?)');
    db.transaction(() => {
      for (let i = 0; i < rows; i++) insert.run(i, `row ${i} `.padEnd(200, String.fromCharCode(97 + (i % 26))));
    });
    db.close();
  }

  test('a file with a corrupted page in the middle is refused at open, naming the file', () => {
    const file = path.join(tmpDir(), 'corrupt.db');
    populated(file, 5000);
    expect(existsSync(`${file}-wal`)).toBe(false); // everything is in the main file
    const raw = new DatabaseSync(file);
    const pageSize = Number(raw.prepare('PRAGMA page_size').get()?.page_size);
    const pages = Number(raw.prepare('PRAGMA page_count').get()?.page_count);
    raw.close();
    expect(pages).toBeGreaterThan(100);

    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, Math.floor(pages / 2) * pageSize);
    closeSync(fd);

    let caught: unknown;
    try {
      openDatabase(file).close();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CountersignError);
    expect(caught).toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect((caught as Error).message).toContain(file);
    expect((caught as Error).message).toMatch(/corrupt/);
    expect((caught as Error).message).toMatch(/backup/);
  });

  test('a file that is not a database at all is refused', () => {
    const file = path.join(tmpDir(), 'garbage.db');
    writeFileSync(file, Buffer.alloc(8192, 0x42));
    expect(() => openDatabase(file)).toThrow(expect.objectContaining({ code: 'FAILED_PRECONDITION' }) as Error);
    expect(() => openDatabase(file)).toThrow(file);
  });

  test('an intact populated file opens with both checks', () => {
    const file = path.join(tmpDir(), 'fine.db');
    populated(file, 2000);
    const quick = openDatabase(file);
    expect(count(quick)).toBe(2000);
    quick.close();
    openDatabase(file, { integrityCheck: 'full' }).close();
  });
});
