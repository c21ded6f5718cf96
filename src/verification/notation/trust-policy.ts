/**
 * The Notary Project trust-policy model (levels, trusted identities, the per-call judgement) is
 * pure policy logic and lives with the policy: src/policy/notation-trust.ts. Re-exported here for
 * verification's callers.
 */
export * from '../../policy/notation-trust';
