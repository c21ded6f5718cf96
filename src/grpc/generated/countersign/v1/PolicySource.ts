// Original file: proto/countersign/v1/policy.proto

/**
 * Where the policy in force comes from.
 */
export const PolicySource = {
  /**
   * Never sent by the server.
   */
  POLICY_SOURCE_UNSPECIFIED: 'POLICY_SOURCE_UNSPECIFIED',
  /**
   * The policy file of the configuration (policyFile), reloaded when it changes.
   */
  POLICY_SOURCE_FILE: 'POLICY_SOURCE_FILE',
  /**
   * Set through SetPolicy and kept in the store.
   */
  POLICY_SOURCE_STORE: 'POLICY_SOURCE_STORE',
  /**
   * Neither: the built-in default (every image needs a valid signature by a trusted key).
   */
  POLICY_SOURCE_NONE: 'POLICY_SOURCE_NONE',
} as const;

/**
 * Where the policy in force comes from.
 */
export type PolicySource =
  /**
   * Never sent by the server.
   */
  | 'POLICY_SOURCE_UNSPECIFIED'
  | 0
  /**
   * The policy file of the configuration (policyFile), reloaded when it changes.
   */
  | 'POLICY_SOURCE_FILE'
  | 1
  /**
   * Set through SetPolicy and kept in the store.
   */
  | 'POLICY_SOURCE_STORE'
  | 2
  /**
   * Neither: the built-in default (every image needs a valid signature by a trusted key).
   */
  | 'POLICY_SOURCE_NONE'
  | 3

/**
 * Where the policy in force comes from.
 */
export type PolicySource__Output = typeof PolicySource[keyof typeof PolicySource]
