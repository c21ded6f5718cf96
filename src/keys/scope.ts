import { CountersignError } from '../shared/errors';
import { scopeMatches } from '../shared/image-pattern';
import type { KeyInfo } from './types';

/**
 * May this key sign for `repository` (`registry/path`)? A key scoped to `acmecorp/payments-*`
 * cannot sign `acmecorp/billing`; scopes mean what policy image patterns mean
 * (src/shared/image-pattern.ts). Throws PERMISSION_DENIED naming the scopes.
 */
export function checkSigningScope(key: KeyInfo, repository: string): void {
  if (key.scopes && key.scopes.length > 0 && !key.scopes.some((p) => scopeMatches(p, repository))) {
    throw new CountersignError('PERMISSION_DENIED', `key ${key.name} may only sign ${key.scopes.join(', ')}, not ${repository}`);
  }
}
