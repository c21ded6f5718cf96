/**
 * Reads the vulnerability findings out of a (verified) attestation predicate, whatever scanner
 * format it carries, so that the verification policy can apply one rule ("no CRITICAL",
 * "scan not older than 7 days") to all of them.
 *
 * Fail-closed: a structure that should hold findings but is malformed (e.g. `Results` is a string)
 * throws instead of yielding "no findings", because "no findings" would let an image through.
 */
import { field, invalid, isObject, nonEmptyString, type JsonObject } from './json';
import { classifyPredicateType } from './predicate-types';
import { describeJsonType, parsePredicateObject } from './predicate-object';
import { isCycloneDx, isGrypeReport, isTrivyReport } from './sniff';
import { normalizeSeverity, severityFromCvssScore, severityRank, type Severity } from './severity';
import { isGoZeroTime, parseRfc3339 } from './time';

export interface VulnerabilityFinding {
  /** The scanner's identifier: a CVE, GHSA, … as reported. */
  id: string;
  severity: Severity;
  package?: string;
  version?: string;
  /** Comma-separated when the scanner lists several fixed versions (Grype does, per release line). */
  fixedVersion?: string;
  /** Other identifiers of the same issue (Grype `relatedVulnerabilities`, CycloneDX `references`). */
  aliases?: string[];
}

/** Which format the findings were read from; `empty` means the predicate carried no result at all. */
export type VulnerabilityFormat = 'trivy' | 'grype' | 'cyclonedx' | 'intoto-vulns' | 'empty';

export interface VulnerabilityReport {
  /** The scanner's identity: the predicate's `scanner.uri` when set, otherwise the tool named in the report. */
  scanner: string;
  /**
   * When the scan ran. For cosign-vuln and in-toto vulns predicates this is `metadata.scanStartedOn`
   * (the earlier of the two times, the conservative choice for a maximum-age check); for CycloneDX
   * `metadata.timestamp`. Undefined when the predicate has no parseable time: callers enforcing a
   * maximum age must treat that as too old.
   */
  scannedAt?: Date;
  format: VulnerabilityFormat;
  /** One entry per (vulnerability, affected package), in report order. */
  findings: VulnerabilityFinding[];
}

export function extractVulnerabilities(predicateType: string, predicate: unknown): VulnerabilityReport {
  const doc = parsePredicateObject(predicate);
  switch (classifyPredicateType(predicateType)) {
    case 'cosign-vuln':
      return fromCosignVuln(doc);
    case 'intoto-vulns':
      return fromIntotoVulns(doc);
    case 'cyclonedx': {
      const tool = cycloneDxToolName(doc);
      const scannedAt = parseRfc3339(field(doc, 'metadata', 'timestamp'));
      return {
        scanner: tool ?? 'unknown',
        ...(scannedAt ? { scannedAt } : {}),
        format: 'cyclonedx',
        findings: cycloneDxFindings(doc),
      };
    }
    default:
      throw invalid(
        `predicate type ${predicateType} carries no vulnerability data; expected a cosign vuln ` +
          `(https://cosign.sigstore.dev/attestation/vuln/v1), in-toto vulns or CycloneDX predicate`,
      );
  }
}

function fromCosignVuln(doc: JsonObject): VulnerabilityReport {
  const result = field(doc, 'scanner', 'result');
  const scannedAt = scanTime(doc);
  const declared = nonEmptyString(field(doc, 'scanner', 'uri'));
  const base = { ...(scannedAt ? { scannedAt } : {}) };
  if (result === undefined || result === null || (isObject(result) && Object.keys(result).length === 0)) {
    // cosign's own sample predicates carry `"result": null`: nothing was reported.
    return { scanner: declared ?? 'unknown', ...base, format: 'empty', findings: [] };
  }
  if (!isObject(result)) {
    throw invalid(`cosign vuln predicate: scanner.result must be an object (the scanner's report), not ${describeJsonType(result)}`);
  }
  const shapes = [isTrivyReport(result), isGrypeReport(result), isCycloneDx(result)].filter(Boolean).length;
  if (shapes > 1) {
    // Read as one, its findings in the other's fields would go unseen.
    throw invalid(
      'cosign vuln predicate: scanner.result has the shape of more than one report format (Trivy, Grype, CycloneDX), so which findings count is ambiguous',
    );
  }
  if (isTrivyReport(result)) {
    return { scanner: declared ?? 'trivy', ...base, format: 'trivy', findings: trivyFindings(result) };
  }
  if (isGrypeReport(result)) {
    return { scanner: declared ?? 'grype', ...base, format: 'grype', findings: grypeFindings(result) };
  }
  if (isCycloneDx(result)) {
    return {
      scanner: declared ?? cycloneDxToolName(result) ?? 'unknown',
      ...base,
      format: 'cyclonedx',
      findings: cycloneDxFindings(result),
    };
  }
  throw invalid(
    'cosign vuln predicate: scanner.result is not a Trivy JSON report, a Grype JSON report or a CycloneDX BOM, ' +
      'so its findings cannot be evaluated',
  );
}

