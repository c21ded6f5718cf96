/**
 * One pattern, one meaning: the same (pattern, repository) question gets the same answer from
 * every consumer — a policy rule's match.images, a key's scopes (at verification and at
 * signing), a bearer token's scopes and an mTLS binding's scopes — each through its real entry
 * point, including the validation that runs when the key, token, binding or policy is created.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { AuditLog } from '../../../src/audit';
import { AccessControl, TokenStore } from '../../../src/auth';
import { loadConfig } from '../../../src/config/config';
import { generateKek } from '../../../src/keys/crypto';
import { ManagedKeyStore } from '../../../src/keys/managed-key-store';
import { checkSigningScope } from '../../../src/keys/scope';
import { findRule, parsePolicy } from '../../../src/policy';
import { CountersignError } from '../../../src/shared/errors';
import { canonicalName, scopeMatches } from '../../../src/shared/image-pattern';
import { openDatabase, SqliteStore } from '../../../src/store';
import { keyUsability } from '../../../src/trust/usability';
import type { ImageFacts } from '../../../src/policy/input';
import { fakeCall } from '../auth/helpers';

const SIGN = 'countersign.v1.SigningService/Sign';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-patterns-'));
let db: SqliteStore;
let keys: ManagedKeyStore;
let tokens: TokenStore;
let serial = 0;

beforeAll(async () => {
  db = await SqliteStore.open(openDatabase(path.join(dir, 'countersign.db')), { changeCheckMs: 0 });
  keys = await ManagedKeyStore.open(db, generateKek(), await AuditLog.open(db));
  tokens = await TokenStore.open(db);
});

afterAll(async () => {
  keys.close();
  await db.close();
});

function quoted(pattern: string): string {
  return JSON.stringify(pattern);
}

/** Every consumer's answer to "does `pattern` cover `repository` (`registry/path`)?". */
const consumers: Record<string, (pattern: string, repository: string) => boolean | Promise<boolean>> = {
  'policy match.images': (pattern, repository) => {
    const policy = parsePolicy(`rules:\n  - name: r\n    match: { images: [${quoted(pattern)}] }\n    allow: test\n`, 'p.yaml');
    const slash = repository.indexOf('/');
    const image: ImageFacts = {
      reference: repository,
      registry: repository.slice(0, slash),
      repository: repository.slice(slash + 1),
      digest: DIGEST,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
    };
    return findRule(policy, { image, action: 'deploy' })?.name === 'r';
  },
  'key scope (verification)': async (pattern, repository) => {
    const info = await keys.createKey({ name: `k${serial++}`, scopes: [pattern] }, 'test');
    return keyUsability(keys.trust.byId(info.id)!, new Date(), repository).usable;
  },
  'key scope (signing)': async (pattern, repository) => {
    const info = await keys.createKey({ name: `k${serial++}`, scopes: [pattern] }, 'test');
    try {
      checkSigningScope(info, repository);
      return true;
    } catch (err) {
      expect((err as CountersignError).code).toBe('PERMISSION_DENIED');
      return false;
    }
  },
  'token scope': async (pattern, repository) => {
    const { token } = await tokens.create({ name: `t${serial++}`, roles: ['signer'], scopes: [pattern], createdBy: 'test' });
    const access = new AccessControl({ mode: 'enforce', tokens, repositoryOf: () => repository });
    return await granted(() => access.check(fakeCall([['authorization', `Bearer ${token}`]]), SIGN, {}));
  },
  'mTLS binding scope': async (pattern, repository) => {
    const access = new AccessControl({
      mode: 'enforce',
      mtlsBindings: [{ subject: 'CN=ci', roles: ['signer'], scopes: [pattern] }],
      repositoryOf: () => repository,
    });
    return await granted(() => access.check(fakeCall([], { cert: certificate('ci') }), SIGN, {}));
  },
};

async function granted(check: () => unknown): Promise<boolean> {
  try {
    await check();
    return true;
  } catch (err) {
    expect((err as CountersignError).code).toBe('PERMISSION_DENIED');
    return false;
  }
}

function certificate(cn: string): Partial<PeerCertificate> {
  return { raw: Buffer.from([1]), subject: { CN: cn }, fingerprint256: 'AB' };
}

