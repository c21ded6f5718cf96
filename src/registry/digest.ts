/**
 * Content digests. Every byte that crosses the registry boundary is checked against a digest we
 * computed ourselves: a registry (or a proxy in front of it) that hands back different bytes than
 * the ones a digest names must never get them signed or parsed as if they were genuine.
 */
import { hash } from 'node:crypto';

/**
 * The only algorithms we accept. OCI allows registering others, but a digest we cannot verify is
 * worse than useless to a signing service, so anything else is rejected up front.
 */
const ENCODED_LENGTH = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof ENCODED_LENGTH;

const DIGEST_RE = /^(sha256|sha512):([0-9a-f]+)$/;

/** True for `sha256:<64 lowercase hex>` and `sha512:<128 lowercase hex>`. */
export function isDigest(value: string): boolean {
  const m = DIGEST_RE.exec(value);
  return m !== null && m[2]!.length === ENCODED_LENGTH[m[1] as DigestAlgorithm];
}

/** Splits a digest already known to be valid (see isDigest) into algorithm and hex. */
export function splitDigest(digest: string): { algorithm: DigestAlgorithm; encoded: string } | undefined {
  if (!isDigest(digest)) return undefined;
  const i = digest.indexOf(':');
  return { algorithm: digest.slice(0, i) as DigestAlgorithm, encoded: digest.slice(i + 1) };
}

export function computeDigest(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  // One-shot: no Hash object per call (half the cost for a manifest; this is on every gated pull).
  return `${algorithm}:${hash(algorithm, bytes, 'hex')}`;
}

/** sha256 of the exact bytes: what a registry computes for a manifest we PUT. */
export function sha256Digest(bytes: Uint8Array): string {
  return computeDigest(bytes, 'sha256');
}

/**
 * True when `bytes` hash to `digest` (using the digest's own algorithm). A malformed or
 * unsupported digest never matches.
 */
export function digestMatches(bytes: Uint8Array, digest: string): boolean {
  const parts = splitDigest(digest);
  return parts !== undefined && computeDigest(bytes, parts.algorithm) === digest;
}
