// Original file: proto/countersign/v1/keys.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp';

/**
 * A new service-held signing key.
 */
export interface CreateKeyRequest {
  /**
   * Unique among keys.
   */
  'name'?: (string);
  /**
   * The team that owns the key (free text).
   */
  'ownerTeam'?: (string);
  /**
   * Repository patterns the key may sign ("registry/acmecorp/payments-*"); empty = any.
   */
  'scopes'?: (string)[];
  /**
   * Deprecated: use valid_until_time. RFC 3339; empty = unbounded.
   * @deprecated
   */
  'validUntil'?: (string);
  /**
   * The key stops verifying at this time; unset = unbounded. Not together with valid_until.
   */
  'validUntilTime'?: (_google_protobuf_Timestamp | null);
}

/**
 * A new service-held signing key.
 */
export interface CreateKeyRequest__Output {
  /**
   * Unique among keys.
   */
  'name': (string);
  /**
   * The team that owns the key (free text).
   */
  'ownerTeam': (string);
  /**
   * Repository patterns the key may sign ("registry/acmecorp/payments-*"); empty = any.
   */
  'scopes': (string)[];
  /**
   * Deprecated: use valid_until_time. RFC 3339; empty = unbounded.
   * @deprecated
   */
  'validUntil': (string);
  /**
   * The key stops verifying at this time; unset = unbounded. Not together with valid_until.
   */
  'validUntilTime': (_google_protobuf_Timestamp__Output | null);
}
