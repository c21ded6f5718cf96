/** in-toto and cosign wire constants (FORMATS.md §2; https://github.com/in-toto/attestation). */

/** DSSE payload type of an in-toto Statement. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** in-toto Statement v1 (what Countersign writes). */
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** Statement types accepted when reading (v0.1 is what older cosign versions wrote). */
export const IN_TOTO_STATEMENT_TYPES: ReadonlySet<string> = new Set([IN_TOTO_STATEMENT_V1, 'https://in-toto.io/Statement/v0.1']);
/** What `cosign sign` (v2.6+ new bundle format, v3 default) puts in its statement. */
export const COSIGN_SIGN_PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';
