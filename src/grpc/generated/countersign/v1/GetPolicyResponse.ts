// Original file: proto/countersign/v1/policy.proto

import type { Policy as _countersign_v1_Policy, Policy__Output as _countersign_v1_Policy__Output } from '../../countersign/v1/Policy';

/**
 * The policy in force on the replica that answered.
 */
export interface GetPolicyResponse {
  /**
   * The policy in force.
   */
  'policy'?: (_countersign_v1_Policy | null);
}

/**
 * The policy in force on the replica that answered.
 */
export interface GetPolicyResponse__Output {
  /**
   * The policy in force.
   */
  'policy': (_countersign_v1_Policy__Output | null);
}
