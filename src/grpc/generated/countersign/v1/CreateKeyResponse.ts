// Original file: proto/countersign/v1/keys.proto

import type { Key as _countersign_v1_Key, Key__Output as _countersign_v1_Key__Output } from '../../countersign/v1/Key';

/**
 * The key created. Same fields as the shared KeyResponse it replaced (wire-compatible).
 */
export interface CreateKeyResponse {
  /**
   * The new key (version 1).
   */
  'key'?: (_countersign_v1_Key | null);
}

/**
 * The key created. Same fields as the shared KeyResponse it replaced (wire-compatible).
 */
export interface CreateKeyResponse__Output {
  /**
   * The new key (version 1).
   */
  'key': (_countersign_v1_Key__Output | null);
}
