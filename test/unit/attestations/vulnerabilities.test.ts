import { CountersignError } from '../../../src/shared/errors';
import {
  PREDICATE_TYPE,
  SEVERITY_ORDER,
  compareSeverity,
  extractVulnerabilities,
  maxSeverity,
  normalizeSeverity,
  preparePredicate,
  severityAtLeast,
  severityFromCvssScore,
  type Severity,
  type VulnerabilityFinding,
} from '../../../src/attestations';
import { V, readVector, readVectorJson, setIn, statementFromEnvelope, thrown } from './vectors';

const NOW = new Date('2026-08-25T00:00:00Z');

/** What a verifier would read back: the predicate Countersign stores for a raw report attested with --type vuln. */
function attestedScan(file: string): Record<string, unknown> {
  return preparePredicate({ predicateType: 'vuln', content: readVector(file), now: NOW }).predicate;
}

function ids(findings: VulnerabilityFinding[]): string[] {
  return [...new Set(findings.map((f) => f.id))].sort();
}

describe('extractVulnerabilities: Trivy JSON in a cosign vuln predicate (alpine-310)', () => {
  const report = extractVulnerabilities(PREDICATE_TYPE.COSIGN_VULN, attestedScan(V.trivyAlpine310));

  it('finds the 4 MEDIUM vulnerabilities INDEX.md §7 lists', () => {
    expect(report.format).toBe('trivy');
    expect(report.findings).toHaveLength(4);
    expect(report.findings.every((f) => f.severity === 'medium')).toBe(true);
    expect(ids(report.findings)).toEqual(['CVE-2019-1549', 'CVE-2019-1551']);
    expect(maxSeverity(report.findings)).toBe('medium');
  });

  it('carries package, installed and fixed versions', () => {
    expect(report.findings).toContainEqual({
      id: 'CVE-2019-1551',
      severity: 'medium',
      package: 'libssl1.1',
      version: '1.1.1c-r0',
      fixedVersion: '1.1.1d-r2',
    });
    expect(report.findings).toContainEqual({
      id: 'CVE-2019-1549',
      severity: 'medium',
      package: 'libcrypto1.1',
      version: '1.1.1c-r0',
      fixedVersion: '1.1.1d-r0',
    });
  });

  it('passes "no HIGH/CRITICAL" and fails "no MEDIUM+"', () => {
    expect(report.findings.some((f) => severityAtLeast(f.severity, 'high'))).toBe(false);
    expect(report.findings.some((f) => severityAtLeast(f.severity, 'medium'))).toBe(true);
  });

  it('reports the scanner and the scan time from the predicate', () => {
    expect(report.scanner).toBe('pkg:github/aquasecurity/trivy@dev');
    expect(report.scannedAt?.toISOString()).toBe('2021-08-25T12:20:30.000Z');
  });
});

