// Original file: proto/countersign/v1/policy.proto


/**
 * Asks for the policy in force.
 */
export interface GetPolicyRequest {
}

/**
 * Asks for the policy in force.
 */
export interface GetPolicyRequest__Output {
}
