// Original file: proto/countersign/v1/keys.proto

import type { Key as _countersign_v1_Key, Key__Output as _countersign_v1_Key__Output } from '../../countersign/v1/Key';

/**
 * Both versions after a rotation.
 */
export interface RotateKeyResponse {
  /**
   * The old version, now KEY_STATE_ROTATED, with the end of its overlap as valid_until_time.
   */
  'previous'?: (_countersign_v1_Key | null);
  /**
   * The new version, which signs from now on.
   */
  'current'?: (_countersign_v1_Key | null);
}

/**
 * Both versions after a rotation.
 */
export interface RotateKeyResponse__Output {
  /**
   * The old version, now KEY_STATE_ROTATED, with the end of its overlap as valid_until_time.
   */
  'previous': (_countersign_v1_Key__Output | null);
  /**
   * The new version, which signs from now on.
   */
  'current': (_countersign_v1_Key__Output | null);
}
