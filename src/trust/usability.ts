import { scopeMatches } from '../shared/image-pattern';
import type { KeyUsability, TrustedAnchorState } from './types';

/**
 * Whether a trusted key may vouch for `repository` (`registry/path`) at `now`. Enforced by us on
 * every decision, cached or not: Sigstore key-only bundles carry no trusted time, so the library
 * cannot apply validity windows or revocation for us (FORMATS.md §6.5 item 6). Scopes are
 * repository patterns with the same meaning as policy image patterns (src/shared/image-pattern.ts).
 */
export function keyUsability(key: TrustedAnchorState, now: Date, repository?: string): KeyUsability {
  if (key.revokedAt && key.revokedAt.getTime() <= now.getTime()) {
    const why = key.revocationReason ? `: ${key.revocationReason}` : '';
    return { usable: false, reason: `key ${key.name} was revoked at ${key.revokedAt.toISOString()}${why}` };
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
