/**
 * The signer identity of a keyless (Fulcio) certificate, in the form the policy matches: the OIDC
 * issuer, the subject (the certificate's SAN: URI, e-mail or Fulcio's otherName username) and the
 * Fulcio extensions that describe a CI run (cosign's --certificate-github-workflow-* flags).
 *
 * Read from the leaf certificate only after @sigstore/verify has verified the chain, so the values
 * are signed by a trusted Fulcio CA.
 */
import { type ASN1Obj, X509Certificate } from '@sigstore/core';
import { FULCIO, FULCIO_EXTENSIONS } from '../../formats/fulcio';
import type { SignerIdentity } from '../../policy/identity';

const OTHERNAME_USERNAME = `${FULCIO}.7`;
const ISSUER_V1 = `${FULCIO}.1`;
const ISSUER_V2 = `${FULCIO}.8`;

/** The extended key usage extension, id-kp-codeSigning and anyExtendedKeyUsage (RFC 5280 4.2.1.12). */
const EXT_KEY_USAGE = '2.5.29.37';
const CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';

/** GeneralName tags of the SAN values an identity is read from (RFC 5280 4.2.1.6). */
const SUBJECT_ALT_NAME = '2.5.29.17';
const SAN_OTHER_NAME = 0;
const SAN_RFC822_NAME = 1;
const SAN_URI = 6;

/**
 * Why a keyless leaf, its chain verified, still may not sign images, or undefined. Checked as
 * cosign and sigstore-go check it (Go's x509 verification), which @sigstore/verify does not:
 * - an extended key usage, when present, must allow code signing: a TLS server or client
 *   certificate from a CA of the trusted root is not a signing certificate;
 * - the SAN's e-mail and URI are IA5Strings (ASCII): Go refuses a certificate with other bytes
 *   there, and @sigstore/core's reading (Buffer ascii) clears their high bit, so bytes that are
 *   not the organization's URI would read as it;
 * - it is not a CA (basicConstraints CA:TRUE) and its key usage, when present, allows
 *   digitalSignature and not keyCertSign: a CA of the trusted root certifies signers, it does not
 *   sign images (Fulcio never issues such a leaf; the rule for CA-bundle leaves, x509-chain.ts,
 *   is the same).
 */
export function keylessLeafProblem(cert: X509Certificate): string | undefined {
  try {
    if (cert.extBasicConstraints?.isCA)
      return 'the certificate is a CA certificate (basicConstraints CA:TRUE); a CA certifies signers, it does not sign images';
    const ku = cert.extKeyUsage;
    if (ku && !ku.digitalSignature) return "the certificate's key usage lacks digitalSignature";
    if (ku?.keyCertSign) return "the certificate's key usage allows keyCertSign; a signing certificate must not";
  } catch {
    return 'the certificate has a malformed basic constraints or key usage extension';
  }
  try {
    const eku = cert.extension(EXT_KEY_USAGE);
    if (eku) {
      const usages = (eku.valueObj.subs[0]?.subs ?? []).map((s) => s.toOID());
      if (!usages.includes(CODE_SIGNING) && !usages.includes(ANY_EXTENDED_KEY_USAGE)) {
        return `the certificate's extended key usage (${usages.join(', ') || 'empty'}) does not allow code signing (${CODE_SIGNING})`;
      }
    }
  } catch {
    return 'the certificate has a malformed extended key usage extension';
  }
  for (const name of sanNames(cert)) {
    if ((name.tag === SAN_RFC822_NAME || name.tag === SAN_URI) && name.node.value.some((b) => b > 0x7f)) {
      return `the certificate's subject alternative name holds a ${name.tag === SAN_URI ? 'URI' : 'e-mail address'} that is not ASCII (IA5String): malformed`;
    }
  }
  return undefined;
}

/** The SAN's general names of the kinds read here (tag and node); none when there is no SAN or it does not parse. */
function sanNames(cert: X509Certificate): Array<{ tag: number; node: ASN1Obj }> {
  try {
    const san = cert.extension(SUBJECT_ALT_NAME);
    if (!san) return [];
    return (san.valueObj.subs[0]?.subs ?? []).flatMap((node) => {
      const tag = [SAN_OTHER_NAME, SAN_RFC822_NAME, SAN_URI].find((t) => node.tag.isContextSpecific(t));
      return tag === undefined ? [] : [{ tag, node }];
    });
  } catch {
    return [];
  }
}

/**
 * The subject: the first URI SAN, else the first e-mail, else Fulcio's username otherName (a
 * UTF8String). Read from the bytes as they are (latin1 for the IA5Strings, which
 * keylessLeafProblem requires to be ASCII), never through a decoding that changes them.
 */
function sanSubject(cert: X509Certificate): string {
  const names = sanNames(cert);
  for (const tag of [SAN_URI, SAN_RFC822_NAME]) {
    const found = names.find((n) => n.tag === tag);
    if (found) return found.node.value.toString('latin1');
  }
  for (const n of names) {
    if (n.tag !== SAN_OTHER_NAME) continue;
    try {
      if (n.node.subs[0]?.toOID() !== OTHERNAME_USERNAME) continue;
      const value = n.node.subs[1]?.subs[0]?.value;
      if (value) return new TextDecoder('utf-8', { fatal: true }).decode(value);
    } catch {
      // Not a UTF8String: no username.
    }
  }
  return '';
}

export function signerIdentity(cert: X509Certificate): SignerIdentity {
  const subject = sanSubject(cert);
  const issuer = extensionText(cert, ISSUER_V2, true) ?? extensionText(cert, ISSUER_V1, false);
  const extensions: Record<string, string> = {};
  for (const [name, { oid, der }] of Object.entries(FULCIO_EXTENSIONS)) {
    const value = extensionText(cert, oid, der);
    if (value !== undefined) extensions[name] = value;
  }
  return { ...(issuer !== undefined ? { issuer } : {}), subject, extensions };
}

function extensionText(cert: X509Certificate, oid: string, der: boolean): string | undefined {
  try {
    const ext = cert.extension(oid);
    if (!ext) return undefined;
    // v2 extensions wrap a DER UTF8String inside the extension's OCTET STRING; v1 ones do not.
    const bytes = der ? ext.valueObj.subs[0]?.value : ext.value;
    return bytes?.toString('utf8');
  } catch {
    // A malformed extension is simply absent: it can then never match a policy value.
    return undefined;
  }
}

/**
 * Why a bundle's certificate chain is unacceptable because of a root CA in it (undefined: fine).
 * The root must come from the trusted root, never from the bundle (protobuf-specs client policy;
 * sigstore-conformance `bundle-with-root-cert_fail`). Bundles written by sigstore clients in 2023
 * append the full chain, ending in the very root the trusted root holds: that one is tolerated
 * (it adds nothing, since only the trusted root's CAs are used), anything else is refused.
 */
export function rootInChainProblem(chain: readonly X509Certificate[], trustedCerts: readonly X509Certificate[]): string | undefined {
  for (let i = 1; i < chain.length; i++) {
    const c = chain[i]!;
    if (!(c.issuer.equals(c.subject) && safeVerify(c))) continue;
    if (i !== chain.length - 1) return 'bundle certificate chain contains a root CA before the end of the chain';
    if (!trustedCerts.some((t) => t.equals(c))) return 'bundle certificate chain contains a root CA that is not in the trusted root';
  }
  return undefined;
}

function safeVerify(c: X509Certificate): boolean {
  try {
    return c.verify();
  } catch {
    return false;
  }
}
