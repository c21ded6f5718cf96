import type { SignerIdentity } from './identity';
import type { NotationFacts } from './notation-trust';

/**
 * What the policy evaluates: the evidence verification found about an image, the image itself and
 * the request. Owned by the policy (the consumer); verification produces these types.
 *
 * What verification finds about an image, in the form the policy evaluates. Evidence is computed
 * once per image digest and trust-store revision (and cached); the policy is evaluated on every
 * call, so time-dependent conditions (scan age, exception expiry, key validity) stay correct.
 */

export type EvidenceFormat =
  /** Sigstore bundle (v0.3, DSSE) stored as an OCI 1.1 referrer — what Countersign and cosign v3 write. */
  | 'sigstore-bundle'
  /** cosign's legacy simple-signing signature under the `sha256-<hex>.sig` tag. */
  | 'cosign-legacy-signature'
  /** cosign's legacy DSSE attestation under the `sha256-<hex>.att` tag. */
  | 'cosign-legacy-attestation'
  /**
   * Notary Project signature referrer. Its integrity is checked when collected (`notation` holds the
   * facts); whether its X.509 signer is trusted is the rule's Notation trust policy, judged per call.
   */
  | 'notation'
  /** A referrer of a type we do not understand (reported, never counted as evidence). */
  | 'unknown'
  /**
   * What the list of referrers itself said (never counted as evidence): it could not be read, an
   * entry was malformed and skipped, duplicates, entries left unexamined by the collection budget.
   */
  | 'referrers-index';

export interface Evidence {
  /** Digest of the manifest that carries it (the referrer, or the legacy `.sig`/`.att` manifest). */
  referrerDigest: string;
  /** For legacy tags that hold several signatures: which layer. */
  layerIndex?: number;
  format: EvidenceFormat;
  /** The referrer manifest's own artifactType (or config.mediaType when absent). */
  artifactType?: string;
  /** 'signature' for cosign sign predicates and legacy signatures, 'attestation' for other predicates. */
  kind: 'signature' | 'attestation' | 'other';
  /** The image manifest digest this evidence is about (a platform digest for multi-arch images). */
  subjectDigest: string;
  /**
   * True only when the signature verified (with a trusted key, or a certificate from a trusted
   * Fulcio CA: whether that identity is acceptable is the policy's decision) and every binding
   * check passed.
   */
  verified: boolean;
  /** Why it did not verify (set when verified is false). */
  reason?: string;
  /** Id (cosign key hint) and name of the trusted key that verified it. */
  keyId?: string;
  keyName?: string;
  /** Signatures by a certificate anchored at a CA bundle (keyName names the bundle): the certificate's subject. */
  certificateSubject?: string;
  /**
   * Signatures by a certificate anchored at a CA bundle: the earliest notAfter on its path (ISO
   * 8601). These carry no trusted signing time, so past it the evidence no longer counts, cached or not.
   */
  certificateValidUntil?: string;
  /** Keyless (Fulcio certificate) signer, as verified: OIDC issuer, subject and Fulcio extensions. */
  identity?: SignerIdentity;
  /** Notary Project signatures whose envelope is intact: what it says (judged by the rule's Notation trust). */
  notation?: NotationFacts;
  /** Sigstore bundles: the bundle version ('0.1', '0.2', '0.3') and what it signs. */
  bundleVersion?: string;
  content?: 'dsse' | 'message-signature';
  /** The Sigstore trusted root that verified the certificate, log entries or timestamps. */
  trustRoot?: string;
  /** Verified transparency-log entries (Rekor v1 / v2) and verified timestamps (SETs, RFC 3161). */
  transparencyLogEntries?: number;
  timestamps?: number;
  /** In-toto predicate type (signed), when there is a statement. */
  predicateType?: string;
  /** The signed predicate of a verified attestation; absent when not verified. */
  predicate?: unknown;
  /** org.opencontainers.image.created of the referrer (unsigned; informative only). */
  created?: string;
  /**
   * On the 'referrers-index' note that the collection budget left work undone: which budget ran
   * out. 'time' (a slow registry: a fact of that moment, not of the image) is never cached.
   */
  cutShort?: 'time' | 'bytes';
}

/** What was resolved about the image itself. */
export interface ImageFacts {
  /** The reference as asked, normalized. */
  reference: string;
  registry: string;
  repository: string;
  tag?: string;
  /** The digest resolved by us (never taken from a cache by tag). */
  digest: string;
  mediaType: string;
  /**
   * For an image index: every child a runtime could run (platform-less children included); only
   * recognised attestation manifests (src/registry/image-index.ts) are left out.
   */
  platforms?: Array<{
    digest: string;
    mediaType: string;
    platform?: { os: string; architecture: string; variant?: string };
    annotations?: Record<string, string>;
  }>;
  /**
   * Set when what the registry holds under the reference cannot be judged: it does not exist, its
   * index is malformed or too large, its bytes do not match its digest. That is a fact about the
   * image (a deny), not a failure to collect evidence (onError).
   */
  unusable?: string;
}

export type Action = 'push' | 'pull' | 'deploy';

export interface RequestContext {
  namespace?: string;
  /** Who asks (service account, user, CI identity); informative for policy and audit. */
  identity?: string;
  labels?: Record<string, string>;
}

/** A failure to collect evidence: the policy decides (onError), never an implicit allow. */
export interface CollectionError {
  code: string;
  message: string;
}
