import crypto from 'node:crypto';
import path from 'node:path';
import { AuditLog } from '../../../src/audit';
import { TokenStore } from '../../../src/auth';
import { openDatabase, SqliteStore } from '../../../src/store';
import { expectRejection, removeTempDirs, tempDir } from './helpers';

const openAt = (f: string) => SqliteStore.open(openDatabase(f), { changeCheckMs: 0 });

const T0 = new Date('2025-06-01T12:00:00.000Z');

let db: SqliteStore;
let audit: AuditLog;
let clock: Date;
let store: TokenStore;
let file: string;

beforeEach(async () => {
  file = path.join(tempDir(), 'countersign.db');
  db = await openAt(file);
  audit = await AuditLog.open(db);
  clock = T0;
  store = await TokenStore.open(db, { audit, now: () => clock });
});
afterEach(() => db.close());
afterAll(removeTempDirs);

async function createCi(overrides: Partial<Parameters<TokenStore['create']>[0]> = {}) {
  return await store.create({ name: 'ci-team-a', roles: ['signer'], scopes: ['acmecorp/payments-*'], createdBy: 'alice', ...overrides });
}

/** Counts the queries made through `db` from now on. */
function countReads(): { count: number } {
  const counter = { count: 0 };
  const spied = db as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const method of ['get', 'all', 'run']) {
    const original = spied[method]!.bind(db);
    spied[method] = (...args: unknown[]) => (counter.count++, original(...args));
  }
  return counter;
}

/** Every value stored in the tokens table, as text. */
async function storedText(): Promise<string> {
  return JSON.stringify(await db.all('SELECT * FROM auth_tokens'));
}

describe('create', () => {
  test('returns a cst_ token once and a record without secrets', async () => {
    const { token, record } = await createCi({ expiresAt: new Date(T0.getTime() + 3600_000) });
    expect(token).toMatch(/^cst_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token.slice(4), 'base64url')).toHaveLength(32);
    expect(record).toEqual({
      name: 'ci-team-a',
      prefix: token.slice(0, 12),
      roles: ['signer'],
      scopes: ['acmecorp/payments-*'],
      createdAt: T0.toISOString(),
      createdBy: 'alice',
      expiresAt: '2025-06-01T13:00:00.000Z',
      state: 'active',
    });
    expect(JSON.stringify(record)).not.toContain(token);
  });

  test('stores the SHA-256 of the token, never the token', async () => {
    const { token } = await createCi();
    const row = await db.get('SELECT token_sha256, prefix FROM auth_tokens WHERE name = ?', 'ci-team-a');
    expect(row?.token_sha256).toBe(crypto.createHash('sha256').update(token).digest('hex'));
    expect(row?.token_sha256).not.toBe(token);
    expect(await storedText()).not.toContain(token);
    expect(await storedText()).not.toContain(token.slice(12)); // the secret part appears nowhere, even partly
  });

  test('every token is different', async () => {
    const a = (await createCi({ name: 'a' })).token;
    const b = (await createCi({ name: 'b' })).token;
    expect(a).not.toBe(b);
    expect(a.slice(0, 12)).not.toBe(b.slice(0, 12));
  });

  test('names are unique, also after revocation', async () => {
    await createCi();
    await expectRejection(() => createCi(), 'ALREADY_EXISTS', /a token named ci-team-a already exists; choose another name/);
    await store.revoke('ci-team-a', { revokedBy: 'bob' });
    await expectRejection(() => createCi(), 'ALREADY_EXISTS', /revoked at .*names are never reused/);
  });

  test('validates its request', async () => {
    await expectRejection(() => createCi({ name: 'CI Team' }), 'INVALID_ARGUMENT', /token name "CI Team" is not valid/);
    await expectRejection(() => createCi({ roles: [] }), 'INVALID_ARGUMENT', /roles must be a non-empty list/);
    await expectRejection(() => createCi({ roles: ['admin' as never] }), 'INVALID_ARGUMENT', /unknown role "admin"/);
    await expectRejection(() => createCi({ scopes: [] }), 'INVALID_ARGUMENT', /signer role needs at least one repository scope/);
    await expectRejection(() => createCi({ scopes: ['AcmeCorp/*'] }), 'INVALID_ARGUMENT', /must be lowercase/);
    await expectRejection(() => createCi({ scopes: ['acme corp'] }), 'INVALID_ARGUMENT', /is not a repository pattern/);
    await expectRejection(() => createCi({ expiresAt: new Date(T0.getTime() - 1) }), 'INVALID_ARGUMENT', /is not in the future/);
    await expectRejection(() => createCi({ createdBy: '' }), 'INVALID_ARGUMENT', /createdBy/);
    // A verifier needs no scopes.
    expect((await store.create({ name: 'gate', roles: ['verifier'], createdBy: 'alice' })).record.scopes).toEqual([]);
    expect((await store.list()).map((t) => t.name)).toEqual(['gate']);
  });

  test('is audited without the token', async () => {
    const { token } = await createCi();
    const [entry] = await audit.list({ action: 'token.create' });
    expect(entry).toMatchObject({ actor: 'alice', action: 'token.create', target: 'ci-team-a', outcome: 'success' });
    expect(entry?.details).toEqual({ roles: ['signer'], scopes: ['acmecorp/payments-*'] });
    expect(JSON.stringify(await audit.list())).not.toContain(token.slice(4, 12));
  });
});