/** (pattern, repository, answer) — patterns with a registry host mean the same everywhere. */
const CASES: Array<[string, string, boolean]> = [
  // Docker Hub: every spelling of the host, and the implicit library/ (the reported bug).
  ['docker.io/library/*', 'index.docker.io/library/nginx', true],
  ['docker.io/library/*', 'docker.io/library/nginx', true],
  ['index.docker.io/library/*', 'registry-1.docker.io/library/nginx', true],
  ['registry-1.docker.io/library/*', 'docker.io/nginx', true],
  ['docker.io/nginx', 'index.docker.io/library/nginx', true],
  ['docker.io/nginx', 'index.docker.io/bitnami/nginx', false],
  ['docker.io/*', 'index.docker.io/library/redis', true],
  ['docker.io/*', 'index.docker.io/bitnami/redis', false],
  ['docker.io/**', 'index.docker.io/bitnami/redis', true],
  ['docker.io/**', 'ghcr.io/library/redis', false],
  ['ghcr.io/**', 'index.docker.io/library/ghcr.io', false],
  // Case: hosts are case-insensitive, in the pattern and in the repository.
  ['REG.example.com/team-a/*', 'reg.example.com/team-a/app', true],
  ['reg.example.com/team-a/*', 'REG.Example.COM/team-a/app', true],
  ['reg.example.com/team-a/*', 'reg.example.com/team-a/App', false],
  // * within a segment, ** across, and neither reaches a sibling or the parent.
  ['reg.example.com/team-a/*', 'reg.example.com/team-a/app', true],
  ['reg.example.com/team-a/*', 'reg.example.com/team-a/sub/app', false],
  ['reg.example.com/team-a/**', 'reg.example.com/team-a/sub/app', true],
  ['reg.example.com/team-a/**', 'reg.example.com/team-a', false],
  ['reg.example.com/team-a/**', 'reg.example.com/team-ab/app', false],
  ['reg.example.com/team-*', 'reg.example.com/team-a', true],
  ['reg.example.com/team-*', 'reg.example.com/team-a/app', false],
  ['reg.example.com/**/base', 'reg.example.com/a/b/base', true],
  ['reg.example.com/a.b', 'reg.example.com/axb', false],
  ['**', 'anything.example/x/y/z', true],
  // Ports are part of the host.
  ['localhost:5000/team/*', 'localhost:5000/team/app', true],
  ['localhost:5000/team/*', 'localhost:5001/team/app', false],
  ['localhost:5000/team/*', 'localhost/team/app', false],
  ['localhost/team/*', 'localhost:5000/team/app', false],
  ['reg.example.com:*/team/*', 'reg.example.com:443/team/app', true],
  // The default HTTPS port is the registry without a port: one registry, one answer.
  ['reg.example.com:*/team/*', 'reg.example.com/team/app', true],
  ['reg.example.com/team/*', 'reg.example.com:443/team/app', true],
  ['reg.example.com:443/team/*', 'reg.example.com/team/app', true],
  ['reg.example.com/team/*', 'reg.example.com:4430/team/app', false],
  ['[::1]:5000/team/*', '[::1]:5000/team/app', true],
  ['*.example.com/app', 'eu.example.com/app', true],
  ['*.example.com/app', 'example.com/app', false],
  ['*.example.com/app', 'evil.test/eu.example.com/app', false],
  // Attacker-ish repositories: not well-formed names, so nothing covers them.
  ['reg.example.com/team-a/**', 'reg.example.com/team-a/../team-b/app', false],
  ['reg.example.com/team-a/**', 'reg.example.com/team-a/./app', false],
  ['reg.example.com/team-a/**', 'reg.example.com/team-a/app/', false],
  ['reg.example.com/team-a/**', 'reg.example.com/team-a//app', false],
  ['reg.example.com/team-a*', 'reg.example.com/team-a%2fapp', false],
  ['reg.example.com/team-a/*', 'reg.example.com/team-a/app\nreg.example.com/team-b/app', false],
  ['**', 'reg.example.com/../x', false],
  ['**', 'reg.example.com/', false],
];

/** Scopes only: a pattern without a registry host covers the path on any registry (policies refuse it). */
const HOSTLESS: Array<[string, string, boolean]> = [
  ['acmecorp/payments-*', 'reg.example.com/acmecorp/payments-api', true],
  ['acmecorp/payments-*', 'other.example.com/acmecorp/payments-api', true],
  ['acmecorp/payments-*', 'reg.example.com/x/acmecorp/payments-api', false],
  ['acmecorp/payments-*', 'reg.example.com/acmecorp/payments-api/worker', false],
  ['acmecorp/**', 'reg.example.com/acmecorp', false],
  ['library/*', 'index.docker.io/library/nginx', true],
  ['nginx', 'reg.example.com/nginx', true],
  ['nginx', 'index.docker.io/library/nginx', false],
  ['*', 'reg.example.com/app', true],
  ['*', 'reg.example.com/team/app', false],
  ['acmecorp/*', 'reg.example.com/acmecorp/../x', false],
];

