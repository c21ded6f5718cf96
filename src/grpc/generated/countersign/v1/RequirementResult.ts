// Original file: proto/countersign/v1/verification.proto


/**
 * One requirement of the deciding rule, checked.
 */
export interface RequirementResult {
  /**
   * e.g. "signatures", "sbom", "vulnerabilities", "deny", "exception", "error".
   */
  'requirement'?: (string);
  /**
   * True when the evidence met it.
   */
  'satisfied'?: (boolean);
  /**
   * Which evidence satisfied it, or exactly why it failed.
   */
  'message'?: (string);
}

/**
 * One requirement of the deciding rule, checked.
 */
export interface RequirementResult__Output {
  /**
   * e.g. "signatures", "sbom", "vulnerabilities", "deny", "exception", "error".
   */
  'requirement': (string);
  /**
   * True when the evidence met it.
   */
  'satisfied': (boolean);
  /**
   * Which evidence satisfied it, or exactly why it failed.
   */
  'message': (string);
}
