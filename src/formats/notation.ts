/**
 * Notary Project wire constants (notaryproject/specifications signature-specification.md,
 * signature-envelope-jws.md): the signature referrer's artifact type, the envelope and payload
 * media types, and the signing schemes.
 */

/** A Notary signature referrer's artifactType (or, in the OCI 1.0 form, its config.mediaType). */
export const NOTATION_ARTIFACT = 'application/vnd.cncf.notary.signature';
export const JWS_MEDIA_TYPE = 'application/jose+json';
export const COSE_MEDIA_TYPE = 'application/cose';
export const NOTARY_PAYLOAD_TYPE = 'application/vnd.cncf.notary.payload.v1+json';
export const SIGNING_SCHEMES = ['notary.x509', 'notary.x509.signingAuthority'] as const;
export type SigningScheme = (typeof SIGNING_SCHEMES)[number];
export function isSigningScheme(value: unknown): value is SigningScheme {
  return typeof value === 'string' && (SIGNING_SCHEMES as readonly string[]).includes(value);
}
/**
 * The largest Notary envelope read (JWS or COSE): a few certificates (at most 10) and a timestamp
 * token (at most 64 KiB) are far below it. A layer declared larger is refused unread, and no layer
 * is read past it whatever its descriptor says, so junk signatures cannot eat the collection budget.
 */
export const MAX_NOTATION_ENVELOPE_BYTES = 256 * 1024;
