/**
 * The typed policy model: what a validated policy document turns into. The loader (load.ts) is the
 * only producer; the evaluator (evaluate.ts) the only consumer. Everything here is already checked
 * and normalized (durations in milliseconds, dates as Date, defaults filled in), so that evaluation
 * never has to re-validate and never meets a half-valid policy.
 *
 * The document syntax is described in docs/policy.md and docs/policy.schema.json.
 */
import type { Severity } from '../attestations';
import type { IdentityMatcher } from './identity';
import type { Action } from './input';
import type { NotationTrust } from './notation-trust';

/**
 * enforce: a failed requirement denies. warn: allow, and return the failures as warnings (for
 * rolling a new rule out). audit: allow, and only record the failures in the decision.
 */
export type Mode = 'enforce' | 'warn' | 'audit';

/** What to do when no rule matches, or when evidence could not be collected. */
export type Verdict = 'allow' | 'deny';

/**
 * Which manifest of a multi-arch image must carry the evidence: the index itself, every platform
 * manifest, or either of the two (the index, or else every platform). Ignored for single-manifest
 * images.
 */
export type MultiArch = 'index' | 'platforms' | 'either';

export type SbomFormat = 'spdx' | 'cyclonedx';

/** The report formats a vulnerability scan may carry (see `extractVulnerabilities`). */
export type ScanFormat = 'trivy' | 'grype' | 'cyclonedx' | 'intoto-vulns';

/** Severities a policy may name as a maximum; `unknown` is not one (unrated findings always pass). */
export type PolicySeverity = Exclude<Severity, 'unknown'>;

export interface Defaults {
  mode: Mode;
  onUnmatched: Verdict;
  onError: Verdict;
  multiArch: MultiArch;
}

/** Which requests a rule (or a top-level exception) applies to; every given list must match. */
export interface MatchSpec {
  /** Image patterns (see match.ts); absent = any image. */
  images?: string[];
  /** Namespace globs (`payments*`); absent = any namespace, including none. */
  namespaces?: string[];
  /** Absent = every action. */
  actions?: Action[];
}

/**
 * A keyless signer the policy accepts (cosign's --certificate-identity(-regexp) /
 * --certificate-oidc-issuer(-regexp), plus Fulcio extensions such as githubWorkflowRepository).
 * Regular expressions are compiled at load; `text` names the entry in messages.
 */
export interface IdentityRequirement extends IdentityMatcher {
  text: string;
}

export interface SignatureRequirement {
  /**
   * Trusted key names or ids. Absent = any trusted key, unless `identities` is given (then only
   * those keyless signers count, no key).
   */
  keys?: string[];
  /** Keyless signers that count; absent = none (a certificate from a trusted CA alone says nothing about who). */
  identities?: IdentityRequirement[];
  /**
   * Notary Project trust policy (trust store of CA certificates, trusted identities, verification
   * level): Notation signatures it accepts count as signers, one per subject DN and issuer. Absent =
   * Notation signatures never count. Naming it (like `identities`) means only the listed kinds of
   * signer count: no key unless `keys` is given.
   */
  notation?: NotationTrust;
  /** Number of distinct signers (keys, keyless identities, Notation signers) that must have signed; default 1. */
  minimum: number;
  /** A signature counts only with at least this many verified transparency-log entries. */
  transparencyLog?: { minimum: number };
  /** A signature counts only with at least this many verified timestamps (Rekor SETs, RFC 3161). */
  timestamps?: { minimum: number };
}

export type VersionOperator = '<' | '<=' | '>' | '>=' | '=';

export interface VersionConstraint {
  op: VersionOperator;
  version: string;
}

export interface DeniedPackage {
  /** Package name (case-insensitive; `*` glob allowed), compared with the SBOM name and purl name. */
  name: string;
  /** The range as written, e.g. "< 2.17.1"; absent = every version. */
  versions?: string;
  /** The parsed range: all constraints must hold (AND). Empty = every version. */
  constraints: VersionConstraint[];
}

