import crypto, { type KeyObject } from 'node:crypto';
import { CountersignError } from '../../shared/errors';
import { rsaKeyProblem } from '../../verification/legacy/crypto';
import { decodeBase64Strict, encodePem, isPrivateKeyLabel, scanPem } from '../../formats/pem';
import { SECRETBOX_NONCE_BYTES, SECRETBOX_TAG_BYTES, secretboxOpen, secretboxSeal } from './secretbox';

/**
 * Cosign's encrypted private key file (`cosign.key`), see FORMATS.md section 3.5:
 *
 *   -----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----   (older cosign and skopeo: ENCRYPTED COSIGN PRIVATE KEY)
 *   base64({"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"<b64>"},
 *           "cipher":{"name":"nacl/secretbox","nonce":"<b64 24 bytes>"},
 *           "ciphertext":"<b64>"})
 *
 * The key is scrypt(password, salt, N, r, p, 32); the plaintext is a PKCS#8 DER private key.
 *
 * Error messages name what is wrong with the file but never quote it, the password, or the
 * decrypted bytes; causes that could quote input are not attached.
 */

export const COSIGN_PEM_TYPE = 'ENCRYPTED SIGSTORE PRIVATE KEY';
export const LEGACY_COSIGN_PEM_TYPE = 'ENCRYPTED COSIGN PRIVATE KEY';
const ACCEPTED_PEM_TYPES = new Set([COSIGN_PEM_TYPE, LEGACY_COSIGN_PEM_TYPE]);

/** The only scrypt parameter sets cosign (go-securesystemslib `encrypted`) reads: r=8, p=1 and one of these N. */
const ACCEPTED_SCRYPT_N = new Set([32768, 65536, 131072]);
const WRITE_SCRYPT = { N: 65536, r: 8, p: 1 } as const;
const SALT_BYTES = 32;
const DERIVED_KEY_BYTES = 32;
/** A cosign key is a few KiB at most (RSA-4096 PKCS#8 is ~2.4 KiB before encryption and base64). */
const MAX_PEM_CHARS = 64 * 1024;

interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

interface EncryptedKeyFile {
  salt: Buffer;
  scrypt: ScryptParams;
  nonce: Buffer;
  ciphertext: Buffer;
}

function invalid(message: string): CountersignError {
  return new CountersignError('INVALID_ARGUMENT', message);
}

/** Decrypts a cosign / sigstore encrypted private key PEM with its password. */
export function decryptCosignPrivateKey(pem: string, password: string): KeyObject {
  if (typeof pem !== 'string') throw invalid('cosign private key must be given as PEM text');
  if (typeof password !== 'string') throw invalid('cosign key password must be a string (it may be empty)');
  const file = parseEncryptedKeyFile(pem);

  const derivedKey = deriveKey(password, file.salt, file.scrypt);
  let plaintext: Buffer | null;
  try {
    plaintext = secretboxOpen(file.ciphertext, file.nonce, derivedKey);
  } finally {
    derivedKey.fill(0);
  }
  if (plaintext === null) {
    throw invalid('cannot decrypt the cosign private key: wrong password or corrupted key');
  }
  try {
    const key = parsePkcs8(plaintext);
    checkSupportedPrivateKey(key, 'the decrypted cosign private key');
    return key;
  } finally {
    plaintext.fill(0);
  }
}

/**
 * Encrypts a private key in cosign's format (scrypt N=65536, r=8, p=1; nacl/secretbox), with the
 * PEM type current cosign writes. `cosign sign --key` and `decryptCosignPrivateKey` read it back.
 * The password may be empty, as with `COSIGN_PASSWORD=""`.
 */
