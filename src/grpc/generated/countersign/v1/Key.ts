// Original file: proto/countersign/v1/keys.proto

import type { KeyPurpose as _countersign_v1_KeyPurpose, KeyPurpose__Output as _countersign_v1_KeyPurpose__Output } from '../../countersign/v1/KeyPurpose';
import type { KeyState as _countersign_v1_KeyState, KeyState__Output as _countersign_v1_KeyState__Output } from '../../countersign/v1/KeyState';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp';
import type { KeyCertificate as _countersign_v1_KeyCertificate, KeyCertificate__Output as _countersign_v1_KeyCertificate__Output } from '../../countersign/v1/KeyCertificate';

/**
 * One version of a key: public facts only, never private key material.
 */
export interface Key {
  /**
   * cosign key hint: base64(sha256(SPKI DER)).
   */
  'id'?: (string);
  /**
   * The name every version of the key shares.
   */
  'name'?: (string);
  /**
   * 1 for the first version; each rotation adds one.
   */
  'version'?: (number);
  /**
   * The team that owns the key (free text).
   */
  'ownerTeam'?: (string);
  /**
   * Signing (held by the service) or verification (a trusted public key).
   */
  'purpose'?: (_countersign_v1_KeyPurpose);
  /**
   * Repository patterns the key may sign or vouch for ("registry/acmecorp/payments-*"); empty = any.
   */
  'scopes'?: (string)[];
  /**
   * Deprecated: use valid_from_time. RFC 3339; empty = unbounded.
   * @deprecated
   */
  'validFrom'?: (string);
  /**
   * Deprecated: use valid_until_time. RFC 3339; empty = unbounded.
   * @deprecated
   */
  'validUntil'?: (string);
  /**
   * Active, rotated or revoked.
   */
  'state'?: (_countersign_v1_KeyState);
  /**
   * Why the state last changed (the reason given to RotateKey or RevokeKey).
   */
  'stateReason'?: (string);
  /**
   * Deprecated: use state_change_time. RFC 3339.
   * @deprecated
   */
  'stateChangedAt'?: (string);
  /**
   * PEM "PUBLIC KEY" (SPKI).
   */
  'publicKeyPem'?: (string);
  /**
   * Deprecated: use create_time. RFC 3339.
   * @deprecated
   */
  'createdAt'?: (string);
  /**
   * Who created or imported the key (the authenticated caller).
   */
  'createdBy'?: (string);
  /**
   * Id of the version that replaced this one (rotation); empty if none.
   */
  'successorId'?: (string);
  /**
   * Id of the version this one replaced (rotation); empty if none.
   */
  'predecessorId'?: (string);
  /**
   * The key verifies from this time on; unset = unbounded.
   */
  'validFromTime'?: (_google_protobuf_Timestamp | null);
  /**
   * The key verifies until this time; unset = unbounded.
   */
  'validUntilTime'?: (_google_protobuf_Timestamp | null);
  /**
   * When the state last changed; unset if it never did.
   */
  'stateChangeTime'?: (_google_protobuf_Timestamp | null);
  /**
   * When the key was created or imported.
   */
  'createTime'?: (_google_protobuf_Timestamp | null);
  /**
   * What the key is: "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ed25519" or "rsa-<bits>" (e.g. "rsa-3072").
   */
  'kind'?: (string);
  /**
   * The format it came in: "generated", "spki" (PEM PUBLIC KEY), "x509" (a certificate's key),
   * "cosign" (a cosign.key) or "pem" (a key file from before the key store); empty if not recorded.
   */
  'source'?: (string);
  /**
   * The certificate the key was imported from (source "x509"); unset otherwise.
   */
  'certificate'?: (_countersign_v1_KeyCertificate | null);
}

/**
 * One version of a key: public facts only, never private key material.
 */
export interface Key__Output {
  /**
   * cosign key hint: base64(sha256(SPKI DER)).
   */
  'id': (string);
  /**
   * The name every version of the key shares.
   */
  'name': (string);
  /**
   * 1 for the first version; each rotation adds one.
   */
  'version': (number);
  /**
   * The team that owns the key (free text).
   */
  'ownerTeam': (string);
  /**
   * Signing (held by the service) or verification (a trusted public key).
   */
  'purpose': (_countersign_v1_KeyPurpose__Output);
  /**
   * Repository patterns the key may sign or vouch for ("registry/acmecorp/payments-*"); empty = any.
   */
  'scopes': (string)[];
  /**
   * Deprecated: use valid_from_time. RFC 3339; empty = unbounded.
   * @deprecated
   */
  'validFrom': (string);
  /**
   * Deprecated: use valid_until_time. RFC 3339; empty = unbounded.
   * @deprecated
   */
  'validUntil': (string);
  /**
   * Active, rotated or revoked.
   */
  'state': (_countersign_v1_KeyState__Output);
  /**
   * Why the state last changed (the reason given to RotateKey or RevokeKey).
   */
  'stateReason': (string);
  /**
   * Deprecated: use state_change_time. RFC 3339.
   * @deprecated
   */
  'stateChangedAt': (string);
  /**
   * PEM "PUBLIC KEY" (SPKI).
   */
  'publicKeyPem': (string);
  /**
   * Deprecated: use create_time. RFC 3339.
   * @deprecated
   */
  'createdAt': (string);
  /**
   * Who created or imported the key (the authenticated caller).
   */
  'createdBy': (string);
  /**
   * Id of the version that replaced this one (rotation); empty if none.
   */
  'successorId': (string);
  /**
   * Id of the version this one replaced (rotation); empty if none.
   */
  'predecessorId': (string);
  /**
   * The key verifies from this time on; unset = unbounded.
   */
  'validFromTime': (_google_protobuf_Timestamp__Output | null);
  /**
   * The key verifies until this time; unset = unbounded.
   */
  'validUntilTime': (_google_protobuf_Timestamp__Output | null);
  /**
   * When the state last changed; unset if it never did.
   */
  'stateChangeTime': (_google_protobuf_Timestamp__Output | null);
  /**
   * When the key was created or imported.
   */
  'createTime': (_google_protobuf_Timestamp__Output | null);
  /**
   * What the key is: "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ed25519" or "rsa-<bits>" (e.g. "rsa-3072").
   */
  'kind': (string);
  /**
   * The format it came in: "generated", "spki" (PEM PUBLIC KEY), "x509" (a certificate's key),
   * "cosign" (a cosign.key) or "pem" (a key file from before the key store); empty if not recorded.
   */
  'source': (string);
  /**
   * The certificate the key was imported from (source "x509"); unset otherwise.
   */
  'certificate': (_countersign_v1_KeyCertificate__Output | null);
}
