// Original file: proto/countersign/v1/keys.proto

import type { Key as _countersign_v1_Key, Key__Output as _countersign_v1_Key__Output } from '../../countersign/v1/Key';

/**
 * The keys.
 */
export interface ListKeysResponse {
  /**
   * Every version asked for.
   */
  'keys'?: (_countersign_v1_Key)[];
}

/**
 * The keys.
 */
export interface ListKeysResponse__Output {
  /**
   * Every version asked for.
   */
  'keys': (_countersign_v1_Key__Output)[];
}
