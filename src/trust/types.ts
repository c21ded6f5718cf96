import type { KeyObject, X509Certificate } from 'node:crypto';

/** A public key trusted to vouch for images. */
export interface TrustedKey {
  /** cosign key hint: base64(sha256(SPKI DER)). */
  id: string;
  name: string;
  publicKey: KeyObject;
  /** Signatures by this key count only inside [validFrom, validUntil). */
  validFrom?: Date;
  validUntil?: Date;
  /**
   * Rotated out with no overlap left (`keys rotate --overlap 0`: the recorded validUntil is no
   * later than the recorded rotation time): expired as soon as the rotation is known, whatever the
   * judging clock says of validUntil (a time by the rotating replica's clock, kept for display).
   */
  expiredOnRotation?: boolean;
  /**
   * Set: the key is revoked, and every signature by it fails verification at once, whatever the
   * time. The moment is the revoking replica's clock, kept for display and audit; it is never
   * compared with a clock (a revocation is not scheduled, and another replica's clock may lag).
   */
  revokedAt?: Date;
  revocationReason?: string;
  /** Repository patterns (`registry/path/*`, `**`) the key may vouch for; absent = any. */
  scopes?: string[];
}

/** What decides whether a trusted key or CA bundle may vouch at a moment: validity, revocation, scopes. */
export type TrustedAnchorState = Omit<TrustedKey, 'publicKey'>;

/**
 * CA certificates trusted to certify signers (a CA bundle, `keys import --ca-bundle`): a signature
 * counts as the bundle's (its id and name) when its certificate chains to one of them. The CAs'
 * keys never verify image signatures themselves.
 */
export interface TrustedCaBundle extends TrustedAnchorState {
  certificates: X509Certificate[];
}

/**
 * The keys verification trusts. `revision` changes on every change of keys or their state, which
 * invalidates cached verification results.
 */
export interface TrustStore {
  revision(): string;
  list(): TrustedKey[];
  byId(id: string): TrustedKey | undefined;
  /** The CA bundles (every version, with validity and revocation); absent = none. */
  caBundles?(): TrustedCaBundle[];
  /** Called after every change; returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
  /**
   * Why the keys may be out of date (their store is unreachable, so a revocation made elsewhere
   * could go unseen), else undefined. Verify then treats evidence by these keys as a collection
   * error (the policy's onError), and keeps deciding from memory what needs no key.
   */
  stale?(): string | undefined;
  /**
   * A re-read of an announced change under way, if any (never rejects): until it is done the keys
   * may predate a revocation, so Verify waits for it before judging evidence by them.
   */
  settled?(): Promise<void> | undefined;
}

export type KeyUsability = { usable: true } | { usable: false; reason: string };
