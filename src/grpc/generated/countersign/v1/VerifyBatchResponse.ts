// Original file: proto/countersign/v1/verification.proto

import type { VerifyResponse as _countersign_v1_VerifyResponse, VerifyResponse__Output as _countersign_v1_VerifyResponse__Output } from '../../countersign/v1/VerifyResponse';

/**
 * One decision per requested image.
 */
export interface VerifyBatchResponse {
  /**
   * True only if every image is allowed.
   */
  'allowed'?: (boolean);
  /**
   * One per entry of the request's images, in the same order.
   */
  'results'?: (_countersign_v1_VerifyResponse)[];
}

/**
 * One decision per requested image.
 */
export interface VerifyBatchResponse__Output {
  /**
   * True only if every image is allowed.
   */
  'allowed': (boolean);
  /**
   * One per entry of the request's images, in the same order.
   */
  'results': (_countersign_v1_VerifyResponse__Output)[];
}