describe('authenticate', () => {
  test('a valid token is the identity it was created with', async () => {
    const { token } = await createCi({ roles: ['signer', 'verifier'] });
    expect(await store.authenticate(token)).toEqual({
      subject: 'token:ci-team-a',
      roles: ['signer', 'verifier'],
      scopes: ['acmecorp/payments-*'],
      via: 'token',
    });
  });

  test('wrong, altered and malformed tokens are undefined', async () => {
    const { token } = await createCi();
    const other = `cst_${crypto.randomBytes(32).toString('base64url')}`;
    const last = token.at(-1) === 'A' ? 'B' : 'A';
    for (const wrong of [other, token.slice(0, -1) + last, `${token}x`, token.slice(0, -1), '', 'cst_', token.toUpperCase(), ` ${token}`]) {
      expect(await store.authenticate(wrong)).toBeUndefined();
    }
    expect(await store.check(other)).toEqual({ ok: false, problem: 'unknown' });
    expect(await store.check('Bearer x')).toEqual({ ok: false, problem: 'malformed' });
  });

  test('the comparison is constant-time, whether or not the prefix is known', async () => {
    const { token } = await createCi();
    const spy = jest.spyOn(crypto, 'timingSafeEqual');
    try {
      // Same prefix, different secret: the row is found and compared in constant time.
      const samePrefix = token.slice(0, 12) + crypto.randomBytes(32).toString('base64url').slice(0, 35);
      expect(await store.authenticate(samePrefix)).toBeUndefined();
      expect(spy).toHaveBeenCalledTimes(1);
      // Unknown prefix: compared against a dummy hash, so both paths do the same work.
      expect(await store.authenticate(`cst_${crypto.randomBytes(32).toString('base64url')}`)).toBeUndefined();
      expect(spy).toHaveBeenCalledTimes(2);
      // The right token goes through the same comparison.
      expect(await store.authenticate(token)).toBeDefined();
      expect(spy).toHaveBeenCalledTimes(3);
      for (const [a, b] of spy.mock.calls) {
        expect((a as Buffer).length).toBe(32);
        expect((b as Buffer).length).toBe(32);
      }
      // Malformed input is refused before any lookup.
      await store.authenticate('not-a-token');
      expect(spy).toHaveBeenCalledTimes(3);
    } finally {
      spy.mockRestore();
    }
  });

  test('an expired token stops authenticating', async () => {
    const { token } = await createCi({ expiresAt: new Date(T0.getTime() + 3600_000) });
    clock = new Date(T0.getTime() + 3600_000 - 1);
    expect(await store.authenticate(token)).toBeDefined();
    clock = new Date(T0.getTime() + 3600_000);
    expect(await store.authenticate(token)).toBeUndefined();
    expect(await store.check(token)).toEqual({ ok: false, problem: 'expired', name: 'ci-team-a', at: '2025-06-01T13:00:00.000Z' });
    expect((await store.get('ci-team-a'))?.state).toBe('expired');
  });

  test('a revoked token stops authenticating at once', async () => {
    const { token } = await createCi();
    clock = new Date(T0.getTime() + 1000);
    const record = await store.revoke('ci-team-a', { revokedBy: 'bob', reason: 'laptop stolen' });
    expect(record).toMatchObject({
      state: 'revoked',
      revokedAt: '2025-06-01T12:00:01.000Z',
      revokedBy: 'bob',
      revokeReason: 'laptop stolen',
    });
    expect(await store.authenticate(token)).toBeUndefined();
    expect(await store.check(token)).toEqual({ ok: false, problem: 'revoked', name: 'ci-team-a', at: '2025-06-01T12:00:01.000Z' });
  });

  test('tokens survive a restart', async () => {
    const { token } = await createCi();
    await db.close();
    db = await openAt(file);
    store = await TokenStore.open(db, { now: () => clock });
    expect((await store.authenticate(token))?.subject).toBe('token:ci-team-a');
  });

  test('a tampered role in the database is refused, not granted', async () => {
    const { token } = await createCi();
    await db.run(`UPDATE auth_tokens SET roles = '["root"]' WHERE name = 'ci-team-a'`);
    await store.refresh(); // what the store's announcement of the change does
    await expectRejection(() => store.authenticate(token), 'DATA_LOSS', /unknown to this version/);
  });
});

