import { pusherIdentity } from '../../../src/gate/identity';
import { AllowedChildren } from '../../../src/gate/allowed-children';

const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

describe('pusherIdentity', () => {
  test('Basic: the user name', () => {
    expect(pusherIdentity(`Basic ${Buffer.from('ci-team-a:secret').toString('base64')}`)).toEqual({
      identity: 'ci-team-a',
      source: 'basic',
    });
  });
  test('Bearer JWT: the sub claim (not verified: the upstream authenticates)', () => {
    expect(pusherIdentity(`Bearer ${jwt({ sub: 'alice', iss: 'x' })}`)).toEqual({ identity: 'alice', source: 'bearer' });
  });
  test.each([
    undefined,
    '',
    'Bearer opaque-token',
    `Bearer ${jwt({ iss: 'x' })}`,
    'Bearer a.!!!.c',
    `Basic ${Buffer.from(':pw').toString('base64')}`,
    'Negotiate abc',
  ])('no identity from %p', (h) => {
    expect(pusherIdentity(h)).toEqual({ source: 'none' });
  });
  test('control characters are removed and the length bounded', () => {
    const r = pusherIdentity(`Bearer ${jwt({ sub: `a\nb${'x'.repeat(1000)}` })}`);
    expect(r.identity).toMatch(/^abx+$/);
    expect(r.identity!.length).toBe(256);
  });
  test('every control character goes: NUL, ESC, DEL and the C1 range (a CSI could rewrite a terminal showing the log)', () => {
    const r = pusherIdentity(`Basic ${Buffer.from('a\u0000b\u001b[2Jc\u007fd\u009b2Je\u0085f:pw').toString('base64')}`);
    expect(r.identity).toBe('ab[2Jcd2Jef');
  });
});

describe('AllowedChildren', () => {
  test('children are remembered per repository and expire', () => {
    let now = 1000;
    const c = new AllowedChildren({ ttlMs: 100, maxEntries: 10, now: () => now });
    c.remember('team/app', 'sha256:parent', ['sha256:a', 'sha256:b'], 'p1 t1');
    expect(c.parentOf('team/app', 'sha256:a', 'p1 t1')).toBe('sha256:parent');
    expect(c.parentOf('team/other', 'sha256:a', 'p1 t1')).toBeUndefined();
    now = 1100;
    expect(c.parentOf('team/app', 'sha256:b', 'p1 t1')).toBeUndefined();
  });
  test('an allow made under other revisions (a key revoked since, a new policy) covers no child', () => {
    const c = new AllowedChildren({ ttlMs: 1000, maxEntries: 10 });
    c.remember('team/app', 'sha256:parent', ['sha256:a', 'sha256:b'], 'p1 t1');
    expect(c.parentOf('team/app', 'sha256:a', 'p1 t2')).toBeUndefined();
    expect(c.parentOf('team/app', 'sha256:b', undefined)).toBeUndefined();
    // Dropped, not merely hidden: going back to the old revision does not bring it back.
    expect(c.parentOf('team/app', 'sha256:a', 'p1 t1')).toBeUndefined();
  });
  test('bounded: the oldest entries go first', () => {
    const c = new AllowedChildren({ ttlMs: 1000, maxEntries: 2 });
    c.remember('r', 'p', ['sha256:1', 'sha256:2', 'sha256:3'], undefined);
    expect(c.parentOf('r', 'sha256:1', undefined)).toBeUndefined();
    expect(c.parentOf('r', 'sha256:3', undefined)).toBe('p');
  });
});
