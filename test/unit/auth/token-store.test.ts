import crypto from 'node:crypto';
import path from 'node:path';
import { AuditLog } from '../../../src/audit';
import { TokenStore } from '../../../src/auth';
import { openDatabase, type Database } from '../../../src/store';
import { expectCode, removeTempDirs, tempDir } from './helpers';

const T0 = new Date('2025-06-01T12:00:00.000Z');

let db: Database;
let audit: AuditLog;
let clock: Date;
let store: TokenStore;
let file: string;

beforeEach(() => {
  file = path.join(tempDir(), 'countersign.db');
  db = openDatabase(file);
  audit = new AuditLog(db);
  clock = T0;
  store = new TokenStore(db, { audit, now: () => clock });
});
afterEach(() => db.close());
afterAll(removeTempDirs);

function createCi(overrides: Partial<Parameters<TokenStore['create']>[0]> = {}) {
  return store.create({ name: 'ci-team-a', roles: ['signer'], scopes: ['acmecorp/payments-*'], createdBy: 'alice', ...overrides });
}

/** Every value stored in the tokens table, as text. */
function storedText(): string {
  return JSON.stringify(db.prepare('SELECT * FROM auth_tokens').all());
}

describe('create', () => {
  test('returns a cst_ token once and a record without secrets', () => {
    const { token, record } = createCi({ expiresAt: new Date(T0.getTime() + 3600_000) });
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

  test('stores the SHA-256 of the token, never the token', () => {
    const { token } = createCi();
    const row = db.prepare('SELECT token_sha256, prefix FROM auth_tokens WHERE name = ?').get('ci-team-a');
    expect(row?.token_sha256).toBe(crypto.createHash('sha256').update(token).digest('hex'));
    expect(row?.token_sha256).not.toBe(token);
    expect(storedText()).not.toContain(token);
    expect(storedText()).not.toContain(token.slice(12)); // the secret part appears nowhere, even partly
  });

  test('every token is different', () => {
    const a = createCi({ name: 'a' }).token;
    const b = createCi({ name: 'b' }).token;
    expect(a).not.toBe(b);
    expect(a.slice(0, 12)).not.toBe(b.slice(0, 12));
  });

  test('names are unique, also after revocation', () => {
    createCi();
    expectCode(() => createCi(), 'ALREADY_EXISTS', /a token named ci-team-a already exists; choose another name/);
    store.revoke('ci-team-a', { revokedBy: 'bob' });
    expectCode(() => createCi(), 'ALREADY_EXISTS', /revoked at .*names are never reused/);
  });

  test('validates its request', () => {
    expectCode(() => createCi({ name: 'CI Team' }), 'INVALID_ARGUMENT', /token name "CI Team" is not valid/);
    expectCode(() => createCi({ roles: [] }), 'INVALID_ARGUMENT', /roles must be a non-empty list/);
    expectCode(() => createCi({ roles: ['admin' as never] }), 'INVALID_ARGUMENT', /unknown role "admin"/);
    expectCode(() => createCi({ scopes: [] }), 'INVALID_ARGUMENT', /signer role needs at least one repository scope/);
    expectCode(() => createCi({ scopes: ['AcmeCorp/*'] }), 'INVALID_ARGUMENT', /must be lowercase/);
    expectCode(() => createCi({ scopes: ['acme corp'] }), 'INVALID_ARGUMENT', /is not a repository pattern/);
    expectCode(() => createCi({ expiresAt: new Date(T0.getTime() - 1) }), 'INVALID_ARGUMENT', /is not in the future/);
    expectCode(() => createCi({ createdBy: '' }), 'INVALID_ARGUMENT', /createdBy/);
    // A verifier needs no scopes.
    expect(store.create({ name: 'gate', roles: ['verifier'], createdBy: 'alice' }).record.scopes).toEqual([]);
    expect(store.list().map((t) => t.name)).toEqual(['gate']);
  });

  test('is audited without the token', () => {
    const { token } = createCi();
    const [entry] = audit.list({ action: 'token.create' });
    expect(entry).toMatchObject({ actor: 'alice', action: 'token.create', target: 'ci-team-a', outcome: 'success' });
    expect(entry?.details).toEqual({ roles: ['signer'], scopes: ['acmecorp/payments-*'] });
    expect(JSON.stringify(audit.list())).not.toContain(token.slice(4, 12));
  });
});

describe('authenticate', () => {
  test('a valid token is the identity it was created with', () => {
    const { token } = createCi({ roles: ['signer', 'verifier'] });
    expect(store.authenticate(token)).toEqual({
      subject: 'token:ci-team-a',
      roles: ['signer', 'verifier'],
      scopes: ['acmecorp/payments-*'],
      via: 'token',
    });
  });

  test('wrong, altered and malformed tokens are undefined', () => {
    const { token } = createCi();
    const other = `cst_${crypto.randomBytes(32).toString('base64url')}`;
    const last = token.at(-1) === 'A' ? 'B' : 'A';
    for (const wrong of [other, token.slice(0, -1) + last, `${token}x`, token.slice(0, -1), '', 'cst_', token.toUpperCase(), ` ${token}`]) {
      expect(store.authenticate(wrong)).toBeUndefined();
    }
    expect(store.check(other)).toEqual({ ok: false, problem: 'unknown' });
    expect(store.check('Bearer x')).toEqual({ ok: false, problem: 'malformed' });
  });

  test('the comparison is constant-time, whether or not the prefix is known', () => {
    const { token } = createCi();
    const spy = jest.spyOn(crypto, 'timingSafeEqual');
    try {
      // Same prefix, different secret: the row is found and compared in constant time.
      const samePrefix = token.slice(0, 12) + crypto.randomBytes(32).toString('base64url').slice(0, 35);
      expect(store.authenticate(samePrefix)).toBeUndefined();
      expect(spy).toHaveBeenCalledTimes(1);
      // Unknown prefix: compared against a dummy hash, so both paths do the same work.
      expect(store.authenticate(`cst_${crypto.randomBytes(32).toString('base64url')}`)).toBeUndefined();
      expect(spy).toHaveBeenCalledTimes(2);
      // The right token goes through the same comparison.
      expect(store.authenticate(token)).toBeDefined();
      expect(spy).toHaveBeenCalledTimes(3);
      for (const [a, b] of spy.mock.calls) {
        expect((a as Buffer).length).toBe(32);
        expect((b as Buffer).length).toBe(32);
      }
      // Malformed input is refused before any lookup.
      store.authenticate('not-a-token');
      expect(spy).toHaveBeenCalledTimes(3);
    } finally {
      spy.mockRestore();
    }
  });

  test('an expired token stops authenticating', () => {
    const { token } = createCi({ expiresAt: new Date(T0.getTime() + 3600_000) });
    clock = new Date(T0.getTime() + 3600_000 - 1);
    expect(store.authenticate(token)).toBeDefined();
    clock = new Date(T0.getTime() + 3600_000);
    expect(store.authenticate(token)).toBeUndefined();
    expect(store.check(token)).toEqual({ ok: false, problem: 'expired', name: 'ci-team-a', at: '2025-06-01T13:00:00.000Z' });
    expect(store.get('ci-team-a')?.state).toBe('expired');
  });

  test('a revoked token stops authenticating at once', () => {
    const { token } = createCi();
    clock = new Date(T0.getTime() + 1000);
    const record = store.revoke('ci-team-a', { revokedBy: 'bob', reason: 'laptop stolen' });
    expect(record).toMatchObject({ state: 'revoked', revokedAt: '2025-06-01T12:00:01.000Z', revokedBy: 'bob', revokeReason: 'laptop stolen' });
    expect(store.authenticate(token)).toBeUndefined();
    expect(store.check(token)).toEqual({ ok: false, problem: 'revoked', name: 'ci-team-a', at: '2025-06-01T12:00:01.000Z' });
  });

  test('tokens survive a restart', () => {
    const { token } = createCi();
    db.close();
    db = openDatabase(file);
    store = new TokenStore(db, { now: () => clock });
    expect(store.authenticate(token)?.subject).toBe('token:ci-team-a');
  });

  test('a tampered role in the database is refused, not granted', () => {
    const { token } = createCi();
    db.prepare(`UPDATE auth_tokens SET roles = '["root"]' WHERE name = 'ci-team-a'`).run();
    expectCode(() => store.authenticate(token), 'DATA_LOSS', /unknown to this version/);
  });
});

describe('list and revoke', () => {
  test('list shows every token and its state, and no secrets', () => {
    const a = createCi();
    clock = new Date(T0.getTime() + 1);
    const b = store.create({ name: 'gate', roles: ['verifier'], createdBy: 'alice', expiresAt: new Date(T0.getTime() + 10) });
    clock = new Date(T0.getTime() + 2);
    const c = store.create({ name: 'admin', roles: ['key-admin'], createdBy: 'alice' });
    store.revoke('admin', { revokedBy: 'alice' });
    clock = new Date(T0.getTime() + 20);
    const list = store.list();
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

  test('revoke is idempotent, audited once, and NOT_FOUND for unknown names', () => {
    createCi();
    const first = store.revoke('ci-team-a', { revokedBy: 'bob', reason: 'rotation' });
    clock = new Date(T0.getTime() + 5000);
    expect(store.revoke('ci-team-a', { revokedBy: 'carol' })).toEqual(first);
    expect(audit.list({ action: 'token.revoke' })).toEqual([
      expect.objectContaining({ actor: 'bob', target: 'ci-team-a', outcome: 'success', reason: 'rotation' }),
    ]);
    expectCode(() => store.revoke('nope'), 'NOT_FOUND', /no token named "nope"/);
    expect(audit.verify()).toMatchObject({ ok: true });
  });
});

describe('grants held in memory', () => {
  test('a cached token needs no SQL; a revocation here takes effect at once; an expiry at its instant', () => {
    const { token } = createCi({ expiresAt: new Date(T0.getTime() + 3600_000) });
    expect(store.check(token).ok).toBe(true);
    const prepare = db.prepare.bind(db);
    let sql = 0;
    db.prepare = (text: string) => (sql++, prepare(text));
    for (let i = 0; i < 100; i++) expect(store.check(token).ok).toBe(true);
    expect(sql).toBe(0);
    clock = new Date(T0.getTime() + 3600_000);
    expect(store.check(token)).toMatchObject({ ok: false, problem: 'expired' });
    clock = T0;
    store.revoke('ci-team-a', { revokedBy: 'bob' });
    expect(store.check(token)).toMatchObject({ ok: false, problem: 'revoked' });
  });

  test('a revocation by another process (the CLI writes the database) is seen within the check interval', () => {
    const { token } = createCi();
    const cli = openDatabase(file);
    try {
      const other = new TokenStore(cli, { audit: new AuditLog(cli), now: () => clock });
      const watched = new TokenStore(db, { now: () => clock, changeCheckMs: 100 });
      expect(watched.check(token).ok).toBe(true);
      other.revoke('ci-team-a', { revokedBy: 'cli' });
      clock = new Date(T0.getTime() + 99);
      expect(watched.check(token).ok).toBe(true); // within the interval: not looked at yet
      clock = new Date(T0.getTime() + 100);
      expect(watched.check(token)).toMatchObject({ ok: false, problem: 'revoked', name: 'ci-team-a' });
    } finally {
      cli.close();
    }
  });

  test('unknown tokens are refused on every call and never fill the cache', () => {
    createCi();
    for (let i = 0; i < 50; i++) expect(store.check(`cst_${crypto.randomBytes(32).toString('base64url')}`)).toEqual({ ok: false, problem: 'unknown' });
  });
});
