import { CountersignError } from '../shared/errors';
import { ROLES, isRole, type Role } from './types';

const MAX_SCOPE_LENGTH = 512;
/** What a repository pattern may contain: lowercase registry hosts and paths, ports, IPv6 brackets, globs. */
const SCOPE_RE = /^[a-z0-9._\-/:*[\]]+$/;

/**
 * Checks a grant (roles and repository scopes) from configuration or an administrator's request.
 * `what` names it in messages ("token ci-team-a", "mTLS binding 2"). Returns deduplicated copies.
 */
export function validateGrant(what: string, roles: unknown, scopes: unknown): { roles: Role[]; scopes: string[] } {
  if (!Array.isArray(roles) || roles.length === 0) {
    throw new CountersignError('INVALID_ARGUMENT', `${what}: roles must be a non-empty list of ${ROLES.join(', ')}`);
  }
  for (const role of roles) {
    if (!isRole(role)) {
      throw new CountersignError('INVALID_ARGUMENT', `${what}: unknown role ${JSON.stringify(role)}; roles are ${ROLES.join(', ')}`);
    }
  }
  const list = scopes ?? [];
  if (!Array.isArray(list)) {
    throw new CountersignError('INVALID_ARGUMENT', `${what}: scopes must be a list of repository patterns such as "acmecorp/payments-*"`);
  }
  for (const scope of list) validateScope(what, scope);
  const uniqueRoles = [...new Set(roles as Role[])];
  const uniqueScopes = [...new Set(list as string[])];
  if (uniqueRoles.includes('signer') && uniqueScopes.length === 0) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `${what}: the signer role needs at least one repository scope (e.g. "registry.example.com/acmecorp/payments-*"; "**" for every repository)`,
    );
  }
  return { roles: uniqueRoles, scopes: uniqueScopes };
}

function validateScope(what: string, scope: unknown): void {
  if (typeof scope !== 'string' || scope.length === 0 || scope.length > MAX_SCOPE_LENGTH) {
    throw new CountersignError('INVALID_ARGUMENT', `${what}: each scope must be a non-empty repository pattern of at most ${MAX_SCOPE_LENGTH} characters`);
  }
  if (/[A-Z]/.test(scope)) {
    // Registry hosts are compared lowercased and repository paths are lowercase by definition,
    // so a pattern with capitals would silently never match.
    throw new CountersignError('INVALID_ARGUMENT', `${what}: scope ${JSON.stringify(scope)} must be lowercase (image references are)`);
  }
  if (!SCOPE_RE.test(scope) || scope.startsWith('/') || scope.endsWith('/') || scope.includes('//')) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `${what}: scope ${JSON.stringify(scope)} is not a repository pattern: expected [registry/]path with * (one path segment) or ** (any depth), e.g. "acmecorp/payments-*"`,
    );
  }
}