describe('list and revoke', () => {
  test('list shows every token and its state, and no secrets', async () => {
    const a = await createCi();
    clock = new Date(T0.getTime() + 1);
    const b = await store.create({ name: 'gate', roles: ['verifier'], createdBy: 'alice', expiresAt: new Date(T0.getTime() + 10) });
    clock = new Date(T0.getTime() + 2);
    const c = await store.create({ name: 'admin', roles: ['key-admin'], createdBy: 'alice' });
    await store.revoke('admin', { revokedBy: 'alice' });
    clock = new Date(T0.getTime() + 20);
    const list = await store.list();
    expect(list.map((t) => [t.name, t.state])).toEqual([
      ['ci-team-a', 'active'],
      ['gate', 'expired'],
      ['admin', 'revoked'],
    ]);
    const text = JSON.stringify(list);
    for (const { token } of [a, b, c]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(crypto.createHash('sha256').update(token).digest('hex'));
    }
    for (const t of list) expect(Object.keys(t)).not.toEqual(expect.arrayContaining(['token', 'tokenSha256', 'hash']));
  });

  test('revoke is idempotent, audited once, and NOT_FOUND for unknown names', async () => {
    await createCi();
    const first = await store.revoke('ci-team-a', { revokedBy: 'bob', reason: 'rotation' });
    clock = new Date(T0.getTime() + 5000);
    expect(await store.revoke('ci-team-a', { revokedBy: 'carol' })).toEqual(first);
    expect(await audit.list({ action: 'token.revoke' })).toEqual([
      expect.objectContaining({ actor: 'bob', target: 'ci-team-a', outcome: 'success', reason: 'rotation' }),
    ]);
    await expectRejection(() => store.revoke('nope'), 'NOT_FOUND', /no token named "nope"/);
    expect(await audit.verify()).toMatchObject({ ok: true });
  });
});

