// Original file: proto/countersign/v1/keys.proto


/**
 * Which key to show.
 */
export interface GetKeyRequest {
  /**
   * A name (its current version) or an id (that exact version).
   */
  'key'?: (string);
}

/**
 * Which key to show.
 */
export interface GetKeyRequest__Output {
  /**
   * A name (its current version) or an id (that exact version).
   */
  'key': (string);
}
