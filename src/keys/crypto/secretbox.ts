/**
 * NaCl `crypto_secretbox` (XSalsa20-Poly1305), the cipher cosign uses for `cosign.key` files.
 * Node's crypto has no Salsa20, so this adapts @noble/ciphers (audited, dependency-free, pure JS)
 * rather than carrying a hand-written cipher. Layout as Go's nacl/secretbox, libsodium's
 * `crypto_secretbox_easy` and tweetnacl: sealed = tag(16) || ciphertext.
 */
import { CountersignError } from '../../shared/errors';

export const SECRETBOX_KEY_BYTES = 32;
export const SECRETBOX_NONCE_BYTES = 24;
export const SECRETBOX_TAG_BYTES = 16;

interface Cipher {
  seal(plaintext: Uint8Array): Uint8Array;
  open(ciphertext: Uint8Array): Uint8Array;
}

// @noble/ciphers is ESM-only; Node 24 loads ES modules through require() (this file compiles to
// CommonJS, where a static import of an ES module is refused by TypeScript).
const { secretbox } = require('@noble/ciphers/salsa.js') as { secretbox: (key: Uint8Array, nonce: Uint8Array) => Cipher };

function checkKeyAndNonce(nonce: Uint8Array, key: Uint8Array): void {
  if (key.length !== SECRETBOX_KEY_BYTES) throw lengthError('secretbox key', SECRETBOX_KEY_BYTES, key.length);
  if (nonce.length !== SECRETBOX_NONCE_BYTES) throw lengthError('secretbox nonce', SECRETBOX_NONCE_BYTES, nonce.length);
}

/** Encrypts and authenticates: returns tag(16) || ciphertext. */
export function secretboxSeal(plaintext: Uint8Array, nonce: Uint8Array, key: Uint8Array): Buffer {
  checkKeyAndNonce(nonce, key);
  return Buffer.from(secretbox(key, nonce).seal(plaintext));
}

/**
 * Verifies and decrypts tag(16) || ciphertext. Returns the plaintext, or null when the box does
 * not authenticate under this key and nonce (wrong key, tampered or truncated data).
 */
export function secretboxOpen(sealed: Uint8Array, nonce: Uint8Array, key: Uint8Array): Buffer | null {
  checkKeyAndNonce(nonce, key);
  if (sealed.length < SECRETBOX_TAG_BYTES) return null;
  try {
    return Buffer.from(secretbox(key, nonce).open(sealed));
  } catch {
    return null;
  }
}

function lengthError(what: string, want: number, got: number): CountersignError {
  // These are programming errors (the caller controls the sizes), hence INTERNAL.
  return new CountersignError('INTERNAL', `${what} must be ${want} bytes, got ${got}`);
}
