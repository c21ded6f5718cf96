import { CountersignError } from '../../../src/shared/errors';
import { PREDICATE_TYPE, preparePredicate, type PreparedPredicate } from '../../../src/attestations';
import { parsePredicateObject } from '../../../src/attestations/predicate-object';
import { MAX_JSON_DEPTH } from '../../../src/shared/json-depth';
import { V, deleteIn, readVector, readVectorJson, setIn, statementFromEnvelope, thrown } from './vectors';

/** A fixed "now" after every vector's scan time, so the future-time check never depends on the wall clock. */
const NOW = new Date('2026-08-25T00:00:00Z');

function prepare(
  predicateType: string,
  content: Buffer | string | object,
  extra: { now?: Date; maxBytes?: number } = {},
): PreparedPredicate {
  const buf = Buffer.isBuffer(content) ? content : Buffer.from(typeof content === 'string' ? content : JSON.stringify(content));
  return preparePredicate({ predicateType, content: buf, now: NOW, ...extra });
}

const NOW_FOR_STATED = new Date('2026-11-22T00:00:00Z');

function refusal(predicateType: string, content: Buffer | string | object, extra: { now?: Date; maxBytes?: number } = {}) {
  const err = thrown(() => prepare(predicateType, content, extra));
  expect(err).toBeInstanceOf(CountersignError);
  return err;
}

describe('preparePredicate: sample SBOMs (INDEX.md §5–6) are accepted as their type', () => {
  it.each([
    [V.cosignSpdx, 'spdxjson', PREDICATE_TYPE.SPDX, 'SPDX-2.2 SBOM, 0 packages'],
    [V.cosignCdx, 'cyclonedx', PREDICATE_TYPE.CYCLONEDX, 'CycloneDX 1.4 SBOM, 0 components'],
    [V.policyControllerSpdx, 'spdxjson', PREDICATE_TYPE.SPDX, 'SPDX-2.2 SBOM, 2 packages'],
    [V.trivyCentosSpdx, 'spdx', PREDICATE_TYPE.SPDX, 'SPDX-2.2 SBOM, 4 packages'],
    [V.trivyCentosCdx, 'cyclonedx', PREDICATE_TYPE.CYCLONEDX, 'CycloneDX 1.5 SBOM, 3 components'],
    [V.trivyCondaSpdx, 'https://spdx.dev/Document/v2.3', 'https://spdx.dev/Document/v2.3', 'SPDX-2.3 SBOM, 3 packages'],
    [V.trivyFluentdCdx16, 'cyclonedx', PREDICATE_TYPE.CYCLONEDX, 'CycloneDX 1.6 SBOM, 4 components, 3 vulnerabilities (max CRITICAL)'],
    [
      V.trivyFluentdCdx17,
      'https://cyclonedx.org/bom/v1.7',
      'https://cyclonedx.org/bom/v1.7',
      'CycloneDX 1.7 SBOM, 4 components, 3 vulnerabilities (max CRITICAL)',
    ],
    [V.grypeCdxGolden, 'cyclonedx', PREDICATE_TYPE.CYCLONEDX, 'CycloneDX 1.7 SBOM, 2 components, 2 vulnerabilities (max CRITICAL)'],
  ])('%s as --type %s', (file, typeArg, expectedType, summary) => {
    const out = prepare(typeArg, readVector(file));
    expect(out.predicateType).toBe(expectedType);
    expect(out.summary).toBe(summary);
    // SBOMs are stored exactly as given: nothing added, nothing dropped.
    expect(out.predicate).toEqual(readVectorJson(file));
  });

  it("accepts the CycloneDX predicate inside Trivy's centos-7 .intoto.jsonl envelope", () => {
    const statement = statementFromEnvelope(V.trivyCentosIntoto);
    expect(statement.predicateType).toBe(PREDICATE_TYPE.CYCLONEDX);
    const out = prepare(statement.predicateType, statement.predicate as object);
    expect(out.summary).toBe('CycloneDX 1.4 SBOM, 3 components');
  });

  it('accepts an SPDX 3 JSON-LD document under https://spdx.dev/Document/v3', () => {
    const doc = {
      '@context': 'https://spdx.org/rdf/3.0.1/spdx-context.jsonld',
      '@graph': [
        { type: 'CreationInfo', '@id': '_:creationinfo', specVersion: '3.0.1' },
        { type: 'software_Package', spdxId: 'urn:pkg-1', name: 'openssl', software_packageVersion: '3.0.13' },
      ],
    };
    expect(prepare('https://spdx.dev/Document/v3', doc).summary).toBe('SPDX 3 SBOM, 1 package');
    expect(prepare('spdxjson', doc).summary).toBe('SPDX 3 SBOM, 1 package');
    expect(refusal('https://spdx.dev/Document/v2.3', doc).message).toMatch(/SPDX 2\.3.*SPDX 3 JSON-LD/);
    expect(refusal('https://spdx.dev/Document/v3', { '@context': doc['@context'] }).message).toMatch(/@graph/);
  });
});

