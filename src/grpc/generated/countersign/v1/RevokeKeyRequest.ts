// Original file: proto/countersign/v1/keys.proto


/**
 * Which key to revoke, and why.
 */
export interface RevokeKeyRequest {
  /**
   * A name (its current version) or an id.
   */
  'key'?: (string);
  /**
   * Why (recorded on the key and in the audit log).
   */
  'reason'?: (string);
}

/**
 * Which key to revoke, and why.
 */
export interface RevokeKeyRequest__Output {
  /**
   * A name (its current version) or an id.
   */
  'key': (string);
  /**
   * Why (recorded on the key and in the audit log).
   */
  'reason': (string);
}
