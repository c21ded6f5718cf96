// Original file: proto/countersign/v1/keys.proto

/**
 * Where a key version is in its lifecycle.
 */
export const KeyState = {
  /**
   * Never sent by the server.
   */
  KEY_STATE_UNSPECIFIED: 'KEY_STATE_UNSPECIFIED',
  /**
   * Signs (signing keys) and verifies.
   */
  KEY_STATE_ACTIVE: 'KEY_STATE_ACTIVE',
  /**
   * Replaced by a successor; verifies until valid_until.
   */
  KEY_STATE_ROTATED: 'KEY_STATE_ROTATED',
  /**
   * Verifies nothing, from the moment of revocation on.
   */
  KEY_STATE_REVOKED: 'KEY_STATE_REVOKED',
} as const;

/**
 * Where a key version is in its lifecycle.
 */
export type KeyState =
  /**
   * Never sent by the server.
   */
  | 'KEY_STATE_UNSPECIFIED'
  | 0
  /**
   * Signs (signing keys) and verifies.
   */
  | 'KEY_STATE_ACTIVE'
  | 1
  /**
   * Replaced by a successor; verifies until valid_until.
   */
  | 'KEY_STATE_ROTATED'
  | 2
  /**
   * Verifies nothing, from the moment of revocation on.
   */
  | 'KEY_STATE_REVOKED'
  | 3

/**
 * Where a key version is in its lifecycle.
 */
export type KeyState__Output = typeof KeyState[keyof typeof KeyState]
