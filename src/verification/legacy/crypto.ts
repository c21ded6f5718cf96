/**
 * Signature primitives for cosign's legacy (tag-based) formats: strict base64, DSSE PAE, and
 * "which of these trusted keys made this signature". Legacy signatures carry no key hint, so every
 * trusted key is tried; each try is one public-key verification, cheap for ECDSA. An Ed25519 key
 * that does not verify a signature purely costs a second try as Ed25519ph in pure JS (about 1–2 ms
 * on the 2-core bench machine, some 20× a native verification). So callers judging many
 * signatures (a `.sig` tag of pusher-chosen layers) try the native schemes on all of them first
 * (`'native'`), and Ed25519ph only on what is left and could be one (`mayBeEd25519ph`).
 */
import crypto, { type KeyObject } from 'node:crypto';
import { dsse } from '@sigstore/core';
import type { TrustedKey } from '../../trust/types';

interface Ed25519Scheme {
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array, options?: { zip215?: boolean }): boolean;
}
// Node's crypto signs and verifies pure Ed25519 only; Ed25519ph (RFC 8032 HashEdDSA) comes from
// @noble/curves (audited, pure JS). It is ESM-only; Node 24 loads ES modules through require()
// (this file compiles to CommonJS, where a static import of an ES module is refused by TypeScript).
const { ed25519ph } = require('@noble/curves/ed25519.js') as { ed25519ph: Ed25519Scheme };

/**
 * The Ed25519ph check, as an object so that tests can count the tries (each one is the expensive
 * step a pusher could multiply).
 */
export const ed25519phScheme = {
  verify: (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean =>
    ed25519ph.verify(signature, message, publicKey, { zip215: false }),
};

/**
 * Which schemes one try covers: `'native'` what OpenSSL verifies (ECDSA, RSA, pure Ed25519, some
 * 60 µs each), `'ed25519ph'` only the pure-JS Ed25519ph fallback for Ed25519 keys, `'all'` both.
 */
export type SchemeSet = 'all' | 'native' | 'ed25519ph';

// The order of the Ed25519 group; a signature's S must be below it (RFC 8032 §5.1.7).
const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n;

/**
 * Whether `signature` is shaped like an Ed25519(ph) signature at all: 64 bytes whose S (the second
 * half, little-endian) is canonical. Anything else is refused by the strict verifier anyway, so
 * skipping its Ed25519ph tries loses no valid signature; it makes random junk free.
 */
export function mayBeEd25519ph(signature: Buffer): boolean {
  if (signature.length !== 64) return false;
  const s = BigInt(`0x${Buffer.from(signature.subarray(32)).reverse().toString('hex')}`);
  return s < ED25519_L;
}

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
 * IEEE-P1363 r||s; RSA PKCS#1 v1.5 with SHA-256; Ed25519 pure (skopeo, sigstore-js) or Ed25519ph,
 * which cosign uses for Ed25519 keys by default (FORMATS.md §3.5). Accepting both schemes under one
 * key admits nothing forgeable: Ed25519ph signs under the dom2 prefix, so no signature of one scheme
 * is a signature of the other (RFC 8032 §8.6). Never throws.
 */
/**
 * Why an RSA public key cannot be trusted to verify anything, or undefined. With a public exponent
 * of 1 every "signature" s verifies against its own padded hash (s^1 = s): anyone forges one
 * without a private key. An even exponent is no RSA key at all. Go's crypto/rsa refuses both
 * (and exponents beyond 2^31 - 1); so does every path that takes a key in, and verification too.
 */
export function rsaKeyProblem(key: KeyObject): string | undefined {
  if (key.asymmetricKeyType !== 'rsa') return undefined;
  const e = key.asymmetricKeyDetails?.publicExponent;
  if (typeof e !== 'bigint') return 'its public exponent cannot be read';
  if (e < 3n || e % 2n === 0n || e > 2n ** 31n - 1n) {
    return `its public exponent ${e <= 2n ** 64n ? e.toString() : '(over 64 bits)'} is not an odd number from 3 to 2^31 - 1 (with 1, anyone can forge its signatures)`;
  }
  return undefined;
}

export function verifyWithKey(publicKey: KeyObject, message: Buffer, signature: Buffer, schemes: SchemeSet = 'all'): boolean {
  if (rsaKeyProblem(publicKey) !== undefined) return false;
  try {
    if (schemes === 'ed25519ph') return publicKey.asymmetricKeyType === 'ed25519' && verifyEd25519ph(publicKey, message, signature);
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
        return crypto.verify(null, message, publicKey, signature) || (schemes === 'all' && verifyEd25519ph(publicKey, message, signature));
      default:
        return false;
    }
  } catch {
    // Malformed signatures (bad DER, wrong length) make OpenSSL throw on some paths: not a match.
    return false;
  }
}

/**
 * RFC 8032 Ed25519ph with an empty context, as Go's ed25519 with Options{Hash: SHA512} (sigstore's
 * ED25519phSignerVerifier) signs: the message is hashed with SHA-512 here, inside. Strict RFC 8032
 * decoding (zip215 off): a non-canonical S or point encoding is refused, as Go refuses it.
 */
function verifyEd25519ph(publicKey: KeyObject, message: Buffer, signature: Buffer): boolean {
  if (!mayBeEd25519ph(signature)) return false;
  const x = publicKey.export({ format: 'jwk' }).x;
  if (typeof x !== 'string') return false;
  return ed25519phScheme.verify(signature, message, Buffer.from(x, 'base64url'));
}

/** Every trusted key that verifies `signature` over `message` in `schemes`, in trust-store order. */
export function keysThatVerify(keys: readonly TrustedKey[], message: Buffer, signature: Buffer, schemes: SchemeSet = 'all'): TrustedKey[] {
  return keys.filter((key) => verifyWithKey(key.publicKey, message, signature, schemes));
}
