/**
 * Validates the predicate a CI user hands us before it is signed and stored: once signed, a broken
 * SBOM or a scan report without a scan time is permanent (and a verifier will reject it later,
 * far from the pipeline that could have fixed it). Every refusal says which field is wrong and what
 * a valid input looks like.
 */
import { CountersignError } from '../shared/errors';
import { describeDepthViolation, jsonDepthViolation } from '../shared/json-depth';
import { quoteUntrusted } from '../shared/untrusted-text';
import { field, invalid, isObject, locateJsonError, nonEmptyString, type JsonObject } from './json';
import { classifyPredicateType, PREDICATE_TYPE, predicateTypeVersion, resolvePredicateType } from './predicate-types';
import { describeJsonType } from './predicate-object';
import { sbomPackages } from './sbom';
import { wrapGrypeReport, wrapTrivyReport, type WrappedScan } from './scan-reports';
import { maxSeverity } from './severity';
import { describeContentKind, sniffContent, type ContentKind } from './sniff';
import { isGoZeroTime, parseRfc3339 } from './time';
import { cycloneDxFindings, extractVulnerabilities, type VulnerabilityFinding } from './vulnerabilities';

export interface PrepareInput {
  /** CLI shorthand (`spdxjson`, `vuln`, …) or absolute predicateType URI. */
  predicateType: string;
  /** The predicate file as uploaded. */
  content: Buffer;
  /** The current time; injectable for tests. Used to refuse scan times in the future. */
  now?: Date;
  /** Upper bound on `content`; defaults to {@link DEFAULT_MAX_PREDICATE_BYTES}. */
  maxBytes?: number;
  /**
   * When the scan ran (RFC 3339), as stated by the caller. Used only for a raw Trivy/Grype report
   * that carries no timestamp of its own; the report's own time always wins.
   */
  scanTime?: string;
}

export interface PreparedPredicate {
  /** The resolved predicateType URI to put in the statement. */
  predicateType: string;
  predicate: Record<string, unknown>;
  /** One line for logs and CLI output, e.g. "SPDX-2.3 SBOM, 12 packages". */
  summary: string;
}

/**
 * 8 MiB: large image SBOMs run to a few MiB; beyond this the DSSE envelope (base64, +33 %) becomes
 * an unreasonably large registry blob and a memory risk for every verifier that fetches it.
 */
export const DEFAULT_MAX_PREDICATE_BYTES = 8 * 1024 * 1024;

/**
 * How far in the future a scan time may lie. A future scan time would defeat every maximum-age
 * check (a scan "from next year" never expires), but CI runners' clocks drift a little.
 */
export const MAX_SCAN_TIME_SKEW_MS = 10 * 60 * 1000;