describe('extractVulnerabilities: Grype JSON in a cosign vuln predicate', () => {
  it('chainguard-ruby: 3 High matches including CVE-2023-28755, with aliases from relatedVulnerabilities', () => {
    const report = extractVulnerabilities(PREDICATE_TYPE.COSIGN_VULN, attestedScan(V.grypeChainguardRuby));
    expect(report.format).toBe('grype');
    expect(report.scanner).toBe('pkg:github/anchore/grype@0.61.1');
    expect(report.scannedAt?.toISOString()).toBe('2023-05-18T01:00:56.783Z');
    expect(report.findings).toHaveLength(3);
    expect(report.findings.every((f) => f.severity === 'high')).toBe(true);
    expect(report.findings[0]).toEqual({
      id: 'CVE-2023-28755',
      severity: 'high',
      package: 'ruby-3.0',
      version: '3.0.4-r1',
      fixedVersion: '3.0.6-r0',
    });
    const ghsa = report.findings.find((f) => f.id === 'GHSA-hv5j-3h9f-99c2');
    expect(ghsa).toEqual({
      id: 'GHSA-hv5j-3h9f-99c2',
      severity: 'high',
      package: 'uri',
      version: '0.10.1',
      fixedVersion: '0.10.2',
      aliases: ['CVE-2023-28755'],
    });
  });

  it('keycloak: 6 Low CVE-2020-12413 matches; the match severity wins over the Medium NVD record', () => {
    const predicate = attestedScan(V.grypeKeycloak);
    const raw = readVectorJson(V.grypeKeycloak) as { matches: Array<{ relatedVulnerabilities: Array<{ severity: string }> }> };
    expect(raw.matches[0]!.relatedVulnerabilities[0]!.severity).toBe('Medium'); // guard: the vector has the conflict
    const report = extractVulnerabilities(PREDICATE_TYPE.COSIGN_VULN, predicate);
    expect(report.findings).toHaveLength(6);
    expect(report.findings.every((f) => f.severity === 'low' && f.id === 'CVE-2020-12413')).toBe(true);
    expect(report.findings.map((f) => f.package)).toEqual(['nspr', 'nss', 'nss-softokn', 'nss-softokn-freebl', 'nss-sysinit', 'nss-util']);
    expect(report.findings.every((f) => f.fixedVersion === undefined)).toBe(true); // state wont-fix
    expect(maxSeverity(report.findings)).toBe('low');
  });

  it('the synthetic JSON golden (wrapped by hand, since it has no timestamp): Low and Critical, all fix versions', () => {
    const predicate = {
      scanner: { uri: 'pkg:github/anchore/grype', result: readVectorJson(V.grypeJsonGolden) },
      metadata: { scanStartedOn: '2024-01-01T00:00:00Z', scanFinishedOn: '2024-01-01T00:01:00Z' },
    };
    const report = extractVulnerabilities(PREDICATE_TYPE.COSIGN_VULN, predicate);
    expect(report.findings).toEqual([
      { id: 'CVE-1999-0001', severity: 'low', package: 'package-1', version: '1.1.1', fixedVersion: '1.2.1, 2.1.3, 3.4.0' },
      { id: 'CVE-1999-0002', severity: 'critical', package: 'package-2', version: '2.2.2' },
    ]);
  });

  it('falls back to related severities only when the match severity is Unknown', () => {
    const raw = readVectorJson(V.grypeKeycloak);
    setIn(raw, ['matches', 0, 'vulnerability', 'severity'], 'Unknown');
    const predicate = { scanner: { result: raw }, metadata: { scanStartedOn: '2024-01-01T00:00:00Z' } };
    const findings = extractVulnerabilities(PREDICATE_TYPE.COSIGN_VULN, predicate).findings;
    expect(findings[0]!.severity).toBe('medium');
    expect(findings[1]!.severity).toBe('low');
  });
});

describe('extractVulnerabilities: CycloneDX', () => {
  it.each([V.trivyFluentdCdx16, V.trivyFluentdCdx17])('%s: three vulnerabilities, a critical one present', (file) => {
    const report = extractVulnerabilities(PREDICATE_TYPE.CYCLONEDX, readVectorJson(file));
    expect(report.format).toBe('cyclonedx');
    expect(report.scanner).toBe('trivy dev');
    expect(report.scannedAt?.toISOString()).toBe('2021-08-25T12:20:30.000Z');
    expect(ids(report.findings)).toEqual(['CVE-2019-18224', 'CVE-2019-18276', 'CVE-2020-8165']);
    expect(maxSeverity(report.findings)).toBe('critical');
    // The highest of the per-source ratings (NVD CVSS 3.1 says critical), resolved to its component.
    expect(report.findings.find((f) => f.id === 'CVE-2019-18224')).toEqual({
      id: 'CVE-2019-18224',
      severity: 'critical',
      package: 'libidn2-0',
      version: '2.0.5-1',
    });
    expect(report.findings.find((f) => f.id === 'CVE-2019-18276')).toMatchObject({ severity: 'high', package: 'bash', version: '5.0-4' });
  });

  it('grype CycloneDX golden: severity from the CVSS rating, the EPSS "other" rating ignored', () => {
    const report = extractVulnerabilities('https://cyclonedx.org/bom/v1.7', readVectorJson(V.grypeCdxGolden));
    expect(report.scanner).toBe('grype [not provided]');
    expect(report.findings).toEqual([
      { id: 'CVE-1999-0001', severity: 'low', package: 'package-1', version: '1.1.1' },
      { id: 'CVE-1999-0002', severity: 'critical', package: 'package-2', version: '2.2.2' },
    ]);
  });

  it('an SBOM without vulnerabilities has none', () => {
    const report = extractVulnerabilities(PREDICATE_TYPE.CYCLONEDX, readVectorJson(V.trivyCentosCdx));
    expect(report.findings).toEqual([]);
    expect(maxSeverity(report.findings)).toBeUndefined();
  });

  it('derives a severity from a CVSS score when a rating has no severity word, and keeps references as aliases', () => {
    const bom = {
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      components: [{ 'bom-ref': 'c1', name: 'outer', components: [{ 'bom-ref': 'c2', name: 'inner', version: '2' }] }],
      vulnerabilities: [
        {
          id: 'GHSA-x',
          references: [{ id: 'CVE-1' }],
          ratings: [{ method: 'CVSSv31', score: 9.8 }],
          affects: [{ ref: 'c2' }, { ref: 'missing' }],
        },
        { id: 'CVE-2', ratings: [{ method: 'CVSSv2', score: 10 }] },
      ],
    };
    expect(extractVulnerabilities(PREDICATE_TYPE.CYCLONEDX, bom).findings).toEqual([
      { id: 'GHSA-x', severity: 'critical', aliases: ['CVE-1'], package: 'inner', version: '2' },
      { id: 'GHSA-x', severity: 'critical', aliases: ['CVE-1'], package: 'missing' },
      { id: 'CVE-2', severity: 'high' },
    ]);
  });
});

