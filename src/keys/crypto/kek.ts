import crypto from 'node:crypto';
import { statSync } from 'node:fs';
import { BoundedFileError, readBoundedFileSync } from '../../shared/bounded-file';
import { CountersignError } from '../../shared/errors';
import { decodeBase64Strict, decodeBase64UrlStrict } from '../../formats/pem';

/**
 * Envelope encryption of private keys at rest under a key-encryption key (KEK).
 *
 * A sealed key is the compact string `v1.<nonce>.<ciphertext||tag>` (unpadded base64url parts,
 * safe in JSON, YAML and file names): AES-256-GCM with a random 12-byte nonce and a 16-byte tag.
 * The caller's `aad` (e.g. the key id) is authenticated, so a sealed key copied onto another
 * key's record does not open. With random 96-bit nonces one KEK can safely seal far more keys
 * (2^32 by NIST's bound) than a signing service will ever hold.
 *
 * Nothing here prints, logs or puts into an error a KEK, a plaintext key or the sealed bytes.
 */

export const KEK_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';
/** Domain separation: the authenticated data is this prefix followed by the caller's aad. */
const AAD_PREFIX = 'countersign sealed private key v1\0';
const FINGERPRINT_LABEL = 'countersign key-encryption key fingerprint v1';

export interface KekSource {
  /** Path to a file holding the KEK as 32 raw bytes or as base64 text (e.g. from `openssl rand -base64 32`). */
  file?: string;
  /** The KEK itself as base64 of 32 bytes, typically the value of an environment variable. */
  env?: string;
  /** Name of the environment variable `env` came from, used only to make messages actionable. */
  envName?: string;
}

const GENERATE_HINT = 'generate one with: openssl rand -base64 32';

function bad(message: string): CountersignError {
  return new CountersignError('INVALID_ARGUMENT', message);
}

/** Loads and validates the KEK from exactly one source. */
export function loadKek(source: KekSource): Buffer {
  const hasFile = source.file !== undefined && source.file !== '';
  const hasEnv = source.env !== undefined && source.env !== '';
  const envLabel = source.envName ? `environment variable ${source.envName}` : 'the key-encryption key from the environment';
  if (hasFile && hasEnv) {
    throw bad(`the key-encryption key is configured twice (file ${source.file ?? ''} and ${envLabel}); set only one`);
  }
  if (!hasFile && !hasEnv) {
    throw bad(
      `no key-encryption key configured: provide a file holding 32 random bytes (raw or base64) or base64 of 32 bytes in the environment; ${GENERATE_HINT}`,
    );
  }
  if (hasFile) return loadFromFile(source.file!);

  const value = source.env!.trim();
  const key = decodeBase64Strict(value) ?? decodeBase64Strict(padBase64(value));
  if (key === null) throw bad(`${envLabel} is not valid base64; it must be base64 of 32 random bytes (${GENERATE_HINT})`);
  return checkKek(key, envLabel);
}

function loadFromFile(file: string): Buffer {
  let raw: Buffer;
  try {
    // Never a FIFO, device or directory (a FIFO here would block start-up forever), never large.
    raw = readBoundedFileSync(file, 4096, `key-encryption key file ${file}`);
  } catch (err) {
    if (err instanceof BoundedFileError && err.code === 'TOO_LARGE') throw bad(err.message);
    if (err instanceof BoundedFileError && err.code === 'NOT_REGULAR') {
      const dir = ((): boolean => {
        try {
          return statSync(file).isDirectory();
        } catch {
          return false;
        }
      })();
      throw bad(
        `cannot read key-encryption key file ${file}: ${dir ? 'it is a directory' : 'it is not a regular file (a FIFO or a device is never read)'}`,
      );
    }
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'it does not exist'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied (the service user must be able to read it)'
          : code === 'EISDIR'
            ? 'it is a directory'
            : `error ${code ?? 'unknown'}`;
    throw bad(`cannot read key-encryption key file ${file}: ${why}`);
  }
  const what = `key-encryption key file ${file}`;
  if (raw.length === KEK_BYTES) {
    // 32 random bytes are all base64 characters with probability 2^-64: this is text, most likely a
    // shorter key written as base64 or hex without a newline, not a raw 256-bit key.
    if (/^[A-Za-z0-9+/=_-]+$/.test(raw.toString('latin1'))) {
      raw.fill(0);
      throw bad(
        `${what} holds 32 characters of text (base64 or hex of a shorter key?), not 32 raw bytes; a key-encryption key must be 32 random bytes (${GENERATE_HINT})`,
      );
    }
    return checkKek(raw, what);
  }
  const text = raw.toString('latin1').trim();
  raw.fill(0);
  const key = decodeBase64Strict(text) ?? decodeBase64Strict(padBase64(text));
  if (key === null) {
    throw bad(
      `${what} must hold exactly 32 raw bytes or base64 of 32 bytes, but holds ${raw.length} bytes that are not base64 (${GENERATE_HINT})`,
    );
  }
  return checkKek(key, what);
}

