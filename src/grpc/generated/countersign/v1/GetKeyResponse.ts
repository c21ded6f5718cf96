// Original file: proto/countersign/v1/keys.proto

import type { Key as _countersign_v1_Key, Key__Output as _countersign_v1_Key__Output } from '../../countersign/v1/Key';

/**
 * The key asked for.
 */
export interface GetKeyResponse {
  /**
   * The current version when asked by name, the exact version when asked by id.
   */
  'key'?: (_countersign_v1_Key | null);
}

/**
 * The key asked for.
 */
export interface GetKeyResponse__Output {
  /**
   * The current version when asked by name, the exact version when asked by id.
   */
  'key': (_countersign_v1_Key__Output | null);
}