describe('every consumer gives the same answer', () => {
  test.each(CASES)('%j covers %j: %s', async (pattern, repository, expected) => {
    const answers = Object.fromEntries(
      await Promise.all(
        Object.entries(consumers).map(async ([name, ask]): Promise<[string, boolean]> => [name, await ask(pattern, repository)]),
      ),
    );
    expect(answers).toEqual(Object.fromEntries(Object.keys(consumers).map((name) => [name, expected])));
  });

  test.each(HOSTLESS)('scope %j covers %j: %s (policies refuse a pattern without a host)', async (pattern, repository, expected) => {
    const scopes = Object.entries(consumers).filter(([name]) => name !== 'policy match.images');
    const answers = Object.fromEntries(
      await Promise.all(scopes.map(async ([name, ask]): Promise<[string, boolean]> => [name, await ask(pattern, repository)])),
    );
    expect(answers).toEqual(Object.fromEntries(scopes.map(([name]) => [name, expected])));
    expect(() => consumers['policy match.images']!(pattern, repository)).toThrow(/registry host/);
  });
});

describe('what a pattern cannot mean is refused wherever it is given', () => {
  const givers: Record<string, (pattern: string) => unknown> = {
    'policy match.images': (p) => parsePolicy(`rules:\n  - name: r\n    match: { images: [${quoted(p)}] }\n    allow: test\n`, 'p.yaml'),
    'key scope': (p) => keys.createKey({ name: `k${serial++}`, scopes: [p] }, 'test'),
    'token scope': (p) => tokens.create({ name: `t${serial++}`, roles: ['signer'], scopes: [p], createdBy: 'test' }),
    'mTLS binding scope': (p) =>
      new AccessControl({ mode: 'enforce', mtlsBindings: [{ subject: 'CN=ci', roles: ['signer'], scopes: [p] }] }),
    'config file mTLS binding scope': (p) => {
      const file = path.join(dir, `c${serial++}.yaml`);
      writeFileSync(file, `auth:\n  mtlsBindings:\n    - { subject: CN=ci, roles: [signer], scopes: [${quoted(p)}] }\n`);
      loadConfig({ configFile: file }, {}, dir);
    },
  };

  test.each<[string, RegExp]>([
    ['reg.example.com/team-a/', /empty path segment/],
    ['reg.example.com//team-a', /empty path segment/],
    ['reg.example.com/../team-b', /can never match a repository/],
    ['reg.example.com/team-a/..', /can never match a repository/],
    ['reg.example.com/.hidden/*', /can never match a repository/],
    ['reg.example.com/team-a%2fb', /may only hold lowercase letters/],
    ['reg.example.com/team a', /whitespace/],
    ['reg.example.com/a***', /"\*\*\*" is not a wildcard/],
    ['reg.exa_mple.com/a', /not a valid registry host/],
  ])('%j', async (pattern, message) => {
    for (const [name, give] of Object.entries(givers)) {
      let error: unknown;
      try {
        await give(pattern);
      } catch (err) {
        error = err;
      }
      expect({ name, code: (error as CountersignError | undefined)?.code }).toEqual({ name, code: 'INVALID_ARGUMENT' });
      expect({ name, message: (error as Error).message }).toEqual({ name, message: expect.stringMatching(message) as unknown });
    }
  });

  test.each<[string, RegExp]>([
    ['reg.example.com/app:latest', /names a tag; a scope names repositories/],
    [`reg.example.com/app@${DIGEST}`, /names a digest; a scope names repositories/],
    ['Acme/*', /must be lowercase/],
  ])('scope %j is refused (a scope names repositories, in lowercase)', async (pattern, message) => {
    for (const [name, give] of Object.entries(givers)) {
      if (name === 'policy match.images') continue;
      expect({
        name,
        thrown: await (async () => {
          try {
            await give(pattern);
            return undefined;
          } catch (err) {
            return (err as Error).message;
          }
        })(),
      }).toEqual({
        name,
        thrown: expect.stringMatching(message) as unknown,
      });
    }
  });
});

describe('canonicalName / scopeMatches', () => {
  it('normalizes Docker Hub and host case, and refuses what is not a repository name', () => {
    expect(canonicalName('index.docker.io', 'nginx')).toBe('docker.io/library/nginx');
    expect(canonicalName('Registry-1.Docker.io', 'library/nginx')).toBe('docker.io/library/nginx');
    expect(canonicalName('reg.example.com', 'a/../b')).toBeUndefined();
    expect(canonicalName('reg.example.com', '')).toBeUndefined();
    expect(canonicalName('reg/evil', 'a')).toBeUndefined();
  });

  it('a stored scope that no longer parses grants nothing', () => {
    expect(scopeMatches('reg.example.com/team-a/', 'reg.example.com/team-a/app')).toBe(false);
    expect(scopeMatches('reg.example.com/team-a/*', 'no-slash')).toBe(false);
  });
});