describe('grants held in memory', () => {
  test('a known token needs no SQL; a revocation here takes effect at once; an expiry at its instant', async () => {
    const { token } = await createCi({ expiresAt: new Date(T0.getTime() + 3600_000) });
    expect((await store.check(token)).ok).toBe(true);
    const reads = countReads();
    for (let i = 0; i < 100; i++) expect((await store.check(token)).ok).toBe(true);
    expect(reads.count).toBe(0);
    clock = new Date(T0.getTime() + 3600_000);
    expect(await store.check(token)).toMatchObject({ ok: false, problem: 'expired' });
    clock = T0;
    await store.revoke('ci-team-a', { revokedBy: 'bob' });
    expect(await store.check(token)).toMatchObject({ ok: false, problem: 'revoked' });
  });

  test('a revocation by another process (the CLI writes the database) is in force for the first call after its announcement', async () => {
    const { token } = await createCi();
    const cli = await openAt(file);
    try {
      const other = await TokenStore.open(cli, { audit: await AuditLog.open(cli), now: () => clock });
      expect((await store.check(token)).ok).toBe(true);
      await other.revoke('ci-team-a', { revokedBy: 'cli' });
      expect(store.check(token)).toMatchObject({ ok: true }); // not announced yet: the copy in memory answers
      const reads = countReads();
      db.poll(); // what the store's timer does: data_version moved, `all` is announced
      // No refresh by the test: the call waits for the re-read the announcement started, and is refused.
      const pending = store.check(token);
      expect(pending).toBeInstanceOf(Promise);
      expect(await pending).toMatchObject({ ok: false, problem: 'revoked', name: 'ci-team-a' });
      expect(reads.count).toBeGreaterThan(0);
    } finally {
      await cli.close();
    }
  });

  test('a remembered token is answered from memory: no query, no hash, no promise', async () => {
    const { token } = await createCi({ roles: ['signer', 'verifier'] });
    const first = await store.check(token); // waits for the re-read its own creation announced, then remembers
    expect(first.ok).toBe(true);
    const reads = countReads();
    const hash = jest.spyOn(crypto, 'hash');
    const compare = jest.spyOn(crypto, 'timingSafeEqual');
    try {
      for (let i = 0; i < 100; i++) {
        const result = store.check(token);
        expect(result).not.toBeInstanceOf(Promise);
        expect(result).toEqual(first);
      }
      expect(reads.count).toBe(0);
      expect(hash).not.toHaveBeenCalled();
      expect(compare).not.toHaveBeenCalled();
    } finally {
      hash.mockRestore();
      compare.mockRestore();
    }
  });

  test('the answer shared by every call cannot be changed by one of them', async () => {
    const { token } = await createCi();
    const result = await store.check(token);
    if (!result.ok) throw new Error('expected the token to authenticate');
    expect(() => result.identity.roles.push('key-admin')).toThrow(TypeError);
    expect(() => result.identity.scopes.push('**')).toThrow(TypeError);
    expect(() => ((result.identity as { subject: string }).subject = 'token:root')).toThrow(TypeError);
    expect(await store.authenticate(token)).toEqual({
      subject: 'token:ci-team-a',
      roles: ['signer'],
      scopes: ['acmecorp/payments-*'],
      via: 'token',
    });
  });

  test('a remembered token expires at its instant, with no query', async () => {
    const { token } = await createCi({ expiresAt: new Date(T0.getTime() + 3600_000) });
    expect((await store.check(token)).ok).toBe(true);
    const reads = countReads();
    clock = new Date(T0.getTime() + 3600_000 - 1);
    expect(store.check(token)).toMatchObject({ ok: true });
    clock = new Date(T0.getTime() + 3600_000);
    expect(store.check(token)).toEqual({ ok: false, problem: 'expired', name: 'ci-team-a', at: '2025-06-01T13:00:00.000Z' });
    expect(reads.count).toBe(0);
  });

  test('a revocation here forgets the remembered token before revoke returns', async () => {
    const { token } = await createCi();
    expect((await store.check(token)).ok).toBe(true);
    expect(store.check(token)).toMatchObject({ ok: true });
    await store.revoke('ci-team-a', { revokedBy: 'bob' });
    // Whether it waits for the re-read its own announcement started or not, the answer is the revocation.
    expect(await store.check(token)).toMatchObject({ ok: false, problem: 'revoked' });
    expect(store.check(token)).toMatchObject({ ok: false, problem: 'revoked' });
  });

  test('while an announced change cannot be re-read, token checks fail (closed); the next call tries again', async () => {
    const { token } = await createCi();
    expect((await store.check(token)).ok).toBe(true);
    const spied = db as unknown as Record<string, (...args: unknown[]) => unknown>;
    const all = spied.all!;
    let failures = 1;
    spied.all = (...args: unknown[]) => (failures-- > 0 ? Promise.reject(new Error('database unreachable')) : all.apply(db, args));
    try {
      db.changes.markStale(); // a sibling worker's change, told over IPC
      await expect(Promise.resolve(store.check(token))).rejects.toThrow('database unreachable');
      // The store answers again: the call re-reads and is answered, and later ones from memory.
      expect(await store.check(token)).toMatchObject({ ok: true });
      expect(store.check(token)).not.toBeInstanceOf(Promise);
    } finally {
      spied.all = all;
    }
  });

  test('a token created by another process is found at its first use, before any announcement', async () => {
    const cli = await openAt(file);
    try {
      const other = await TokenStore.open(cli, { now: () => clock });
      const { token } = await other.create({ name: 'elsewhere', roles: ['verifier'], createdBy: 'cli' });
      expect(await store.check(token)).toMatchObject({ ok: true, identity: { subject: 'token:elsewhere' } });
    } finally {
      await cli.close();
    }
  });

  test('unknown tokens are refused on every call and never fill the cache', async () => {
    await createCi();
    for (let i = 0; i < 50; i++)
      expect(await store.check(`cst_${crypto.randomBytes(32).toString('base64url')}`)).toEqual({ ok: false, problem: 'unknown' });
  });
});
