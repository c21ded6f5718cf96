import path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { AuditLog } from '../../../src/audit';
import {
  AccessControl,
  DEV_IDENTITY,
  METHOD_ROLES,
  NO_CREDENTIALS_MESSAGE,
  ROLES,
  TokenStore,
  authorize,
  imageRepositoryOf,
  type Identity,
  type Role,
} from '../../../src/auth';
import { openDatabase, SqliteStore } from '../../../src/store';
import { expectCode, expectRejection, fakeCall } from './helpers';

const SIGN = 'countersign.v1.SigningService/Sign';
const ATTEST = 'countersign.v1.SigningService/Attest';

/** Every RPC with the role(s) that grant it, written out independently of METHOD_ROLES. */
const EXPECTED: Array<[string, Role | Role[]]> = [
  [SIGN, 'signer'],
  [ATTEST, 'signer'],
  ['countersign.v1.VerificationService/Verify', 'verifier'],
  ['countersign.v1.VerificationService/VerifyBatch', 'verifier'],
  ['countersign.v1.KeyService/CreateKey', 'key-admin'],
  ['countersign.v1.KeyService/ImportKey', 'key-admin'],
  ['countersign.v1.KeyService/ListKeys', 'key-admin'],
  ['countersign.v1.KeyService/GetKey', 'key-admin'],
  ['countersign.v1.KeyService/RotateKey', 'key-admin'],
  ['countersign.v1.KeyService/RevokeKey', 'key-admin'],
  ['countersign.v1.PolicyService/GetPolicy', ['verifier', 'policy-admin']],
  ['countersign.v1.PolicyService/SetPolicy', 'policy-admin'],
];
const granting = (roles: Role | Role[]): Role[] => (Array.isArray(roles) ? roles : [roles]);

/** A plausible request for each method. */
function requestFor(method: string): Record<string, unknown> {
  if (method === SIGN || method === ATTEST) return { image: 'reg.example.com/acmecorp/payments-api:1.0', key: 'ci' };
  if (method.endsWith('/VerifyBatch')) return { images: ['reg.example.com/acmecorp/payments-api:1.0'], action: 'ACTION_DEPLOY' };
  if (method.endsWith('/Verify')) return { image: 'reg.example.com/acmecorp/payments-api:1.0', action: 'ACTION_DEPLOY' };
  return { key: 'ci' };
}

function identity(roles: Role[], scopes: string[] = [], subject = 'token:ci-team-a'): Identity {
  return { subject, roles, scopes, via: 'token' };
}

test('METHOD_ROLES is exactly the expected table', () => {
  expect(Object.entries(METHOD_ROLES).map(([m, r]) => [m, r.orRoles ? [r.role, ...r.orRoles] : r.role])).toEqual(EXPECTED);
  expect(
    Object.entries(METHOD_ROLES)
      .filter(([, r]) => r.scoped)
      .map(([m]) => m),
  ).toEqual([SIGN, ATTEST]);
});

test('every RPC in proto/countersign/v1 has an access rule (a new RPC cannot ship unguarded)', () => {
  const root = path.resolve(__dirname, '..', '..', '..', 'proto');
  const definition = protoLoader.loadSync(
    ['countersign/v1/signing.proto', 'countersign/v1/verification.proto', 'countersign/v1/keys.proto', 'countersign/v1/policy.proto'],
    {
      includeDirs: [root],
    },
  );
  const methods: string[] = [];
  for (const [name, value] of Object.entries(definition)) {
    if (!name.startsWith('countersign.v1.') || typeof value !== 'object' || 'format' in value) continue;
    for (const m of Object.values(value)) methods.push(m.path.slice(1));
  }
  expect(methods.sort()).toEqual(Object.keys(METHOD_ROLES).sort());
});

/**
 * One test per RPC × role (plus no credentials), through AccessControl with real bearer tokens:
 * allowed exactly when the token has the role the RPC needs.
 */
