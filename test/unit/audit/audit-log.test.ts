import crypto from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { AuditLog, GENESIS_HASH, hashRecord, type AuditEntry, type AuditRecord } from '../../../src/audit';
import { openDatabase, SqliteStore } from '../../../src/store';
import { CountersignError } from '../../../src/shared/errors';
import { removeTempDirs, tempDatabaseFile } from '../../support/temp-dirs';

const tmpFile = (): string => tempDatabaseFile('countersign-audit-');
afterAll(removeTempDirs);

const T0 = Date.parse('2025-03-01T10:00:00.000Z');

function entry(i: number, overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    actor: i % 2 === 0 ? 'alice' : 'bob',
    action: i % 3 === 0 ? 'key.revoke' : 'key.create',
    target: `key-${i}`,
    outcome: 'success',
    reason: `ticket SEC-${i}`,
    details: { n: i, state: { from: 'active', to: 'revoked' } },
    at: new Date(T0 + i * 60_000),
    ...overrides,
  };
}

function openAt(file: string): Promise<SqliteStore> {
  return SqliteStore.open(openDatabase(file), { changeCheckMs: 0 });
}

/** A closed database file holding `n` entries (seq 1..n). */
async function logFile(n: number): Promise<{ file: string; records: AuditRecord[] }> {
  const file = tmpFile();
  const db = await openAt(file);
  const log = await AuditLog.open(db);
  const records: AuditRecord[] = [];
  for (let i = 1; i <= n; i++) records.push(await log.append(entry(i)));
  await db.close();
  return { file, records };
}

/** Edits the file the way someone with file access could: raw SQL, with the guard triggers dropped. */
function tamper(file: string, sql: string, ...params: Array<string | number | null>): void {
  const raw = new DatabaseSync(file);
  raw.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete');
  if (params.length > 0) raw.prepare(sql).run(...params);
  else raw.exec(sql);
  raw.close();
}

async function verifyFile(file: string, options?: Parameters<AuditLog['verify']>[0]) {
  const db = await openAt(file);
  try {
    return await (await AuditLog.open(db)).verify(options);
  } finally {
    await db.close();
  }
}

