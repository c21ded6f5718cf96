/**
 * The signer identity of a keyless (Fulcio) certificate, in the form the policy matches: the OIDC
 * issuer, the subject (the certificate's SAN: URI, e-mail or Fulcio's otherName username) and the
 * Fulcio extensions that describe a CI run (cosign's --certificate-github-workflow-* flags).
 *
 * Read from the leaf certificate only after @sigstore/verify has verified the chain, so the values
 * are signed by a trusted Fulcio CA.
 */
import { X509Certificate } from '@sigstore/core';

export interface SignerIdentity {
  /** OIDC issuer (Fulcio extension 1.3.6.1.4.1.57264.1.8, or the deprecated .1.1). */
  issuer?: string;
  /** The certificate's subject alternative name: a URI, an e-mail address or an otherName username. */
  subject: string;
  /** Further Fulcio extensions present in the certificate, by name (see FULCIO_EXTENSIONS). */
  extensions: Record<string, string>;
}

const FULCIO = '1.3.6.1.4.1.57264.1';
const OTHERNAME_USERNAME = `${FULCIO}.7`;
const ISSUER_V1 = `${FULCIO}.1`;
const ISSUER_V2 = `${FULCIO}.8`;

/**
 * Fulcio extensions by policy name. The first five are the deprecated v1 GitHub extensions (raw
 * strings), which cosign's --certificate-github-workflow-* flags match; the rest are the v2
 * extensions (DER UTF8String), which apply to every CI provider.
 */
export const FULCIO_EXTENSIONS: Record<string, { oid: string; der: boolean }> = {
  githubWorkflowTrigger: { oid: `${FULCIO}.2`, der: false },
  githubWorkflowSha: { oid: `${FULCIO}.3`, der: false },
  githubWorkflowName: { oid: `${FULCIO}.4`, der: false },
  githubWorkflowRepository: { oid: `${FULCIO}.5`, der: false },
  githubWorkflowRef: { oid: `${FULCIO}.6`, der: false },
  buildSignerUri: { oid: `${FULCIO}.9`, der: true },
  buildSignerDigest: { oid: `${FULCIO}.10`, der: true },
  runnerEnvironment: { oid: `${FULCIO}.11`, der: true },
  sourceRepositoryUri: { oid: `${FULCIO}.12`, der: true },
  sourceRepositoryDigest: { oid: `${FULCIO}.13`, der: true },
  sourceRepositoryRef: { oid: `${FULCIO}.14`, der: true },
  sourceRepositoryIdentifier: { oid: `${FULCIO}.15`, der: true },
  sourceRepositoryOwnerUri: { oid: `${FULCIO}.16`, der: true },
  sourceRepositoryOwnerIdentifier: { oid: `${FULCIO}.17`, der: true },
  buildConfigUri: { oid: `${FULCIO}.18`, der: true },
  buildConfigDigest: { oid: `${FULCIO}.19`, der: true },
  buildTrigger: { oid: `${FULCIO}.20`, der: true },
  runInvocationUri: { oid: `${FULCIO}.21`, der: true },
  sourceRepositoryVisibilityAtSigning: { oid: `${FULCIO}.22`, der: true },
};

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

/**
 * Which keyless signers are acceptable: cosign's --certificate-identity(-regexp) and
 * --certificate-oidc-issuer(-regexp), plus exact values of further Fulcio extensions. Exact values
 * compare whole strings; regular expressions follow cosign (Go's MatchString: unanchored, so write
 * `^…$` to anchor). Every given field must match.
 */
export interface IdentityMatcher {
  issuer?: string;
  issuerRegExp?: RegExp;
  subject?: string;
  subjectRegExp?: RegExp;
  extensions?: Record<string, string>;
}

export function identityMatches(m: IdentityMatcher, id: SignerIdentity): boolean {
  if (m.issuer !== undefined && id.issuer !== m.issuer) return false;
  if (m.issuerRegExp !== undefined && (id.issuer === undefined || !m.issuerRegExp.test(id.issuer))) return false;
  if (m.subject !== undefined && id.subject !== m.subject) return false;
  if (m.subjectRegExp !== undefined && !m.subjectRegExp.test(id.subject)) return false;
  for (const [name, value] of Object.entries(m.extensions ?? {})) if (id.extensions[name] !== value) return false;
  return true;
}

/** "issuer https://…, subject …" — how an identity is named in messages. */
export function describeIdentity(id: SignerIdentity): string {
  return `${id.subject || '(no subject)'} (issuer ${id.issuer ?? 'unknown'})`;
}

export function describeMatcher(m: IdentityMatcher): string {
  const parts: string[] = [];
  if (m.subject !== undefined) parts.push(`subject ${m.subject}`);
  if (m.subjectRegExp !== undefined) parts.push(`subject ~ /${m.subjectRegExp.source}/`);
  if (m.issuer !== undefined) parts.push(`issuer ${m.issuer}`);
  if (m.issuerRegExp !== undefined) parts.push(`issuer ~ /${m.issuerRegExp.source}/`);
  for (const [k, v] of Object.entries(m.extensions ?? {})) parts.push(`${k} ${v}`);
  return parts.join(', ') || 'any identity';
}