function padBase64(s: string): string {
  return s.length % 4 === 0 ? s : s + '='.repeat(4 - (s.length % 4));
}

function checkKek(key: Buffer, what: string): Buffer {
  if (key.length !== KEK_BYTES) {
    const n = key.length;
    key.fill(0);
    throw bad(`${what} decodes to ${n} bytes; a key-encryption key must be exactly ${KEK_BYTES} bytes (256 bits); ${GENERATE_HINT}`);
  }
  if (key.every((b) => b === key[0])) {
    key.fill(0);
    throw bad(`${what} is ${KEK_BYTES} identical bytes, not a random key; ${GENERATE_HINT}`);
  }
  return key;
}

/** A fresh random KEK. */
export function generateKek(): Buffer {
  return crypto.randomBytes(KEK_BYTES);
}

function requireKek(kek: Buffer): void {
  if (!Buffer.isBuffer(kek) || kek.length !== KEK_BYTES) {
    throw bad(`a key-encryption key must be a ${KEK_BYTES}-byte Buffer (load it with loadKek)`);
  }
}

function requireAad(aad: string): Buffer {
  if (typeof aad !== 'string' || aad === '') throw bad('sealing a private key needs a non-empty aad (e.g. the key id) to bind it to');
  return Buffer.from(AAD_PREFIX + aad, 'utf8');
}

/** Encrypts a PKCS#8 DER private key under the KEK, bound to `aad`. */
export function sealPrivateKey(pkcs8Der: Buffer, kek: Buffer, aad: string): string {
  requireKek(kek);
  const aadBytes = requireAad(aad);
  if (!Buffer.isBuffer(pkcs8Der) || pkcs8Der.length === 0) throw bad('sealPrivateKey needs the private key as a non-empty DER Buffer');
  const nonce = crypto.randomBytes(NONCE_BYTES);
  const cipher = crypto.createCipheriv('aes-256-gcm', kek, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aadBytes);
  const ct = Buffer.concat([cipher.update(pkcs8Der), cipher.final(), cipher.getAuthTag()]);
  return `${VERSION}.${nonce.toString('base64url')}.${ct.toString('base64url')}`;
}

/**
 * Decrypts a sealed private key. A wrong KEK, a wrong aad or any change to the sealed string gives
 * FAILED_PRECONDITION; a string that is not a sealed key at all gives DATA_LOSS.
 */
export function openPrivateKey(sealed: string, kek: Buffer, aad: string): Buffer {
  requireKek(kek);
  const aadBytes = requireAad(aad);
  const label = `key ${JSON.stringify(aad)}`;
  if (typeof sealed !== 'string') throw new CountersignError('DATA_LOSS', `sealed ${label} is not a string`);
  const parts = sealed.split('.');
  if (parts.length === 3 && /^v[0-9]+$/.test(parts[0]!) && parts[0] !== VERSION) {
    throw new CountersignError(
      'FAILED_PRECONDITION',
      `sealed ${label} uses format ${parts[0] ?? ''}, but this version of countersign only reads ${VERSION}; upgrade countersign`,
    );
  }
  if (parts.length !== 3 || parts[0] !== VERSION) {
    throw new CountersignError('DATA_LOSS', `sealed ${label} is malformed: expected ${VERSION}.<nonce>.<ciphertext>`);
  }
  const nonce = decodeBase64UrlStrict(parts[1]!);
  const ct = decodeBase64UrlStrict(parts[2]!);
  if (nonce === null || nonce.length !== NONCE_BYTES || ct === null || ct.length <= TAG_BYTES) {
    throw new CountersignError('DATA_LOSS', `sealed ${label} is malformed: bad nonce or ciphertext encoding or length`);
  }
  const decipher = crypto.createDecipheriv('aes-256-gcm', kek, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aadBytes);
  decipher.setAuthTag(ct.subarray(ct.length - TAG_BYTES));
  // GCM's update() returns plaintext before the tag is checked: it is only returned after final() succeeds.
  const body = decipher.update(ct.subarray(0, ct.length - TAG_BYTES));
  try {
    const rest = decipher.final();
    return rest.length ? Buffer.concat([body, rest]) : body;
  } catch {
    body.fill(0);
    throw new CountersignError('FAILED_PRECONDITION', `cannot decrypt ${label}: wrong key-encryption key or corrupted data`);
  }
}

/**
 * A short, stable identifier of a KEK (16 hex characters of HMAC-SHA256 keyed by the KEK over a
 * fixed label). Storing it lets the service notice at startup that it was given a different KEK
 * than the one its keys were sealed with, without storing anything that helps recover the KEK.
 */
export function kekFingerprint(kek: Buffer): string {
  requireKek(kek);
  return crypto.createHmac('sha256', kek).update(FINGERPRINT_LABEL).digest('hex').slice(0, 16);
}
