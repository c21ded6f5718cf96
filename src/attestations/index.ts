/**
 * Attestation predicates: which types exist, how a CI user's file becomes a predicate we are willing
 * to sign, and how a verified predicate is read back (vulnerability findings, SBOM packages).
 */
export {
  PREDICATE_TYPE,
  PREDICATE_TYPE_SHORTHANDS,
  classifyPredicateType,
  predicateTypeVersion,
  resolvePredicateType,
  type PredicateKind,
} from './predicate-types';
export { DEFAULT_MAX_PREDICATE_BYTES, MAX_SCAN_TIME_SKEW_MS, preparePredicate, type PrepareInput, type PreparedPredicate } from './prepare';
export { extractVulnerabilities, type VulnerabilityFinding, type VulnerabilityFormat, type VulnerabilityReport } from './vulnerabilities';
export {
  SEVERITY_ORDER,
  compareSeverity,
  maxSeverity,
  normalizeSeverity,
  severityAtLeast,
  severityFromCvssScore,
  severityRank,
  type Severity,
} from './severity';
export { sbomPackages, type SbomPackage } from './sbom';
export { parseRfc3339 } from './time';