function fromIntotoVulns(doc: JsonObject): VulnerabilityReport {
  const scannedAt = scanTime(doc);
  const scanner = nonEmptyString(field(doc, 'scanner', 'uri')) ?? 'unknown';
  const result = field(doc, 'scanner', 'result');
  // The spec requires the list; without one nothing was reported (an empty list is a clean scan).
  if (result === undefined || result === null) return { scanner, ...(scannedAt ? { scannedAt } : {}), format: 'empty', findings: [] };
  const entries = arrayAt(result, 'scanner.result');
  const findings = entries.map((entry, i): VulnerabilityFinding => {
    const where = `scanner.result[${i}]`;
    if (!isObject(entry)) throw invalid(`in-toto vulns predicate: ${where} is not an object`);
    // v0.2 puts id/severity on the entry; v0.1 nests them under `vulnerability`.
    const vuln = isObject(entry.vulnerability) ? entry.vulnerability : entry;
    const ratings = arrayAt(vuln.severity, `${where}.severity`);
    let severity: Severity = 'unknown';
    for (const rating of ratings) {
      if (!isObject(rating)) continue;
      severity = higher(severity, severityFromScore(rating.method, rating.score));
    }
    return { id: idOf(vuln.id), severity };
  });
  return {
    scanner,
    ...(scannedAt ? { scannedAt } : {}),
    format: 'intoto-vulns',
    findings,
  };
}

/** Trivy JSON: `Results[].Vulnerabilities[]` with upper-case `Severity`. */
export function trivyFindings(report: JsonObject): VulnerabilityFinding[] {
  const findings: VulnerabilityFinding[] = [];
  arrayAt(report.Results, 'Results').forEach((result, r) => {
    if (!isObject(result)) throw invalid(`Trivy report: Results[${r}] is not an object`);
    arrayAt(result.Vulnerabilities, `Results[${r}].Vulnerabilities`).forEach((v, i) => {
      if (!isObject(v)) throw invalid(`Trivy report: Results[${r}].Vulnerabilities[${i}] is not an object`);
      findings.push(
        compact({
          id: idOf(v.VulnerabilityID),
          severity: normalizeSeverity(v.Severity),
          package: nonEmptyString(v.PkgName),
          version: nonEmptyString(v.InstalledVersion),
          fixedVersion: nonEmptyString(v.FixedVersion),
        }),
      );
    });
  });
  return findings;
}

/**
 * Grype JSON: `matches[]`. The severity is the match's own (`vulnerability.severity`, from the
 * distro or ecosystem feed that matched, which is also what `grype --fail-on` uses); related
 * records (usually NVD) only fill in when that is Unknown. Their ids become aliases, so a policy
 * that names a CVE also catches a GHSA match for it.
 */
export function grypeFindings(report: JsonObject): VulnerabilityFinding[] {
  return arrayAt(report.matches, 'matches').map((match, i) => {
    if (!isObject(match) || !isObject(match.vulnerability)) {
      throw invalid(`Grype report: matches[${i}] has no vulnerability object`);
    }
    const vuln = match.vulnerability;
    const id = idOf(vuln.id);
    let severity = normalizeSeverity(vuln.severity);
    const aliases: string[] = [];
    for (const related of arrayAt(match.relatedVulnerabilities, `matches[${i}].relatedVulnerabilities`)) {
      if (!isObject(related)) continue;
      const relatedId = nonEmptyString(related.id);
      if (relatedId && relatedId !== id && !aliases.includes(relatedId)) aliases.push(relatedId);
      if (normalizeSeverity(vuln.severity) === 'unknown') severity = higher(severity, normalizeSeverity(related.severity));
    }
    const fixVersions = field(vuln, 'fix', 'versions');
    const fixed = Array.isArray(fixVersions) ? fixVersions.filter((v): v is string => typeof v === 'string' && v !== '') : [];
    return compact({
      id,
      severity,
      package: nonEmptyString(field(match, 'artifact', 'name')),
      version: nonEmptyString(field(match, 'artifact', 'version')),
      fixedVersion: fixed.length > 0 ? fixed.join(', ') : undefined,
      aliases: aliases.length > 0 ? aliases : undefined,
    });
  });
}

/**
 * CycloneDX `vulnerabilities[]`. A vulnerability carries one rating per source (Trivy lists NVD,
 * Red Hat, Debian, … side by side) without saying which one is authoritative, so the highest
 * rating is taken: the conservative reading for a deny rule. One finding per `affects[].ref`,
 * resolved to the component's name and version through its `bom-ref`.
 */
