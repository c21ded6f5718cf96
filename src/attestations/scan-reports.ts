/**
 * Turns a raw scanner report (Trivy `--format json`, Grype `-o json`) into a cosign vulnerability
 * predicate (FORMATS.md §5.4), so that CI can attest the report it already has and cosign's
 * `verify-attestation --type vuln` and our own policy can read it.
 *
 * The scan time is taken from the report and never invented: a verifier enforces a maximum scan
 * age, and stamping "now" on an old report would make a stale scan look fresh. A report without
 * one is accepted only when the caller states the scan time explicitly (`--scan-time`).
 */
import { field, invalid, nonEmptyString, type JsonObject } from './json';
import { isGoZeroTime, parseRfc3339 } from './time';
import { quoteUntrusted } from '../shared/untrusted-text';

export interface WrappedScan {
  predicate: JsonObject;
  scannerName: 'Trivy' | 'Grype';
  scannerVersion?: string;
  /** The report's own timestamp, already validated as RFC 3339. */
  scannedAt: Date;
}

/**
 * Trivy: version in `Trivy.Version` (Trivy ≥ 0.5x writes it), time in `CreatedAt`. Trivy's report
 * carries no vulnerability-DB metadata, so `scanner.db` is left out (it is optional). This mirrors
 * what `trivy --format cosign-vuln` itself writes (purl `pkg:github/aquasecurity/trivy@<version>`,
 * start = finish), except that the time is the report's rather than the wrapping moment.
 */
export function wrapTrivyReport(report: JsonObject, statedScanTime?: string): WrappedScan {
  const version = nonEmptyString(field(report, 'Trivy', 'Version'));
  const createdAt = reportTimeOr(report.CreatedAt, statedScanTime);
  const scannedAt = requireReportTime(
    createdAt,
    'Trivy report',
    'CreatedAt',
    'Use a Trivy release that writes CreatedAt, or produce the predicate directly with ' +
      '`trivy image --format cosign-vuln`, which records the scan time',
  );
  return {
    predicate: cosignVulnPredicate({
      uri: purl('aquasecurity', 'trivy', version),
      version,
      result: report,
      time: createdAt as string,
    }),
    scannerName: 'Trivy',
    ...(version !== undefined ? { scannerVersion: version } : {}),
    scannedAt,
  };
}

/**
 * Grype: version in `descriptor.version`, time in `descriptor.timestamp`, DB status in
 * `descriptor.db` (schema 5: `{built, schemaVersion, checksum}`; schema 6: `{status: {built,
 * schemaVersion, from}}`). The DB build time is the most useful DB "version" for a policy (how old
 * was the vulnerability data), so it is used as `scanner.db.version`; `scanner.db.uri` is only
 * set when Grype names where the DB came from.
 */
export function wrapGrypeReport(report: JsonObject, statedScanTime?: string): WrappedScan {
  const version = nonEmptyString(field(report, 'descriptor', 'version'));
  const timestamp = reportTimeOr(field(report, 'descriptor', 'timestamp'), statedScanTime);
  const scannedAt = requireReportTime(
    timestamp,
    'Grype report',
    'descriptor.timestamp',
    'Every `grype <image> -o json` run records it; re-run Grype, or wrap the report yourself in a cosign ' +
      'vuln predicate with metadata.scanStartedOn/scanFinishedOn',
  );
  const db = field(report, 'descriptor', 'db');
  const status = field(db, 'status') ?? db;
  const dbBuilt = nonEmptyString(field(status, 'built'));
  const dbSchema = field(status, 'schemaVersion');
  const dbVersion = dbBuilt ?? (typeof dbSchema === 'number' || typeof dbSchema === 'string' ? String(dbSchema) : undefined);
  const dbUri = nonEmptyString(field(status, 'from'));
  return {
    predicate: cosignVulnPredicate({
      uri: purl('anchore', 'grype', version),
      version,
      ...(dbVersion !== undefined || dbUri !== undefined
        ? { db: { ...(dbUri !== undefined ? { uri: dbUri } : {}), ...(dbVersion !== undefined ? { version: dbVersion } : {}) } }
        : {}),
      result: report,
      time: timestamp as string,
    }),
    scannerName: 'Grype',
    ...(version !== undefined ? { scannerVersion: version } : {}),
    scannedAt,
  };
}

/** The report's own time wins; the caller's stated time only fills a missing one. */
function reportTimeOr(own: unknown, stated: string | undefined): unknown {
  return (own === undefined || own === '' || own === null) && stated !== undefined ? stated : own;
}

function requireReportTime(value: unknown, what: string, fieldName: string, remedy: string): Date {
  const date = parseRfc3339(value);
  if (date !== undefined && !isGoZeroTime(date)) return date;
  const found = value === undefined || value === '' ? 'has no' : `has an invalid (not RFC 3339) ${quoteUntrusted(value)} as`;
  throw invalid(
    `${what} ${found} ${fieldName}. A scan time is required because verifiers enforce a maximum scan age, ` +
      `and Countersign does not invent one. ${remedy}, or state when the scan ran (countersign attest --scan-time RFC3339).`,
    { field: fieldName },
  );
}

/** `pkg:github/<owner>/<name>@<version>`, the scanner URI form of the cosign vuln spec example. */
function purl(owner: string, name: string, version: string | undefined): string {
  return version !== undefined ? `pkg:github/${owner}/${name}@${encodeURIComponent(version)}` : `pkg:github/${owner}/${name}`;
}

function cosignVulnPredicate(s: {
  uri: string;
  version: string | undefined;
  db?: { uri?: string; version?: string };
  result: JsonObject;
  time: string;
}): JsonObject {
  return {
    scanner: {
      uri: s.uri,
      ...(s.version !== undefined ? { version: s.version } : {}),
      ...(s.db !== undefined ? { db: s.db } : {}),
      result: s.result,
    },
    // Reports carry one timestamp (written when the scan completed); like Trivy's own cosign-vuln
    // writer, it is used for both. The original string is kept, not re-formatted, so nanosecond
    // precision and the scanner's offset survive.
    metadata: { scanStartedOn: s.time, scanFinishedOn: s.time },
  };
}
