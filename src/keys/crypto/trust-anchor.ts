/**
 * Trust anchors in the formats people have: a PEM `PUBLIC KEY` (SPKI, e.g. cosign.pub) or a PEM
 * `CERTIFICATE` (X.509: the anchor is its public key), of the kinds verification can check
 * (src/verification/legacy/crypto.ts, src/verification/sigstore/verify-bundle.ts): ECDSA P-256 /
 * P-384 / P-521, Ed25519 and RSA of at least 2048 bits (PKCS#1 v1.5). Everything else is refused
 * with INVALID_ARGUMENT saying what was given and what to give instead: a key that imported but
 * could never verify a signature would only turn into a silent deny later.
 *
 * No error ever quotes the input: it may be key material.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { CountersignError } from '../../shared/errors';
import { rsaKeyProblem } from '../../verification/legacy/crypto';
import { decodeBase64Strict, isPrivateKeyLabel, scanPem } from '../../formats/pem';

/** What a key is, e.g. `ecdsa-p256`, `ed25519`, `rsa-3072`. */
export type KeyKind = string;
/** Where a key came from: generated here, a SPKI PEM, an X.509 certificate, a cosign key file, a pre-store PEM file, or a CA bundle. */
export type KeySource = 'generated' | 'spki' | 'x509' | 'cosign' | 'pem' | 'ca-bundle';

/** Public facts of the certificate a key was imported from. */
export interface CertificateFacts {
  subject: string;
  issuer: string;
  /** Hex, as OpenSSL prints it. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the DER, hex. */
  fingerprintSha256: string;
}

export interface TrustAnchor {
  publicKey: KeyObject;
  kind: KeyKind;
  source: 'spki' | 'x509';
  /** Set for `x509`: the certificate itself (PEM) and its facts. */
  certificatePem?: string;
  certificate?: CertificateFacts;
}

const MAX_PEM_CHARS = 64 * 1024;
export const MIN_RSA_BITS = 2048;
/** Legacy signatures carry no key hint, so every trusted key is tried: bound the cost of one try. */
export const MAX_RSA_BITS = 8192;
const CURVE_KIND: Record<string, string> = { prime256v1: 'ecdsa-p256', secp384r1: 'ecdsa-p384', secp521r1: 'ecdsa-p521' };

function invalid(message: string): CountersignError {
  return new CountersignError('INVALID_ARGUMENT', message);
}

/**
 * The kind of a public key verification supports, or a refusal naming what it is. Used for every
 * key the store takes in (generated, imported, legacy files), so the store records one vocabulary.
 */
export function keyKindOf(key: KeyObject): KeyKind {
  const type = key.asymmetricKeyType;
  switch (type) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const kind = curve ? CURVE_KIND[curve] : undefined;
      if (!kind) {
        throw invalid(
          `unsupported elliptic curve ${curve ?? '(explicit parameters)'}; Countersign verifies ECDSA on P-256, P-384 and P-521 only`,
        );
      }
      return kind;
    }
    case 'ed25519':
      return 'ed25519';
    case 'rsa': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < MIN_RSA_BITS) throw invalid(`RSA key of ${bits} bits is too weak; RSA keys must have at least ${MIN_RSA_BITS} bits`);
      if (bits > MAX_RSA_BITS) throw invalid(`RSA key of ${bits} bits is larger than the ${MAX_RSA_BITS} bits accepted`);
      const problem = rsaKeyProblem(key);
      if (problem !== undefined) throw invalid(`RSA key refused: ${problem}`);
      return `rsa-${bits}`;
    }
    case 'rsa-pss':
      throw invalid(
        'RSA-PSS-restricted keys (OID id-RSASSA-PSS) are not supported: cosign signs with RSA PKCS#1 v1.5; export the key as a plain rsaEncryption SubjectPublicKeyInfo',
      );
    case 'dsa':
      throw invalid('DSA keys are not supported (cosign and Sigstore do not sign with DSA); use ECDSA P-256, Ed25519 or RSA ≥ 2048');
    case 'ed448':
      throw invalid('Ed448 keys are not supported; use Ed25519, ECDSA P-256 or RSA ≥ 2048');
    case 'x25519':
    case 'x448':
    case 'dh':
      throw invalid(`${type} is a key-agreement key, not a signature key; it cannot verify signatures`);
    default:
      throw invalid(`unsupported public key type ${String(type)}; use ECDSA P-256/P-384/P-521, Ed25519 or RSA ≥ 2048`);
  }
}

