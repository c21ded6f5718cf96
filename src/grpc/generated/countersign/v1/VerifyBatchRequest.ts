// Original file: proto/countersign/v1/verification.proto

import type { Action as _countersign_v1_Action, Action__Output as _countersign_v1_Action__Output } from '../../countersign/v1/Action';
import type { VerifyContext as _countersign_v1_VerifyContext, VerifyContext__Output as _countersign_v1_VerifyContext__Output } from '../../countersign/v1/VerifyContext';

/**
 * Verify the images of one workload for one action.
 */
export interface VerifyBatchRequest {
  /**
   * At least one; at most 256 entries in all, duplicates included (the answer has one result per
   * entry), naming at most 64 distinct references: INVALID_ARGUMENT beyond either, before any
   * verification. Identical references are verified once.
   */
  'images'?: (string)[];
  /**
   * Required; applies to every image.
   */
  'action'?: (_countersign_v1_Action);
  /**
   * Optional; applies to every image.
   */
  'context'?: (_countersign_v1_VerifyContext | null);
}

/**
 * Verify the images of one workload for one action.
 */
export interface VerifyBatchRequest__Output {
  /**
   * At least one; at most 256 entries in all, duplicates included (the answer has one result per
   * entry), naming at most 64 distinct references: INVALID_ARGUMENT beyond either, before any
   * verification. Identical references are verified once.
   */
  'images': (string)[];
  /**
   * Required; applies to every image.
   */
  'action': (_countersign_v1_Action__Output);
  /**
   * Optional; applies to every image.
   */
  'context': (_countersign_v1_VerifyContext__Output | null);
}
