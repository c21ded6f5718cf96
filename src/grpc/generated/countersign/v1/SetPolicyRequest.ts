// Original file: proto/countersign/v1/policy.proto


/**
 * A new policy.
 */
export interface SetPolicyRequest {
  /**
   * The policy document (YAML, the format of the policy file); validated before anything is stored.
   */
  'text'?: (string);
  /**
   * Compare-and-set: when given, the change is made only if the revision in force is this one
   * (FAILED_PRECONDITION otherwise), so that two administrators cannot silently overwrite each
   * other. Absent: set unconditionally.
   */
  'expectedRevision'?: (string);
  '_expectedRevision'?: "expectedRevision";
}

/**
 * A new policy.
 */
export interface SetPolicyRequest__Output {
  /**
   * The policy document (YAML, the format of the policy file); validated before anything is stored.
   */
  'text': (string);
  /**
   * Compare-and-set: when given, the change is made only if the revision in force is this one
   * (FAILED_PRECONDITION otherwise), so that two administrators cannot silently overwrite each
   * other. Absent: set unconditionally.
   */
  'expectedRevision'?: (string);
  '_expectedRevision'?: "expectedRevision";
}
