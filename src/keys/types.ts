import type { KeyObject } from 'node:crypto';
import type { CertificateFacts, KeySource } from './crypto/trust-anchor';

export type KeyPurpose = 'signing' | 'verification';
export type KeyState = 'active' | 'rotated' | 'revoked';

/** Public facts about a key: safe to log, return and print. */
export interface KeyInfo {
  /** cosign key hint: base64(sha256(SPKI DER)). */
  id: string;
  name: string;
  algorithm: string;
  publicKeyPem: string;
  createdAt: Date;
  /** What the key is: `ecdsa-p256`, `ecdsa-p384`, `ecdsa-p521`, `ed25519`, `rsa-<bits>`. */
  kind?: string;
  /** The format it came in; absent for keys stored before this was recorded. */
  source?: KeySource;
  /** For a key imported from an X.509 certificate: the certificate's facts. */
  certificate?: CertificateFacts;
  /** Lifecycle facts (set by the managed key store). */
  version?: number;
  ownerTeam?: string;
  purpose?: KeyPurpose;
  /** Repository patterns the key may sign or vouch for; empty = any. */
  scopes?: string[];
  validFrom?: Date;
  validUntil?: Date;
  state?: KeyState;
  stateReason?: string;
  stateChangedAt?: Date;
  createdBy?: string;
  predecessorId?: string;
  successorId?: string;
}

/**
 * A key the service can sign with. The private half stays inside `sign`; nothing on this object
 * serializes it (see ManagedKeyStore.getSigningKey), so a handle that ends up in a log line leaks nothing.
 */
export interface SigningKey extends KeyInfo {
  readonly publicKey: KeyObject;
  /** ECDSA P-256 over SHA-256 of `data`; returns an ASN.1 DER signature (what Sigstore expects). */
  sign(data: Buffer): Buffer;
}

/** What signing needs of the key store (ManagedKeyStore implements it). */
export interface KeyStore {
  /** By name or id; NOT_FOUND when there is none. */
  getSigningKey(nameOrId: string): Promise<SigningKey>;
}
