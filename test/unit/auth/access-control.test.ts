import path from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { AuditLog } from '../../../src/audit';
import {
  AccessControl,
  DEV_IDENTITY,
  ROLES,
  TokenStore,
  bearerToken,
  devModeAllowed,
  resolveAccessMode,
  startupBanner,
} from '../../../src/auth';
import { toGrpcError } from '../../../src/grpc/status';
import { createLogger } from '../../../src/logging/logger';
import { openDatabase, SqliteStore } from '../../../src/store';
import { caught, expectCode, expectRejection, fakeCall, removeTempDirs, tempDir } from './helpers';

const SIGN = 'countersign.v1.SigningService/Sign';
const VERIFY = 'countersign.v1.VerificationService/Verify';
const LIST_KEYS = 'countersign.v1.KeyService/ListKeys';

afterAll(removeTempDirs);

function metadataWith(...values: string[]): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const v of values) md.add('authorization', v);
  return md;
}

describe('bearer header parsing', () => {
  const token = `cst_${'A'.repeat(43)}`;

  test.each([`Bearer ${token}`, `bearer ${token}`, `BEARER ${token}`, `  Bearer   ${token}  `])('accepts %j', (value) => {
    expect(bearerToken(metadataWith(value))).toBe(token);
  });

  test('the metadata key is case-insensitive', async () => {
    const md = new grpc.Metadata();
    md.add('Authorization', `Bearer ${token}`);
    expect(bearerToken(md)).toBe(token);
  });

  test('absent header: no token', async () => {
    expect(bearerToken(new grpc.Metadata())).toBeUndefined();
  });

  test.each([
    [`Basic ${Buffer.from('alice:secret').toString('base64')}`, 'authorization scheme "Basic" is not supported'],
    ['Token abc.def', 'authorization scheme "Token" is not supported'],
    ['Weird-secret-value', 'authorization scheme is not supported'],
    [token, 'the authorization header holds a bare token'],
    ['Bearer', 'no token after Bearer'],
    ['Bearer    ', 'no token after Bearer'],
    ['', 'the authorization header is empty'],
    [`Bearer ${token} ${token}`, 'contains whitespace'],
  ])('refuses %j, without repeating it', (value, message) => {
    const err = expectCode(() => bearerToken(metadataWith(value)), 'UNAUTHENTICATED');
    expect(err.message).toContain(message);
    expect(err.message).not.toContain('secret');
    expect(err.message).not.toContain(Buffer.from('alice:secret').toString('base64'));
    expect(err.message).not.toContain('Weird');
    expect(err.message).not.toContain(token);
    expect(err.message).not.toContain('abc.def');
  });

  test('two authorization headers are refused', async () => {
    expectCode(
      () => bearerToken(metadataWith(`Bearer ${token}`, `Bearer ${token}`)),
      'UNAUTHENTICATED',
      'send one authorization header, not 2',
    );
  });
});