describe('preparePredicate: raw scan reports (INDEX.md §7) are wrapped into the cosign vuln predicate', () => {
  it('wraps Trivy alpine-310 with scanner and times taken from the report', () => {
    const report = readVectorJson(V.trivyAlpine310);
    const out = prepare('vuln', readVector(V.trivyAlpine310));
    expect(out.predicateType).toBe('https://cosign.sigstore.dev/attestation/vuln/v1');
    expect(out.predicate).toEqual({
      scanner: { uri: 'pkg:github/aquasecurity/trivy@dev', version: 'dev', result: report },
      // Trivy's CreatedAt, kept verbatim (nanoseconds included), for both start and finish.
      metadata: { scanStartedOn: '2021-08-25T12:20:30.000000005Z', scanFinishedOn: '2021-08-25T12:20:30.000000005Z' },
    });
    expect(out.summary).toBe('Trivy dev scan, 4 vulnerabilities (max MEDIUM), scanned 2021-08-25T12:20:30.000Z');
  });

  it('wraps Grype chainguard-ruby with version, DB build time and descriptor.timestamp', () => {
    const out = prepare('vuln', readVector(V.grypeChainguardRuby));
    const scanner = out.predicate.scanner as Record<string, unknown>;
    expect(scanner.uri).toBe('pkg:github/anchore/grype@0.61.1');
    expect(scanner.version).toBe('0.61.1');
    expect(scanner.db).toEqual({ version: '2023-05-17T01:32:43Z' });
    expect(scanner.result).toEqual(readVectorJson(V.grypeChainguardRuby));
    expect(out.predicate.metadata).toEqual({
      scanStartedOn: '2023-05-17T21:00:56.783213-04:00',
      scanFinishedOn: '2023-05-17T21:00:56.783213-04:00',
    });
    expect(out.summary).toBe('Grype 0.61.1 scan, 3 vulnerabilities (max HIGH), scanned 2023-05-18T01:00:56.783Z');
  });

  it('wraps Grype keycloak (6 Low matches)', () => {
    const out = prepare('https://cosign.sigstore.dev/attestation/vuln/v1', readVector(V.grypeKeycloak));
    expect((out.predicate.scanner as Record<string, unknown>).db).toEqual({ version: '2023-09-01T01:26:55Z' });
    expect(out.summary).toBe('Grype 0.66.0 scan, 6 vulnerabilities (max LOW), scanned 2023-09-01T12:13:42.201Z');
  });

  it('reads the Grype v6 DB status shape (descriptor.db.status)', () => {
    const report = readVectorJson(V.grypeKeycloak);
    setIn(report, ['descriptor', 'db'], {
      status: { schemaVersion: 'v6.1.4', built: '2026-04-15T11:48:47Z', from: 'https://grype.anchore.io/databases/v6/x.tar.zst' },
    });
    const scanner = prepare('vuln', report).predicate.scanner as Record<string, unknown>;
    expect(scanner.db).toEqual({ uri: 'https://grype.anchore.io/databases/v6/x.tar.zst', version: '2026-04-15T11:48:47Z' });
  });

  it('accepts its own output again (a wrapped report is a valid cosign vuln predicate)', () => {
    const wrapped = prepare('vuln', readVector(V.trivyAlpine310));
    const again = prepare('vuln', wrapped.predicate);
    expect(again.predicate).toEqual(wrapped.predicate);
    expect(again.summary).toBe(
      'cosign vuln scan by pkg:github/aquasecurity/trivy@dev, 4 vulnerabilities (max MEDIUM), scanned 2021-08-25T12:20:30.000Z',
    );
  });

  it('refuses the Grype JSON golden, whose descriptor.timestamp is empty, instead of inventing a scan time', () => {
    const err = refusal('vuln', readVector(V.grypeJsonGolden));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('descriptor.timestamp');
    expect(err.message).toContain('maximum scan age');
  });

  it("accepts the Grype JSON golden when the caller states the scan time; the report's own time still wins", () => {
    const stated = '2026-11-20T10:00:00Z';
    const ok = preparePredicate({ predicateType: 'vuln', content: readVector(V.grypeJsonGolden), now: NOW_FOR_STATED, scanTime: stated });
    expect((ok.predicate.metadata as Record<string, string>).scanFinishedOn).toBe(stated);
    expect((ok.predicate.scanner as Record<string, unknown>).result).toEqual(readVectorJson(V.grypeJsonGolden));
    const keycloak = preparePredicate({
      predicateType: 'vuln',
      content: readVector(V.grypeKeycloak),
      now: NOW_FOR_STATED,
      scanTime: stated,
    });
    expect((keycloak.predicate.metadata as Record<string, string>).scanFinishedOn).not.toBe(stated);
    expect(() =>
      preparePredicate({ predicateType: 'vuln', content: readVector(V.grypeJsonGolden), now: NOW_FOR_STATED, scanTime: 'yesterday' }),
    ).toThrow(/RFC 3339/);
  });

  it('refuses a Trivy report without CreatedAt and points at --format cosign-vuln', () => {
    const report = readVectorJson(V.trivyAlpine310);
    delete report.CreatedAt;
    const err = refusal('vuln', report);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('CreatedAt');
    expect(err.message).toContain('--format cosign-vuln');
  });

  it('refuses a report timestamp that is not RFC 3339', () => {
    const report = readVectorJson(V.grypeKeycloak);
    setIn(report, ['descriptor', 'timestamp'], 'Fri Sep  1 08:13:42 EDT 2023');
    expect(refusal('vuln', report).message).toMatch(/not RFC 3339/);
  });

  it('names Trivy without a version when the report does not record one', () => {
    const report = readVectorJson(V.trivyAlpine310);
    delete report.Trivy;
    const out = prepare('vuln', report);
    expect(out.predicate.scanner).toMatchObject({ uri: 'pkg:github/aquasecurity/trivy' });
    expect(out.predicate.scanner).not.toHaveProperty('version');
    expect(out.summary).toMatch(/^Trivy \(version not recorded\) scan, 4 vulnerabilities/);
  });

  it('refuses a scan time in the future (it would never expire under a maximum-age policy)', () => {
    const before = new Date('2021-08-25T12:00:00Z');
    const err = refusal('vuln', readVector(V.trivyAlpine310), { now: before });
    expect(err.message).toMatch(/in the future/);
    // Within the allowed clock skew it is fine.
    expect(() => prepare('vuln', readVector(V.trivyAlpine310), { now: new Date('2021-08-25T12:15:00Z') })).not.toThrow();
  });
});