describe('RPC × role', () => {
  let db: SqliteStore;
  let access: AccessControl;
  const tokens = new Map<Role, string>();

  beforeAll(async () => {
    db = await SqliteStore.open(openDatabase(':memory:'));
    const store = await TokenStore.open(db);
    for (const role of ROLES) {
      tokens.set(
        role,
        (await store.create({ name: `only-${role}`, roles: [role], scopes: role === 'signer' ? ['**'] : [], createdBy: 'test' })).token,
      );
    }
    access = new AccessControl({ mode: 'enforce', tokens: store, audit: await AuditLog.open(db) });
  });
  afterAll(() => db.close());

  const cases = EXPECTED.flatMap(([method, needed]) => [
    ...ROLES.map((role) => [method, role, granting(needed).includes(role) ? 'allowed' : 'PERMISSION_DENIED'] as const),
    [method, 'no credentials', 'UNAUTHENTICATED'] as const,
  ]);

  test.each(cases)('%s as %s: %s', async (method, who, expected) => {
    const token = tokens.get(who as Role);
    const call = fakeCall(token ? [['authorization', `Bearer ${token}`]] : []);
    const run = () => access.check(call, method, requestFor(method));
    if (expected === 'allowed') {
      expect(await run()).toEqual(expect.objectContaining({ subject: `token:only-${who}`, via: 'token' }));
      return;
    }
    const err = await expectRejection(run, expected);
    if (expected === 'UNAUTHENTICATED') expect(err.message).toBe(NO_CREDENTIALS_MESSAGE);
    else
      expect(err.message).toBe(
        `token:only-${who} lacks role ${granting(EXPECTED.find(([m]) => m === method)![1]).join(' or ')}, which ${method} requires (it has ${who})`,
      );
  });
});

describe('signer scopes', () => {
  const teamA = identity(['signer'], ['acmecorp/payments-*']);

  test('acmecorp/payments-* may sign acmecorp/payments-api on any registry, not acmecorp/billing', () => {
    expect(() => authorize(teamA, SIGN, { image: 'reg.example.com/acmecorp/payments-api:1.0' })).not.toThrow();
    expect(() => authorize(teamA, ATTEST, { image: 'other.example.com/acmecorp/payments-web@sha256:' + 'a'.repeat(64) })).not.toThrow();
    const err = expectCode(
      () => authorize(teamA, SIGN, { image: 'reg.example.com/acmecorp/billing:1.0' }),
      'PERMISSION_DENIED',
      'token:ci-team-a has role signer for acmecorp/payments-*, not for reg.example.com/acmecorp/billing',
    );
    expect(err.details).toEqual({
      method: SIGN,
      subject: 'token:ci-team-a',
      requiredRole: 'signer',
      repository: 'reg.example.com/acmecorp/billing',
    });
    expectCode(() => authorize(teamA, ATTEST, { image: 'reg.example.com/acmecorp/billing:1.0' }), 'PERMISSION_DENIED');
  });

  test('a pattern with a registry host pins that registry', () => {
    const pinned = identity(['signer'], ['reg.example.com/acmecorp/payments-*']);
    expect(() => authorize(pinned, SIGN, { image: 'reg.example.com/acmecorp/payments-api:1' })).not.toThrow();
    expectCode(
      () => authorize(pinned, SIGN, { image: 'evil.example.com/acmecorp/payments-api:1' }),
      'PERMISSION_DENIED',
      /not for evil\.example\.com\/acmecorp\/payments-api$/,
    );
    const withPort = identity(['signer'], ['localhost:5000/team/*']);
    expect(() => authorize(withPort, SIGN, { image: 'localhost:5000/team/app:1' })).not.toThrow();
    expectCode(() => authorize(withPort, SIGN, { image: 'localhost:5001/team/app:1' }), 'PERMISSION_DENIED');
  });

  test('* stays within a path segment, ** crosses segments', () => {
    const one = identity(['signer'], ['acmecorp/*']);
    const deep = identity(['signer'], ['acmecorp/**']);
    const image = { image: 'reg.example.com/acmecorp/payments/api:1' };
    expectCode(() => authorize(one, SIGN, image), 'PERMISSION_DENIED');
    expect(() => authorize(deep, SIGN, image)).not.toThrow();
  });

  test('images are normalized as the signer would (Docker Hub, case of the host)', () => {
    expect(() => authorize(identity(['signer'], ['index.docker.io/acmecorp/*']), SIGN, { image: 'acmecorp/app' })).not.toThrow();
    expect(() => authorize(identity(['signer'], ['index.docker.io/library/*']), SIGN, { image: 'docker.io/ubuntu:24.04' })).not.toThrow();
    expect(() => authorize(identity(['signer'], ['reg.example.com/a/*']), SIGN, { image: 'REG.example.com/a/b:1' })).not.toThrow();
  });

  test('** allows everything; no scopes allow nothing', () => {
    expect(() => authorize(identity(['signer'], ['**']), SIGN, { image: 'anything.example/x/y/z:1' })).not.toThrow();
    expectCode(
      () => authorize(identity(['signer'], []), SIGN, { image: 'reg.example.com/a/b:1' }),
      'PERMISSION_DENIED',
      'token:ci-team-a has role signer but no repository scopes, not for reg.example.com/a/b',
    );
  });

  test('scopes do not limit the other roles', () => {
    expect(() =>
      authorize(identity(['verifier']), 'countersign.v1.VerificationService/Verify', { image: 'x.example/any/thing:1' }),
    ).not.toThrow();
  });

  test('a malformed image is INVALID_ARGUMENT for a signer, but a non-signer learns only PERMISSION_DENIED', () => {
    expectCode(() => authorize(teamA, SIGN, { image: 'reg.example.com/Acme/App:1' }), 'INVALID_ARGUMENT', /invalid image reference/);
    expectCode(() => authorize(teamA, SIGN, {}), 'INVALID_ARGUMENT', /it is empty/);
    expectCode(() => authorize(identity(['verifier']), SIGN, { image: '' }), 'PERMISSION_DENIED', /lacks role signer/);
  });

  test('a caller-supplied repositoryOf is used, and undefined from it fails closed', () => {
    expect(() => authorize(teamA, SIGN, {}, () => 'reg.example.com/acmecorp/payments-x')).not.toThrow();
    expectCode(
      () => authorize(teamA, SIGN, { image: 'reg.example.com/acmecorp/payments-x' }, () => undefined),
      'PERMISSION_DENIED',
      /could not be determined/,
    );
  });
});