export function cycloneDxFindings(bom: JsonObject): VulnerabilityFinding[] {
  const components = componentsByRef(bom);
  const findings: VulnerabilityFinding[] = [];
  arrayAt(bom.vulnerabilities, 'vulnerabilities').forEach((v, i) => {
    if (!isObject(v)) throw invalid(`CycloneDX BOM: vulnerabilities[${i}] is not an object`);
    const id = idOf(v.id);
    let severity: Severity = 'unknown';
    for (const rating of arrayAt(v.ratings, `vulnerabilities[${i}].ratings`)) {
      if (!isObject(rating)) continue;
      const word = normalizeSeverity(rating.severity);
      severity = higher(severity, word !== 'unknown' ? word : severityFromScore(rating.method, rating.score));
    }
    const aliases = arrayAt(v.references, `vulnerabilities[${i}].references`)
      .map((ref) => nonEmptyString(field(ref, 'id')))
      .filter((ref): ref is string => ref !== undefined && ref !== id);
    const affects = arrayAt(v.affects, `vulnerabilities[${i}].affects`);
    const unique = [...new Set(aliases)];
    const base = (): VulnerabilityFinding => ({ id, severity, ...(unique.length > 0 ? { aliases: [...unique] } : {}) });
    if (affects.length === 0) {
      findings.push(base());
      return;
    }
    for (const affected of affects) {
      const ref = nonEmptyString(field(affected, 'ref'));
      const component = ref !== undefined ? components.get(ref) : undefined;
      findings.push(compact({ ...base(), package: component?.name ?? ref, version: component?.version }));
    }
  });
  return findings;
}

/** `bom-ref` → component, over nested components too. Iterative: BOM nesting depth is untrusted. */
function componentsByRef(bom: JsonObject): Map<string, { name?: string; version?: string }> {
  const byRef = new Map<string, { name?: string; version?: string }>();
  const pending: unknown[] = [field(bom, 'metadata', 'component')];
  if (Array.isArray(bom.components)) for (const c of bom.components) pending.push(c);
  while (pending.length > 0) {
    const c = pending.pop();
    if (!isObject(c)) continue;
    const ref = nonEmptyString(c['bom-ref']);
    if (ref !== undefined) byRef.set(ref, compact({ name: nonEmptyString(c.name), version: nonEmptyString(c.version) }));
    if (Array.isArray(c.components)) for (const child of c.components) pending.push(child);
  }
  return byRef;
}

/** The scanning tool named in a CycloneDX BOM: `metadata.tools` (1.4 array, or 1.5+ `{components}`). */
export function cycloneDxToolName(bom: JsonObject): string | undefined {
  const tools = field(bom, 'metadata', 'tools');
  const list = Array.isArray(tools) ? tools : isObject(tools) && Array.isArray(tools.components) ? tools.components : [];
  for (const tool of list) {
    const name = nonEmptyString(field(tool, 'name'));
    if (name === undefined) continue;
    const version = nonEmptyString(field(tool, 'version'));
    return version ? `${name} ${version}` : name;
  }
  return undefined;
}

/**
 * `metadata.scanStartedOn`, falling back to `scanFinishedOn` (cosign vuln and in-toto vulns). Go's
 * zero time means "never set", not the year 1: read as a time, it sorted the newest scan of an
 * image as its oldest, and an older clean scan hid it.
 */
function scanTime(doc: JsonObject): Date | undefined {
  const set = (value: unknown): Date | undefined => {
    const at = parseRfc3339(value);
    return at !== undefined && !isGoZeroTime(at) ? at : undefined;
  };
  return set(field(doc, 'metadata', 'scanStartedOn')) ?? set(field(doc, 'metadata', 'scanFinishedOn'));
}

/**
 * A severity from a (method, score) pair. Words ("medium") are taken as they are; numbers only
 * when the method says they are CVSS scores (`CVSSv3`…, or `NVD`, whose scores are CVSS scores),
 * because other numeric scores (EPSS probabilities, risk scores) are not on the CVSS scale.
 */
function severityFromScore(method: unknown, score: unknown): Severity {
  const word = normalizeSeverity(score);
  if (word !== 'unknown') return word;
  const numeric = typeof score === 'number' ? score : typeof score === 'string' && score.trim() !== '' ? Number(score) : NaN;
  if (typeof method !== 'string' || !/cvss|^\s*nvd\s*$/i.test(method) || !Number.isFinite(numeric)) return 'unknown';
  return severityFromCvssScore(numeric, /v2/i.test(method));
}

function higher(a: Severity, b: Severity): Severity {
  return severityRank(b) > severityRank(a) ? b : a;
}

/** Missing ids are kept (as a visible placeholder) rather than dropping the finding. */
function idOf(value: unknown): string {
  return nonEmptyString(value) ?? '(no id)';
}

/** An absent or null list is empty; anything else that is not a list is a malformed report. */
function arrayAt(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(`vulnerability report: ${where} must be a list`);
  return value;
}

/** Drops undefined members so results compare cleanly and serialise without `undefined` noise. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, member]) => member !== undefined)) as T;
}