describe('preparePredicate: cosign vuln predicates given as such', () => {
  it("accepts cosign's vuln-predicate.json unchanged", () => {
    const out = prepare('vuln', readVector(V.cosignVulnPredicate));
    expect(out.predicate).toEqual(readVectorJson(V.cosignVulnPredicate));
    expect(out.summary).toBe('cosign vuln scan by fakescanner.example.com/cosign-testing, no result, scanned 2022-04-12T00:00:00.000Z');
  });

  const base = () => readVectorJson(V.cosignVulnPredicate);

  it('refuses a predicate without metadata, explaining why scan times are required', () => {
    const doc = base();
    delete doc.metadata;
    const err = refusal('vuln', doc);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/scanStartedOn/);
    expect(err.message).toMatch(/maximum scan age/);
  });

  it.each([
    ['scanStartedOn missing', (d: unknown) => deleteIn(d, ['metadata', 'scanStartedOn']), /metadata\.scanStartedOn is missing/],
    ['scanFinishedOn missing', (d: unknown) => deleteIn(d, ['metadata', 'scanFinishedOn']), /metadata\.scanFinishedOn is missing/],
    [
      'a date without time',
      (d: unknown) => setIn(d, ['metadata', 'scanStartedOn'], '2022-04-12'),
      /"2022-04-12", not an RFC 3339 timestamp/,
    ],
    ['no offset', (d: unknown) => setIn(d, ['metadata', 'scanStartedOn'], '2022-04-12T00:00:00'), /not an RFC 3339/],
    [
      'lower-case t (Go cannot parse it)',
      (d: unknown) => setIn(d, ['metadata', 'scanStartedOn'], '2022-04-12t00:00:00Z'),
      /not an RFC 3339/,
    ],
    ['an offset hour of 24', (d: unknown) => setIn(d, ['metadata', 'scanStartedOn'], '2022-04-12T00:00:00+24:00'), /not an RFC 3339/],
    ['31 February', (d: unknown) => setIn(d, ['metadata', 'scanStartedOn'], '2022-02-31T00:00:00Z'), /not an RFC 3339/],
    ['a number', (d: unknown) => setIn(d, ['metadata', 'scanFinishedOn'], 1649721600), /scanFinishedOn is 1649721600/],
    ['finished before started', (d: unknown) => setIn(d, ['metadata', 'scanFinishedOn'], '2022-04-11T00:00:00Z'), /before scanStartedOn/],
    ['Go zero time', (d: unknown) => setIn(d, ['metadata', 'scanStartedOn'], '0001-01-01T00:00:00Z'), /zero time/],
    ['result is a list', (d: unknown) => setIn(d, ['scanner', 'result'], []), /scanner\.result must be an object/],
    ['result is a string', (d: unknown) => setIn(d, ['scanner', 'result'], '{}'), /scanner\.result must be an object/],
    ['scanner is a string', (d: unknown) => setIn(d, ['scanner'], 'trivy'), /"scanner" is a string/],
    ['scanner.uri is a number', (d: unknown) => setIn(d, ['scanner', 'uri'], 7), /scanner\.uri must be a string/],
    ['db is a list', (d: unknown) => setIn(d, ['scanner', 'db'], []), /scanner\.db must be an object/],
  ])('refuses %s', (_label, mutate, message) => {
    const doc = base();
    mutate(doc);
    const err = refusal('vuln', doc);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(message);
  });

  it("refuses the Go zero-time predicate of cosign's policy testdata (valid/vuln) as input", () => {
    const { predicate } = statementFromEnvelope(V.policyValidVuln);
    expect(refusal('vuln', predicate as object).message).toMatch(/metadata\.scanStartedOn is "0001-01-01T00:00:00Z", the zero time/);
  });

  it('accepts a result in an unknown format but says policies cannot evaluate it', () => {
    const doc = base();
    setIn(doc, ['scanner', 'result'], { runs: [] }); // e.g. SARIF
    expect(prepare('vuln', doc).summary).toMatch(/cannot evaluate/);
  });
});

