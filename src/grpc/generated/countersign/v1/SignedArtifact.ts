// Original file: proto/countersign/v1/signing.proto

import type { Long } from '@grpc/proto-loader';

/**
 * What was signed and where it is stored.
 */
export interface SignedArtifact {
  /**
   * The image reference as given, normalized (e.g. "127.0.0.1:5000/team/app:1.0").
   */
  'image'?: (string);
  /**
   * The manifest digest that was signed (sha256:<hex>).
   */
  'digest'?: (string);
  /**
   * Digest of the referrer manifest that holds the bundle.
   */
  'referrerDigest'?: (string);
  /**
   * Sigstore bundle v0.3, JSON.
   */
  'bundle'?: (string);
  /**
   * Key id (base64 sha256 of the SPKI DER, cosign's hint) of the key used.
   */
  'keyId'?: (string);
  /**
   * Name of the key used.
   */
  'keyName'?: (string);
  /**
   * In-toto predicate type of the signed statement.
   */
  'predicateType'?: (string);
  /**
   * "api" when the registry indexes referrers itself, "tag" when the referrers tag-schema
   * fallback index (sha256-<hex>) was updated.
   */
  'referrersIndex'?: (string);
  /**
   * Media type of the signed image manifest.
   */
  'mediaType'?: (string);
  /**
   * Size in bytes of the signed image manifest.
   */
  'size'?: (number | string | Long);
  /**
   * Short description of the predicate (e.g. "SPDX-2.3 SBOM, 12 packages").
   */
  'summary'?: (string);
}

/**
 * What was signed and where it is stored.
 */
export interface SignedArtifact__Output {
  /**
   * The image reference as given, normalized (e.g. "127.0.0.1:5000/team/app:1.0").
   */
  'image': (string);
  /**
   * The manifest digest that was signed (sha256:<hex>).
   */
  'digest': (string);
  /**
   * Digest of the referrer manifest that holds the bundle.
   */
  'referrerDigest': (string);
  /**
   * Sigstore bundle v0.3, JSON.
   */
  'bundle': (string);
  /**
   * Key id (base64 sha256 of the SPKI DER, cosign's hint) of the key used.
   */
  'keyId': (string);
  /**
   * Name of the key used.
   */
  'keyName': (string);
  /**
   * In-toto predicate type of the signed statement.
   */
  'predicateType': (string);
  /**
   * "api" when the registry indexes referrers itself, "tag" when the referrers tag-schema
   * fallback index (sha256-<hex>) was updated.
   */
  'referrersIndex': (string);
  /**
   * Media type of the signed image manifest.
   */
  'mediaType': (string);
  /**
   * Size in bytes of the signed image manifest.
   */
  'size': (number);
  /**
   * Short description of the predicate (e.g. "SPDX-2.3 SBOM, 12 packages").
   */
  'summary': (string);
}