describe('fail closed', () => {
  test('no identity is UNAUTHENTICATED, whatever the method', () => {
    expectCode(() => authorize(undefined, SIGN, {}), 'UNAUTHENTICATED', NO_CREDENTIALS_MESSAGE);
    expectCode(() => authorize(undefined, 'nope/Nope', {}), 'UNAUTHENTICATED');
  });

  test.each([
    'countersign.v1.KeyService/DeleteEverything',
    'countersign.v1.PolicyService/DeletePolicy',
    '',
    '__proto__',
    'constructor',
    'toString',
  ])('unknown method %j is denied even to an identity with every role', (method) => {
    expectCode(
      () => authorize({ ...DEV_IDENTITY, roles: [...ROLES] }, method, {}),
      'PERMISSION_DENIED',
      /is not in Countersign's access policy/,
    );
  });

  test('policy-admin may read and set the image policy, and call nothing else', () => {
    const admin = identity(['policy-admin']);
    const open = EXPECTED.map(([method]) => method).filter((method) => {
      try {
        authorize(admin, method, requestFor(method));
        return true;
      } catch {
        return false;
      }
    });
    expect(open).toEqual(['countersign.v1.PolicyService/GetPolicy', 'countersign.v1.PolicyService/SetPolicy']);
  });

  test('an identity without roles is denied with a clear message', () => {
    expectCode(
      () => authorize(identity([], [], 'cert:CN=stranger'), 'countersign.v1.KeyService/ListKeys', {}),
      'PERMISSION_DENIED',
      'cert:CN=stranger lacks role key-admin, which countersign.v1.KeyService/ListKeys requires (it has no roles)',
    );
  });
});

describe('imageRepositoryOf (remembered per reference)', () => {
  test('the same reference names the same repository on every call; one that does not parse is refused every time', () => {
    expect(imageRepositoryOf({ image: 'reg.example.com/team/app:v1' })).toBe('reg.example.com/team/app');
    expect(imageRepositoryOf({ image: 'reg.example.com/team/app:v1' })).toBe('reg.example.com/team/app');
    expect(imageRepositoryOf({ image: 'reg.example.com/team/other:v1' })).toBe('reg.example.com/team/other');
    for (let i = 0; i < 2; i++) expect(() => imageRepositoryOf({ image: 'reg.example.com/Team/App:v1' })).toThrow();
    for (let i = 0; i < 2; i++) expect(() => imageRepositoryOf({})).toThrow();
  });
});