export function preparePredicate(input: PrepareInput): PreparedPredicate {
  const predicateType = resolvePredicateType(input.predicateType);
  const now = input.now ?? new Date();
  const maxBytes = input.maxBytes ?? DEFAULT_MAX_PREDICATE_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new CountersignError('INTERNAL', `maxBytes must be a positive integer, got ${String(maxBytes)}`);
  }
  const doc = parseContent(input.content, maxBytes);
  const kind = sniffContent(doc);
  if (kind === 'dsse-envelope' || kind === 'intoto-statement') {
    throw invalid(
      `the predicate file is ${describeContentKind(kind)}, not a predicate. Countersign builds and signs the ` +
        'in-toto statement itself: pass only the predicate (the statement\'s "predicate" field' +
        (kind === 'dsse-envelope' ? ', after base64-decoding the envelope payload)' : ')'),
      { found: kind },
    );
  }
  switch (classifyPredicateType(predicateType)) {
    case 'spdx':
      return { predicateType, predicate: doc, summary: checkSpdx(predicateType, doc, kind) };
    case 'cyclonedx':
      return { predicateType, predicate: doc, summary: checkCycloneDx(predicateType, doc, kind) };
    case 'cosign-vuln':
      return { predicateType, ...prepareCosignVuln(doc, kind, now, input.scanTime) };
    case 'intoto-vulns':
      return { predicateType, predicate: doc, summary: checkIntotoVulns(predicateType, doc, kind, now) };
    case 'cosign-sign':
      return { predicateType, predicate: doc, summary: 'cosign image signature predicate' };
    case 'other':
      if (predicateType === PREDICATE_TYPE.COSIGN_CUSTOM) return { predicateType, ...prepareCustom(doc, input.content, now) };
      return { predicateType, predicate: doc, summary: otherSummary(predicateType, doc) };
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

function parseContent(content: Buffer, maxBytes: number): JsonObject {
  if (!Buffer.isBuffer(content)) throw invalid('predicate content is missing: upload the predicate file');
  if (content.length > maxBytes) {
    throw new CountersignError(
      'RESOURCE_EXHAUSTED',
      `predicate is ${content.length} bytes; the limit is ${maxBytes} bytes (${formatMiB(maxBytes)}). ` +
        'Attest a smaller document, e.g. an SBOM of the image only, without file-level entries',
      { details: { size: content.length, limit: maxBytes } },
    );
  }
  let text: string;
  try {
    // fatal: a file in another encoding (UTF-16 from some Windows tools) must fail here, not turn
    // into replacement characters inside a signed document.
    text = new TextDecoder('utf-8', { fatal: true }).decode(content);
  } catch {
    throw invalid('predicate is not valid UTF-8 text: save the JSON file as UTF-8');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a UTF-8 byte order mark is harmless; drop it
  if (text.trim() === '') throw invalid('predicate file is empty: pass a JSON object such as an SPDX or CycloneDX document');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const where = locateJsonError(text);
    const reason = err instanceof Error ? err.message : String(err);
    throw invalid(
      `predicate is not valid JSON (line ${where.line}, column ${where.column}, byte offset ${where.offset}): ` +
        `${reason}.${formatHint(text)}`,
      { line: where.line, column: where.column, offset: where.offset },
    );
  }
  // Before anything walks or re-serializes it (JSON.stringify of the statement overflows the stack
  // on a 100,000-deep document): a refusal here is INVALID_ARGUMENT and nothing is signed or written.
  const tooDeep = jsonDepthViolation(text);
  if (tooDeep) {
    throw invalid(
      `predicate ${describeDepthViolation(tooDeep)}; real SBOMs and scan reports nest far less, so this is not a document Countersign will sign`,
      {
        line: tooDeep.line,
        column: tooDeep.column,
        offset: tooDeep.offset,
        maxDepth: tooDeep.limit,
      },
    );
  }
  const badText = findUnsignableText(value);
  if (badText) {
    throw invalid(`predicate ${badText.path} ${badText.problem}`, { path: badText.path });
  }
  if (!isObject(value)) {
    throw invalid(
      `predicate must be a JSON object ({…}) but the file holds ${describeJsonType(value)}` +
        (Array.isArray(value) ? ': pass one predicate document, not a list' : ''),
    );
  }
  return value;
}

/**
 * Why `text` cannot be signed as text (what follows "holds"), or undefined. Signed text must be
 * Unicode text that every verifier reads as we validated it:
 * - not a lone UTF-16 surrogate (`"\ud800"` in JSON parses into one): JSON.stringify writes it
 *   back as that escape, which Go's decoder (cosign, policy engines) reads as U+FFFD, so a
 *   verifier would read other text than the one validated and signed;
 * - not U+FFFD, the replacement character: a decoder leaves it where bytes were not UTF-8 (gRPC
 *   decodes string fields that way), so it means the caller's text was lost before it reached us,
 *   and what would be signed is not what the caller sent.
 * The one definition, for every string that goes into a signed statement (annotations, the predicate).
 */
export function unsignableTextProblem(text: string): string | undefined {
  // The fast test first: an 8 MiB SBOM is walked string by string.
  if (text.isWellFormed() && !text.includes('\ufffd')) return undefined;
  let at = 0;
  for (const c of text) {
    at++;
    const code = c.codePointAt(0)!;
    if (code >= 0xd800 && code <= 0xdfff) {
      return `holds a lone UTF-16 surrogate (U+${code.toString(16).toUpperCase()}) at character ${at}, which is not Unicode text (a verifier would read U+FFFD)`;
    }
    if (code === 0xfffd) {
      return `holds U+FFFD at character ${at}, the replacement character a decoder leaves where text was lost (bytes that were not UTF-8): send the original text, encoded as UTF-8`;
    }
  }
  return undefined;
}

/** A place in a JSON value, for messages: `$.packages[3].name`. */
type JsonPath = { parent: JsonPath; key: string | number } | undefined;

function formatPath(path: JsonPath): string {
  const parts: string[] = [];
  for (let p = path; p; p = p.parent) {
    parts.push(typeof p.key === 'number' ? `[${p.key}]` : /^[A-Za-z_$][\w$]*$/.test(p.key) ? `.${p.key}` : `[${quoteUntrusted(p.key)}]`);
  }
  return `$${parts.reverse().join('')}`;
}

/**
 * The first key or string of a parsed JSON value that cannot be signed (unsignableTextProblem),
 * with where it is. Iterative: the walk needs no stack depth of its own.
 */
function findUnsignableText(value: unknown): { path: string; problem: string } | undefined {
  const pending: Array<{ value: unknown; path: JsonPath }> = [{ value, path: undefined }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value: v, path } = next;
    if (typeof v === 'string') {
      const problem = unsignableTextProblem(v);
      if (problem !== undefined) return { path: `value at ${formatPath(path)}`, problem };
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) pending.push({ value: v[i], path: { parent: path, key: i } });
    } else if (isObject(v)) {
      const keys = Object.keys(v);
      for (const k of keys) {
        const problem = unsignableTextProblem(k);
        if (problem !== undefined) return { path: `key ${quoteUntrusted(k)} at ${formatPath(path)}`, problem };
      }
      for (let i = keys.length - 1; i >= 0; i--) pending.push({ value: v[keys[i]!], path: { parent: path, key: keys[i]! } });
    }
  }
  return undefined;
}

