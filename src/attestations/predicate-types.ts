/**
 * In-toto predicate types Countersign knows about, and how CLI `--type` arguments map onto them.
 *
 * The shorthands follow `cosign attest --type` (FORMATS.md §2.5) so that a CI pipeline can switch
 * between cosign and Countersign without changing its arguments, and so that `cosign
 * verify-attestation --type X` finds what we stored.
 */
import { COSIGN_SIGN_PREDICATE_TYPE } from '../formats/in-toto';
import type { CountersignError } from '../shared/errors';
import { quoteUntrusted } from '../shared/untrusted-text';
import { invalid } from './json';

export const PREDICATE_TYPE = {
  /** SPDX SBOM as cosign writes it (unversioned). in-toto also defines `/v2.3` and `/v3`. */
  SPDX: 'https://spdx.dev/Document',
  /** CycloneDX BOM as cosign writes it (unversioned). in-toto examples use `/v1.4` etc. */
  CYCLONEDX: 'https://cyclonedx.org/bom',
  /** cosign vulnerability scan record (COSIGN_VULN_ATTESTATION_SPEC.md). */
  COSIGN_VULN: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  /** in-toto vulnerability predicate; versions v0.1 and v0.2 are appended as `/v0.1`, `/v0.2`. */
  INTOTO_VULNS: 'https://in-toto.io/attestation/vulns',
  INTOTO_VULNS_V01: 'https://in-toto.io/attestation/vulns/v0.1',
  INTOTO_VULNS_V02: 'https://in-toto.io/attestation/vulns/v0.2',
  /** The statement cosign v2.6+/v3 signs for `cosign sign` in the new bundle format; predicate `{}`. */
  COSIGN_SIGN: COSIGN_SIGN_PREDICATE_TYPE,
  /** cosign "custom" predicate: `{"Data": string, "Timestamp": RFC 3339}`. */
  COSIGN_CUSTOM: 'https://cosign.sigstore.dev/attestation/v1',
  SLSA_PROVENANCE_V02: 'https://slsa.dev/provenance/v0.2',
  SLSA_PROVENANCE_V1: 'https://slsa.dev/provenance/v1',
  OPENVEX: 'https://openvex.dev/ns',
  /** in-toto link (cosign `--type link`). */
  INTOTO_LINK: 'https://in-toto.io/Link/v1',
} as const;

/**
 * `--type` shorthands, as cosign spells them. `spdx` and `spdxjson` both mean SPDX here: cosign's
 * `spdx` embeds the file as a JSON *string* (a legacy quirk), but Countersign always stores the
 * parsed JSON object, which is what every current SBOM consumer expects.
 */
const SHORTHANDS: Readonly<Record<string, string>> = {
  spdx: PREDICATE_TYPE.SPDX,
  spdxjson: PREDICATE_TYPE.SPDX,
  cyclonedx: PREDICATE_TYPE.CYCLONEDX,
  vuln: PREDICATE_TYPE.COSIGN_VULN,
  slsaprovenance: PREDICATE_TYPE.SLSA_PROVENANCE_V02,
  slsaprovenance02: PREDICATE_TYPE.SLSA_PROVENANCE_V02,
  slsaprovenance1: PREDICATE_TYPE.SLSA_PROVENANCE_V1,
  openvex: PREDICATE_TYPE.OPENVEX,
  custom: PREDICATE_TYPE.COSIGN_CUSTOM,
  link: PREDICATE_TYPE.INTOTO_LINK,
};

/** The shorthands accepted by {@link resolvePredicateType}, for help texts and error messages. */
export const PREDICATE_TYPE_SHORTHANDS: readonly string[] = Object.keys(SHORTHANDS);

/** Predicate types are stored in annotations and compared as strings; keep them bounded. */
const MAX_PREDICATE_TYPE_LENGTH = 2048;

/**
 * A URI is printable ASCII (RFC 3986: anything else is percent-encoded). A predicate type is
 * signed, stored in the referrer's annotations and shown back by Verify and in logs, and compared
 * byte for byte: a control character, escape sequence, bidi override or look-alike letter in it
 * would be signed and echoed raw (new URL() does not refuse them: it percent-encodes them).
 */
const PRINTABLE_ASCII = /^[\x21-\x7e]*$/;

/**
 * scheme "://" authority, then an optional path/query/fragment, no whitespace. Requiring an
 * authority is stricter than RFC 3986 (which also allows `urn:…`) on purpose: it refuses
 * `cosign.sigstore.dev/attestation/vuln/v1`, a mistake that makes a vuln attestation invisible
 * to every policy that looks for the real URI (cosign's `malformed/vuln` test vector).
 */
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/?#]+(?:[/?#]\S*)?$/;