export function encryptCosignPrivateKey(key: KeyObject, password: string): string {
  if (!(key instanceof crypto.KeyObject) || key.type !== 'private') {
    throw invalid('encryptCosignPrivateKey needs a private KeyObject');
  }
  if (typeof password !== 'string') throw invalid('cosign key password must be a string (it may be empty)');
  checkSupportedPrivateKey(key, 'the key to export');
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const salt = crypto.randomBytes(SALT_BYTES);
  const nonce = crypto.randomBytes(SECRETBOX_NONCE_BYTES);
  const derivedKey = deriveKey(password, salt, WRITE_SCRYPT);
  let sealed: Buffer;
  try {
    sealed = secretboxSeal(der, nonce, derivedKey);
  } finally {
    derivedKey.fill(0);
    der.fill(0);
  }
  // Same field order as cosign's Go structs, so the file is byte-for-byte the shape cosign writes.
  const json = JSON.stringify({
    kdf: { name: 'scrypt', params: { N: WRITE_SCRYPT.N, r: WRITE_SCRYPT.r, p: WRITE_SCRYPT.p }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: sealed.toString('base64'),
  });
  return encodePem(COSIGN_PEM_TYPE, Buffer.from(json, 'utf8'));
}

/**
 * Parses a `PUBLIC KEY` (SPKI) PEM such as cosign.pub. A private key passed by mistake is refused
 * without being parsed (Node would otherwise happily derive its public key) and without being echoed.
 */
export function parsePublicKeyPem(pem: string): KeyObject {
  if (typeof pem !== 'string') throw invalid('public key must be given as PEM text');
  if (pem.length > MAX_PEM_CHARS)
    throw invalid(`public key PEM is too large (${pem.length} characters); expected a single PUBLIC KEY block`);
  const blocks = scanPem(pem);
  const priv = blocks.find((b) => isPrivateKeyLabel(b.type));
  if (priv) {
    throw invalid(
      `expected a public key (PEM type PUBLIC KEY) but was given a private key (PEM type ${priv.type}); ` +
        'pass the public key file (e.g. cosign.pub) instead',
    );
  }
  if (blocks.length === 0) throw invalid('no PEM block found; expected a public key starting with -----BEGIN PUBLIC KEY-----');
  if (blocks.length > 1) throw invalid(`expected exactly one PEM block (PUBLIC KEY), found ${blocks.length}`);
  const block = blocks[0]!;
  if (block.body === null) throw invalid(`truncated PEM: -----END ${block.type}----- is missing`);
  if (block.type !== 'PUBLIC KEY') {
    const hint = block.type === 'CERTIFICATE' ? '; extract its key with: openssl x509 -pubkey -noout' : '';
    throw invalid(`expected PEM type PUBLIC KEY, got ${block.type}${hint}`);
  }
  const der = decodeBase64Strict(block.body, true);
  if (der === null || der.length === 0) throw invalid('the PUBLIC KEY block is not valid base64');
  try {
    return crypto.createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    throw invalid('the PUBLIC KEY block is not a valid SubjectPublicKeyInfo (DER) public key');
  }
}

function parseEncryptedKeyFile(pem: string): EncryptedKeyFile {
  if (pem.length > MAX_PEM_CHARS) throw invalid(`cosign private key is too large (${pem.length} characters) to be a cosign key file`);
  const blocks = scanPem(pem);
  if (blocks.length === 0) {
    throw invalid(`no PEM block found; expected a cosign private key starting with -----BEGIN ${COSIGN_PEM_TYPE}-----`);
  }
  const block = blocks.find((b) => ACCEPTED_PEM_TYPES.has(b.type));
  if (!block) {
    const types = blocks.map((b) => b.type).join(', ');
    const hint = blocks.some((b) => b.type === 'PRIVATE KEY' || b.type === 'EC PRIVATE KEY' || b.type === 'RSA PRIVATE KEY')
      ? ' (this is an unencrypted private key, not a cosign key; it needs no password)'
      : '';
    throw invalid(`unsupported PEM type ${types}${hint}; expected ${COSIGN_PEM_TYPE} or ${LEGACY_COSIGN_PEM_TYPE}`);
  }
  if (block.body === null) throw invalid(`truncated cosign private key: -----END ${block.type}----- is missing`);
  const jsonBytes = decodeBase64Strict(block.body, true);
  if (jsonBytes === null || jsonBytes.length === 0) throw invalid(`the ${block.type} block is not valid base64`);

  let doc: unknown;
  try {
    doc = JSON.parse(jsonBytes.toString('utf8'));
  } catch {
    // JSON.parse errors quote the input; it is not passed on.
    throw invalid(`the ${block.type} block does not contain JSON; is this a cosign key file?`);
  }
  if (!isObject(doc)) throw invalid('cosign private key JSON must be an object with kdf, cipher and ciphertext');

  const kdf = doc.kdf;
  if (!isObject(kdf)) throw invalid('cosign private key: missing "kdf" object');
  if (kdf.name !== 'scrypt') throw invalid(`cosign private key: unsupported kdf ${describeValue(kdf.name)}; only "scrypt" is supported`);
  const params = kdf.params;
  if (!isObject(params)) throw invalid('cosign private key: missing kdf "params" (N, r, p)');
  const { N, r, p } = params;
  if (typeof N !== 'number' || !ACCEPTED_SCRYPT_N.has(N) || r !== 8 || p !== 1) {
    throw invalid(
      `cosign private key: unsupported scrypt parameters N=${describeValue(N)}, r=${describeValue(r)}, p=${describeValue(p)}; ` +
        'cosign accepts only r=8, p=1 with N=32768, 65536 or 131072',
    );
  }
  const salt = b64Field(kdf.salt, 'kdf salt');
  if (salt.length === 0) throw invalid('cosign private key: kdf salt is empty');

  const cipher = doc.cipher;
  if (!isObject(cipher)) throw invalid('cosign private key: missing "cipher" object');
  if (cipher.name !== 'nacl/secretbox') {
    throw invalid(`cosign private key: unsupported cipher ${describeValue(cipher.name)}; only "nacl/secretbox" is supported`);
  }
  const nonce = b64Field(cipher.nonce, 'cipher nonce');
  if (nonce.length !== SECRETBOX_NONCE_BYTES) {
    throw invalid(`cosign private key: cipher nonce must be ${SECRETBOX_NONCE_BYTES} bytes, got ${nonce.length}`);
  }
  const ciphertext = b64Field(doc.ciphertext, 'ciphertext');
  if (ciphertext.length <= SECRETBOX_TAG_BYTES) throw invalid('cosign private key: ciphertext is too short to hold a key');

  return { salt, scrypt: { N, r, p }, nonce, ciphertext };
}

function b64Field(v: unknown, what: string): Buffer {
  if (typeof v !== 'string') throw invalid(`cosign private key: ${what} is missing or not a string`);
  const buf = decodeBase64Strict(v);
  if (buf === null) throw invalid(`cosign private key: ${what} is not valid base64`);
  return buf;
}

function deriveKey(password: string, salt: Buffer, { N, r, p }: ScryptParams): Buffer {
  try {
    // Node's default maxmem (32 MiB) is below the 128*N*r bytes N=65536 needs; allow twice that.
    return crypto.scryptSync(Buffer.from(password, 'utf8'), salt, DERIVED_KEY_BYTES, { N, r, p, maxmem: 256 * N * r });
  } catch (err) {
    throw new CountersignError('INTERNAL', `scrypt key derivation failed (N=${N}, r=${r}, p=${p})`, {
      cause: err instanceof Error ? new Error(err.message) : undefined,
    });
  }
}

function parsePkcs8(der: Buffer): KeyObject {
  try {
    return crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch {
    // Say what it is, when we can tell, so the user knows how to fix the file. (OpenSSL 3 tries every
    // traditional DER format whatever type is asked for, so the result's key type tells them apart.)
    const traditional = tryParse(() => crypto.createPrivateKey({ key: der, format: 'der', type: 'sec1' }));
    if (traditional?.asymmetricKeyType === 'ec') {
      throw invalid(
        'the cosign key decrypted, but it holds a SEC1 ("EC PRIVATE KEY") key rather than PKCS#8; cosign rejects such files too. ' +
          'Re-create it with "cosign generate-key-pair" or "cosign import-key-pair" from a PKCS#8 key (openssl pkcs8 -topk8 -nocrypt)',
      );
    }
    if (traditional?.asymmetricKeyType === 'rsa') {
      throw invalid(
        'the cosign key decrypted, but it holds a PKCS#1 ("RSA PRIVATE KEY") key rather than PKCS#8; cosign rejects such files too. ' +
          'Convert the key to PKCS#8 (openssl pkcs8 -topk8 -nocrypt) and import it again',
      );
    }
    throw invalid('the cosign key decrypted, but the content is not a PKCS#8 private key');
  }
}

function tryParse(f: () => KeyObject): KeyObject | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** The key kinds cosign loads from a key file: ECDSA P-256/P-384/P-521, RSA (>= 2048 bits) and Ed25519. */
function checkSupportedPrivateKey(key: KeyObject, what: string): void {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1' || curve === 'secp384r1' || curve === 'secp521r1') return;
    throw invalid(`${what} uses elliptic curve ${curve ?? 'unknown'}; supported curves are P-256, P-384 and P-521`);
  }
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw invalid(`${what} is a ${bits}-bit RSA key; at least 2048 bits are required`);
    const problem = rsaKeyProblem(key);
    if (problem !== undefined) throw invalid(`${what} is refused: ${problem}`);
    return;
  }
  if (type === 'ed25519') return;
  throw invalid(`${what} is of type ${type ?? 'unknown'}; supported are ECDSA (P-256, P-384, P-521), RSA and Ed25519`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short, safe description of a JSON value for error messages (names and numbers only, never long strings). */
function describeValue(v: unknown): string {
  if (v === undefined) return 'missing';
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'string') return v.length <= 40 && /^[\x20-\x7e]*$/.test(v) ? JSON.stringify(v) : '(unrecognized string)';
  return `(${Array.isArray(v) ? 'array' : typeof v})`;
}