/** Recognisable non-JSON formats get a pointer to the JSON flavour instead of a bare parse error. */
function formatHint(text: string): string {
  const start = text.trimStart();
  if (/^SPDXVersion\s*:/i.test(start)) return ' This looks like SPDX tag-value; export the SBOM as SPDX JSON instead.';
  if (start.startsWith('<')) return ' This looks like XML; export the document as JSON (e.g. CycloneDX JSON) instead.';
  if (/^\{[^\n]*\}\s*\n\s*\{/.test(start)) return ' This looks like JSON Lines; pass a single JSON object.';
  return '';
}

function formatMiB(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return Number.isInteger(mib) ? `${mib} MiB` : `${mib.toFixed(2)} MiB`;
}

// ---------------------------------------------------------------------------------------------
// SBOMs

function wrongContent(expected: string, kind: ContentKind, example: string): CountersignError {
  const found = kind === 'unknown' ? '' : ` The file is ${describeContentKind(kind)}.`;
  return invalid(`${expected}.${found} ${example}`, { found: kind });
}

const SPDX2_EXAMPLE =
  'An SPDX 2 JSON document starts like {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "…", …}; ' +
  'an SPDX 3 document is JSON-LD with "@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld" and an "@graph" list';

function checkSpdx(predicateType: string, doc: JsonObject, kind: ContentKind): string {
  const uriVersion = predicateTypeVersion(predicateType, PREDICATE_TYPE.SPDX);
  if (kind === 'spdx3') {
    if (uriVersion !== undefined && !versionMatches('3', uriVersion)) {
      throw invalid(
        `predicate type ${predicateType} is for SPDX ${uriVersion}, but the document is SPDX 3 JSON-LD; use ${PREDICATE_TYPE.SPDX}/v3`,
      );
    }
    if (!Array.isArray(doc['@graph'])) {
      throw invalid('SPDX 3 document has no "@graph" list: an SPDX 3 JSON-LD document holds its elements in "@graph"');
    }
    const count = sbomPackages(predicateType, doc).length;
    return `SPDX 3 SBOM, ${plural(count, 'package')}`;
  }
  if (doc.spdxVersion === undefined) throw wrongContent('SPDX document has no "spdxVersion"', kind, SPDX2_EXAMPLE);
  // version[0] is then the whole spdxVersion string.
  const version = typeof doc.spdxVersion === 'string' ? /^SPDX-(\d+\.\d+)$/.exec(doc.spdxVersion) : null;
  if (!version || !version[1]!.startsWith('2.')) {
    throw invalid(
      `SPDX document has spdxVersion ${JSON.stringify(doc.spdxVersion)}; expected "SPDX-2.<minor>" such as "SPDX-2.3". ${SPDX2_EXAMPLE}`,
    );
  }
  const docVersion = version[1]!;
  if (uriVersion !== undefined && !versionMatches(docVersion, uriVersion)) {
    throw invalid(
      `predicate type ${predicateType} is for SPDX ${uriVersion}, but the document says ${version[0]}; ` +
        `use ${PREDICATE_TYPE.SPDX} (or ${PREDICATE_TYPE.SPDX}/v${docVersion})`,
    );
  }
  if (typeof doc.SPDXID !== 'string' || !doc.SPDXID.startsWith('SPDXRef-')) {
    throw invalid(`SPDX document has no valid "SPDXID": the document's id must be "SPDXRef-DOCUMENT". ${SPDX2_EXAMPLE}`);
  }
  if (nonEmptyString(doc.name) === undefined) {
    throw invalid('SPDX document has no "name": SPDX 2 requires a document name (e.g. the image reference)');
  }
  const count = sbomPackages(predicateType, doc).length; // also checks packages[] is a list of objects
  return `${version[0]} SBOM, ${plural(count, 'package')}`;
}

const CYCLONEDX_EXAMPLE = 'A CycloneDX JSON BOM starts like {"bomFormat": "CycloneDX", "specVersion": "1.6", …}';

function checkCycloneDx(predicateType: string, doc: JsonObject, kind: ContentKind): string {
  if (doc.bomFormat !== 'CycloneDX') {
    const what = doc.bomFormat === undefined ? 'has no "bomFormat"' : `has bomFormat ${JSON.stringify(doc.bomFormat)}`;
    throw wrongContent(`CycloneDX BOM ${what} (it must be "CycloneDX")`, kind, CYCLONEDX_EXAMPLE);
  }
  if (typeof doc.specVersion !== 'string' || !/^\d+\.\d+$/.test(doc.specVersion)) {
    throw invalid(
      `CycloneDX BOM has no valid "specVersion" (found ${JSON.stringify(doc.specVersion)}); expected e.g. "1.6". ${CYCLONEDX_EXAMPLE}`,
    );
  }
  const uriVersion = predicateTypeVersion(predicateType, PREDICATE_TYPE.CYCLONEDX);
  if (uriVersion !== undefined && !versionMatches(doc.specVersion, uriVersion)) {
    throw invalid(
      `predicate type ${predicateType} is for CycloneDX ${uriVersion}, but the BOM's specVersion is ${doc.specVersion}; ` +
        `use ${PREDICATE_TYPE.CYCLONEDX} (or ${PREDICATE_TYPE.CYCLONEDX}/v${doc.specVersion})`,
    );
  }
  // Reading components and vulnerabilities now makes a malformed BOM fail here rather than in a verifier.
  const count = sbomPackages(predicateType, doc).length;
  let summary = `CycloneDX ${doc.specVersion} SBOM, ${plural(count, 'component')}`;
  if (Array.isArray(doc.vulnerabilities) && doc.vulnerabilities.length > 0) {
    summary += `, ${vulnerabilityCount(doc.vulnerabilities.length, cycloneDxFindings(doc))}`;
  }
  return summary;
}

/** "1.5" fits a URI saying v1.5 or v1; "1.4" does not fit v1.5. */
function versionMatches(docVersion: string, uriVersion: string): boolean {
  return docVersion === uriVersion || docVersion.startsWith(`${uriVersion}.`);
}

// ---------------------------------------------------------------------------------------------
// Vulnerability scans

const VULN_INPUTS =
  'With --type vuln, pass a cosign vuln predicate ({"scanner": {…}, "metadata": {"scanStartedOn": "…", ' +
  '"scanFinishedOn": "…"}}, e.g. from `trivy image --format cosign-vuln`), a Trivy JSON report ' +
  '(`trivy image --format json`) or a Grype JSON report (`grype <image> -o json`)';

function prepareCosignVuln(
  doc: JsonObject,
  kind: ContentKind,
  now: Date,
  scanTime: string | undefined,
): { predicate: JsonObject; summary: string } {
  if (kind === 'trivy-report' || kind === 'grype-report') {
    const wrapped = kind === 'trivy-report' ? wrapTrivyReport(doc, scanTime) : wrapGrypeReport(doc, scanTime);
    checkNotInFuture(wrapped.scannedAt, kind === 'trivy-report' ? 'Trivy report CreatedAt' : 'Grype report descriptor.timestamp', now);
    return { predicate: wrapped.predicate, summary: scanSummary(wrapped, wrapped.predicate) };
  }
  // An SBOM also has a "metadata" object, so only unrecognised documents that have one of the two
  // vuln predicate members are validated as a (broken) vuln predicate; anything else is the wrong file.
  if (kind !== 'vuln-predicate' && (kind !== 'unknown' || (!isObject(doc.scanner) && !isObject(doc.metadata)))) {
    throw wrongContent('the file is not a vulnerability scan this type accepts', kind, VULN_INPUTS);
  }
  const scanner = requireObject(
    doc,
    'scanner',
    'cosign vuln predicate',
    '{"uri": "pkg:github/aquasecurity/trivy@0.50.1", "version": "0.50.1", "result": {…}}',
  );
  for (const key of ['uri', 'version']) optionalString(scanner, key, 'cosign vuln predicate: scanner');
  if (scanner.db !== undefined && scanner.db !== null) {
    if (!isObject(scanner.db)) throw invalid('cosign vuln predicate: scanner.db must be an object like {"uri": "…", "version": "…"}');
    for (const key of ['uri', 'version']) optionalString(scanner.db, key, 'cosign vuln predicate: scanner.db');
  }
  if (scanner.result !== undefined && scanner.result !== null && !isObject(scanner.result)) {
    throw invalid(
      `cosign vuln predicate: scanner.result must be an object (the scanner's JSON report), not ${describeJsonType(scanner.result)}`,
    );
  }
  if (doc.invocation !== undefined && doc.invocation !== null && !isObject(doc.invocation)) {
    throw invalid('cosign vuln predicate: invocation must be an object like {"uri": "…", "event_id": "…", "builder.id": "…"}');
  }
  const times = requireScanTimes(doc, 'cosign vuln predicate', now);
  const scannerUri = nonEmptyString(scanner.uri) ?? 'an unnamed scanner';
  let findingsText: string;
  try {
    const report = extractVulnerabilities(PREDICATE_TYPE.COSIGN_VULN, doc);
    findingsText = report.format === 'empty' ? 'no result' : vulnerabilityCount(report.findings.length, report.findings);
  } catch (err) {
    // The spec allows any result object; accept it, but say that policies will not be able to read it.
    if (!(err instanceof CountersignError)) throw err;
    findingsText = 'result in a format Countersign cannot evaluate (vulnerability policies will refuse it)';
  }
  return { predicate: doc, summary: `cosign vuln scan by ${scannerUri}, ${findingsText}, scanned ${times.started.toISOString()}` };
}

function scanSummary(wrapped: WrappedScan, predicate: JsonObject): string {
  const report = extractVulnerabilities(PREDICATE_TYPE.COSIGN_VULN, predicate);
  const name = `${wrapped.scannerName} ${wrapped.scannerVersion ?? '(version not recorded)'}`;
  return `${name} scan, ${vulnerabilityCount(report.findings.length, report.findings)}, scanned ${wrapped.scannedAt.toISOString()}`;
}

const INTOTO_VULNS_EXAMPLE =
  'An in-toto vulns predicate looks like {"scanner": {"uri": "pkg:github/aquasecurity/trivy@0.50.1", ' +
  '"db": {"lastUpdate": "2024-03-01T00:00:00Z"}, "result": [{"id": "CVE-…", "severity": [{"method": "nvd", "score": "medium"}]}]}, ' +
  '"metadata": {"scanStartedOn": "…", "scanFinishedOn": "…"}}';

function checkIntotoVulns(predicateType: string, doc: JsonObject, kind: ContentKind, now: Date): string {
  if (kind === 'trivy-report' || kind === 'grype-report') {
    throw invalid(
      `the file is ${describeContentKind(kind)}: raw scanner reports are wrapped only into the cosign vuln predicate. ` +
        `Use --type vuln, or convert the report to ${predicateType} yourself. ${INTOTO_VULNS_EXAMPLE}`,
    );
  }
  const what = 'in-toto vulns predicate';
  const scanner = requireObject(doc, 'scanner', what, INTOTO_VULNS_EXAMPLE);
  if (nonEmptyString(scanner.uri) === undefined) {
    throw invalid(`${what}: scanner.uri is required (the scanner's identity, e.g. "pkg:github/aquasecurity/trivy@0.50.1")`);
  }
  optionalString(scanner, 'version', `${what}: scanner`);
  if (!isObject(scanner.db))
    throw invalid(
      `${what}: scanner.db is required, with "lastUpdate" (when the vulnerability DB was last updated). ${INTOTO_VULNS_EXAMPLE}`,
    );
  const lastUpdate = requireTime(scanner.db, 'lastUpdate', `${what}: scanner.db`);
  checkNotInFuture(lastUpdate, `${what}: scanner.db.lastUpdate`, now);
  if (!Array.isArray(scanner.result)) {
    throw invalid(`${what}: scanner.result is required and must be a list (empty when nothing was found). ${INTOTO_VULNS_EXAMPLE}`);
  }
  scanner.result.forEach((entry, i) => checkIntotoVulnEntry(entry, `${what}: scanner.result[${i}]`));
  const times = requireScanTimes(doc, what, now);
  const report = extractVulnerabilities(predicateType, doc);
  return `in-toto vulns scan by ${String(scanner.uri)}, ${vulnerabilityCount(report.findings.length, report.findings)}, scanned ${times.started.toISOString()}`;
}

function checkIntotoVulnEntry(entry: unknown, where: string): void {
  if (!isObject(entry)) throw invalid(`${where} must be an object like {"id": "CVE-…", "severity": [{"method": "nvd", "score": "high"}]}`);
  // v0.2 puts id/severity on the entry; v0.1 nests them under "vulnerability".
  const vuln = isObject(entry.vulnerability) ? entry.vulnerability : entry;
  if (nonEmptyString(vuln.id) === undefined)
    throw invalid(`${where}: "id" (the vulnerability identifier, e.g. "CVE-2019-1549") is required`);
  if (!Array.isArray(vuln.severity)) {
    throw invalid(`${where}: "severity" is required, a list like [{"method": "nvd", "score": "medium"}]`);
  }
  vuln.severity.forEach((s, j) => {
    if (!isObject(s) || typeof s.method !== 'string' || (typeof s.score !== 'string' && typeof s.score !== 'number')) {
      throw invalid(`${where}.severity[${j}] must be {"method": string, "score": string}, e.g. {"method": "cvss_score", "score": "5.2"}`);
    }
  });
}

/**
 * metadata.scanStartedOn / scanFinishedOn: required (both specs), RFC 3339, actually set (not Go's
 * zero time), in order, and not in the future.
 */
function requireScanTimes(doc: JsonObject, what: string, now: Date): { started: Date; finished: Date } {
  const example = '{"metadata": {"scanStartedOn": "2024-03-01T10:00:00Z", "scanFinishedOn": "2024-03-01T10:02:00Z"}}';
  if (!isObject(doc.metadata)) {
    throw invalid(
      `${what} has no "metadata" with the scan times; a verifier enforces a maximum scan age, so they are required: ${example}`,
    );
  }
  const started = requireTime(doc.metadata, 'scanStartedOn', `${what}: metadata`);
  const finished = requireTime(doc.metadata, 'scanFinishedOn', `${what}: metadata`);
  if (finished.getTime() < started.getTime()) {
    throw invalid(
      `${what}: metadata.scanFinishedOn (${String(doc.metadata.scanFinishedOn)}) is before scanStartedOn (${String(doc.metadata.scanStartedOn)})`,
    );
  }
  checkNotInFuture(started, `${what}: metadata.scanStartedOn`, now);
  checkNotInFuture(finished, `${what}: metadata.scanFinishedOn`, now);
  return { started, finished };
}

function requireTime(obj: JsonObject, key: string, where: string): Date {
  const value = obj[key];
  const date = parseRfc3339(value);
  if (date === undefined) {
    const found = value === undefined ? 'is missing' : `is ${JSON.stringify(value)}, not an RFC 3339 timestamp`;
    throw invalid(`${where}.${key} ${found}; expected e.g. "2024-03-01T10:00:00Z" (UTC) or "2024-03-01T12:00:00+02:00"`, { field: key });
  }
  if (isGoZeroTime(date)) {
    throw invalid(`${where}.${key} is ${JSON.stringify(value)}, the zero time of a Go program, i.e. never set; record the real scan time`, {
      field: key,
    });
  }
  return date;
}

function checkNotInFuture(date: Date, what: string, now: Date): void {
  if (date.getTime() > now.getTime() + MAX_SCAN_TIME_SKEW_MS) {
    throw invalid(
      `${what} (${date.toISOString()}) is in the future (now ${now.toISOString()}); a future scan time would never ` +
        'expire under a maximum-age policy. Check the clock of the machine that ran the scan',
    );
  }
}

function vulnerabilityCount(count: number, findings: VulnerabilityFinding[]): string {
  const max = maxSeverity(findings);
  return `${plural(count, 'vulnerability', 'vulnerabilities')}${max !== undefined ? ` (max ${max.toUpperCase()})` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// cosign custom and everything else

/**
 * cosign `--type custom` stores `{"Data": <file contents as a string>, "Timestamp": <now>}`, and
 * policies written for cosign read `predicate.Data`. A document already in that shape is kept as is
 * (re-wrapping would nest it); anything else is wrapped the way cosign does.
 */
function prepareCustom(doc: JsonObject, content: Buffer, now: Date): { predicate: JsonObject; summary: string } {
  if (typeof doc.Data === 'string') {
    if (doc.Timestamp !== undefined && parseRfc3339(doc.Timestamp) === undefined) {
      throw invalid(
        `cosign custom predicate: Timestamp is ${JSON.stringify(doc.Timestamp)}, not an RFC 3339 timestamp such as "2024-03-01T10:00:00Z"`,
      );
    }
    return { predicate: doc, summary: `cosign custom predicate, ${plural(Buffer.byteLength(doc.Data), 'byte')} of data` };
  }
  const data = content.toString('utf8').replace(/^\uFEFF/, '');
  return {
    predicate: { Data: data, Timestamp: now.toISOString().replace(/\.\d{3}Z$/, 'Z') },
    summary: `cosign custom predicate wrapping the file as Data (${plural(Buffer.byteLength(data), 'byte')}), as cosign --type custom does`,
  };
}

function otherSummary(predicateType: string, doc: JsonObject): string {
  if (predicateType === PREDICATE_TYPE.SLSA_PROVENANCE_V1) {
    const builder = nonEmptyString(field(doc, 'runDetails', 'builder', 'id'));
    return `SLSA provenance v1${builder ? ` from builder ${builder}` : ''}`;
  }
  if (predicateType === PREDICATE_TYPE.SLSA_PROVENANCE_V02) {
    const builder = nonEmptyString(field(doc, 'builder', 'id'));
    return `SLSA provenance v0.2${builder ? ` from builder ${builder}` : ''}`;
  }
  if (predicateType === PREDICATE_TYPE.OPENVEX && Array.isArray(doc.statements)) {
    return `OpenVEX document, ${plural(doc.statements.length, 'statement')}`;
  }
  return `predicate of type ${predicateType}, ${plural(Object.keys(doc).length, 'top-level field')}`;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function requireObject(doc: JsonObject, key: string, what: string, example: string): JsonObject {
  const value = doc[key];
  if (!isObject(value)) {
    throw invalid(`${what}: "${key}" is ${value === undefined ? 'missing' : describeJsonType(value)}; expected an object like ${example}`);
  }
  return value;
}

function optionalString(obj: JsonObject, key: string, where: string): void {
  const value = obj[key];
  if (value !== undefined && value !== null && typeof value !== 'string') {
    throw invalid(`${where}.${key} must be a string, not ${describeJsonType(value)}`);
  }
}

function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}
