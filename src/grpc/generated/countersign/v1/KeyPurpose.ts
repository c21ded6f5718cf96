// Original file: proto/countersign/v1/keys.proto

/**
 * What a key is for.
 */
export const KeyPurpose = {
  /**
   * Never sent by the server.
   */
  KEY_PURPOSE_UNSPECIFIED: 'KEY_PURPOSE_UNSPECIFIED',
  /**
   * Held by the service; signs (and verifies).
   */
  KEY_PURPOSE_SIGNING: 'KEY_PURPOSE_SIGNING',
  /**
   * A trusted public key; verifies only.
   */
  KEY_PURPOSE_VERIFICATION: 'KEY_PURPOSE_VERIFICATION',
} as const;

/**
 * What a key is for.
 */
export type KeyPurpose =
  /**
   * Never sent by the server.
   */
  | 'KEY_PURPOSE_UNSPECIFIED'
  | 0
  /**
   * Held by the service; signs (and verifies).
   */
  | 'KEY_PURPOSE_SIGNING'
  | 1
  /**
   * A trusted public key; verifies only.
   */
  | 'KEY_PURPOSE_VERIFICATION'
  | 2

/**
 * What a key is for.
 */
export type KeyPurpose__Output = typeof KeyPurpose[keyof typeof KeyPurpose]
