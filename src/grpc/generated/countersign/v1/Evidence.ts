// Original file: proto/countersign/v1/verification.proto

import type { SignerIdentity as _countersign_v1_SignerIdentity, SignerIdentity__Output as _countersign_v1_SignerIdentity__Output } from '../../countersign/v1/SignerIdentity';

/**
 * One signature or attestation found for the image.
 */
export interface Evidence {
  /**
   * Digest of the referrer manifest (or legacy tag's manifest) that carried it.
   */
  'referrerDigest'?: (string);
  /**
   * sigstore-bundle, cosign-legacy-signature, cosign-legacy-attestation, notation, unknown,
   * referrers-index (what the list of referrers itself said: unreadable, skipped entries, budget).
   */
  'format'?: (string);
  /**
   * signature, attestation, other.
   */
  'kind'?: (string);
  /**
   * Artifact type of the referrer manifest.
   */
  'artifactType'?: (string);
  /**
   * The digest the evidence is about (the image's, or a platform child's).
   */
  'subjectDigest'?: (string);
  /**
   * True when its signature verified against a trusted key or identity and the key is usable now.
   */
  'verified'?: (boolean);
  /**
   * Why it did not verify.
   */
  'reason'?: (string);
  /**
   * Id of the key that verified it.
   */
  'keyId'?: (string);
  /**
   * Name of the key that verified it.
   */
  'keyName'?: (string);
  /**
   * In-toto predicate type of a verified attestation.
   */
  'predicateType'?: (string);
  /**
   * Keyless (Fulcio certificate) signatures: the verified signer.
   */
  'identity'?: (_countersign_v1_SignerIdentity | null);
  /**
   * Sigstore bundles: "0.1", "0.2" or "0.3".
   */
  'bundleVersion'?: (string);
  /**
   * Sigstore bundles: what the bundle signs, "dsse" or "message-signature".
   */
  'content'?: (string);
  /**
   * The Sigstore trusted root that verified the certificate, log entries or timestamps.
   */
  'trustRoot'?: (string);
  /**
   * Verified transparency-log entries (Rekor SETs).
   */
  'transparencyLogEntries'?: (number);
  /**
   * Verified timestamps (RFC 3161).
   */
  'timestamps'?: (number);
}

/**
 * One signature or attestation found for the image.
 */
export interface Evidence__Output {
  /**
   * Digest of the referrer manifest (or legacy tag's manifest) that carried it.
   */
  'referrerDigest': (string);
  /**
   * sigstore-bundle, cosign-legacy-signature, cosign-legacy-attestation, notation, unknown,
   * referrers-index (what the list of referrers itself said: unreadable, skipped entries, budget).
   */
  'format': (string);
  /**
   * signature, attestation, other.
   */
  'kind': (string);
  /**
   * Artifact type of the referrer manifest.
   */
  'artifactType': (string);
  /**
   * The digest the evidence is about (the image's, or a platform child's).
   */
  'subjectDigest': (string);
  /**
   * True when its signature verified against a trusted key or identity and the key is usable now.
   */
  'verified': (boolean);
  /**
   * Why it did not verify.
   */
  'reason': (string);
  /**
   * Id of the key that verified it.
   */
  'keyId': (string);
  /**
   * Name of the key that verified it.
   */
  'keyName': (string);
  /**
   * In-toto predicate type of a verified attestation.
   */
  'predicateType': (string);
  /**
   * Keyless (Fulcio certificate) signatures: the verified signer.
   */
  'identity': (_countersign_v1_SignerIdentity__Output | null);
  /**
   * Sigstore bundles: "0.1", "0.2" or "0.3".
   */
  'bundleVersion': (string);
  /**
   * Sigstore bundles: what the bundle signs, "dsse" or "message-signature".
   */
  'content': (string);
  /**
   * The Sigstore trusted root that verified the certificate, log entries or timestamps.
   */
  'trustRoot': (string);
  /**
   * Verified transparency-log entries (Rekor SETs).
   */
  'transparencyLogEntries': (number);
  /**
   * Verified timestamps (RFC 3161).
   */
  'timestamps': (number);
}
