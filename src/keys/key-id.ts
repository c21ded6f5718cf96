import crypto, { type KeyObject } from 'node:crypto';

/**
 * The key id is cosign's key hint: base64 (standard, padded) of sha256 over the DER
 * SubjectPublicKeyInfo. Using the same value as cosign means bundles we write carry a hint
 * that cosign, sigstore-go and @sigstore/verify users already know how to compute.
 */
export function keyIdOf(publicKey: KeyObject): string {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(spki).digest('base64');
}
