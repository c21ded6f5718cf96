/**
 * Keyless signer identities as the policy sees them, and the matchers a policy names them with.
 * Verification fills SignerIdentity from a verified Fulcio certificate
 * (src/verification/sigstore/identity.ts).
 */

export interface SignerIdentity {
  /** OIDC issuer (Fulcio extension 1.3.6.1.4.1.57264.1.8, or the deprecated .1.1). */
  issuer?: string;
  /** The certificate's subject alternative name: a URI, an e-mail address or an otherName username. */
  subject: string;
  /** Further Fulcio extensions present in the certificate, by name (see FULCIO_EXTENSIONS). */
  extensions: Record<string, string>;
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
