import { keyUsability } from '../../../src/trust/usability';
import type { TrustedAnchorState } from '../../../src/trust/types';

const NOW = new Date('2026-11-01T00:00:00Z');
const LATER = new Date('2026-11-01T00:10:00Z');

describe('keyUsability', () => {
  test('a revoked key is unusable at once, whatever its recorded revocation time (never compared with the clock)', () => {
    const key: TrustedAnchorState = { id: 'k', name: 'ci', revokedAt: LATER, revocationReason: 'leaked' };
    expect(keyUsability(key, NOW)).toEqual({ usable: false, reason: `key ci was revoked at ${LATER.toISOString()}: leaked` });
    expect(keyUsability(key, new Date(0))).toMatchObject({ usable: false });
  });

  test('a key rotated out with no overlap is expired at once, though its recorded validUntil is ahead of the clock', () => {
    const key: TrustedAnchorState = { id: 'k', name: 'ci', validUntil: LATER, expiredOnRotation: true };
    expect(keyUsability(key, NOW)).toEqual({
      usable: false,
      reason: `key ci expired at ${LATER.toISOString()} (rotated out with no overlap)`,
    });
  });

  test('otherwise validUntil is judged by the clock given', () => {
    const key: TrustedAnchorState = { id: 'k', name: 'ci', validUntil: LATER };
    expect(keyUsability(key, NOW)).toEqual({ usable: true });
    expect(keyUsability(key, LATER)).toEqual({ usable: false, reason: `key ci expired at ${LATER.toISOString()}` });
  });
});
