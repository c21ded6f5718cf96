// Original file: proto/countersign/v1/keys.proto

import type { Key as _countersign_v1_Key, Key__Output as _countersign_v1_Key__Output } from '../../countersign/v1/Key';

/**
 * The key revoked.
 */
export interface RevokeKeyResponse {
  /**
   * The revoked version, in state KEY_STATE_REVOKED.
   */
  'key'?: (_countersign_v1_Key | null);
}

/**
 * The key revoked.
 */
export interface RevokeKeyResponse__Output {
  /**
   * The revoked version, in state KEY_STATE_REVOKED.
   */
  'key': (_countersign_v1_Key__Output | null);
}