describe('preparePredicate: in-toto vulns predicate', () => {
  const specExample = () => ({
    scanner: {
      uri: 'pkg:github/aquasecurity/trivy@244fd47e07d1004f0aed9',
      version: '0.19.2',
      db: { uri: 'pkg:github/aquasecurity/trivy-db/commit/4c76bb58', version: 'v1-2021080612', lastUpdate: '2021-08-06T17:45:50.52Z' },
      result: [
        {
          id: 'CVE-123',
          severity: [
            { method: 'nvd', score: 'medium' },
            { method: 'cvss_score', score: '5.2' },
          ],
        },
        { id: 'CVE-456', severity: [{ method: 'cvss_score', score: '9.1' }] },
      ],
    },
    metadata: { scanStartedOn: '2021-08-06T17:45:50.52Z', scanFinishedOn: '2021-08-06T17:50:50.52Z' },
  });

  it('accepts the v0.2 spec example', () => {
    const out = prepare('https://in-toto.io/attestation/vulns/v0.2', specExample());
    expect(out.predicateType).toBe('https://in-toto.io/attestation/vulns/v0.2');
    expect(out.summary).toBe(
      'in-toto vulns scan by pkg:github/aquasecurity/trivy@244fd47e07d1004f0aed9, 2 vulnerabilities (max CRITICAL), scanned 2021-08-06T17:45:50.520Z',
    );
  });

  it('accepts the v0.1 shape (id/severity under "vulnerability") and an empty result', () => {
    const doc = specExample();
    setIn(doc, ['scanner', 'result'], [{ vulnerability: { id: 'CVE-1', severity: [{ method: 'nvd', score: 'high' }] } }]);
    expect(prepare('https://in-toto.io/attestation/vulns/v0.1', doc).summary).toMatch(/1 vulnerability \(max HIGH\)/);
    setIn(doc, ['scanner', 'result'], []);
    expect(prepare('https://in-toto.io/attestation/vulns/v0.1', doc).summary).toMatch(/0 vulnerabilities,/);
  });

  it.each([
    ['scanner.uri missing', (d: unknown) => deleteIn(d, ['scanner', 'uri']), /scanner\.uri is required/],
    ['scanner.db missing', (d: unknown) => deleteIn(d, ['scanner', 'db']), /scanner\.db is required, with "lastUpdate"/],
    ['db.lastUpdate missing', (d: unknown) => deleteIn(d, ['scanner', 'db', 'lastUpdate']), /scanner\.db\.lastUpdate is missing/],
    ['scanStartedOn missing', (d: unknown) => deleteIn(d, ['metadata', 'scanStartedOn']), /metadata\.scanStartedOn is missing/],
    ['result not a list', (d: unknown) => setIn(d, ['scanner', 'result'], {}), /scanner\.result is required and must be a list/],
    ['entry without id', (d: unknown) => deleteIn(d, ['scanner', 'result', 1, 'id']), /scanner\.result\[1\]: "id"/],
    [
      'severity not a list',
      (d: unknown) => setIn(d, ['scanner', 'result', 0, 'severity'], 'high'),
      /scanner\.result\[0\]: "severity" is required/,
    ],
    [
      'severity entry without score',
      (d: unknown) => deleteIn(d, ['scanner', 'result', 0, 'severity', 1, 'score']),
      /severity\[1\] must be/,
    ],
  ])('refuses %s', (_label, mutate, message) => {
    const doc = specExample();
    mutate(doc);
    const err = refusal('https://in-toto.io/attestation/vulns/v0.2', doc);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(message);
  });

  it('refuses a raw Trivy report and points at --type vuln', () => {
    expect(refusal('https://in-toto.io/attestation/vulns/v0.2', readVector(V.trivyAlpine310)).message).toMatch(/--type vuln/);
  });
});

