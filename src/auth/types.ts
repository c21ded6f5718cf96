/**
 * Who a caller is and what they may do. Access control (this module) decides whether a caller may
 * call an RPC at all; the image policy (src/policy) decides whether an image may be deployed.
 */

/**
 * What an identity may do:
 * - `signer`: SigningService Sign/Attest, limited to the repository patterns in `scopes`;
 * - `verifier`: VerificationService Verify/VerifyBatch;
 * - `key-admin`: every KeyService RPC;
 * - `policy-admin`: image policy changes (PolicyService/SetPolicy; it may also read the policy).
 */
export type Role = 'signer' | 'verifier' | 'key-admin' | 'policy-admin';

export const ROLES: readonly Role[] = ['signer', 'verifier', 'key-admin', 'policy-admin'];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export interface Identity {
  /**
   * Who, as recorded in logs and the audit trail: `token:<name>`, `cert:<CN=… | URI:… | DNS:…>`,
   * or `dev` in local development mode. Never contains a secret.
   */
  subject: string;
  roles: Role[];
  /**
   * Repository patterns (`registry/path` globs, see src/shared/image-pattern.ts) a signer may sign for.
   * Empty: none. `**`: every repository on every registry.
   */
  scopes: string[];
  /** How the caller authenticated. */
  via: 'token' | 'mtls' | 'dev';
}
