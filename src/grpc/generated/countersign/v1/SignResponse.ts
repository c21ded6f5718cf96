// Original file: proto/countersign/v1/signing.proto

import type { SignedArtifact as _countersign_v1_SignedArtifact, SignedArtifact__Output as _countersign_v1_SignedArtifact__Output } from '../../countersign/v1/SignedArtifact';

/**
 * The signature made.
 */
export interface SignResponse {
  /**
   * What was signed and where the signature is stored.
   */
  'result'?: (_countersign_v1_SignedArtifact | null);
}

/**
 * The signature made.
 */
export interface SignResponse__Output {
  /**
   * What was signed and where the signature is stored.
   */
  'result': (_countersign_v1_SignedArtifact__Output | null);
}
