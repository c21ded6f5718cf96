import { CountersignError } from '../shared/errors';
import { scopeProblem } from '../shared/image-pattern';
import { ROLES, isRole, type Role } from './types';

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
  const problem = scopeProblem(scope);
  if (problem !== undefined) throw new CountersignError('INVALID_ARGUMENT', `${what}: ${problem}`);
}
