// Original file: proto/countersign/v1/keys.proto

import type { Duration as _google_protobuf_Duration, Duration__Output as _google_protobuf_Duration__Output } from '../../google/protobuf/Duration';
import type { Long } from '@grpc/proto-loader';

/**
 * Which key to rotate, and how the old version winds down.
 */
export interface RotateKeyRequest {
  /**
   * A name or id of the key to rotate.
   */
  'key'?: (string);
  /**
   * Deprecated: use overlap. How long the old version keeps verifying, in whole seconds. Unset:
   * 7 days. 0: not at all (the old version stops verifying at once). Negative: INVALID_ARGUMENT.
   * `optional` so that an explicit 0 is told apart from "not set" (wire-compatible with the plain
   * int64 it replaced).
   * @deprecated
   */
  'overlapSeconds'?: (number | string | Long);
  /**
   * Why (recorded on the old version and in the audit log).
   */
  'reason'?: (string);
  /**
   * How long the old version keeps verifying, in whole seconds. Unset: 7 days. Zero: not at all
   * (the old version stops verifying at once). Negative or with a fraction of a second:
   * INVALID_ARGUMENT. Not together with overlap_seconds.
   */
  'overlap'?: (_google_protobuf_Duration | null);
  '_overlapSeconds'?: "overlapSeconds";
}

/**
 * Which key to rotate, and how the old version winds down.
 */
export interface RotateKeyRequest__Output {
  /**
   * A name or id of the key to rotate.
   */
  'key': (string);
  /**
   * Deprecated: use overlap. How long the old version keeps verifying, in whole seconds. Unset:
   * 7 days. 0: not at all (the old version stops verifying at once). Negative: INVALID_ARGUMENT.
   * `optional` so that an explicit 0 is told apart from "not set" (wire-compatible with the plain
   * int64 it replaced).
   * @deprecated
   */
  'overlapSeconds'?: (number);
  /**
   * Why (recorded on the old version and in the audit log).
   */
  'reason': (string);
  /**
   * How long the old version keeps verifying, in whole seconds. Unset: 7 days. Zero: not at all
   * (the old version stops verifying at once). Negative or with a fraction of a second:
   * INVALID_ARGUMENT. Not together with overlap_seconds.
   */
  'overlap': (_google_protobuf_Duration__Output | null);
  '_overlapSeconds'?: "overlapSeconds";
}
