/**
 * One severity scale for every scanner format, so that a policy such as "no HIGH or above" means the
 * same thing whether the attestation came from Trivy, Grype, CycloneDX or the in-toto vulns predicate.
 */

export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'negligible' | 'unknown';

/**
 * Lowest to highest. `unknown` ranks lowest, as in Trivy (UNKNOWN < LOW) and Grype (where
 * `--fail-on` never triggers on Unknown): a policy threshold never matches an unrated finding by
 * accident. A policy that wants to refuse unrated findings must say so explicitly.
 */
export const SEVERITY_ORDER: readonly Severity[] = ['unknown', 'negligible', 'low', 'medium', 'high', 'critical'];

export function severityRank(severity: Severity): number {
  return SEVERITY_ORDER.indexOf(severity);
}

/** Negative when `a` is less severe than `b`; usable with `Array.prototype.sort`. */
export function compareSeverity(a: Severity, b: Severity): number {
  return severityRank(a) - severityRank(b);
}

/** True when `severity` is at or above `threshold` (e.g. `severityAtLeast('critical', 'high')`). */
export function severityAtLeast(severity: Severity, threshold: Severity): boolean {
  return severityRank(severity) >= severityRank(threshold);
}

/** The most severe of the findings' severities; undefined when there are no findings at all. */
export function maxSeverity(findings: ReadonlyArray<{ severity: Severity }>): Severity | undefined {
  let max: Severity | undefined;
  for (const f of findings) {
    if (max === undefined || severityRank(f.severity) > severityRank(max)) max = f.severity;
  }
  return max;
}

/**
 * Maps a scanner's severity word to the common scale. Trivy writes "MEDIUM", Grype "Medium",
 * CycloneDX "medium"; CycloneDX also has "info" and "none", which carry no risk and become
 * `negligible`. Anything unrecognised is `unknown`, never dropped.
 */
export function normalizeSeverity(raw: unknown): Severity {
  if (typeof raw !== 'string') return 'unknown';
  switch (raw.trim().toLowerCase()) {
    case 'critical':
      return 'critical';
    case 'high':
    case 'important': // Red Hat's word for high
      return 'high';
    case 'medium':
    case 'moderate': // Red Hat / GitHub advisories
      return 'medium';
    case 'low':
      return 'low';
    case 'negligible':
    case 'info':
    case 'informational':
    case 'none':
      return 'negligible';
    default:
      return 'unknown';
  }
}

/**
 * A CVSS base score as a severity, using the CVSS v3/v4 qualitative bands (FIRST CVSS v3.1 §5).
 * CVSS v2 has no "critical" band (NVD: 7.0–10.0 is High), hence the flag.
 */
export function severityFromCvssScore(score: number, cvssVersion2 = false): Severity {
  if (!Number.isFinite(score) || score < 0 || score > 10) return 'unknown';
  if (score === 0) return 'negligible';
  if (score < 4) return 'low';
  if (score < 7) return 'medium';
  if (cvssVersion2 || score < 9) return 'high';
  return 'critical';
}
