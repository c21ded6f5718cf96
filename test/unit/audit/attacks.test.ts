/**
 * Adversarial review of the audit trail: what is hashed against what the store gives back, what
 * an unauthenticated caller can make the chain or the listing say, what reaches the log, and what
 * the CLI prints. Runs against SQLite and the suite's real PostgreSQL (a fresh database per test).
 *
 * The review found eight holes, closed since; every test states what the trail does.
 */
import { DatabaseSync } from 'node:sqlite';
import type { PeerCertificate } from 'node:tls';
import { AuditLog, GENESIS_HASH, type AuditEntry, type AuditRecord } from '../../../src/audit';
import { AccessControl, TokenStore } from '../../../src/auth';
import { audit as auditCommand } from '../../../src/cli/commands/audit';
import { openDatabase, PostgresStore, SqliteStore, type SqlStore } from '../../../src/store';
import { fakeCall } from '../auth/helpers';
import { grpcFailure, startService, type RunningService } from '../../support/harness';
import { freshDatabase } from '../../support/postgres';
import { removeTempDirs, tempDatabaseFile } from '../../support/temp-dirs';

jest.setTimeout(120_000);
afterAll(removeTempDirs);

const GET_KEY = 'countersign.v1.KeyService/GetKey';

const opened: SqlStore[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

async function sqlite(file = tempDatabaseFile('countersign-audit-attacks-')): Promise<SqliteStore> {
  const store = await SqliteStore.open(openDatabase(file), { changeCheckMs: 0 });
  opened.push(store);
  return store;
}

async function postgres(): Promise<PostgresStore> {
  const store = await PostgresStore.connect(await freshDatabase('atk_audit'), { revisionCheckMs: 0 });
  opened.push(store);
  return store;
}

const BACKENDS: Array<[string, () => Promise<SqlStore>]> = [
  ['SQLite', () => sqlite()],
  ['PostgreSQL', postgres],
];

function entry(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return { actor: 'alice', action: 'key.create', target: 'ci-release', outcome: 'success', ...overrides };
}

/** Runs the `countersign audit` CLI command in-process and returns its exit code and what it printed. */
async function auditCli(args: string[]): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  });
  try {
    const code = await auditCommand(args);
    return { code, out: out.join('') };
  } finally {
    spy.mockRestore();
  }
}

/** Runs `fn` with stdout a terminal of `columns` columns (as `audit list` sees it). */
async function asTerminal<T>(columns: number, fn: () => Promise<T>): Promise<T> {
  const tty = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
  const cols = Object.getOwnPropertyDescriptor(process.stdout, 'columns');
  Object.defineProperty(process.stdout, 'isTTY', { value: true, configurable: true });
  Object.defineProperty(process.stdout, 'columns', { value: columns, configurable: true });
  try {
    return await fn();
  } finally {
    const stdout = process.stdout as unknown as { isTTY?: boolean; columns?: number };
    if (tty) Object.defineProperty(process.stdout, 'isTTY', tty);
    else delete stdout.isTTY;
    if (cols) Object.defineProperty(process.stdout, 'columns', cols);
    else delete stdout.columns;
  }
}

/** A line of `audit list` as a terminal of `width` columns shows it: one visual row per `width` characters. */
function visualRows(line: string, width: number): string[] {
  const rows: string[] = [];
  // The listing is BMP text here: one UTF-16 unit per column.
  for (let i = 0; i < line.length; i += width) rows.push(line.slice(i, i + width));
  return rows.length > 0 ? rows : [''];
}