describe('extractVulnerabilities: cosign vuln predicates without a result', () => {
  it('cosign vuln-predicate.json: no findings, scanner and time from the predicate', () => {
    const report = extractVulnerabilities(PREDICATE_TYPE.COSIGN_VULN, readVectorJson(V.cosignVulnPredicate));
    expect(report).toEqual({
      scanner: 'fakescanner.example.com/cosign-testing',
      scannedAt: new Date('2022-04-12T00:00:00Z'),
      format: 'empty',
      findings: [],
    });
  });

  it('cosign policy valid/vuln: the Go zero time means "never set", so the scan has no time (a maximum-age rule finds none)', () => {
    const { predicateType, predicate } = statementFromEnvelope(V.policyValidVuln);
    const report = extractVulnerabilities(predicateType, predicate);
    expect(report.format).toBe('empty');
    expect(report.scanner).toBe('unknown');
    expect(report.scannedAt).toBeUndefined();
  });

  it('the malformed/vuln statement is not read as a vuln predicate', () => {
    const { predicateType, predicate } = statementFromEnvelope(V.policyMalformedVuln);
    const err = thrown(() => extractVulnerabilities(predicateType, predicate));
    expect(err).toBeInstanceOf(CountersignError);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/carries no vulnerability data/);
  });
});

describe('extractVulnerabilities: in-toto vulns', () => {
  const predicate = (result: unknown[]) => ({
    scanner: { uri: 'pkg:github/aquasecurity/trivy@0.19.2', db: { lastUpdate: '2021-08-06T17:45:50.52Z' }, result },
    metadata: { scanStartedOn: '2021-08-06T17:45:50.52Z', scanFinishedOn: '2021-08-06T17:50:50.52Z' },
  });

  it('reads words and CVSS scores, v0.2 and v0.1 shapes', () => {
    const report = extractVulnerabilities(
      'https://in-toto.io/attestation/vulns/v0.2',
      predicate([
        {
          id: 'CVE-123',
          severity: [
            { method: 'nvd', score: 'medium' },
            { method: 'cvss_score', score: '5.2' },
          ],
        },
        { id: 'CVE-456', severity: [{ method: 'cvss_score', score: '9.8' }] },
        { id: 'CVE-789', severity: [{ method: 'epss', score: '0.97' }] },
        { vulnerability: { id: 'CVE-v01', severity: [{ method: 'cvssV3', score: 7.5 }] } },
        { id: 'CVE-v2', severity: [{ method: 'cvss_v2', score: '9.3' }] },
      ]),
    );
    expect(report.format).toBe('intoto-vulns');
    expect(report.scanner).toBe('pkg:github/aquasecurity/trivy@0.19.2');
    expect(report.scannedAt?.toISOString()).toBe('2021-08-06T17:45:50.520Z');
    expect(report.findings).toEqual([
      { id: 'CVE-123', severity: 'medium' },
      { id: 'CVE-456', severity: 'critical' },
      { id: 'CVE-789', severity: 'unknown' }, // an EPSS probability is not a CVSS score
      { id: 'CVE-v01', severity: 'high' },
      { id: 'CVE-v2', severity: 'high' }, // CVSS v2 has no critical band
    ]);
  });
});

