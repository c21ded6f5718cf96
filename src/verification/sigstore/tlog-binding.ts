/**
 * Whether each transparency-log entry of a keyless bundle is about the certificate that signed.
 *
 * @sigstore/verify checks that a log entry's body holds the bundle's signature and digest, not
 * that it names the bundle's certificate. cosign (VerifyBundle → comparePublicKey) and
 * sigstore-go ("transparency log certificate does not match") refuse an entry about another
 * certificate: the entry is what dates the certificate's short validity window, so it must be
 * an entry about that certificate, not one a different certificate (the attacker's, with the
 * same key) was logged under.
 *
 * The bodies, by kind and version (Rekor's canonical JSON, base64 in the bundle):
 * - hashedrekord 0.0.1: `spec.signature.publicKey.content`, base64 of the PEM certificate;
 * - dsse 0.0.1: `spec.signatures[].verifier`, base64 of the PEM certificate;
 * - intoto 0.0.2: `spec.content.envelope.signatures[].publicKey`, base64 of the PEM certificate;
 * - Rekor v2 (hashedrekord/dsse 0.0.2): `spec.hashedRekordV002.signature.verifier` or
 *   `spec.dsseV002.signatures[].verifier`, with `x509Certificate.rawBytes` (base64 DER).
 */
import { pemCertificates } from '../../formats/pem';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const at = (v: unknown, ...path: string[]): unknown => path.reduce<unknown>((o, k) => (isObject(o) ? o[k] : undefined), v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The DER of the certificate a base64-of-PEM field names, or undefined. */
function pemField(value: unknown): Buffer | undefined {
  if (typeof value !== 'string') return undefined;
  return pemCertificates(Buffer.from(value, 'base64').toString('utf8'))[0];
}

/** The DER of the certificate a Rekor v2 verifier names, or undefined (a bare public key names none). */
function v2Verifier(verifier: unknown): Buffer | undefined {
  const raw = at(verifier, 'x509Certificate', 'rawBytes');
  return typeof raw === 'string' ? Buffer.from(raw, 'base64') : undefined;
}

/** The certificates a log entry body names as the signer's. */
function namedCertificates(body: unknown): Buffer[] {
  const spec = at(body, 'spec');
  const found: Array<Buffer | undefined> = [
    pemField(at(spec, 'signature', 'publicKey', 'content')),
    ...list(at(spec, 'signatures')).map((s) => pemField(at(s, 'verifier'))),
    ...list(at(spec, 'content', 'envelope', 'signatures')).map((s) => pemField(at(s, 'publicKey'))),
    v2Verifier(at(spec, 'hashedRekordV002', 'signature', 'verifier')),
    ...list(at(spec, 'dsseV002', 'signatures')).map((s) => v2Verifier(at(s, 'verifier'))),
  ];
  return found.filter((d): d is Buffer => d !== undefined);
}

/**
 * Why a log entry of `bodies` (each entry's canonicalized body) is not about the certificate
 * `leafDer`, or undefined when every entry names it.
 */
export function tlogCertificateMismatch(bodies: readonly Buffer[], leafDer: Buffer): string | undefined {
  for (const [i, bytes] of bodies.entries()) {
    let body: unknown;
    try {
      body = JSON.parse(bytes.toString('utf8'));
    } catch {
      return `transparency log entry ${i} has a body that is not JSON`;
    }
    const named = namedCertificates(body);
    if (named.length === 0) return `transparency log entry ${i} names no signing certificate, so it cannot be about this one`;
    if (!named.some((der) => der.equals(leafDer))) {
      return `transparency log entry ${i} is about another certificate than the one that signed (the log entry must date this certificate)`;
    }
  }
  return undefined;
}