export interface SbomRequirement {
  formats: SbomFormat[];
  /** Restricts which trusted keys may have signed the SBOM; absent = any trusted key (unless identities is given). */
  keys?: string[];
  /** Keyless signers whose SBOMs count; absent = none. */
  identities?: IdentityRequirement[];
  deniedPackages: DeniedPackage[];
  /** SPDX license ids (case-insensitive; `*` glob allowed). */
  deniedLicenses: string[];
}

export interface VulnerabilityException {
  /** CVE, GHSA, … id; also matches a finding whose aliases include it. */
  id: string;
  /** The first moment at which the exception no longer applies. */
  expires: Date;
  /** As written in the policy ("2027-01-31"), for messages. */
  expiresText: string;
  reason: string;
  approvedBy: string;
}

export interface VulnerabilityRequirement {
  /** The highest severity allowed; absent = any severity (only presence and age are checked). */
  maxSeverity?: PolicySeverity;
  /** Maximum scan age in milliseconds. */
  maxAgeMs?: number;
  /** As written ("72h"), for messages. */
  maxAgeText?: string;
  exceptions: VulnerabilityException[];
  formats: ScanFormat[];
  keys?: string[];
  /** Keyless signers whose scans count; absent = none. */
  identities?: IdentityRequirement[];
}

/** Any other predicate type that must be attested (SLSA provenance, OpenVEX, …). */
export interface AttestationRequirement {
  /** Absolute predicate type URI (shorthands such as `slsaprovenance1` are resolved at load). */
  predicateType: string;
  keys?: string[];
  /** Keyless signers whose attestations count (as in SignatureRequirement); absent = none. */
  identities?: IdentityRequirement[];
}

export interface Requirements {
  signatures?: SignatureRequirement;
  sbom?: SbomRequirement;
  vulnerabilities?: VulnerabilityRequirement;
  attestations?: AttestationRequirement[];
}

/**
 * Constraints on writing a tag (action push), checked before any evidence: who may push, what a
 * tag may be called, and which tags never move once written. The registry gate sends the tag's
 * current target and the operation as context labels (see PUSH_LABELS).
 */
export interface PushRules {
  /** Tag globs (`*` = any characters) whose target never changes once set; they cannot be deleted either. */
  immutableTags?: string[];
  /** Tags written must match this regular expression in full. */
  tagPattern?: { source: string; regex: RegExp };
  /** Identity globs (`*` = any characters) allowed to push; absent = anyone the registry lets in. */
  identities?: string[];
}

export interface Rule {
  name: string;
  description?: string;
  /** Absent = the rule matches every request. */
  match?: MatchSpec;
  /** Exactly one of require / deny / allow is set. */
  require?: Requirements;
  /** Deny every matching request with this message. */
  deny?: string;
  /** Allow every matching request without evidence; the text says why (recorded in the decision). */
  allow?: string;
  /** Push-side constraints (immutable tags, tag naming, who may push); only applied to pushes. */
  push?: PushRules;
  /**
   * Other repositories whose evidence for the same digest counts (promotion of an image signed in
   * staging): `host/path/{name}`, where `{name}` is the last path component of the image's
   * repository, or a literal repository.
   */
  evidenceFrom?: string[];
  /** Per-rule overrides of the defaults. */
  mode?: Mode;
  onError?: Verdict;
  multiArch?: MultiArch;
  /** Where the rule starts in the policy file (1-based), for messages; absent for built-in policies. */
  line?: number;
}

/** A top-level, time-limited waiver: matching requests are allowed without evidence. */
export interface PolicyException {
  images: string[];
  namespaces?: string[];
  actions?: Action[];
  expires: Date;
  expiresText: string;
  reason: string;
  approvedBy: string;
}

export interface Policy {
  /** Content id: the first 12 hex digits of sha256 over the normalized document; 'default' for DEFAULT_POLICY. */
  revision: string;
  /** Where it came from (file path, or '(built-in default)'). */
  source: string;
  description?: string;
  defaults: Defaults;
  /** In document order; the first matching rule decides. */
  rules: Rule[];
  exceptions: PolicyException[];
}
