import type { KeyObject } from 'node:crypto';

/** Public facts about a key: safe to log, return and print. */
export interface KeyInfo {
  /** cosign key hint: base64(sha256(SPKI DER)). */
  id: string;
  name: string;
  algorithm: 'ecdsa-p256-sha256';
  publicKeyPem: string;
  createdAt: Date;
}

/**
 * A key the service can sign with. The private half stays inside `sign`; nothing on this object
 * serializes it (see FileKeyStore), so a handle that ends up in a log line leaks nothing.
 */
export interface SigningKey extends KeyInfo {
  readonly publicKey: KeyObject;
  /** ECDSA P-256 over SHA-256 of `data`; returns an ASN.1 DER signature (what Sigstore expects). */
  sign(data: Buffer): Buffer;
}

/**
 * Where signing keys live. The file store is the first implementation; the key-management issue
 * replaces it with an encrypted, audited store behind this same interface.
 */
export interface KeyStore {
  /** Creates a new key; ALREADY_EXISTS when the name is taken. */
  create(name: string): Promise<KeyInfo>;
  /** By name or id; NOT_FOUND when there is none. */
  getSigningKey(nameOrId: string): Promise<SigningKey>;
  list(): Promise<KeyInfo[]>;
}
