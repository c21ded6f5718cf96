/**
 * CA bundles as trust anchors: a PEM file of one or more CA certificates (a private PKI's root and
 * intermediates, as `ca-bundle.crt` files are). A bundle anchors signatures whose certificate chain
 * ends at one of its CAs: the signing certificate, through the intermediates the evidence carries,
 * is issued by a certificate of the bundle (src/verification/x509-chain.ts). The CAs' own keys are
 * never trusted to sign images: a CA certifies signers, it is not one.
 *
 * Every certificate must be a CA (basicConstraints CA:TRUE) that has not expired and that the chain
 * rules let issue (src/verification/x509-chain.ts caProblem: keyCertSign, no unevaluated name or
 * policy constraints, no unknown critical extension, an EKU allowing code signing); nothing but
 * whitespace may lie between or around the blocks. Errors name the certificate by position and
 * subject, never quote the input.
 */
import crypto, { X509Certificate } from 'node:crypto';
import { CountersignError } from '../../shared/errors';
import { decodeBase64Strict, isPrivateKeyLabel, scanPem } from '../../formats/pem';
import type { CertificateFacts } from './trust-anchor';
import { caProblem } from '../../verification/x509-chain';

/** The kind recorded for a CA bundle in the key store. */
export const CA_BUNDLE_KIND = 'ca-bundle';
/** At most this many certificates: each is tried as the issuer of every chain. */
export const MAX_CA_BUNDLE_CERTIFICATES = 64;
const MAX_BUNDLE_CHARS = 512 * 1024;

export interface CaBundle {
  certificates: X509Certificate[];
  /** The bundle as stored: each certificate re-encoded, in the order given. */
  pem: string;
  /** Identifies the bundle: base64(sha256(the certificates' DER, concatenated)). */
  id: string;
  facts: CertificateFacts[];
}

function invalid(message: string): CountersignError {
  return new CountersignError('INVALID_ARGUMENT', message);
}

/** Parses and checks a CA bundle at `now` (an expired CA is refused: it could anchor nothing). */
export function parseCaBundlePem(pem: string, now: Date): CaBundle {
  if (typeof pem !== 'string') throw invalid('the CA bundle must be given as PEM text');
  if (pem.length > MAX_BUNDLE_CHARS) throw invalid(`the CA bundle is too large (${pem.length} characters; at most ${MAX_BUNDLE_CHARS})`);
  const blocks = scanPem(pem);
  if (blocks.length === 0) throw invalid('no PEM block found; a CA bundle is one or more -----BEGIN CERTIFICATE----- blocks');
  if (blocks.length > MAX_CA_BUNDLE_CERTIFICATES)
    throw invalid(`the CA bundle has ${blocks.length} blocks; at most ${MAX_CA_BUNDLE_CERTIFICATES}`);
  const certificates: X509Certificate[] = [];
  for (const [i, block] of blocks.entries()) {
    const at = `block ${i + 1}`;
    if (isPrivateKeyLabel(block.type)) {
      throw invalid(`${at} of the CA bundle is a private key (PEM type ${block.type}); a CA bundle holds CA certificates only`);
    }
    if (block.textBefore) {
      throw invalid(
        i === 0
          ? 'unexpected text before the first certificate of the CA bundle; the file must hold PEM blocks only'
          : `unexpected text between certificates ${i} and ${i + 1} of the CA bundle; the file must hold PEM blocks only`,
      );
    }
    if (block.body === null) throw invalid(`truncated PEM: ${at} has no -----END ${block.type}-----`);
    if (block.type !== 'CERTIFICATE') throw invalid(`${at} of the CA bundle is a ${block.type}; a CA bundle holds CERTIFICATE blocks only`);
    const der = decodeBase64Strict(block.body, true);
    if (der === null || der.length === 0) throw invalid(`certificate ${i + 1} of the CA bundle is not valid base64`);
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(der);
    } catch {
      throw invalid(`certificate ${i + 1} of the CA bundle is not a valid X.509 certificate (DER)`);
    }
    if (!cert.raw.equals(der)) throw invalid(`certificate ${i + 1} of the CA bundle has bytes after the certificate`);
    const subject = oneLine(cert.subject);
    if (!cert.ca) {
      throw invalid(
        `certificate ${i + 1} of the CA bundle (${subject}) is not a CA certificate (basicConstraints CA:TRUE); ` +
          'import a signing certificate on its own with --public-key, and keep only CAs in the bundle',
      );
    }
    const notBefore = new Date(cert.validFrom);
    const notAfter = new Date(cert.validTo);
    if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime()))
      throw invalid(`certificate ${i + 1} of the CA bundle (${subject}) has an unreadable validity period`);
    if (notAfter.getTime() <= now.getTime())
      throw invalid(
        `certificate ${i + 1} of the CA bundle (${subject}) expired at ${notAfter.toISOString()}; remove it or import its renewal`,
      );
    if (certificates.some((c) => c.raw.equals(cert.raw))) throw invalid(`certificate ${i + 1} of the CA bundle (${subject}) appears twice`);
    // The rules every CA on a chain is held to when a signature is verified, said now rather than as a deny later.
    const problem = caProblem(cert, 0);
    if (problem !== undefined) throw invalid(`certificate ${i + 1} of the CA bundle (${subject}) ${problem}; it could anchor no signature`);
    certificates.push(cert);
  }
  if (blocks.at(-1)!.textAfter === true)
    throw invalid('unexpected text after the last certificate of the CA bundle; the file must hold PEM blocks only');
  const id = crypto
    .createHash('sha256')
    .update(Buffer.concat(certificates.map((c) => c.raw)))
    .digest('base64');
  return {
    certificates,
    pem: certificates.map((c) => c.toString()).join(''),
    id,
    facts: certificates.map((c) => ({
      subject: c.subject,
      issuer: c.issuer,
      serialNumber: c.serialNumber,
      notBefore: new Date(c.validFrom),
      notAfter: new Date(c.validTo),
      fingerprintSha256: crypto.createHash('sha256').update(c.raw).digest('hex'),
    })),
  };
}

/** The certificates of a stored bundle (already checked when imported). */
export function caBundleCertificates(pem: string): X509Certificate[] {
  return scanPem(pem)
    .filter((b) => b.type === 'CERTIFICATE' && b.body !== null)
    .map((b) => new X509Certificate(decodeBase64Strict(b.body!, true) ?? Buffer.alloc(0)));
}

function oneLine(dn: string): string {
  return dn.split('\n').join(', ').slice(0, 200);
}
