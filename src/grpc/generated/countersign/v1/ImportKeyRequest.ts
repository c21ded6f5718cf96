// Original file: proto/countersign/v1/keys.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp';

/**
 * A trusted public key, or a cosign signing key, to import.
 */
export interface ImportKeyRequest {
  /**
   * Unique among keys.
   */
  'name'?: (string);
  /**
   * The team that owns the key (free text).
   */
  'ownerTeam'?: (string);
  /**
   * Repository patterns the key may sign or vouch for; empty = any.
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
   * PEM "PUBLIC KEY" (SPKI, e.g. cosign.pub) or "CERTIFICATE" (X.509: its public key, its
   * validity bounding the key's): a verification key. ECDSA P-256/P-384/P-521, Ed25519 or RSA >= 2048.
   */
  'publicKeyPem'?: (string);
  /**
   * cosign.key: a signing key, decrypted with `password` and re-encrypted at rest.
   */
  'cosignPrivateKeyPem'?: (string);
  /**
   * Password of cosign_private_key_pem (never logged, never stored).
   */
  'password'?: (string);
  /**
   * The key verifies from this time on; unset = unbounded. Not together with valid_from.
   */
  'validFromTime'?: (_google_protobuf_Timestamp | null);
  /**
   * The key verifies until this time; unset = unbounded. Not together with valid_until.
   */
  'validUntilTime'?: (_google_protobuf_Timestamp | null);
  /**
   * One or more PEM "CERTIFICATE" blocks, each a CA that has not expired (kind "ca-bundle"):
   * signatures whose certificate chains to one of them count as this entry's. The CAs' own keys
   * verify nothing.
   */
  'caBundlePem'?: (string);
  /**
   * The key material: exactly one.
   */
  'material'?: "publicKeyPem"|"cosignPrivateKeyPem"|"caBundlePem";
}

/**
 * A trusted public key, or a cosign signing key, to import.
 */
export interface ImportKeyRequest__Output {
  /**
   * Unique among keys.
   */
  'name': (string);
  /**
   * The team that owns the key (free text).
   */
  'ownerTeam': (string);
  /**
   * Repository patterns the key may sign or vouch for; empty = any.
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
   * PEM "PUBLIC KEY" (SPKI, e.g. cosign.pub) or "CERTIFICATE" (X.509: its public key, its
   * validity bounding the key's): a verification key. ECDSA P-256/P-384/P-521, Ed25519 or RSA >= 2048.
   */
  'publicKeyPem'?: (string);
  /**
   * cosign.key: a signing key, decrypted with `password` and re-encrypted at rest.
   */
  'cosignPrivateKeyPem'?: (string);
  /**
   * Password of cosign_private_key_pem (never logged, never stored).
   */
  'password': (string);
  /**
   * The key verifies from this time on; unset = unbounded. Not together with valid_from.
   */
  'validFromTime': (_google_protobuf_Timestamp__Output | null);
  /**
   * The key verifies until this time; unset = unbounded. Not together with valid_until.
   */
  'validUntilTime': (_google_protobuf_Timestamp__Output | null);
  /**
   * One or more PEM "CERTIFICATE" blocks, each a CA that has not expired (kind "ca-bundle"):
   * signatures whose certificate chains to one of them count as this entry's. The CAs' own keys
   * verify nothing.
   */
  'caBundlePem'?: (string);
  /**
   * The key material: exactly one.
   */
  'material'?: "publicKeyPem"|"cosignPrivateKeyPem"|"caBundlePem";
}
