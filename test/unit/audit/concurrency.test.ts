import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { AuditLog } from '../../../src/audit';
import { openDatabase, SqliteStore } from '../../../src/store';

const openAt = (file: string) => SqliteStore.open(openDatabase(file), { changeCheckMs: 0 });
import { collect, spawnTs } from '../store/ts-child';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-audit-concurrency-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PER_WRITER = 200;

test('two handles on the same file appending interleaved keep one unbroken chain', async () => {
  const file = path.join(dir, 'handles.db');
  const a = await openAt(file);
  const b = await openAt(file);
  try {
    const logA = await AuditLog.open(a);
    const logB = await AuditLog.open(b);
    const writer = async (log: AuditLog, actor: string): Promise<number[]> => {
      const seqs: number[] = [];
      for (let i = 0; i < PER_WRITER; i++) {
        seqs.push((await log.append({ actor, action: 'key.rotate', target: `${actor}-${i}`, outcome: 'success' })).seq);
        await tick();
      }
      return seqs;
    };
    const [seqsA, seqsB] = await Promise.all([writer(logA, 'a'), writer(logB, 'b')]);

    // Every seq was handed out exactly once across both handles.
    expect(new Set([...seqsA, ...seqsB]).size).toBe(2 * PER_WRITER);
    expect(Math.max(...seqsA, ...seqsB)).toBe(2 * PER_WRITER);
    // The writers really interleaved (each handle appended after reading the other's head).
    const actors = (await logA.list({ limit: 2 * PER_WRITER })).map((r) => r.actor);
    const switches = actors.filter((actor, i) => i > 0 && actor !== actors[i - 1]).length;
    expect(switches).toBeGreaterThan(PER_WRITER);
    // One chain, verified from either handle.
    const head = await logA.head();
    expect(await logA.verify()).toEqual({ ok: true, entries: 2 * PER_WRITER, head: head.hash });
    expect(await logB.verify()).toEqual({ ok: true, entries: 2 * PER_WRITER, head: head.hash });
  } finally {
    await a.close();
    await b.close();
  }
});

test('two processes appending at the same time keep one unbroken chain', async () => {
  const file = path.join(dir, 'processes.db');
  // Create the schema first so the writers only contend on appends.
  const setup = await openAt(file);
  await AuditLog.open(setup);
  await setup.close();

  const writer = (actor: string) =>
    spawnTs(
      `
      const fs = require('node:fs');
      const { openDatabase, SqliteStore } = require(SRC + '/store/index.ts');
      const { AuditLog } = require(SRC + '/audit/index.ts');
      const [file, actor, count] = process.argv.slice(1);
      const WINDOW = 20;
      (async () => {
      const db = await SqliteStore.open(openDatabase(file), { changeCheckMs: 0 });
      const log = await AuditLog.open(db);
      const pause = new Int32Array(new SharedArrayBuffer(4));
      // Line both writers up: say we are ready, then block until the test says go.
      fs.writeSync(1, 'ready\\n');
      fs.readSync(0, Buffer.alloc(3));
      const other = actor === 'p1' ? 'p2' : 'p1';
      for (let i = 0; i < Number(count); i++) {
        await log.append({ actor, action: 'key.rotate', target: actor + '-' + i, outcome: 'success', details: { i } });
        // A short pause now and then lets the other writer in, so appends really interleave
        // (SQLite's lock is not fair: a writer in a tight loop tends to keep winning it).
        if (i % 2 === 1) Atomics.wait(pause, 0, 0, 2);
        // And every WINDOW appends, wait (up to 5 s) until the other writer is no more than a window
        // behind: on a loaded machine one process can otherwise be starved until the other is done,
        // and the test would show no contention at all.
        if (i % WINDOW === WINDOW - 1) {
          for (let waited = 0; waited < 5000; waited += 5) {
            const row = await db.get('SELECT COUNT(*) AS n FROM audit_log WHERE actor = ?', other);
            if (Number(row.n) >= i + 1 - WINDOW || Number(row.n) >= Number(count)) break;
            Atomics.wait(pause, 0, 0, 5);
          }
        }
      }
      await db.close();
      })().catch((err) => { process.stderr.write(String(err)); process.exitCode = 1; });
      `,
      [file, actor, String(PER_WRITER)],
    );
  const children = [writer('p1'), writer('p2')];
  const done = children.map((child) => collect(child));
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve, reject) => {
          child.stdout.once('data', () => resolve());
          child.once('close', () => reject(new Error('writer exited before it was ready')));
        }),
    ),
  );
  for (const child of children) child.stdin.end('go\n');
  const results = await Promise.all(done);
  for (const r of results) expect(r).toMatchObject({ code: 0, stderr: '', stdout: 'ready\n' });

  const db = await openAt(file);
  try {
    const log = await AuditLog.open(db);
    expect(await log.verify()).toEqual({ ok: true, entries: 2 * PER_WRITER, head: (await log.head()).hash });
    const all = await log.list({ limit: 2 * PER_WRITER });
    // The writers really contended: the chain switches between them many times.
    const switches = all.filter((r, i) => i > 0 && r.actor !== all[i - 1]!.actor).length;
    expect(switches).toBeGreaterThanOrEqual(10);
    for (const actor of ['p1', 'p2']) {
      const mine = all.filter((r) => r.actor === actor).reverse();
      // Each writer's entries are all there, in the order it appended them.
      expect(mine.map((r) => r.details?.i)).toEqual([...Array(PER_WRITER).keys()]);
    }
  } finally {
    await db.close();
  }
}, 60_000);
