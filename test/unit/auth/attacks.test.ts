/** Attacks on token scopes at the Sign/Attest guard: no reference spelling widens a token's repository scope (guards; an attack review found none). */
import { authorize } from '../../../src/auth/policy';
import type { Identity } from '../../../src/auth/types';
import { CountersignError } from '../../../src/shared/errors';

const D = `sha256:${'a'.repeat(64)}`;
const SIGN = 'countersign.v1.SigningService/Sign';
const id = (scopes: string[]): Identity => ({ subject: 'token:t', roles: ['signer'], scopes, via: 'token' });
const code = (scopes: string[], image: unknown): string => {
  try {
    authorize(id(scopes), SIGN, { image });
    return 'OK';
  } catch (e) {
    return e instanceof CountersignError ? e.code : `raw:${String(e)}`;
  }
};

describe('scope bypass attempts are denied', () => {
  const scope = ['reg.example.com/team-a/**'];
  test.each([
    'reg.example.com/team-b/app:1',
    'REG.EXAMPLE.COM/team-b/app:1',
    'reg.example.com:4443/team-a/app:1',
    'reg.example.com./team-a/app:1',
    'reg.example.com/team-a/../team-b/app',
    'reg.example.com/team-a/%2e%2e/team-b',
    'reg.example.com/team-a',
    'team-a/app',
    `@${D}`,
    D,
    `reg.example.com/team-b/app:1@${D}`,
    `reg.example.com/team-a/app@reg.example.com/team-b/app`,
    'evil.com/reg.example.com/team-a/app',
  ])('%s', (image) => {
    expect(code(scope, image)).not.toBe('OK');
  });

  test('in-scope spellings are allowed (tag@digest, upper-case host, the default port: one registry, one answer)', () => {
    expect(code(scope, `reg.example.com/team-a/app:1@${D}`)).toBe('OK');
    expect(code(scope, 'reg.example.com:443/team-a/app:1')).toBe('OK');
    expect(code(scope, 'REG.Example.com/team-a/app')).toBe('OK');
  });

  test('Docker Hub aliases and library/ mean one repository', () => {
    const hub = ['docker.io/library/nginx'];
    for (const image of [
      'nginx',
      'docker.io/nginx',
      'index.docker.io/library/nginx',
      'registry-1.docker.io/library/nginx',
      'DOCKER.IO/nginx',
    ])
      expect([image, code(hub, image)]).toEqual([image, 'OK']);
    for (const image of ['nginx2', 'docker.io/acme/nginx', 'library/nginx/x', 'evil.io/library/nginx'])
      expect([image, code(hub, image)]).toEqual([image, 'PERMISSION_DENIED']);
    // A one-segment hub scope stays within library/.
    expect(code(['docker.io/*'], 'docker.io/acme/app')).toBe('PERMISSION_DENIED');
  });

  test('non-string image is refused', () => {
    expect(code(scope, ['reg.example.com/team-a/x'])).not.toBe('OK');
    expect(code(scope, { toString: () => 'reg.example.com/team-a/x' })).not.toBe('OK');
  });
});