describe('preparePredicate: invalid inputs are refused with actionable messages', () => {
  it('refuses content that is not JSON, naming line and column', () => {
    const err = refusal('spdxjson', 'not json at all');
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/not valid JSON \(line 1, column 1, byte offset 0\)/);
    expect(err.details).toEqual({ line: 1, column: 1, offset: 0 });
  });

  it('locates an error deep in the document', () => {
    expect(refusal('cyclonedx', '{\n  "bomFormat": "CycloneDX",\n  "specVersion": }').message).toMatch(/line 3, column 18/);
    expect(refusal('cyclonedx', '{"a":1,}').message).toMatch(/line 1, column 8/);
    expect(refusal('cyclonedx', '{"a": tru}').message).toMatch(/line 1, column 7/);
    expect(refusal('cyclonedx', '{"a": [1, 2').message).toMatch(/line 1, column 12/);
    expect(refusal('cyclonedx', '{"a": 1} x').message).toMatch(/line 1, column 10/);
  });

  it('recognises SPDX tag-value, XML and JSON Lines and says which JSON to export', () => {
    expect(refusal('spdx', 'SPDXVersion: SPDX-2.2\nDataLicense: CC0-1.0\n').message).toMatch(/SPDX tag-value.*SPDX JSON/);
    expect(refusal('cyclonedx', '<?xml version="1.0"?><bom/>').message).toMatch(/XML.*CycloneDX JSON/);
    expect(refusal('vuln', '{"a":1}\n{"b":2}\n').message).toMatch(/JSON Lines/);
  });

  it.each([
    ['a JSON array', '[{"spdxVersion":"SPDX-2.3"}]', /holds an array: pass one predicate document, not a list/],
    ['a JSON string', '"hello"', /holds a string/],
    ['null', 'null', /holds null/],
    ['a number', '42', /holds a number/],
  ])('refuses %s for every type', (_label, text, message) => {
    for (const type of ['spdxjson', 'cyclonedx', 'vuln', 'https://example.com/anything']) {
      const err = refusal(type, text);
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toMatch(message);
    }
  });

  it('refuses an empty file and non-UTF-8 content, and tolerates a UTF-8 byte order mark', () => {
    expect(refusal('spdxjson', Buffer.alloc(0)).message).toMatch(/empty/);
    expect(refusal('spdxjson', ' \n').message).toMatch(/empty/);
    const utf16 = Buffer.from(`\ufeff${readVector(V.cosignCdx).toString('utf8')}`, 'utf16le');
    expect(refusal('cyclonedx', utf16).message).toMatch(/not valid UTF-8/);
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), readVector(V.cosignCdx)]);
    expect(prepare('cyclonedx', withBom).summary).toBe('CycloneDX 1.4 SBOM, 0 components');
  });

  it('refuses content over maxBytes with RESOURCE_EXHAUSTED giving the limit', () => {
    const content = readVector(V.cosignSpdx); // 429 bytes
    const err = refusal('spdxjson', content, { maxBytes: 400 });
    expect(err.code).toBe('RESOURCE_EXHAUSTED');
    expect(err.message).toMatch(/429 bytes; the limit is 400 bytes/);
    expect(() => prepare('spdxjson', content, { maxBytes: content.length })).not.toThrow();
  });

  it('applies an 8 MiB default limit', () => {
    const big = Buffer.alloc(8 * 1024 * 1024 + 1, 0x20);
    const err = refusal('https://example.com/p', big);
    expect(err.code).toBe('RESOURCE_EXHAUSTED');
    expect(err.message).toContain('(8 MiB)');
  });

  it('refuses SPDX without spdxVersion, showing what an SPDX document looks like', () => {
    const doc = readVectorJson(V.cosignSpdx);
    delete doc.spdxVersion;
    const err = refusal('spdxjson', doc);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/no "spdxVersion"/);
    expect(err.message).toContain('"spdxVersion": "SPDX-2.3"');
  });

  it.each([
    ['spdxVersion not SPDX-2.x', (d: unknown) => setIn(d, ['spdxVersion'], 'SPDX-3.0'), /spdxVersion "SPDX-3.0"/],
    ['spdxVersion garbage', (d: unknown) => setIn(d, ['spdxVersion'], '2.2'), /expected "SPDX-2.<minor>"/],
    ['no SPDXID', (d: unknown) => deleteIn(d, ['SPDXID']), /"SPDXID"/],
    ['no name', (d: unknown) => setIn(d, ['name'], ''), /no "name"/],
    ['packages not a list', (d: unknown) => setIn(d, ['packages'], {}), /packages must be a list/],
  ])('refuses SPDX with %s', (_label, mutate, message) => {
    const doc = readVectorJson(V.cosignSpdx);
    mutate(doc);
    expect(refusal('spdxjson', doc).message).toMatch(message);
  });

  it('refuses an SPDX document whose version does not match a versioned predicateType', () => {
    const err = refusal('https://spdx.dev/Document/v2.3', readVector(V.cosignSpdx));
    expect(err.message).toMatch(/SPDX 2\.3, but the document says SPDX-2\.2/);
    expect(prepare('https://spdx.dev/Document/v2.2', readVector(V.cosignSpdx)).predicateType).toBe('https://spdx.dev/Document/v2.2');
  });

  it('refuses CycloneDX without bomFormat', () => {
    const doc = readVectorJson(V.cosignCdx);
    delete doc.bomFormat;
    const err = refusal('cyclonedx', doc);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/no "bomFormat"/);
    expect(err.message).toContain('"bomFormat": "CycloneDX"');
  });

  it.each([
    ['wrong bomFormat', (d: unknown) => setIn(d, ['bomFormat'], 'SPDX'), /bomFormat "SPDX"/],
    ['no specVersion', (d: unknown) => deleteIn(d, ['specVersion']), /no valid "specVersion"/],
    ['numeric specVersion', (d: unknown) => setIn(d, ['specVersion'], 1.4), /no valid "specVersion" \(found 1.4\)/],
    ['components not a list', (d: unknown) => setIn(d, ['components'], 'x'), /components must be a list/],
    ['a component that is not an object', (d: unknown) => setIn(d, ['components'], [1]), /every entry of components must be an object/],
  ])('refuses CycloneDX with %s', (_label, mutate, message) => {
    const doc = readVectorJson(V.cosignCdx);
    mutate(doc);
    expect(refusal('cyclonedx', doc).message).toMatch(message);
  });

  it('checks a versioned CycloneDX predicateType against specVersion', () => {
    expect(refusal('https://cyclonedx.org/bom/v1.5', readVector(V.cosignCdx)).message).toMatch(
      /CycloneDX 1\.5, but the BOM's specVersion is 1\.4/,
    );
    expect(prepare('https://cyclonedx.org/bom/v1', readVector(V.cosignCdx)).summary).toBe('CycloneDX 1.4 SBOM, 0 components');
  });

  it('names the right --type when the content does not match the type', () => {
    expect(refusal('spdxjson', readVector(V.cosignCdx)).message).toMatch(/CycloneDX JSON BOM \(use --type cyclonedx\)/);
    expect(refusal('cyclonedx', readVector(V.cosignSpdx)).message).toMatch(/SPDX 2 JSON document \(use --type spdxjson\)/);
    expect(refusal('vuln', readVector(V.trivyCondaSpdx)).message).toMatch(/use --type spdxjson/);
    expect(refusal('vuln', readVector(V.trivyFluentdCdx16)).message).toMatch(/use --type cyclonedx/);
    expect(refusal('cyclonedx', readVector(V.trivyAlpine310)).message).toMatch(/Trivy JSON report \(use --type vuln\)/);
    expect(refusal('vuln', { hello: 'world' }).message).toMatch(/trivy image --format json/);
  });

  it('refuses a whole DSSE envelope or in-toto statement instead of nesting it', () => {
    const envelope = refusal('cyclonedx', readVector(V.trivyCentosIntoto));
    expect(envelope.message).toMatch(/DSSE envelope, not a predicate/);
    expect(envelope.message).toMatch(/base64-decoding/);
    const statement = refusal('vuln', statementFromEnvelope(V.policyValidVuln));
    expect(statement.message).toMatch(/in-toto Statement, not a predicate/);
  });

  it('refuses a non-absolute predicate type before looking at the content', () => {
    const err = refusal('cosign.sigstore.dev/attestation/vuln/v1', readVector(V.cosignVulnPredicate));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/absolute URI/);
  });
});

