/**
 * The signer identity of a keyless (Fulcio) certificate, in the form the policy matches: the OIDC
 * issuer, the subject (the certificate's SAN: URI, e-mail or Fulcio's otherName username) and the
 * Fulcio extensions that describe a CI run (cosign's --certificate-github-workflow-* flags).
 *
 * Read from the leaf certificate only after @sigstore/verify has verified the chain, so the values
 * are signed by a trusted Fulcio CA.
 */
import { X509Certificate } from '@sigstore/core';
import { FULCIO, FULCIO_EXTENSIONS } from '../../formats/fulcio';
import type { SignerIdentity } from '../../policy/identity';

const OTHERNAME_USERNAME = `${FULCIO}.7`;
const ISSUER_V1 = `${FULCIO}.1`;
const ISSUER_V2 = `${FULCIO}.8`;

export function signerIdentity(cert: X509Certificate): SignerIdentity {
  const san = cert.extSubjectAltName;
  const subject = san?.uri ?? san?.rfc822Name ?? san?.otherName(OTHERNAME_USERNAME) ?? '';
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