/**
 * Parses one trust anchor: exactly one PEM block, `PUBLIC KEY` or `CERTIFICATE`, with nothing but
 * whitespace around it. A private key, several blocks (a CA bundle, a chain, a key pair file),
 * trailing text, bad base64 or DER, and unsupported key kinds are refused.
 */
export function parseTrustAnchorPem(pem: string): TrustAnchor {
  if (typeof pem !== 'string') throw invalid('the key must be given as PEM text');
  if (pem.length > MAX_PEM_CHARS)
    throw invalid(`the PEM text is too large (${pem.length} characters); expected one PUBLIC KEY or CERTIFICATE block`);
  const blocks = scanPem(pem);
  const priv = blocks.find((b) => isPrivateKeyLabel(b.type));
  if (priv) {
    throw invalid(
      `expected a public key or certificate but was given a private key (PEM type ${priv.type}); ` +
        'pass the public key file (e.g. cosign.pub, or: openssl pkey -pubout) instead — or, for a cosign.key, import it with --cosign-key',
    );
  }
  if (blocks.length === 0) throw invalid('no PEM block found; expected -----BEGIN PUBLIC KEY----- or -----BEGIN CERTIFICATE-----');
  if (blocks.length > 1) {
    throw invalid(
      `expected exactly one PEM block, found ${blocks.length} (${blocks.map((b) => b.type).join(', ')}); ` +
        'import each key or certificate under its own name (CA bundles and certificate chains are not trust anchors here)',
    );
  }
  const block = blocks[0]!;
  if (block.body === null) throw invalid(`truncated PEM: -----END ${block.type}----- is missing`);
  if (block.outside) throw invalid(`unexpected text outside the ${block.type} block; the file must hold the PEM block only`);
  if (block.type !== 'PUBLIC KEY' && block.type !== 'CERTIFICATE') {
    const hint = block.type === 'RSA PUBLIC KEY' ? ' (PKCS#1; convert with: openssl rsa -RSAPublicKey_in -in FILE -pubout)' : '';
    throw invalid(`unsupported PEM type ${block.type}${hint}; expected PUBLIC KEY (SubjectPublicKeyInfo) or CERTIFICATE (X.509)`);
  }
  const der = decodeBase64Strict(block.body, true);
  if (der === null || der.length === 0) throw invalid(`the ${block.type} block is not valid base64`);
  if (block.type === 'PUBLIC KEY') {
    let publicKey: KeyObject;
    try {
      publicKey = crypto.createPublicKey({ key: der, format: 'der', type: 'spki' });
    } catch {
      throw invalid('the PUBLIC KEY block is not a valid SubjectPublicKeyInfo (DER) public key, or uses an unknown algorithm or curve');
    }
    checkCanonical(publicKey, der, 'PUBLIC KEY');
    return { publicKey, kind: keyKindOf(publicKey), source: 'spki' };
  }
  let cert: crypto.X509Certificate;
  try {
    cert = new crypto.X509Certificate(der);
  } catch {
    throw invalid('the CERTIFICATE block is not a valid X.509 certificate (DER)');
  }
  if (!cert.raw.equals(der)) throw invalid('the CERTIFICATE block has bytes after the certificate');
  let publicKey: KeyObject;
  try {
    publicKey = cert.publicKey;
  } catch {
    throw invalid("the certificate's public key uses an unknown algorithm or curve");
  }
  const kind = keyKindOf(publicKey);
  const certificate: CertificateFacts = {
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprintSha256: crypto.createHash('sha256').update(der).digest('hex'),
  };
  if (Number.isNaN(certificate.notBefore.getTime()) || Number.isNaN(certificate.notAfter.getTime())) {
    throw invalid('the certificate has an unreadable validity period');
  }
  return { publicKey, kind, source: 'x509', certificatePem: cert.toString(), certificate };
}

/** The facts of a certificate stored with a key (read back from the store). */
export function certificateFactsOf(pem: string): CertificateFacts | undefined {
  try {
    const cert = new crypto.X509Certificate(pem);
    return {
      subject: cert.subject,
      issuer: cert.issuer,
      serialNumber: cert.serialNumber,
      notBefore: new Date(cert.validFrom),
      notAfter: new Date(cert.validTo),
      fingerprintSha256: crypto.createHash('sha256').update(cert.raw).digest('hex'),
    };
  } catch {
    return undefined;
  }
}

/** DER with trailing bytes (or a non-canonical encoding) is not the key it looks like: refuse it. */
function checkCanonical(key: KeyObject, der: Buffer, type: string): void {
  const again = key.export({ type: 'spki', format: 'der' });
  if (!again.equals(der)) throw invalid(`the ${type} block has bytes after the key, or is not DER-encoded`);
}
