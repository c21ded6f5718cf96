// Original file: proto/countersign/v1/verification.proto

import type { Action as _countersign_v1_Action, Action__Output as _countersign_v1_Action__Output } from '../../countersign/v1/Action';
import type { VerifyContext as _countersign_v1_VerifyContext, VerifyContext__Output as _countersign_v1_VerifyContext__Output } from '../../countersign/v1/VerifyContext';

/**
 * Verify one image for one action.
 */
export interface VerifyRequest {
  /**
   * "host/repo:tag", "host/repo@sha256:<hex>" or both. Tags are resolved on every call.
   */
  'image'?: (string);
  /**
   * Required.
   */
  'action'?: (_countersign_v1_Action);
  /**
   * Optional.
   */
  'context'?: (_countersign_v1_VerifyContext | null);
}

/**
 * Verify one image for one action.
 */
export interface VerifyRequest__Output {
  /**
   * "host/repo:tag", "host/repo@sha256:<hex>" or both. Tags are resolved on every call.
   */
  'image': (string);
  /**
   * Required.
   */
  'action': (_countersign_v1_Action__Output);
  /**
   * Optional.
   */
  'context': (_countersign_v1_VerifyContext__Output | null);
}
