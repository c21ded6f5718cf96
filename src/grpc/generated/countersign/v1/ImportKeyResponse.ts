// Original file: proto/countersign/v1/keys.proto

import type { Key as _countersign_v1_Key, Key__Output as _countersign_v1_Key__Output } from '../../countersign/v1/Key';

/**
 * The key imported.
 */
export interface ImportKeyResponse {
  /**
   * The imported key: a verification key for a public key, a signing key for a cosign key.
   */
  'key'?: (_countersign_v1_Key | null);
}

/**
 * The key imported.
 */
export interface ImportKeyResponse__Output {
  /**
   * The imported key: a verification key for a public key, a signing key for a cosign key.
   */
  'key': (_countersign_v1_Key__Output | null);
}
