import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditLog } from '../../../src/audit';
import { openDatabase, SqliteStore } from '../../../src/store';
import { collect, spawnTs } from './ts-child';

/**
 * A writer process killed with SIGKILL in the middle of its work. Each iteration writes a row to a
 * "keys" table and its audit entry in one transaction, then prints its counter; whatever the child
 * printed was committed, and at most one more transaction may have committed before the kill.
 *
 * SIGKILL tests a process crash (the OS still holds written pages). Power loss is what
 * synchronous=FULL is for; that cannot be simulated here.
 */
const WRITER = `
const fs = require('node:fs');
const { openDatabase, migrateSchema, SqliteStore } = require(SRC + '/store/index.ts');
const { AuditLog } = require(SRC + '/audit/index.ts');
(async () => {
const db = openDatabase(process.argv[1]);
const store = await SqliteStore.open(db, { changeCheckMs: 0 });
const table = 'CREATE TABLE keys (n INTEGER PRIMARY KEY, payload TEXT NOT NULL)';
await migrateSchema(store, 'crashtest', [{ version: 1, sqlite: table, postgres: table }]);
const audit = await AuditLog.open(store);
let n = Number((await store.get('SELECT COALESCE(MAX(n), 0) AS n FROM keys')).n);
for (;;) {
  n++;
  await store.transaction(async (tx) => {
    await tx.run('INSERT INTO keys (n, payload) VALUES (?, ?)', n, 'p'.repeat(500 + (n % 1000)));
    await audit.append({ actor: 'writer', action: 'key.create', target: 'key-' + n, outcome: 'success', details: { n } }, tx);
  });
  fs.writeSync(1, n + '\\n');
}
})().catch((err) => { process.stderr.write(String(err)); process.exit(1); });
`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-crash-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runAndKill(file: string, minCommits: number): Promise<number> {
  const child = spawnTs(WRITER, [file]);
  const done = collect(child);
  let lastPrinted = 0;
  let buffered = '';
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      if (lines.length > 0) lastPrinted = Number(lines[lines.length - 1]);
      if (lastPrinted >= minCommits) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('close', () => resolve());
  });
  const result = await done;
  if (result.signal !== 'SIGKILL') throw new Error(`writer exited on its own (${String(result.code)}): ${result.stderr}`);
  return lastPrinted;
}

test('a writer killed with SIGKILL mid-write leaves an intact file with every committed entry', async () => {
  const file = path.join(dir, 'crash.db');
  let target = 0;
  for (let round = 1; round <= 3; round++) {
    target += 150;
    const lastPrinted = await runAndKill(file, target);

    // Opens (with the full integrity check) and is consistent.
    const db = openDatabase(file, { integrityCheck: 'full' });
    try {
      const keys = Number(db.prepare('SELECT COUNT(*) AS n FROM keys').get()?.n);
      const maxKey = Number(db.prepare('SELECT MAX(n) AS n FROM keys').get()?.n);
      // Every printed commit is there; at most the one in flight when killed committed too.
      expect(keys).toBeGreaterThanOrEqual(lastPrinted);
      expect(keys).toBeLessThanOrEqual(lastPrinted + 1);
      expect(maxKey).toBe(keys); // no holes: 1..keys
      const store = await SqliteStore.open(db, { changeCheckMs: 0 });
      const audit = await AuditLog.open(store);
      // Never a key without its audit entry or the reverse: the two writes were atomic.
      const result = await audit.verify();
      expect(result).toEqual({ ok: true, entries: keys, head: (await audit.head()).hash });
      expect((await audit.list({ limit: 1 }))[0]).toMatchObject({ seq: keys, target: `key-${keys}` });
      target = keys;
    } finally {
      db.close(); // the store, when opened, closed it already (closing twice is harmless)
    }
  }
}, 120_000);

test('the test really exercises a second process (sanity check of the child harness)', async () => {
  const result = await collect(
    spawnTs(`
      const { canonicalJson } = require(SRC + '/formats/canonical-json.ts');
      process.stdout.write(canonicalJson({ b: 1, a: [true, null] }) + ' ' + process.pid);
    `),
  );
  expect(result.code).toBe(0);
  const [json, pid] = result.stdout.split(' ');
  expect(json).toBe('{"a":[true,null],"b":1}');
  expect(Number(pid)).not.toBe(process.pid);
});