describe('preparePredicate: other predicate types', () => {
  it('accepts any JSON object for an unknown URI and stores it unchanged', () => {
    const doc = { anything: [1, 2, 3], nested: { ok: true } };
    const out = prepare('https://example.com/attestation/custom-check/v1', doc);
    expect(out.predicate).toEqual(doc);
    expect(out.summary).toBe('predicate of type https://example.com/attestation/custom-check/v1, 2 top-level fields');
  });

  it('wraps a document as cosign --type custom does, with Timestamp = now', () => {
    const text = '{"note": "release approved"}';
    const out = prepare('custom', text, { now: new Date('2024-03-01T10:00:00.123Z') });
    expect(out.predicateType).toBe('https://cosign.sigstore.dev/attestation/v1');
    expect(out.predicate).toEqual({ Data: text, Timestamp: '2024-03-01T10:00:00Z' });
  });

  it('keeps a predicate that already has the cosign custom shape (the valid/custom vector)', () => {
    const { predicate } = statementFromEnvelope(V.policyValidCustom);
    const out = prepare('custom', predicate as object);
    expect(out.predicate).toEqual({ Data: 'foobar test attestation', Timestamp: '2022-04-07T19:22:25Z' });
    expect(out.summary).toBe('cosign custom predicate, 23 bytes of data');
    expect(refusal('custom', { Data: 'x', Timestamp: 'yesterday' }).message).toMatch(/Timestamp is "yesterday"/);
  });

  it('summarises SLSA provenance and OpenVEX', () => {
    expect(
      prepare('slsaprovenance1', { buildDefinition: {}, runDetails: { builder: { id: 'https://github.com/actions/runner' } } }).summary,
    ).toBe('SLSA provenance v1 from builder https://github.com/actions/runner');
    expect(prepare('openvex', { '@context': 'https://openvex.dev/ns/v0.2.0', statements: [{}, {}] }).summary).toBe(
      'OpenVEX document, 2 statements',
    );
  });
});