// -----------------------------------------------------------------------------------------------
describe.each(BACKENDS)('what is hashed is what the store gives back (%s)', (_name, open) => {
  test('a lone surrogate in actor, target or reason is stored as U+FFFD and hashed as stored: the chain verifies', async () => {
    const log = await AuditLog.open(await open());
    // Half of a surrogate pair: what cutting "…😀" at a UTF-16 index (slice, clip) leaves behind.
    await log.append(entry({ target: `${'k'.repeat(10)}\ud83d…` }));
    await log.append(entry({ actor: 'token:\udc00x', reason: 'cut \ud83d' }));
    await log.append(entry({ target: 'after' }));
    const listed = await log.list();
    // Whatever the log holds, it must hold what it hashed: the chain of entries appended through the API verifies.
    expect(await log.verify()).toEqual({ ok: true, entries: 3, head: listed[0]!.hash });
  });

  test('details are stored canonically: lone surrogates, -0, 1e21, 2^53+1, NUL, __proto__, key order, NFC vs NFD', async () => {
    const log = await AuditLog.open(await open());
    const details = JSON.parse(
      '{"z":1,"a":{"y":[-0,1e21,9007199254740993,0.1,1e-7]},"__proto__":{"x":1},"s":"\\ud800 \\u0000 \\u001b[2J","caf\\u00e9":1,"cafe\\u0301":2}',
    ) as Record<string, unknown>;
    const written = await log.append(entry({ details }));
    const [read] = await log.list();
    expect(read).toEqual(written);
    expect(Object.keys(read!.details!)).toEqual(['__proto__', 'a', 'cafe\u0301', 'caf\u00e9', 's', 'z']);
    expect(await log.verify()).toMatchObject({ ok: true, entries: 1 });
  });

  test('an absent target or reason and an empty one are different records, and both verify; NFC and NFD targets are distinct', async () => {
    const log = await AuditLog.open(await open());
    const at = new Date('2025-03-01T10:00:00.000Z');
    const absent = await log.append({ actor: 'a', action: 'x', outcome: 'success', at });
    const empty = await log.append({ actor: 'a', action: 'x', outcome: 'success', target: '', reason: '', at });
    await log.append(entry({ target: 'caf\u00e9' }));
    await log.append(entry({ target: 'cafe\u0301' }));
    const records = (await log.list()).reverse();
    expect(records[0]).toEqual(absent);
    expect(records[1]).toMatchObject({ target: '', reason: '' });
    expect(records[1]).toEqual(empty);
    expect(await log.list({ target: 'caf\u00e9' })).toHaveLength(1);
    expect(await log.verify()).toMatchObject({ ok: true, entries: 4 });
  });

  test('times outside the years 0000-9999 are refused, for entries and for `since` (their ISO text does not sort like the instant)', async () => {
    const log = await AuditLog.open(await open());
    await log.append(entry({ at: new Date('2025-03-01T10:00:00.000Z') }));
    for (const at of [new Date(Date.UTC(10000, 0, 1)), new Date(Date.UTC(-1, 0, 1))]) {
      await expect(log.append(entry({ at }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      // "+010000-…" sorts before "2025-…" as text: `at >= since` held for every ordinary entry.
      await expect(log.list({ since: at })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(await log.list({ since: new Date(Date.UTC(9999, 11, 31)) })).toEqual([]);
    expect(await log.verify()).toMatchObject({ ok: true, entries: 1 });
  });

  test('filters are exact: no LIKE wildcards, no case folding, no trimming; limit 0 is refused, not "all"', async () => {
    const log = await AuditLog.open(await open());
    await log.append(entry({ actor: 'alice', target: 'ci-release' }));
    await log.append(entry({ actor: 'a_ice', target: 'ci%' }));
    for (const actor of ['%', 'a%', 'a_ice ', 'ALICE', '_lice']) expect([actor, await log.list({ actor })]).toEqual([actor, []]);
    expect(await log.list({ actor: 'a_ice' })).toHaveLength(1);
    expect(await log.list({ target: 'ci%' })).toHaveLength(1);
    expect(await log.list({ target: 'ci-%' })).toEqual([]);
    for (const limit of [0, -1, 1.5, 10_001, Number.NaN])
      await expect(log.list({ limit })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await log.list({ limit: 1 })).toHaveLength(1);
  });

  test('a head from another log, from beyond the end, or seq 0 with a non-genesis hash does not verify', async () => {
    const log = await AuditLog.open(await open());
    const other = await AuditLog.open(await sqlite());
    for (let i = 0; i < 3; i++) {
      await log.append(entry({ reason: `r${i}` }));
      await other.append(entry({ reason: `r${i}`, actor: 'bob' }));
    }
    expect(await log.verify({ expectHead: await other.head() })).toMatchObject({ ok: false, brokenAt: 3 });
    const head = await log.head();
    expect(await log.verify({ expectHead: { seq: head.seq + 1, hash: head.hash } })).toMatchObject({ ok: false, brokenAt: 4 });
    expect(await log.verify({ expectHead: { seq: 0, hash: head.hash } })).toMatchObject({ ok: false });
    expect(await log.verify({ expectHead: { seq: 0, hash: GENESIS_HASH } })).toMatchObject({ ok: true, entries: 3 });
    await expect(log.verify({ expectHead: { seq: 2 ** 53, hash: head.hash.toUpperCase() } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

// -----------------------------------------------------------------------------------------------
describe('no denial goes unrecorded, whatever the request holds', () => {
  /** Three anonymous denials naming a key, two with a NUL in the name: how many were recorded, and the logged failures. */
  async function nulDenials(store: SqlStore): Promise<{ recorded: number; errors: unknown[]; log: AuditLog }> {
    const log = await AuditLog.open(store);
    const errors: unknown[] = [];
    const access = new AccessControl({ mode: 'enforce', audit: log, logger: { error: (obj) => errors.push(obj) } });
    for (const key of ['ci-release', 'ci-release\u0000', '\u0000']) {
      await expect(Promise.resolve().then(() => access.check(fakeCall(), GET_KEY, { key }))).rejects.toMatchObject({
        code: 'UNAUTHENTICATED',
      });
    }
    return { recorded: (await log.list()).length, errors, log };
  }

  test.each(BACKENDS)(
    "a NUL in a denied request's key name is recorded (as U+FFFD, which both stores keep), and the chain verifies (%s)",
    async (_name, open) => {
      // PostgreSQL refuses U+0000 in TEXT: the append failed and the denial went unrecorded (only logged).
      const { recorded, errors, log } = await nulDenials(await open());
      expect({ recorded, errors }).toEqual({ recorded: 3, errors: [] });
      expect((await log.list()).map((r) => r.target)).toEqual(['\ufffd', 'ci-release\ufffd', 'ci-release']);
      expect(await log.verify()).toMatchObject({ ok: true, entries: 3 });
    },
  );

  test('a client certificate whose CN holds a PEM private key marker cannot keep the count of its flooded denials unrecorded', async () => {
    const log = await AuditLog.open(await sqlite());
    const errors: unknown[] = [];
    const access = new AccessControl({
      mode: 'enforce',
      audit: log,
      logger: { error: (obj) => errors.push(obj) },
      mtlsBindings: [{ subject: 'CN=ci-team-a', roles: ['verifier'] }],
      denialLimits: { perWindow: 2 },
    });
    const cert: Partial<PeerCertificate> = {
      subject: { CN: 'build-bot -----BEGIN PRIVATE KEY-----' },
      raw: Buffer.from('x'),
      fingerprint256: 'AA:BB',
      ext_key_usage: ['1.3.6.1.5.5.7.3.2'],
    };
    for (let i = 0; i < 5; i++) {
      await expect(
        Promise.resolve().then(() => access.check(fakeCall([], { cert }), 'countersign.v1.KeyService/RevokeKey', { key: 'ci-release' })),
      ).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    }
    await access.close(); // writes the count of the window's suppressed denials
    const denied = await log.list();
    expect({ errors, entries: denied.length, suppressed: denied.map((r) => r.details?.suppressed).filter(Boolean) }).toEqual({
      errors: [],
      entries: 3,
      suppressed: [3],
    });
  });

  test('a failing audit insert rolls back the token change it belongs to: no token without its record (SQLite)', async () => {
    const file = tempDatabaseFile('countersign-audit-attacks-');
    const store = await sqlite(file);
    const log = await AuditLog.open(store);
    const tokens = await TokenStore.open(store, { audit: log });
    try {
      await tokens.create({ name: 'kept', roles: ['verifier'], scopes: [], createdBy: 'test' });
      const raw = new DatabaseSync(file);
      raw.exec(
        "CREATE TRIGGER refuse_token BEFORE INSERT ON audit_log WHEN NEW.action LIKE 'token.%' BEGIN SELECT RAISE(ABORT, 'audit refused'); END",
      );
      raw.close();
      await expect(tokens.create({ name: 'ghost', roles: ['key-admin'], scopes: [], createdBy: 'mallory' })).rejects.toThrow();
      await expect(tokens.revoke('kept', { revokedBy: 'mallory', reason: 'quietly' })).rejects.toThrow();
      const names = (await tokens.list()).map((t) => [t.name, t.state]);
      expect(names).toEqual([['kept', 'active']]);
      expect(await log.verify()).toMatchObject({ ok: true, entries: 1 });
    } finally {
      tokens.close();
    }
  });
});

// -----------------------------------------------------------------------------------------------
describe('through the running service (access control enforced, SQLite)', () => {
  let svc: RunningService;
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    svc = await startService({ auth: { mode: 'enforce', mtlsBindings: [] } });
    tokens.signer = (await svc.app.tokens.create({ name: 'ci', roles: ['signer'], scopes: ['**'], createdBy: 'test' })).token;
    tokens.admin = (await svc.app.tokens.create({ name: 'secops', roles: ['key-admin'], scopes: [], createdBy: 'test' })).token;
  });
  afterAll(() => svc.stop());

  const auditAll = (): Promise<AuditRecord[]> => svc.app.audit.list({ limit: 10_000 });

  test('a live bearer token sent in a denied request (as the key name) is not written to the audit log in clear', async () => {
    // A token pasted in the wrong place (`countersign keys show "$COUNTERSIGN_TOKEN"` with a signer token).
    const before = (await auditAll()).length;
    expect((await grpcFailure(svc.call('GetKey', { key: tokens.admin }, 10_000, tokens.signer))).code).toBe('PERMISSION_DENIED');
    expect((await grpcFailure(svc.call('GetKey', { key: tokens.admin }, 10_000))).code).toBe('UNAUTHENTICATED');
    const after = await auditAll();
    expect(after.length).toBe(before + 2);
    // "Tokens never reach the audit log" (access-control.ts): whoever may read `audit list` could use it.
    expect(after.filter((r) => JSON.stringify(r).includes(tokens.admin!)).map((r) => r.seq)).toEqual([]);
  });

  test('a denied key name padded to a wrap point cannot forge a line of `audit list`: on a terminal an entry is one row, and blank runs are escaped', async () => {
    await grpcFailure(svc.call('GetKey', { key: 'probe-pad' }, 10_000));
    const probe = (await auditCli(['list', '--data-dir', svc.config.dataDir])).out.split('\n').find((l) => l.includes(' probe-pad '))!;
    const prefix = probe.indexOf(' probe-pad') + 1; // where the target starts on the line
    const width = 120;
    const forged = '999999 2030-01-01T00:00:00.000Z success token:secops key.revoke ci-release — scheduled';
    // Blank padding, and visible padding (any text does: only the wrap point matters).
    const keys = [' '.repeat((width - (prefix % width)) % width) + forged, 'x'.repeat((width - (prefix % width)) % width) + forged];
    for (const key of keys) {
      expect(key.length).toBeLessThanOrEqual(256); // kept whole by the denial record
      expect((await grpcFailure(svc.call('GetKey', { key }, 10_000))).code).toBe('UNAUTHENTICATED');
    }
    const forgedRows: string[] = [];
    for (const w of [80, 100, 120, 132, 160, 200]) {
      const { code, out } = await asTerminal(w, () => auditCli(['list', '--data-dir', svc.config.dataDir, '--limit', '10000']));
      expect(code).toBe(0);
      for (const line of out.split('\n')) {
        expect(line.length).toBeLessThanOrEqual(w);
        forgedRows.push(...visualRows(line, w).slice(1));
      }
    }
    expect(forgedRows).toEqual([]);
    // Piped (no terminal, e.g. into a file): whole lines, and the blank run shows as escapes, not as blanks.
    const { out } = await auditCli(['list', '--data-dir', svc.config.dataDir, '--limit', '10000']);
    const padded = out.split('\n').find((l) => l.includes('999999 2030') && l.includes('"'))!;
    expect(padded).toMatch(/" \\u0020\\u0020/);
    expect(padded.slice(padded.indexOf('"'))).not.toMatch(/ {2}/);
  });

  test('audit list refuses --limit 0, negative and non-numeric limits, and one above the maximum, without printing entries', async () => {
    for (const limit of ['0', '-1', 'abc', '1e3x']) {
      await expect(auditCli(['list', '--data-dir', svc.config.dataDir, '--limit', limit])).rejects.toThrow(/--limit/);
    }
    await expect(auditCli(['list', '--data-dir', svc.config.dataDir, '--limit', '10001'])).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  test('the head `audit verify` prints is the head it verified, not one read afterwards', async () => {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called with its `this` below
    const original = AuditLog.prototype.verify;
    // The service appends while the operator verifies (here: right after the last page was read).
    const spy = jest.spyOn(AuditLog.prototype, 'verify').mockImplementation(async function (this: AuditLog, options) {
      const result = await original.call(this, options);
      await svc.app.audit.append({ actor: 'mallory', action: 'key.create', target: 'unverified', outcome: 'success' });
      return result;
    });
    try {
      const { code, out } = await auditCli(['verify', '--data-dir', svc.config.dataDir]);
      expect(code).toBe(0);
      const m = /audit chain intact: (\d+) entries; head (\d+):([0-9a-f]{64})/.exec(out);
      expect(m).not.toBeNull();
      // The operator keeps SEQ:HASH as "verified"; entry SEQ must be one that verify checked.
      expect(Number(m![2])).toBe(Number(m![1]));
    } finally {
      spy.mockRestore();
    }
  });

  // Runs last in this block: it breaks the service's chain.
  test('an anonymous caller cannot break the audit chain with a key name whose 256th UTF-16 unit is half an emoji', async () => {
    expect(await svc.app.audit.verify()).toMatchObject({ ok: true });
    // The denial record keeps 256 UTF-16 units of the name (targetOf): the cut falls inside the pair.
    const key = `${'a'.repeat(255)}\u{1F600}tail`;
    expect((await grpcFailure(svc.call('GetKey', { key }, 10_000))).code).toBe('UNAUTHENTICATED');
    const poisoned = (await auditAll()).find((r) => r.target?.startsWith('aaaa'));
    expect(poisoned).toBeDefined();
    // One unauthenticated call must not make `audit verify` report tampering forever (the log is
    // append-only: the entry cannot be fixed), nor stop it from checking any later entry.
    expect(await svc.app.audit.verify()).toMatchObject({ ok: true });
  });
});
