/** A flood of denials costs a bounded number of audit rows, and every denial is still accounted for. */
import { AuditLog } from '../../../src/audit';
import { AccessControl } from '../../../src/auth';
import { DenialLimiter, type SuppressedDenials } from '../../../src/auth/denial-limiter';
import { openDatabase, SqliteStore } from '../../../src/store';
import { expectRejection, fakeCall } from './helpers';

describe('DenialLimiter', () => {
  test('per caller, method and status: the first N of a window admitted, the rest counted and flushed when it closes', () => {
    let t = 0;
    const flushed: SuppressedDenials[] = [];
    const limiter = new DenialLimiter((s) => flushed.push(s), { perWindow: 3, windowMs: 1000, now: () => t });
    const admitted = Array.from({ length: 10 }, () => limiter.admit('anonymous', 'Verify', 'UNAUTHENTICATED'));
    expect(admitted.filter(Boolean)).toHaveLength(3);
    // Another caller, method or status has a window of its own.
    expect(limiter.admit('token:x', 'Verify', 'UNAUTHENTICATED')).toBe(true);
    expect(limiter.admit('anonymous', 'Sign', 'UNAUTHENTICATED')).toBe(true);
    expect(limiter.admit('anonymous', 'Verify', 'PERMISSION_DENIED')).toBe(true);
    expect(flushed).toEqual([]);
    t = 1000;
    expect(limiter.admit('anonymous', 'Verify', 'UNAUTHENTICATED')).toBe(true); // a new window
    expect(flushed).toEqual([{ actor: 'anonymous', method: 'Verify', status: 'UNAUTHENTICATED', count: 7, windowMs: 1000 }]);
    limiter.close();
  });

  test('callers varying their name beyond maxKeys share one count', () => {
    const flushed: SuppressedDenials[] = [];
    const limiter = new DenialLimiter((s) => flushed.push(s), { perWindow: 1, maxKeys: 2, windowMs: 60_000 });
    expect(limiter.admit('a', 'M', 'S')).toBe(true);
    expect(limiter.admit('b', 'M', 'S')).toBe(true);
    expect(limiter.admit('c', 'M', 'S')).toBe(true); // the shared window's first
    for (let i = 0; i < 50; i++) expect(limiter.admit(`x${i}`, 'M', 'S')).toBe(false);
    limiter.close();
    expect(flushed).toEqual([{ actor: '(many callers)', method: '(any method)', status: 'S', count: 50, windowMs: 60_000 }]);
  });
});

test('AccessControl: 200 anonymous denials write 20 rows and one count of the other 180 (at close)', async () => {
  const store = await SqliteStore.open(openDatabase(':memory:'));
  const audit = await AuditLog.open(store);
  const access = new AccessControl({ mode: 'enforce', audit });
  try {
    for (let i = 0; i < 200; i++)
      await expectRejection(() => access.check(fakeCall([]), 'countersign.v1.VerificationService/Verify', {}), 'UNAUTHENTICATED');
    expect(await audit.list({ limit: 1000 })).toHaveLength(20);
    await access.close();
    const entries = await audit.list({ limit: 1000 });
    expect(entries).toHaveLength(21);
    expect(entries.find((e) => e.details?.suppressed !== undefined)).toMatchObject({
      actor: 'anonymous',
      outcome: 'denied',
      details: { status: 'UNAUTHENTICATED', suppressed: 180 },
    });
    expect((await audit.verify()).ok).toBe(true);
  } finally {
    await store.close();
  }
});