describe('AccessControl', () => {
  let db: SqliteStore;
  let dbFile: string;
  let audit: AuditLog;
  let store: TokenStore;
  let clock: Date;
  let ciToken: string;
  let logLines: string[];
  let access: AccessControl;

  beforeEach(async () => {
    dbFile = path.join(tempDir(), 'countersign.db');
    db = await SqliteStore.open(openDatabase(dbFile), { changeCheckMs: 0 });
    audit = await AuditLog.open(db);
    clock = new Date();
    store = await TokenStore.open(db, { audit, now: () => clock });
    ciToken = (await store.create({ name: 'ci-team-a', roles: ['signer'], scopes: ['acmecorp/payments-*'], createdBy: 'alice' })).token;
    logLines = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        logLines.push(String(chunk));
        cb();
      },
    });
    access = new AccessControl({
      mode: 'enforce',
      tokens: store,
      audit,
      logger: createLogger({ destination }),
      mtlsBindings: [{ subject: 'CN=gatekeeper', roles: ['verifier'] }],
    });
  });
  afterEach(() => db.close());

  const bearer = (token: string) => fakeCall([['authorization', `Bearer ${token}`]], { peer: 'ipv4:10.9.8.7:5555' });

  test('a valid token in scope is allowed and returns its identity', async () => {
    expect(await access.check(bearer(ciToken), SIGN, { image: 'reg.example.com/acmecorp/payments-api:1' })).toEqual({
      subject: 'token:ci-team-a',
      roles: ['signer'],
      scopes: ['acmecorp/payments-*'],
      via: 'token',
    });
    expect((await audit.list()).filter((e) => e.outcome === 'denied')).toEqual([]);
  });

  test('a token in memory is checked synchronously; a denial of it is recorded before the answer', async () => {
    const image = { image: 'reg.example.com/acmecorp/payments-api:1' };
    await access.check(bearer(ciToken), SIGN, image); // its creation's announcement re-read, the token remembered
    const allowed = access.check(bearer(ciToken), SIGN, image);
    expect(allowed).not.toBeInstanceOf(Promise);
    expect(allowed).toMatchObject({ subject: 'token:ci-team-a' });
    // A certificate, too, is answered from memory.
    const cert = fakeCall([], { cert: { raw: Buffer.from([1]), subject: { CN: 'gatekeeper' } } });
    expect(access.check(cert, VERIFY, {})).toMatchObject({ subject: 'cert:CN=gatekeeper' });
    // The same token out of its scope: a promise that rejects only once the denial is in the audit log.
    const denied = access.check(bearer(ciToken), SIGN, { image: 'reg.example.com/acmecorp/billing:1' });
    expect(denied).toBeInstanceOf(Promise);
    await expect(denied).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    expect((await audit.list()).filter((e) => e.outcome === 'denied')).toEqual([
      expect.objectContaining({ actor: 'token:ci-team-a', target: 'reg.example.com/acmecorp/billing' }),
    ]);
  });

  test('a revocation announced by another process is in force for the next call, which waits for the re-read', async () => {
    const image = { image: 'reg.example.com/acmecorp/payments-api:1' };
    await access.check(bearer(ciToken), SIGN, image);
    const cli = await SqliteStore.open(openDatabase(dbFile), { changeCheckMs: 0 });
    try {
      await (await TokenStore.open(cli, { audit: await AuditLog.open(cli) })).revoke('ci-team-a', { revokedBy: 'cli' });
      db.poll(); // the store's timer: another connection committed
      const pending = access.check(bearer(ciToken), SIGN, image);
      expect(pending).toBeInstanceOf(Promise);
      await expectRejection(() => pending, 'UNAUTHENTICATED', /^token ci-team-a was revoked at /);
    } finally {
      await cli.close();
    }
  });

  test('an out-of-scope Sign is denied and audited with who, what, when and why, and no token', async () => {
    const before = Date.now();
    const err = await expectRejection(
      () => access.check(bearer(ciToken), SIGN, { image: 'reg.example.com/acmecorp/billing:1', key: 'ci' }),
      'PERMISSION_DENIED',
      'token:ci-team-a has role signer for acmecorp/payments-*, not for reg.example.com/acmecorp/billing',
    );
    const [entry] = await audit.list({ action: SIGN });
    expect(entry).toMatchObject({
      actor: 'token:ci-team-a',
      action: SIGN,
      target: 'reg.example.com/acmecorp/billing',
      outcome: 'denied',
      reason: err.message,
      details: { status: 'PERMISSION_DENIED', peer: 'ipv4:10.9.8.7:5555', via: 'token', requiredRole: 'signer' },
    });
    expect(Date.parse(entry?.at ?? '')).toBeGreaterThanOrEqual(before - 1);
    expect(await audit.verify()).toMatchObject({ ok: true });
    const everything = JSON.stringify(await audit.list({ limit: 10000 }));
    expect(everything).not.toContain(ciToken);
    expect(everything).not.toContain(ciToken.slice(12));
  });

  test('a missing role is denied and audited', async () => {
    await expectRejection(
      () => access.check(bearer(ciToken), LIST_KEYS, { key: 'prod-signing' }),
      'PERMISSION_DENIED',
      /lacks role key-admin/,
    );
    expect((await audit.list({ action: LIST_KEYS }))[0]).toMatchObject({
      actor: 'token:ci-team-a',
      target: 'prod-signing',
      outcome: 'denied',
    });
  });

  test('no credentials: UNAUTHENTICATED, audited as anonymous with the peer address', async () => {
    const call = fakeCall([], { peer: 'ipv6:[2001:db8::1]:4444' });
    await expectRejection(
      () => access.check(call, VERIFY, { image: 'reg.example.com/x/y:1' }),
      'UNAUTHENTICATED',
      "no credentials: send 'authorization: Bearer <token>' or a client certificate",
    );
    expect((await audit.list({ action: VERIFY }))[0]).toMatchObject({
      actor: 'anonymous',
      action: VERIFY,
      target: 'reg.example.com/x/y:1',
      outcome: 'denied',
      details: { status: 'UNAUTHENTICATED', peer: 'ipv6:[2001:db8::1]:4444' },
    });
  });

  test('an unknown token is UNAUTHENTICATED and never echoed, audited or logged', async () => {
    const forged = `cst_${'Z'.repeat(43)}`;
    const err = await expectRejection(
      () => access.check(bearer(forged), SIGN, { image: 'reg.example.com/acmecorp/payments-api:1' }),
      'UNAUTHENTICATED',
    );
    expect(err.message).toMatch(/not valid on this server/);
    expect(err.message).not.toContain(forged);
    // What the unary wrapper would send back and log.
    expect(toGrpcError(err, 'c1').details).not.toContain(forged);
    expect((await audit.list({ action: SIGN }))[0]).toMatchObject({ actor: 'anonymous', outcome: 'denied' });
    expect(JSON.stringify(await audit.list({ limit: 10000 }))).not.toContain(forged);
  });

  test('a malformed token is refused as such', async () => {
    await expectRejection(() => access.check(bearer('hunter2'), VERIFY, {}), 'UNAUTHENTICATED', /not a Countersign token/);
    expect(JSON.stringify(await audit.list({ limit: 10000 }))).not.toContain('hunter2');
  });

  test('expired and revoked tokens are refused by name, and audited under it', async () => {
    const short = (
      await store.create({ name: 'short', roles: ['verifier'], createdBy: 'alice', expiresAt: new Date(clock.getTime() + 1000) })
    ).token;
    clock = new Date(clock.getTime() + 2000);
    await expectRejection(
      () => access.check(bearer(short), VERIFY, {}),
      'UNAUTHENTICATED',
      /^token short expired at .*; ask an administrator for a new one$/,
    );
    await store.revoke('ci-team-a', { revokedBy: 'bob' });
    await expectRejection(
      () => access.check(bearer(ciToken), SIGN, { image: 'reg.example.com/acmecorp/payments-api:1' }),
      'UNAUTHENTICATED',
      /^token ci-team-a was revoked at /,
    );
    const denials = (await audit.list({ limit: 100 })).filter((e) => e.outcome === 'denied');
    expect(denials.map((e) => e.actor)).toEqual(['token:ci-team-a', 'token:short']);
  });

  test('a bad token does not fall back to a valid client certificate', async () => {
    const call = fakeCall([['authorization', `Bearer cst_${'Q'.repeat(43)}`]], {
      cert: { raw: Buffer.from([1]), subject: { CN: 'gatekeeper' } },
    });
    await expectRejection(() => access.check(call, VERIFY, {}), 'UNAUTHENTICATED');
    const certOnly = fakeCall([], { cert: { raw: Buffer.from([1]), subject: { CN: 'gatekeeper' } } });
    expect(await access.check(certOnly, VERIFY, {})).toEqual({
      subject: 'cert:CN=gatekeeper',
      roles: ['verifier'],
      scopes: [],
      via: 'mtls',
    });
  });

  test('bearer tokens are refused when no token store is configured', async () => {
    const certsOnly = new AccessControl({ mode: 'enforce' });
    await expectRejection(() => certsOnly.check(bearer(ciToken), VERIFY, {}), 'UNAUTHENTICATED', /does not accept bearer tokens/);
  });

  test('a malformed image in Sign is INVALID_ARGUMENT and not recorded as a denial', async () => {
    await expectRejection(() => access.check(bearer(ciToken), SIGN, { image: 'Not A Reference' }), 'INVALID_ARGUMENT');
    expect(await audit.list({ action: SIGN })).toEqual([]);
  });

  test('if the audit log cannot be written, the call is still denied and the failure logged without the token', async () => {
    await db.close();
    // A store that may miss changes (here: closed) cannot vouch for a token a revocation elsewhere
    // may have ended: the grant held in memory is not used (UNAVAILABLE, never an allow).
    await expectRejection(() => access.check(bearer(ciToken), SIGN, { image: 'reg.example.com/acmecorp/payments-api:1' }), 'UNAVAILABLE');
    // A denial whose audit entry cannot be written stays denied.
    const noTokens = new AccessControl({ mode: 'enforce', audit, logger: createLogger({ destination: sink(logLines) }) });
    await expectRejection(() => noTokens.check(fakeCall([]), SIGN, {}), 'UNAUTHENTICATED');
    expect(logLines.join('')).toContain('could not record an access denial in the audit log');
    expect(logLines.join('')).not.toContain(ciToken);
    db = await SqliteStore.open(openDatabase(':memory:')); // for afterEach
  });

  test('a denial with an overlong certificate name is still recorded, clipped', async () => {
    const call = fakeCall([], { cert: { raw: Buffer.from([1]), subject: { CN: 'x'.repeat(3000) } } });
    await expectRejection(() => access.check(call, VERIFY, {}), 'PERMISSION_DENIED');
    const [entry] = await audit.list({ action: VERIFY });
    expect(entry?.actor).toHaveLength(1024);
    expect(entry?.reason?.length).toBeLessThanOrEqual(4096);
  });

  test('audit targets are bounded and never taken from secret-bearing fields', async () => {
    await expectRejection(
      () =>
        access.check(fakeCall([]), 'countersign.v1.KeyService/ImportKey', {
          name: 'n'.repeat(5000),
          cosignPrivateKeyPem: '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----',
          password: 'pw-123',
        }),
      'UNAUTHENTICATED',
    );
    const [entry] = await audit.list({ action: 'countersign.v1.KeyService/ImportKey' });
    expect(entry?.target).toHaveLength(256);
    expect(JSON.stringify(entry)).not.toContain('pw-123');
    expect(JSON.stringify(entry)).not.toContain('PRIVATE KEY');
  });
});

