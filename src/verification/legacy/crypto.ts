/**
 * Signature primitives for cosign's legacy (tag-based) formats: strict base64, DSSE PAE, and
 * "which of these trusted keys made this signature". Legacy signatures carry no key hint, so every
 * trusted key is tried; each try is one public-key verification, cheap for ECDSA.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { dsse } from '@sigstore/core';
import type { TrustedKey } from '../../trust/types';

const STD_B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const URL_B64 = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * Decodes base64 strictly: only the alphabet (std, or URL-safe when allowed), padding only at the
 * end, and the decoded bytes must re-encode to the input. Node's own decoder silently skips
 * garbage, which would let a malformed annotation look like a (short) signature.
 */
export function decodeBase64Strict(text: unknown, opts: { urlSafe?: boolean } = {}): Buffer | undefined {
  if (typeof text !== 'string' || text.length === 0) return undefined;
  const std = STD_B64.test(text);
  const url = opts.urlSafe === true && URL_B64.test(text);
  if (!std && !url) return undefined;
  const unpadded = text.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) return undefined;
  if (text.length !== unpadded.length && text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(unpadded, std ? 'base64' : 'base64url');
  const again = bytes.toString(std ? 'base64' : 'base64url').replace(/=+$/, '');
  return again === unpadded ? bytes : undefined;
}

/** DSSE pre-authentication encoding (FORMATS.md §5.3), from @sigstore/core. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  return dsse.preAuthEncoding(payloadType, payload);
}

const CURVE_HASH: Record<string, { hash: string; fieldBytes: number }> = {
  prime256v1: { hash: 'sha256', fieldBytes: 32 },
  secp384r1: { hash: 'sha384', fieldBytes: 48 },
  secp521r1: { hash: 'sha512', fieldBytes: 66 },
};

/**
 * Whether `signature` over `message` was made by `publicKey`, the way cosign verifies legacy
 * signatures: ECDSA with the curve's hash (P-256 → SHA-256; SHA-256 is also accepted for the
 * larger curves, as older cosign used it), ASN.1 DER or — when the length is exactly 2×field size —
 * IEEE-P1363 r||s; RSA PKCS#1 v1.5 with SHA-256; Ed25519 (pure). Never throws.
 */
export function verifyWithKey(publicKey: KeyObject, message: Buffer, signature: Buffer): boolean {
  try {
    switch (publicKey.asymmetricKeyType) {
      case 'ec': {
        const curve = CURVE_HASH[publicKey.asymmetricKeyDetails?.namedCurve ?? ''];
        if (!curve) return false;
        const dsaEncoding = signature.length === 2 * curve.fieldBytes ? 'ieee-p1363' : 'der';
        const hashes = curve.hash === 'sha256' ? ['sha256'] : [curve.hash, 'sha256'];
        return hashes.some((hash) => crypto.verify(hash, message, { key: publicKey, dsaEncoding }, signature));
      }
      case 'rsa':
        return crypto.verify('sha256', message, { key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, signature);
      case 'ed25519':
        return crypto.verify(null, message, publicKey, signature);
      default:
        return false;
    }
  } catch {
    // Malformed signatures (bad DER, wrong length) make OpenSSL throw on some paths: not a match.
    return false;
  }
}

/** Every trusted key that verifies `signature` over `message`, in trust-store order. */
export function keysThatVerify(keys: readonly TrustedKey[], message: Buffer, signature: Buffer): TrustedKey[] {
  return keys.filter((key) => verifyWithKey(key.publicKey, message, signature));
}