describe('preparePredicate: nesting depth is bounded at parse', () => {
  /** `{"a":{"a":…{}…}}` nested `levels` deep, under `wrap` (e.g. inside an SPDX document's field). */
  const nested = (levels: number) => `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`;

  it.each([
    ['a 100,000-deep custom predicate', 'https://example.com/custom/v1', nested(100_000)],
    ['a 100,000-deep array under an SPDX document', 'spdx', `{"spdxVersion":"SPDX-2.3","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`],
    [
      'a 100,000-deep raw Trivy report',
      'vuln',
      `{"SchemaVersion":2,"ArtifactName":"x","Results":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    ],
    [`${MAX_JSON_DEPTH + 1} levels`, 'https://example.com/custom/v1', nested(MAX_JSON_DEPTH + 1)],
  ])('%s is INVALID_ARGUMENT naming the limit', (_what, type, body) => {
    const err = refusal(type, body);
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain(`deeper than ${MAX_JSON_DEPTH} levels`);
    expect(err.message).toMatch(/line 1, column \d+/);
  });

  test('a stored predicate given as a JSON string (cosign legacy --type spdx) is bounded the same way', () => {
    expect(parsePredicateObject(nested(MAX_JSON_DEPTH))).toHaveProperty('a');
    const err = thrown(() => parsePredicateObject(nested(100_000)));
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((err as Error).message).toContain(`deeper than ${MAX_JSON_DEPTH} levels`);
  });

  test(`${MAX_JSON_DEPTH} levels are accepted, and the statement they go into can be serialized`, () => {
    const p = prepare('https://example.com/custom/v1', nested(MAX_JSON_DEPTH));
    expect(JSON.stringify({ predicate: p.predicate }).length).toBeGreaterThan(MAX_JSON_DEPTH * 5);
  });
});
