// Original file: proto/countersign/v1/signing.proto

import type { SignedArtifact as _countersign_v1_SignedArtifact, SignedArtifact__Output as _countersign_v1_SignedArtifact__Output } from '../../countersign/v1/SignedArtifact';

/**
 * The attestation made.
 */
export interface AttestResponse {
  /**
   * What was attested and where the attestation is stored.
   */
  'result'?: (_countersign_v1_SignedArtifact | null);
}

/**
 * The attestation made.
 */
export interface AttestResponse__Output {
  /**
   * What was attested and where the attestation is stored.
   */
  'result': (_countersign_v1_SignedArtifact__Output | null);
}
