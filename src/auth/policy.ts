/**
 * The access policy: which role each RPC needs, and the signer's repository scopes. This is about
 * callers of Countersign, not the image policy (src/policy) that decides what may be deployed.
 */
import { parseReference } from '../registry/reference';
import { CountersignError } from '../shared/errors';
import { scopeMatches } from '../shared/image-pattern';
import { LruMap } from '../shared/lru';
import type { Identity, Role } from './types';

export interface MethodRule {
  role: Role;
  /** Further roles that also grant the call (any one of `role` and these suffices). */
  orRoles?: readonly Role[];
  /**
   * The request names an image, and the caller's scopes must cover its repository (`signer`:
   * team A's CI cannot sign team B's images).
   */
  scoped?: true;
}

/**
 * Every RPC the access check knows, by full method name (`package.Service/Method`, as in the
 * `unary()` wrapper). Anything not listed is denied: a new RPC is unusable until someone decides
 * which role it needs, rather than open by accident. KeyService methods are listed one by one for
 * the same reason, instead of `KeyService/*`.
 *
 * `policy-admin` changes the image policy (SetPolicy); reading it (GetPolicy) needs verifier or policy-admin.
 * Not wrapped at all (and so open, like any health check must be): grpc.health.v1.Health and
 * server reflection.
 */
export const METHOD_ROLES: Readonly<Record<string, MethodRule>> = Object.freeze({
  'countersign.v1.SigningService/Sign': { role: 'signer', scoped: true },
  'countersign.v1.SigningService/Attest': { role: 'signer', scoped: true },
  'countersign.v1.VerificationService/Verify': { role: 'verifier' },
  'countersign.v1.VerificationService/VerifyBatch': { role: 'verifier' },
  'countersign.v1.KeyService/CreateKey': { role: 'key-admin' },
  'countersign.v1.KeyService/ImportKey': { role: 'key-admin' },
  'countersign.v1.KeyService/ListKeys': { role: 'key-admin' },
  'countersign.v1.KeyService/GetKey': { role: 'key-admin' },
  'countersign.v1.KeyService/RotateKey': { role: 'key-admin' },
  'countersign.v1.KeyService/RevokeKey': { role: 'key-admin' },
  'countersign.v1.PolicyService/GetPolicy': { role: 'verifier', orRoles: ['policy-admin'] },
  'countersign.v1.PolicyService/SetPolicy': { role: 'policy-admin' },
});

/** Services that are served without any access check. */
export const OPEN_SERVICES: readonly string[] = [
  'grpc.health.v1.Health',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
];

/** Given a request, the `registry/repository` it acts on, or undefined if it cannot be told. */
export type RepositoryOf = (request: unknown) => string | undefined;

/**
 * The default `RepositoryOf` for Sign and Attest: parses the request's `image` with the same
 * `parseReference` the signing path uses, so the scope is checked against exactly the repository
 * that would be signed (`ubuntu` is `index.docker.io/library/ubuntu`, hosts are lowercased).
 * A malformed or missing image is the caller's mistake and fails with INVALID_ARGUMENT (after
 * the role check, so it tells nothing to a caller without the role).
 */
export const imageRepositoryOf: RepositoryOf = (request) => {
  const image = (request as { image?: unknown } | null | undefined)?.image;
  const text = typeof image === 'string' ? image : '';
  // Parsing is pure and callers send the same few references over and over (every warm call is
  // checked): a reference that does not parse throws every time and is never remembered.
  let repository = repositories.get(text);
  if (repository === undefined) {
    const ref = parseReference(text);
    repository = `${ref.registry}/${ref.repository}`;
    repositories.set(text, repository);
  }
  return repository;
};

/** Image reference as sent → its `registry/repository` (see imageRepositoryOf). */
const repositories = new LruMap<string, string>(4096);

/** Machine-readable detail of a denial, carried in `CountersignError.details`. */
export interface DenialDetails {
  method: string;
  subject?: string;
  requiredRole?: Role;
  repository?: string;
  [key: string]: unknown;
}

export const NO_CREDENTIALS_MESSAGE = "no credentials: send 'authorization: Bearer <token>' or a client certificate";

/**
 * Decides whether `identity` may call `method` with `request`; returns normally if so.
 * Throws UNAUTHENTICATED without an identity and PERMISSION_DENIED for an unknown method, a
 * missing role or a repository outside the signer's scopes. Scope patterns are matched with
 * `scopeMatches` (src/shared/image-pattern.ts, the matcher of policy image patterns too) against
 * `registry/repository`: a pattern that starts with a registry host
 * (`reg.example.com/acmecorp/payments-*`) pins that registry, one without (`acmecorp/payments-*`)
 * matches the path on any registry, and `**` matches everything.
 */
export function authorize(
  identity: Identity | undefined,
  method: string,
  request: unknown,
  repositoryOf: RepositoryOf = imageRepositoryOf,
): asserts identity is Identity {
  if (identity === undefined) {
    throw new CountersignError('UNAUTHENTICATED', NO_CREDENTIALS_MESSAGE, { details: { method } satisfies DenialDetails });
  }
  const subject = identity.subject;
  const rule = Object.prototype.hasOwnProperty.call(METHOD_ROLES, method) ? METHOD_ROLES[method] : undefined;
  if (rule === undefined) {
    throw new CountersignError(
      'PERMISSION_DENIED',
      `${method} is not in Countersign's access policy, so no one may call it (methods are denied unless a role is assigned to them)`,
      { details: { method, subject } satisfies DenialDetails },
    );
  }
  const granting = [rule.role, ...(rule.orRoles ?? [])];
  if (!granting.some((role) => identity.roles.includes(role))) {
    const has = identity.roles.length > 0 ? `it has ${identity.roles.join(', ')}` : 'it has no roles';
    throw new CountersignError('PERMISSION_DENIED', `${subject} lacks role ${granting.join(' or ')}, which ${method} requires (${has})`, {
      details: { method, subject, requiredRole: rule.role } satisfies DenialDetails,
    });
  }
  if (!rule.scoped) return;
  const repository = repositoryOf(request);
  if (repository === undefined) {
    throw new CountersignError(
      'PERMISSION_DENIED',
      `${method}: the repository of the request could not be determined, so ${subject}'s scopes cannot be checked`,
      {
        details: { method, subject, requiredRole: rule.role } satisfies DenialDetails,
      },
    );
  }
  if (identity.scopes.some((pattern) => scopeMatches(pattern, repository))) return;
  const scopes = identity.scopes.length > 0 ? `for ${identity.scopes.join(', ')}` : 'but no repository scopes';
  throw new CountersignError('PERMISSION_DENIED', `${subject} has role ${rule.role} ${scopes}, not for ${repository}`, {
    details: { method, subject, requiredRole: rule.role, repository } satisfies DenialDetails,
  });
}
