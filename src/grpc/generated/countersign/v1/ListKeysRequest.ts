// Original file: proto/countersign/v1/keys.proto


/**
 * Which keys to list.
 */
export interface ListKeysRequest {
  /**
   * Only the active versions; false (or unset): every version, rotated and revoked ones included.
   */
  'activeOnly'?: (boolean);
}

/**
 * Which keys to list.
 */
export interface ListKeysRequest__Output {
  /**
   * Only the active versions; false (or unset): every version, rotated and revoked ones included.
   */
  'activeOnly': (boolean);
}