/** Maps a CLI `--type` value (shorthand or absolute URI) to the predicateType URI to store. */
export function resolvePredicateType(typeArg: string): string {
  if (typeof typeArg !== 'string' || typeArg.trim() === '') {
    throw invalid(
      `predicate type is required: use one of ${PREDICATE_TYPE_SHORTHANDS.join(', ')} ` +
        `or an absolute URI such as ${PREDICATE_TYPE.COSIGN_VULN}`,
    );
  }
  const arg = typeArg.trim();
  // Own properties only: "constructor" or "__proto__" must not resolve to something inherited.
  const key = arg.toLowerCase();
  if (Object.hasOwn(SHORTHANDS, key)) return SHORTHANDS[key]!;
  if (arg.length > MAX_PREDICATE_TYPE_LENGTH) {
    throw invalid(`predicate type is ${arg.length} characters long; at most ${MAX_PREDICATE_TYPE_LENGTH} are allowed`);
  }
  if (!PRINTABLE_ASCII.test(arg)) throw notPrintable(arg);
  if (!ABSOLUTE_URI.test(arg) || !parsesAsUrl(arg)) {
    const hint = /^[^\s:/]+\.[^\s:/]+\//.test(arg) ? ` (did you mean "https://${arg}"?)` : '';
    throw invalid(
      `predicate type "${arg}" is neither a known shorthand (${PREDICATE_TYPE_SHORTHANDS.join(', ')}) ` +
        `nor an absolute URI with a scheme and host, e.g. ${PREDICATE_TYPE.COSIGN_VULN}${hint}`,
      { predicateType: arg },
    );
  }
  return arg;
}

/** The refusal of a predicate type holding a character other than printable ASCII: which one, and where. */
function notPrintable(arg: string): CountersignError {
  let at = 0;
  let code = 0;
  for (const c of arg) {
    at++;
    code = c.codePointAt(0)!;
    if (code < 0x21 || code > 0x7e) break;
  }
  const what = code <= 0x20 || code === 0x7f ? 'a control character or blank' : 'a character that is not ASCII';
  return invalid(
    `predicate type ${quoteUntrusted(arg)} holds ${what} (U+${code.toString(16).toUpperCase().padStart(4, '0')}) at character ${at}: ` +
      `use one of ${PREDICATE_TYPE_SHORTHANDS.join(', ')} or an absolute URI such as ${PREDICATE_TYPE.COSIGN_VULN}, ` +
      'in printable ASCII only (percent-encode anything else, e.g. %20 for a space): a predicate type is signed and compared byte for byte',
    { field: 'predicate_type', position: at },
  );
}

function parsesAsUrl(value: string): boolean {
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

export type PredicateKind = 'spdx' | 'cyclonedx' | 'cosign-vuln' | 'intoto-vulns' | 'cosign-sign' | 'other';

/**
 * Which family a predicateType URI belongs to. Matching is by exact string, or for the families
 * that version their URI, by `<base>/v<digits>[.<digits>…]`. A plain `startsWith(base)` would be
 * wrong: `https://cyclonedx.org/bomb` is not CycloneDX. No case folding or normalisation either,
 * because cosign and policy engines compare predicate types byte for byte.
 */
export function classifyPredicateType(uri: string): PredicateKind {
  if (matchesVersioned(uri, PREDICATE_TYPE.SPDX)) return 'spdx';
  if (matchesVersioned(uri, PREDICATE_TYPE.CYCLONEDX)) return 'cyclonedx';
  if (uri === PREDICATE_TYPE.COSIGN_VULN) return 'cosign-vuln';
  if (matchesVersioned(uri, PREDICATE_TYPE.INTOTO_VULNS)) return 'intoto-vulns';
  if (uri === PREDICATE_TYPE.COSIGN_SIGN) return 'cosign-sign';
  return 'other';
}

/**
 * The version a versioned URI carries (`https://cyclonedx.org/bom/v1.5` → "1.5"), or undefined
 * for the unversioned base or a URI outside `base`.
 */
export function predicateTypeVersion(uri: string, base: string): string | undefined {
  if (!uri.startsWith(`${base}/v`)) return undefined;
  const version = uri.slice(base.length + 2);
  return /^\d+(?:\.\d+)*$/.test(version) ? version : undefined;
}

function matchesVersioned(uri: string, base: string): boolean {
  return uri === base || predicateTypeVersion(uri, base) !== undefined;
}