describe('AuditLog.append', () => {
  let db: SqliteStore;
  let log: AuditLog;
  beforeEach(async () => {
    db = await openAt(tmpFile());
    log = await AuditLog.open(db);
  });
  afterEach(() => db.close());

  test('assigns seq 1, 2, 3 and chains each hash to the previous one', async () => {
    const a = await log.append(entry(1));
    const b = await log.append(entry(2));
    const c = await log.append({ actor: 'carol', action: 'key.list', outcome: 'denied' });
    expect([a.seq, b.seq, c.seq]).toEqual([1, 2, 3]);
    expect(a.prevHash).toBe(GENESIS_HASH);
    expect(b.prevHash).toBe(a.hash);
    expect(c.prevHash).toBe(b.hash);
    expect(new Set([a.hash, b.hash, c.hash]).size).toBe(3);
    for (const r of [a, b, c]) expect(r.hash).toMatch(/^[0-9a-f]{64}$/);
    // Absent optional fields are absent, not null or undefined.
    expect(Object.keys(c).sort()).toEqual(['action', 'actor', 'at', 'hash', 'outcome', 'prevHash', 'seq']);
    expect(await log.head()).toEqual({ seq: 3, hash: c.hash });
  });

  test('the hash is sha256(prevHash + canonical JSON of the record), reproducible outside Countersign', async () => {
    const record = await log.append({
      actor: 'alice',
      action: 'key.create',
      target: 'k1',
      outcome: 'success',
      details: { z: 1, a: 'x' },
      at: new Date('2025-01-02T03:04:05.678Z'),
    });
    const canonical =
      '{"action":"key.create","actor":"alice","at":"2025-01-02T03:04:05.678Z","details":{"a":"x","z":1},' +
      '"outcome":"success","seq":1,"target":"k1"}';
    const expected = crypto
      .createHash('sha256')
      .update('0'.repeat(64) + canonical)
      .digest('hex');
    expect(record.hash).toBe(expected);
    expect(hashRecord(GENESIS_HASH, record)).toBe(expected);
  });

  test('at defaults to now, as an ISO timestamp with milliseconds', async () => {
    const before = Date.now();
    const record = await log.append({ actor: 'a', action: 'x', outcome: 'failure' });
    expect(record.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(record.at)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(record.at)).toBeLessThanOrEqual(Date.now());
  });

  test('refuses details (or any field) that contain private key material, and records nothing', async () => {
    const pem = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    for (const bad of [
      entry(1, { details: { key: pem } }),
      entry(1, { details: { nested: [{ deep: '-----BEGIN EC PRIVATE KEY-----' }] } }),
      entry(1, { reason: 'rotated -----BEGIN PRIVATE KEY----- ...' }),
    ]) {
      let caught: unknown;
      try {
        await log.append(bad);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(CountersignError);
      expect(caught).toMatchObject({ code: 'INTERNAL' });
      // The message names the problem but never echoes the secret.
      expect((caught as Error).message).not.toContain('MII');
    }
    expect((await log.head()).seq).toBe(0);
  });

  test('validates its input', async () => {
    const invalid: Array<Partial<AuditEntry>> = [
      { actor: '' },
      { action: '' },
      { outcome: 'maybe' as AuditEntry['outcome'] },
      { at: new Date(NaN) },
      { target: 'x'.repeat(2000) },
      { details: [] as unknown as Record<string, unknown> },
      { details: { when: new Date() } },
    ];
    for (const overrides of invalid) {
      await expect(log.append(entry(1, overrides))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    await expect(log.append(entry(1, { details: { blob: 'x'.repeat(70_000) } }))).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    expect((await log.head()).seq).toBe(0);
  });

  test('joins a surrounding transaction: a change and its entry commit or roll back together', async () => {
    await db.transaction(async (tx) => tx.exec('CREATE TABLE keys (name TEXT PRIMARY KEY)'));
    await expect(
      db.transaction(async (tx) => {
        await tx.run("INSERT INTO keys VALUES ('k1')");
        await log.append(entry(1), tx);
        throw new Error('the change failed late');
      }),
    ).rejects.toThrow('the change failed late');
    expect((await log.head()).seq).toBe(0);
    expect(await db.all('SELECT name FROM keys')).toEqual([]);
    await db.transaction(async (tx) => {
      await tx.run("INSERT INTO keys VALUES ('k1')");
      await log.append(entry(1), tx);
    });
    expect((await log.head()).seq).toBe(1);
    expect(await log.verify()).toMatchObject({ ok: true, entries: 1 });
  });
});

describe('AuditLog.list', () => {
  let db: SqliteStore;
  let log: AuditLog;
  beforeAll(async () => {
    db = await openAt(tmpFile());
    log = await AuditLog.open(db);
    for (let i = 1; i <= 60; i++) await log.append(entry(i));
  });
  afterAll(() => db.close());

  test('returns the newest first, 50 by default', async () => {
    const all = await log.list();
    expect(all).toHaveLength(50);
    expect(all[0]!.seq).toBe(60);
    expect(all[49]!.seq).toBe(11);
    expect(all.map((r) => r.seq)).toEqual([...Array(50).keys()].map((i) => 60 - i));
    expect((await log.list({ limit: 3 })).map((r) => r.seq)).toEqual([60, 59, 58]);
  });

  test('returns records as appended, details included', async () => {
    const [latest] = await log.list({ limit: 1 });
    expect(latest).toMatchObject({
      seq: 60,
      actor: 'alice',
      action: 'key.revoke',
      target: 'key-60',
      outcome: 'success',
      reason: 'ticket SEC-60',
      details: { n: 60, state: { from: 'active', to: 'revoked' } },
      at: new Date(T0 + 60 * 60_000).toISOString(),
    });
    expect(latest!.hash).toBe((await log.head()).hash);
  });

  test('filters by actor, action, target and time, combined with AND', async () => {
    expect((await log.list({ actor: 'bob', limit: 100 })).every((r) => r.actor === 'bob')).toBe(true);
    expect(await log.list({ actor: 'bob', limit: 100 })).toHaveLength(30);
    expect(await log.list({ action: 'key.revoke', limit: 100 })).toHaveLength(20);
    expect((await log.list({ target: 'key-7' })).map((r) => r.seq)).toEqual([7]);
    expect((await log.list({ since: new Date(T0 + 55 * 60_000) })).map((r) => r.seq)).toEqual([60, 59, 58, 57, 56, 55]);
    expect((await log.list({ actor: 'alice', action: 'key.revoke', since: new Date(T0 + 30 * 60_000) })).map((r) => r.seq)).toEqual([
      60, 54, 48, 42, 36, 30,
    ]);
    expect(await log.list({ actor: 'nobody' })).toEqual([]);
  });

  test('rejects a bad limit or date', async () => {
    for (const limit of [0, -1, 1.5, 10_001]) {
      await expect(log.list({ limit })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    await expect(log.list({ since: new Date('nope') })).rejects.toThrow(/since/);
  });
});

describe('AuditLog.verify', () => {
  test('an intact log verifies, also after a restart, and keeps chaining', async () => {
    const { file, records } = await logFile(20);
    const db = await openAt(file);
    const log = await AuditLog.open(db);
    expect(await log.verify()).toEqual({ ok: true, entries: 20, head: records[19]!.hash });
    expect(await log.head()).toEqual({ seq: 20, hash: records[19]!.hash });
    const next = await log.append(entry(21));
    expect(next.seq).toBe(21);
    expect(next.prevHash).toBe(records[19]!.hash);
    expect(await log.verify({ expectHead: { seq: 20, hash: records[19]!.hash } })).toMatchObject({ ok: true, entries: 21 });
    await db.close();
  });

  test('an empty log verifies', async () => {
    const db = await openAt(tmpFile());
    const log = await AuditLog.open(db);
    expect(await log.verify()).toEqual({ ok: true, entries: 0, head: GENESIS_HASH });
    expect(await log.head()).toEqual({ seq: 0, hash: GENESIS_HASH });
    expect(await log.verify({ expectHead: await log.head() })).toMatchObject({ ok: true });
    await db.close();
  });

  test('triggers refuse UPDATE and DELETE of audit entries', async () => {
    const { file, records } = await logFile(3);
    const raw = new DatabaseSync(file);
    expect(() => raw.exec("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")).toThrow(/append-only/);
    expect(() => raw.exec('DELETE FROM audit_log WHERE seq = 3')).toThrow(/append-only/);
    expect(() => raw.exec('DELETE FROM audit_log')).toThrow(/append-only/);
    expect(raw.prepare('SELECT actor FROM audit_log WHERE seq = 2').get()?.actor).toBe(records[1]!.actor);
    expect(raw.prepare('SELECT COUNT(*) AS n FROM audit_log').get()?.n).toBe(3);
    raw.close();
    expect(await verifyFile(file)).toMatchObject({ ok: true, entries: 3 });
  });

  test('detects a modified field', async () => {
    const { file } = await logFile(10);
    tamper(file, "UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 4");
    expect(await verifyFile(file)).toEqual({
      ok: false,
      entries: 3,
      brokenAt: 4,
      problem: expect.stringMatching(/entry 4 does not match its hash: its content was modified/) as unknown,
    });
  });

  test('detects a modified entry whose hash was recomputed, at the next entry', async () => {
    const { file, records } = await logFile(10);
    const forged = { ...records[4]!, outcome: 'denied' as const };
    tamper(file, "UPDATE audit_log SET outcome = 'denied', hash = ? WHERE seq = 5", hashRecord(forged.prevHash, forged));
    const result = await verifyFile(file);
    expect(result).toMatchObject({ ok: false, brokenAt: 6, entries: 5 });
    expect(!result.ok && result.problem).toMatch(/entry 6 does not link to entry 5/);
  });

  test('detects modified details, even a change that keeps the same JSON meaning', async () => {
    const { file } = await logFile(5);
    tamper(file, 'UPDATE audit_log SET details = \'{"n":2, "state":{"from":"active","to":"revoked"}}\' WHERE seq = 2');
    expect(await verifyFile(file)).toMatchObject({ ok: false, brokenAt: 2 });
    const other = (await logFile(5)).file;
    tamper(other, 'UPDATE audit_log SET details = \'{"n":99,"state":{"from":"active","to":"revoked"}}\' WHERE seq = 2');
    expect(await verifyFile(other)).toMatchObject({ ok: false, brokenAt: 2, problem: expect.stringMatching(/modified/) as unknown });
  });

  test('detects a modified first entry', async () => {
    const { file, records } = await logFile(5);
    tamper(file, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 1");
    expect(await verifyFile(file)).toMatchObject({ ok: false, entries: 0, brokenAt: 1 });
    // Even with its hash recomputed, entry 2 no longer links to it.
    const second = (await logFile(5)).file;
    const forged = { ...records[0]!, actor: 'mallory' };
    tamper(second, "UPDATE audit_log SET actor = 'mallory', hash = ? WHERE seq = 1", hashRecord(GENESIS_HASH, forged));
    expect(await verifyFile(second)).toMatchObject({ ok: false, brokenAt: 2 });
    // And a replaced first entry that does not start from the genesis hash is caught at 1.
    const third = (await logFile(5)).file;
    tamper(third, 'UPDATE audit_log SET prev_hash = ? WHERE seq = 1', 'f'.repeat(64));
    expect(await verifyFile(third)).toMatchObject({ ok: false, brokenAt: 1, problem: expect.stringMatching(/genesis/) as unknown });
  });

  test('detects a deleted entry in the middle and at the start', async () => {
    const { file } = await logFile(10);
    tamper(file, 'DELETE FROM audit_log WHERE seq IN (5, 6)');
    expect(await verifyFile(file)).toEqual({
      ok: false,
      entries: 4,
      brokenAt: 7,
      problem: expect.stringMatching(/entries 5\.\.6 are missing/) as unknown,
    });

    const first = (await logFile(10)).file;
    tamper(first, 'DELETE FROM audit_log WHERE seq = 1');
    expect(await verifyFile(first)).toMatchObject({
      ok: false,
      entries: 0,
      brokenAt: 2,
      problem: expect.stringMatching(/starts at seq 2/) as unknown,
    });
  });

  test('detects a deleted entry even when the later ones were renumbered to close the gap', async () => {
    const { file } = await logFile(10);
    tamper(file, 'DELETE FROM audit_log WHERE seq = 5; UPDATE audit_log SET seq = seq - 1 WHERE seq > 5');
    // Entry 5 is now the old 6: its seq changed (so its hash) and it links to the deleted entry.
    expect(await verifyFile(file)).toMatchObject({ ok: false, entries: 4, brokenAt: 5 });
  });

  test('detects an inserted entry, even one with a correct-looking hash', async () => {
    const { file, records } = await logFile(10);
    const forged = {
      seq: 6,
      at: records[5]!.at,
      actor: 'mallory',
      action: 'key.export',
      outcome: 'success' as const,
      prevHash: records[4]!.hash,
    };
    const hash = hashRecord(forged.prevHash, forged);
    // Make room at seq 6 (from the top down, so seq stays unique), then insert.
    const raw = new DatabaseSync(file);
    raw.exec('DROP TRIGGER audit_log_no_update');
    for (let seq = 10; seq >= 6; seq--) raw.prepare('UPDATE audit_log SET seq = seq + 1 WHERE seq = ?').run(seq);
    raw
      .prepare('INSERT INTO audit_log (seq, at, actor, action, outcome, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(6, forged.at, forged.actor, forged.action, forged.outcome, forged.prevHash, hash);
    raw.close();
    // The forged entry itself is consistent; the entry after it is not.
    expect(await verifyFile(file)).toMatchObject({ ok: false, entries: 6, brokenAt: 7 });

    // An entry tacked on at the end with a made-up hash is caught too.
    const other = (await logFile(3)).file;
    tamper(
      other,
      "INSERT INTO audit_log (seq, at, actor, action, outcome, prev_hash, hash) VALUES (4, '2025-03-01T11:00:00.000Z', 'mallory', 'x', 'success', ?, ?)",
      records[2]!.hash,
      'a'.repeat(64),
    );
    expect(await verifyFile(other)).toMatchObject({ ok: false, entries: 3, brokenAt: 4 });

    // And one slipped in before the first entry.
    const before = (await logFile(3)).file;
    tamper(
      before,
      "INSERT INTO audit_log (seq, at, actor, action, outcome, prev_hash, hash) VALUES (0, '2025-03-01T09:00:00.000Z', 'mallory', 'x', 'success', ?, ?)",
      GENESIS_HASH,
      'b'.repeat(64),
    );
    expect(await verifyFile(before)).toMatchObject({
      ok: false,
      entries: 0,
      brokenAt: 0,
      problem: expect.stringMatching(/inserted/) as unknown,
    });
  });

  test('detects reordered entries (two rows swapping content)', async () => {
    const { file } = await logFile(10);
    const raw = new DatabaseSync(file);
    raw.exec('DROP TRIGGER audit_log_no_update');
    raw.exec(`
      UPDATE audit_log SET seq = -1 WHERE seq = 4;
      UPDATE audit_log SET seq = 4 WHERE seq = 5;
      UPDATE audit_log SET seq = 5 WHERE seq = -1;
    `);
    raw.close();
    expect(await verifyFile(file)).toMatchObject({ ok: false, entries: 3, brokenAt: 4 });
  });

  test('detects a truncated tail given the head recorded earlier', async () => {
    const { file, records } = await logFile(10);
    const head = { seq: 10, hash: records[9]!.hash };
    expect(await verifyFile(file, { expectHead: head })).toMatchObject({ ok: true, entries: 10 });
    tamper(file, 'DELETE FROM audit_log WHERE seq > 7');
    // On its own, a shorter chain is consistent...
    expect(await verifyFile(file)).toEqual({ ok: true, entries: 7, head: records[6]!.hash });
    // ...but it no longer contains the head that was written down.
    expect(await verifyFile(file, { expectHead: head })).toEqual({
      ok: false,
      entries: 7,
      brokenAt: 10,
      problem: expect.stringMatching(/ends at entry 7 but the recorded head is entry 10: entries were removed from the end/) as unknown,
    });
  });

  test('detects a tail that was cut off and rewritten, given the recorded head', async () => {
    const { file, records } = await logFile(10);
    const head = { seq: 10, hash: records[9]!.hash };
    tamper(file, 'DELETE FROM audit_log WHERE seq > 8');
    const db = await openAt(file);
    const log = await AuditLog.open(db);
    await log.append(entry(9, { actor: 'mallory' }));
    await log.append(entry(10, { actor: 'mallory' }));
    expect(await log.verify()).toMatchObject({ ok: true, entries: 10 });
    expect(await log.verify({ expectHead: head })).toMatchObject({
      ok: false,
      brokenAt: 10,
      problem: expect.stringMatching(/not the recorded head/) as unknown,
    });
    // A head from before the rewrite still verifies, since that part is unchanged.
    expect(await log.verify({ expectHead: { seq: 8, hash: records[7]!.hash } })).toMatchObject({ ok: true });
    await db.close();
  });

  test('rejects a malformed expected head', async () => {
    const { file } = await logFile(1);
    const db = await openAt(file);
    await expect((await AuditLog.open(db)).verify({ expectHead: { seq: 1, hash: 'nope' } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await db.close();
  });

  test('streams a large log', async () => {
    const db = await openAt(tmpFile());
    const log = await AuditLog.open(db);
    await db.transaction(async (tx) => {
      for (let i = 1; i <= 5000; i++) await log.append(entry(i), tx);
    });
    expect(await log.verify()).toMatchObject({ ok: true, entries: 5000, head: (await log.head()).hash });
    await db.close();
  });
});
