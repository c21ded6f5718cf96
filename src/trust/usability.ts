import { scopeMatches } from '../shared/image-pattern';
import type { KeyUsability, TrustedAnchorState } from './types';

/**
 * Whether a trusted key may vouch for `repository` (`registry/path`) at `now`. Enforced by us on
 * every decision, cached or not: Sigstore key-only bundles carry no trusted time, so the library
 * cannot apply validity windows or revocation for us (FORMATS.md §6.5 item 6). Scopes are
 * repository patterns with the same meaning as policy image patterns (src/shared/image-pattern.ts).
 *
 * `now` is the judging replica's clock, never a time a signature claims. What the store records
 * by another replica's clock is not compared with it where that would let a key vouch for longer
 * than meant: a revoked key, or one rotated out with no overlap, is unusable at once.
 */
export function keyUsability(key: TrustedAnchorState, now: Date, repository?: string): KeyUsability {
  if (key.revokedAt) {
    const why = key.revocationReason ? `: ${key.revocationReason}` : '';
    return { usable: false, reason: `key ${key.name} was revoked at ${key.revokedAt.toISOString()}${why}` };
  }
  if (key.validUntil && key.expiredOnRotation) {
    return { usable: false, reason: `key ${key.name} expired at ${key.validUntil.toISOString()} (rotated out with no overlap)` };
  }
  if (key.validFrom && now.getTime() < key.validFrom.getTime()) {
    return { usable: false, reason: `key ${key.name} is not valid before ${key.validFrom.toISOString()}` };
  }
  if (key.validUntil && now.getTime() >= key.validUntil.getTime()) {
    return { usable: false, reason: `key ${key.name} expired at ${key.validUntil.toISOString()}` };
  }
  if (repository !== undefined && key.scopes && key.scopes.length > 0 && !key.scopes.some((p) => scopeMatches(p, repository))) {
    return { usable: false, reason: `key ${key.name} may only vouch for ${key.scopes.join(', ')}, not ${repository}` };
  }
  return { usable: true };
}