describe('extractVulnerabilities: fails closed on data it cannot read', () => {
  it.each([
    ['an unknown result format', { scanner: { result: { runs: [] } }, metadata: {} }, /cannot be evaluated/],
    ['a result that is a list', { scanner: { result: [] }, metadata: {} }, /scanner\.result must be an object/],
    [
      'Trivy Results that is not a list',
      { scanner: { result: { SchemaVersion: 2, ArtifactName: 'x', Results: 'oops' } } },
      /Results must be a list/,
    ],
    [
      'a Trivy vulnerability that is not an object',
      { scanner: { result: { SchemaVersion: 2, Results: [{ Vulnerabilities: [5] }] } } },
      /Vulnerabilities\[0\] is not an object/,
    ],
    [
      'a Grype match without vulnerability',
      { scanner: { result: { matches: [{}], descriptor: { name: 'grype' } } } },
      /matches\[0\] has no vulnerability/,
    ],
  ])('throws on %s instead of reporting no findings', (_label, predicate, message) => {
    const err = thrown(() => extractVulnerabilities(PREDICATE_TYPE.COSIGN_VULN, predicate));
    expect(err).toBeInstanceOf(CountersignError);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(message);
  });

  it('refuses predicate types that carry no vulnerability data, and non-object predicates', () => {
    expect(thrown(() => extractVulnerabilities(PREDICATE_TYPE.SPDX, readVectorJson(V.cosignSpdx))).message).toMatch(
      /carries no vulnerability data/,
    );
    expect(thrown(() => extractVulnerabilities(PREDICATE_TYPE.COSIGN_VULN, [1])).message).toMatch(/must be a JSON object, got an array/);
  });
});

describe('severity helpers', () => {
  it('orders severities from unknown to critical', () => {
    expect(SEVERITY_ORDER).toEqual(['unknown', 'negligible', 'low', 'medium', 'high', 'critical']);
    const shuffled: Severity[] = ['low', 'critical', 'unknown', 'medium', 'negligible', 'high'];
    expect([...shuffled].sort(compareSeverity)).toEqual(SEVERITY_ORDER);
    expect(severityAtLeast('critical', 'high')).toBe(true);
    expect(severityAtLeast('high', 'high')).toBe(true);
    expect(severityAtLeast('unknown', 'low')).toBe(false);
  });

  it('maxSeverity returns the highest, or undefined without findings', () => {
    expect(maxSeverity([{ severity: 'low' }, { severity: 'critical' }, { severity: 'unknown' }])).toBe('critical');
    expect(maxSeverity([{ severity: 'unknown' }])).toBe('unknown');
    expect(maxSeverity([])).toBeUndefined();
  });

  it.each([
    ['CRITICAL', 'critical'],
    ['High', 'high'],
    ['important', 'high'],
    ['MODERATE', 'medium'],
    ['low', 'low'],
    ['Negligible', 'negligible'],
    ['info', 'negligible'],
    ['none', 'negligible'],
    ['UNKNOWN', 'unknown'],
    ['severe', 'unknown'],
    [7, 'unknown'],
  ])('normalizeSeverity(%p) is %s', (raw, expected) => {
    expect(normalizeSeverity(raw)).toBe(expected);
  });

  it('bands CVSS scores', () => {
    expect(severityFromCvssScore(0)).toBe('negligible');
    expect(severityFromCvssScore(3.9)).toBe('low');
    expect(severityFromCvssScore(4)).toBe('medium');
    expect(severityFromCvssScore(8.9)).toBe('high');
    expect(severityFromCvssScore(9)).toBe('critical');
    expect(severityFromCvssScore(10, true)).toBe('high');
    expect(severityFromCvssScore(11)).toBe('unknown');
    expect(severityFromCvssScore(Number.NaN)).toBe('unknown');
  });
});
