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
  // The upstream authenticates the name as sent; a policy must judge that same name. Removing
  // characters would make "alice\u0085" (an account a self-service registry let someone create)
  // pass as "alice", and cutting a long name would make it pass as its first 256 characters.
  test.each([
    ['a C1 control (NEL)', 'alice\u0085'],
    ['a CSI (C1)', 'alice\u009b2J'],
    ['ESC', 'alice\u001b[2J'],
    ['NUL', 'alice\u0000'],
    ['DEL', 'ali\u007fce'],
    ['a newline', 'alice\nbob'],
    ['a right-to-left override (format)', 'alice\u202etxt.exe'],
    ['a zero-width space (format)', 'ali\u200bce'],
  ])('a name with %s is no identity (never a shortened one)', (_what, user) => {
    expect(pusherIdentity(`Basic ${Buffer.from(`${user}:pw`).toString('base64')}`)).toEqual({ source: 'none' });
    expect(pusherIdentity(`Bearer ${jwt({ sub: user })}`)).toEqual({ source: 'none' });
  });
  test('a name longer than 256 characters is no identity (never its first 256)', () => {
    const long = 'a'.repeat(300);
    expect(pusherIdentity(`Bearer ${jwt({ sub: long })}`)).toEqual({ source: 'none' });
    expect(pusherIdentity(`Bearer ${jwt({ sub: 'a'.repeat(256) })}`)).toEqual({ identity: 'a'.repeat(256), source: 'bearer' });
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
