import { CountersignError } from '../shared/errors';
import { repositoryMatches } from '../trust/usability';
import type { KeyInfo } from './types';

/**
 * May this key sign for `repository` (`registry/path`)? A key scoped to `acmecorp/payments-*`
 * cannot sign `acmecorp/billing`. Throws PERMISSION_DENIED naming the scopes.
 */
export function checkSigningScope(key: KeyInfo, repository: string): void {
  if (key.scopes && key.scopes.length > 0 && !key.scopes.some((p) => repositoryMatches(p, repository))) {
    throw new CountersignError('PERMISSION_DENIED', `key ${key.name} may only sign ${key.scopes.join(', ')}, not ${repository}`);
  }
}