function sink(lines: string[]): Writable {
  return new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
}

describe('development mode', () => {
  test('every call is "dev" with every role and every repository', async () => {
    const access = new AccessControl({ mode: 'dev', listen: '127.0.0.1:50051' });
    const expected = { subject: 'dev', roles: [...ROLES], scopes: ['**'], via: 'dev' };
    expect(await access.check(fakeCall([]), SIGN, { image: 'any.example/team-b/app:1' })).toEqual(expected);
    expect(await access.check(fakeCall([]), LIST_KEYS, {})).toEqual(expected);
    expect(DEV_IDENTITY).toEqual(expected);
    // Unknown methods stay denied.
    await expectRejection(() => access.check(fakeCall([]), 'countersign.v1.Nope/Nope', {}), 'PERMISSION_DENIED');
  });

  test('is refused beyond loopback', async () => {
    expectCode(
      () => new AccessControl({ mode: 'dev', listen: '0.0.0.0:50051' }),
      'FAILED_PRECONDITION',
      /only allowed on a loopback address/,
    );
    expectCode(() => new AccessControl({ mode: 'bogus' as never }), 'INVALID_ARGUMENT');
  });

  test.each([
    ['127.0.0.1:50051', true],
    ['127.1.2.3:1', true],
    ['localhost:50051', true],
    ['LOCALHOST:50051', true],
    ['[::1]:50051', true],
    ['::1', true],
    ['[0:0:0:0:0:0:0:1]:50051', true],
    ['[::ffff:127.0.0.1]:50051', true],
    ['0.0.0.0:50051', false],
    ['[::]:50051', false],
    ['192.168.1.20:50051', false],
    ['10.0.0.5:50051', false],
    ['128.0.0.1:50051', false],
    ['127.0.0.256:50051', false],
    ['countersign.internal:50051', false],
    ['localhost.evil.example:50051', false],
    ['[::ffff:10.0.0.1]:50051', false],
    ['unix:/run/countersign.sock', false],
    ['', false],
  ])('devModeAllowed(%j) is %s', (listen, allowed) => {
    expect(devModeAllowed(listen)).toBe(allowed);
  });

  test('resolveAccessMode: dev is never the default beyond loopback, nor when credentials exist', async () => {
    expect(resolveAccessMode({ listen: '127.0.0.1:50051' })).toBe('dev');
    expect(resolveAccessMode({ listen: '127.0.0.1:50051', credentialsConfigured: true })).toBe('enforce');
    expect(resolveAccessMode({ listen: '0.0.0.0:50051' })).toBe('enforce');
    expect(resolveAccessMode({ listen: '10.0.0.5:50051' })).toBe('enforce');
    expect(resolveAccessMode({ requested: 'enforce', listen: '127.0.0.1:50051' })).toBe('enforce');
    expect(resolveAccessMode({ requested: 'dev', listen: '[::1]:50051' })).toBe('dev');
    expectCode(() => resolveAccessMode({ requested: 'dev', listen: '0.0.0.0:50051' }), 'FAILED_PRECONDITION');
  });

  test('startupBanner is loud in dev mode and silent otherwise', async () => {
    const banner = startupBanner('dev', '127.0.0.1:50051') ?? '';
    expect(banner).toContain('DEVELOPMENT MODE - ACCESS CONTROL IS OFF');
    expect(banner).toContain('127.0.0.1:50051');
    expect(banner.split('\n').length).toBeGreaterThan(5);
    expect(new Set(banner.split('\n').map((l) => l.length)).size).toBe(1); // a tidy box
    expect(startupBanner('enforce', '0.0.0.0:50051')).toBeUndefined();
  });
});

test('caught() helper reports non-throwing functions', async () => {
  expect(() => caught(() => 1)).toThrow('expected a CountersignError');
});
