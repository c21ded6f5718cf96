// Original file: proto/countersign/v1/policy.proto

import type { Policy as _countersign_v1_Policy, Policy__Output as _countersign_v1_Policy__Output } from '../../countersign/v1/Policy';

/**
 * The policy now in force.
 */
export interface SetPolicyResponse {
  /**
   * The policy now in force (on this replica already; on the others once they hear of it).
   */
  'policy'?: (_countersign_v1_Policy | null);
  /**
   * The revision it replaced.
   */
  'previousRevision'?: (string);
}

/**
 * The policy now in force.
 */
export interface SetPolicyResponse__Output {
  /**
   * The policy now in force (on this replica already; on the others once they hear of it).
   */
  'policy': (_countersign_v1_Policy__Output | null);
  /**
   * The revision it replaced.
   */
  'previousRevision': (string);
}
