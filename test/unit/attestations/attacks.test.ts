/**
 * Adversarial review of how scan and SBOM attestations are judged (src/attestations/* through
 * src/policy/requirements.ts). Evidence here is "verified" (signed by an accepted key) unless a
 * test says otherwise: what is attacked is how its content is read, which scan counts, and
 * whether junk an attacker can push changes the answer. It found six holes, closed since.
 */
import { PREDICATE_TYPE, extractVulnerabilities, sbomPackages } from '../../../src/attestations';
import { evaluate, parsePolicy, type Decision, type Policy } from '../../../src/policy';
import type { Evidence, ImageFacts } from '../../../src/policy/input';
import { IMAGE_DIGEST, attestation, digestOf, image, signature, spdxSbom, trivyScan } from '../policy/fixtures';

const NOW = new Date('2026-06-01T12:00:00Z');
const hoursAgo = (h: number): string => new Date(NOW.getTime() - h * 3600_000).toISOString().replace(/\.000Z$/, 'Z');
const target = image('registry.example.com/acmecorp/app:1.0');

function policy(require: string): Policy {
  return parsePolicy(`rules:\n  - name: r\n    require: ${require}\n`, 'attacks.yaml');
}

function decide(p: Policy, evidence: Evidence[], img: ImageFacts = target): Decision {
  return evaluate(p, { image: img, action: 'deploy', context: {}, evidence, now: NOW });
}

function req(d: Decision, name: string): { satisfied: boolean; message: string } {
  const r = d.requirements.find((x) => x.requirement === name);
  if (!r) throw new Error(`no requirement ${name}: ${JSON.stringify(d.requirements)}`);
  return r;
}

const scan = (predicate: unknown, label: string, over: Partial<Evidence> = {}): Evidence =>
  attestation(PREDICATE_TYPE.COSIGN_VULN, predicate, 'scanner', { referrerDigest: digestOf(label), ...over });

const noHigh = policy('{ vulnerabilities: { maxSeverity: medium } }');
const noHighFresh = policy('{ vulnerabilities: { maxSeverity: medium, maxAge: 7d } }');

function intotoVulns(result: unknown, at: string): Record<string, unknown> {
  return {
    scanner: { uri: 'pkg:github/aquasecurity/trivy@0.19.2', db: { lastUpdate: at }, ...(result === undefined ? {} : { result }) },
    metadata: { scanStartedOn: at, scanFinishedOn: at },
  };
}

// -------------------------------------------------------------------------------------------------
// Which scan counts

describe('which scan counts', () => {
  const cleanOld = scan(trivyScan(hoursAgo(48), []), 'clean-old');
  const badNew = scan(trivyScan(hoursAgo(1), [{ id: 'CVE-2026-0001', severity: 'CRITICAL' }]), 'bad-new');
  const badOld = scan(trivyScan(hoursAgo(48), [{ id: 'CVE-2026-0001', severity: 'CRITICAL' }]), 'bad-old');
  const cleanNew = scan(trivyScan(hoursAgo(1), []), 'clean-new');

  it('an older clean scan does not hide a newer finding (either order of evidence)', () => {
    expect(decide(noHigh, [cleanOld, badNew]).allowed).toBe(false);
    expect(decide(noHigh, [badNew, cleanOld]).allowed).toBe(false);
  });

  it('a newer clean scan supersedes an older finding (documented)', () => {
    expect(decide(noHigh, [badOld, cleanNew]).allowed).toBe(true);
  });

  it('a scan claiming a time in the future is not used and cannot supersede a real finding', () => {
    const future = scan(trivyScan(new Date(NOW.getTime() + 3600_000).toISOString(), []), 'future');
    const d = decide(noHigh, [badOld, future]);
    expect(d.allowed).toBe(false);
    expect(req(d, 'vulnerabilities').message).toMatch(/future/);
  });

  it('time zones are honoured: +05:00 is five hours before Z', () => {
    // 16:00+05:00 = 11:00Z: one hour old, newer than the 3h-old finding.
    const clean = scan(trivyScan('2026-06-01T16:00:00+05:00', []), 'tz-clean');
    const bad = scan(trivyScan(hoursAgo(3), [{ id: 'CVE-1', severity: 'HIGH' }]), 'tz-bad');
    expect(decide(noHigh, [bad, clean]).allowed).toBe(true);
    // 08:00-02:00 = 10:00Z: two hours old, older than a 1h-old finding.
    const older = scan(trivyScan('2026-06-01T08:00:00-02:00', []), 'tz-older');
    const newer = scan(trivyScan(hoursAgo(1), [{ id: 'CVE-1', severity: 'HIGH' }]), 'tz-newer');
    expect(decide(noHigh, [older, newer]).allowed).toBe(false);
  });

  it.each(['2026-06-01 11:00:00Z', '2026-06-01T11:00:00', '2026-06-01T11:00:00z', '2026-06-31T11:00:00Z', 'yesterday', 1780000000])(
    'with maxAge, a scan whose time is unparsable (%p) is not used',
    (t) => {
      const s = scan({ ...trivyScan(hoursAgo(1), []), metadata: { scanStartedOn: t, scanFinishedOn: t } }, `bad-time-${String(t)}`);
      expect(decide(noHighFresh, [s]).allowed).toBe(false);
    },
  );

  it('with maxAge, a stale clean scan fails', () => {
    const d = decide(noHighFresh, [scan(trivyScan(hoursAgo(24 * 8), []), 'stale')]);
    expect(d.allowed).toBe(false);
    expect(req(d, 'vulnerabilities').message).toMatch(/old, maximum 7d/);
  });

  // Go's zero time.Time marshals as 0001-01-01T00:00:00Z and means "not set" (the writer in
  // prepare.ts refuses it for exactly that reason). Read back as the year 1, it makes the NEWEST
  // scan sort as the OLDEST, so an older clean scan is taken as current.
  it('a newer failing scan whose scanStartedOn is Go zero time is not hidden by an older clean scan', () => {
    const zeroStart = scan(
      {
        ...trivyScan(hoursAgo(1), [{ id: 'CVE-2026-0001', severity: 'CRITICAL' }]),
        metadata: { scanStartedOn: '0001-01-01T00:00:00Z', scanFinishedOn: hoursAgo(1) },
      },
      'zero-start',
    );
    expect(decide(noHigh, [cleanOld, zeroStart]).allowed).toBe(false);
    expect(decide(noHighFresh, [cleanOld, zeroStart]).allowed).toBe(false);
  });

  // Two signed scans of the same instant that disagree: which one "is newest" is decided by the
  // referrer digest, i.e. by chance. A fail-closed verifier takes the worse of them.
  it('of two scans with the same scan time, a failing one decides whatever the referrer digests (each is judged)', () => {
    const at = hoursAgo(2);
    for (const [a, b] of [
      ['tie-a', 'tie-b'],
      ['tie-b', 'tie-a'],
    ] as const) {
      const clean = scan(trivyScan(at, []), a);
      const bad = scan(trivyScan(at, [{ id: 'CVE-2026-0002', severity: 'CRITICAL' }]), b);
      expect({ clean: clean.referrerDigest < bad.referrerDigest, allowed: decide(noHigh, [clean, bad]).allowed }).toEqual({
        clean: clean.referrerDigest < bad.referrerDigest,
        allowed: false,
      });
    }
  });

  it('a failing scan that records no time is judged next to the newest timed one: it may be the newer (no maxAge)', () => {
    const untimed = scan({ ...trivyScan(hoursAgo(3), [{ id: 'CVE-2026-0003', severity: 'CRITICAL' }]), metadata: {} }, 'untimed');
    expect(decide(noHigh, [cleanNew, untimed]).allowed).toBe(false);
    expect(decide(noHigh, [cleanNew, scan({ ...trivyScan(hoursAgo(3), []), metadata: {} }, 'untimed-clean')]).allowed).toBe(true);
  });

  it('two clean scans of the same time: allowed, naming one of them', () => {
    const at = hoursAgo(2);
    const d = decide(noHigh, [scan(trivyScan(at, []), 'tie-a'), scan(trivyScan(at, []), 'tie-b')]);
    expect(d.allowed).toBe(true);
    expect(d.evidenceUsed).toHaveLength(1);
  });

  it('a scan about another image (statement subject is another digest) never counts, clean or not', () => {
    const copied = scan(trivyScan(hoursAgo(1), []), 'copied', { subjectDigest: digestOf('other-image') });
    expect(decide(noHigh, [copied]).allowed).toBe(false);
  });

  it('unsigned, wrongly signed or foreign-key scans pushed next to a real finding change nothing (no ALLOW, no hiding)', () => {
    const p = policy('{ vulnerabilities: { maxSeverity: medium, keys: [scanner] } }');
    const junk = [
      scan(trivyScan(hoursAgo(0.5), []), 'junk-unverified', { verified: false, reason: 'signature does not verify' }),
      attestation(PREDICATE_TYPE.COSIGN_VULN, trivyScan(hoursAgo(0.5), []), 'attacker-key', { referrerDigest: digestOf('junk-key') }),
      scan('not json {', 'junk-text'),
      scan({ scanner: { result: { SchemaVersion: 2, Results: 'x' } }, metadata: {} }, 'junk-shape', { verified: false }),
    ];
    expect(decide(p, [...junk, badNew]).allowed).toBe(false);
    // … and do not turn a clean image into a deny (no DoS through junk).
    expect(decide(p, [...junk, cleanNew]).allowed).toBe(true);
  });

  it('multi-arch: one clean platform does not cover a failing one', () => {
    const amd = digestOf('amd64');
    const arm = digestOf('arm64');
    const idx: ImageFacts = {
      ...target,
      digest: digestOf('index'),
      mediaType: 'application/vnd.oci.image.index.v1+json',
      platforms: [
        { digest: amd, mediaType: 'application/vnd.oci.image.manifest.v1+json', platform: { os: 'linux', architecture: 'amd64' } },
        { digest: arm, mediaType: 'application/vnd.oci.image.manifest.v1+json', platform: { os: 'linux', architecture: 'arm64' } },
      ],
    };
    const d = decide(
      noHigh,
      [
        scan(trivyScan(hoursAgo(1), []), 'amd', { subjectDigest: amd }),
        scan(trivyScan(hoursAgo(1), [{ id: 'CVE-9', severity: 'CRITICAL' }]), 'arm', { subjectDigest: arm }),
      ],
      idx,
    );
    expect(d.allowed).toBe(false);
  });
});

// -------------------------------------------------------------------------------------------------
// Reading findings

describe('reading findings', () => {
  it.each(['CRITICAL', 'critical', 'Critical', ' critical ', 'HIGH', 'High', 'important'])(
    'a Trivy finding rated %p fails maxSeverity: medium',
    (severity) => {
      expect(decide(noHigh, [scan(trivyScan(hoursAgo(1), [{ id: 'CVE-1', severity }]), `sev-${severity}`)]).allowed).toBe(false);
    },
  );

  it('an UNKNOWN-rated finding passes (documented: unrated findings never fail)', () => {
    expect(decide(noHigh, [scan(trivyScan(hoursAgo(1), [{ id: 'CVE-1', severity: 'UNKNOWN' }]), 'unknown')]).allowed).toBe(true);
  });

  it('malformed report structures are unreadable, never "no findings"', () => {
    const bad = (result: unknown, label: string): Evidence =>
      scan({ scanner: { result }, metadata: { scanStartedOn: hoursAgo(1), scanFinishedOn: hoursAgo(1) } }, label);
    for (const [result, label] of [
      [{ SchemaVersion: 2, ArtifactName: 'x', Results: 'oops' }, 'results-string'],
      [{ SchemaVersion: 2, ArtifactName: 'x', Results: [{ Vulnerabilities: { a: 1 } }] }, 'vulns-object'],
      [{ SchemaVersion: '2', ArtifactName: 'x', Results: [] }, 'schema-string'],
      [{ matches: 'x', descriptor: { name: 'grype' } }, 'grype-matches-string'],
      [{ bomFormat: 'CycloneDX', vulnerabilities: {} }, 'cdx-vulns-object'],
      [[], 'list'],
      ['{"SchemaVersion":2}', 'string'],
    ] as const) {
      const d = decide(noHigh, [bad(result, label)]);
      expect({ label, allowed: d.allowed }).toEqual({ label, allowed: false });
    }
  });

  it('CycloneDX: the highest rating counts, and a CVSS score fills in an unrated severity', () => {
    const cdx = (ratings: unknown[], label: string): Evidence =>
      scan(
        {
          scanner: { result: { bomFormat: 'CycloneDX', specVersion: '1.5', vulnerabilities: [{ id: 'CVE-1', ratings }] } },
          metadata: { scanStartedOn: hoursAgo(1), scanFinishedOn: hoursAgo(1) },
        },
        label,
      );
    expect(decide(noHigh, [cdx([{ severity: 'low' }, { severity: 'critical' }], 'cdx-mixed')]).allowed).toBe(false);
    expect(decide(noHigh, [cdx([{ severity: 'unknown', method: 'CVSSv31', score: 9.8 }], 'cdx-score')]).allowed).toBe(false);
    expect(decide(noHigh, [cdx([{ method: 'CVSSv31', score: '9.8' }], 'cdx-score-string')]).allowed).toBe(false);
  });

  it('Grype: an Unknown match severity is filled in from a related (NVD) record', () => {
    const g = scan(
      {
        scanner: {
          result: {
            descriptor: { name: 'grype' },
            matches: [
              {
                vulnerability: { id: 'GHSA-x', severity: 'Unknown' },
                relatedVulnerabilities: [{ id: 'CVE-1', severity: 'Critical' }],
                artifact: { name: 'x', version: '1' },
              },
            ],
          },
        },
        metadata: { scanStartedOn: hoursAgo(1), scanFinishedOn: hoursAgo(1) },
      },
      'grype-related',
    );
    expect(decide(noHigh, [g]).allowed).toBe(false);
  });

  it('in-toto vulns: CVSS scores given as strings are rated, EPSS probabilities are not', () => {
    const p = (severity: unknown[], label: string): Evidence =>
      attestation(PREDICATE_TYPE.INTOTO_VULNS_V01, intotoVulns([{ id: 'CVE-1', severity }], hoursAgo(1)), 'scanner', {
        referrerDigest: digestOf(label),
      });
    expect(decide(noHigh, [p([{ method: 'cvss_score', score: '9.8' }], 'iv-cvss')]).allowed).toBe(false);
    expect(decide(noHigh, [p([{ method: 'epss', score: '0.97' }], 'iv-epss')]).allowed).toBe(true);
  });

  // The in-toto vulns spec names "nvd" as a scoring method (its example pairs it with a word, but the
  // field is "a string representing the severity score based on the selected method"); NVD's
  // scores are CVSS base scores. Read as unrated, a 9.8 passes every maxSeverity.
  it('in-toto vulns: an NVD score of 9.8 is critical and fails maxSeverity: medium', () => {
    const e = attestation(
      PREDICATE_TYPE.INTOTO_VULNS_V01,
      intotoVulns([{ id: 'CVE-1', severity: [{ method: 'nvd', score: '9.8' }] }], hoursAgo(1)),
      'scanner',
    );
    expect(decide(noHigh, [e]).allowed).toBe(false);
  });

  // `scanner.result` is REQUIRED by the in-toto vulns spec ("an empty list means the scanner found no
  // vulnerabilities"). Absent or null means the scanner reported nothing: the cosign vuln reader
  // treats exactly that as "carries no scanner result" (unusable); the in-toto reader as "clean".
  it('an in-toto vulns predicate without scanner.result is no scan (unusable), not a clean one', () => {
    for (const result of [undefined, null]) {
      const e = attestation(PREDICATE_TYPE.INTOTO_VULNS_V02, intotoVulns(result, hoursAgo(1)), 'scanner', {
        referrerDigest: digestOf(`iv-no-result-${String(result)}`),
      });
      const d = decide(noHigh, [e]);
      expect({ result: String(result), allowed: d.allowed }).toEqual({ result: String(result), allowed: false });
    }
  });

  it('a cosign vuln predicate with a null or empty result is not a clean scan', () => {
    for (const result of [null, {}]) {
      const d = decide(noHigh, [
        scan({ scanner: { result }, metadata: { scanStartedOn: hoursAgo(1) } }, `empty-${JSON.stringify(result)}`),
      ]);
      expect(d.allowed).toBe(false);
      expect(req(d, 'vulnerabilities').message).toMatch(/no scanner result/);
    }
  });

  // A report that has both Trivy's and Grype's shape is read as Trivy; the Grype matches (here a
  // critical) are never looked at. A demanding reader refuses an ambiguous report.
  it('a report that is both a Trivy and a Grype report is unreadable (ambiguous), not read as Trivy with its Grype matches ignored', () => {
    const both = scan(
      {
        scanner: {
          result: {
            SchemaVersion: 2,
            ArtifactName: 'x',
            descriptor: { name: 'grype' },
            matches: [{ vulnerability: { id: 'CVE-2026-0003', severity: 'Critical' }, artifact: { name: 'openssl', version: '3' } }],
          },
        },
        metadata: { scanStartedOn: hoursAgo(1), scanFinishedOn: hoursAgo(1) },
      },
      'both',
    );
    expect(decide(noHigh, [both]).allowed).toBe(false);
  });

  it('vulnerability exceptions: exact ids (or aliases) only, never after expiry', () => {
    const p = policy(
      '{ vulnerabilities: { maxSeverity: medium, exceptions: [{ id: CVE-2023-1234, expires: 2026-05-31, reason: r, approvedBy: a }, { id: CVE-2023-9, expires: 2027-01-01, reason: r, approvedBy: a }] } }',
    );
    const with_ = (id: string): Evidence => scan(trivyScan(hoursAgo(1), [{ id, severity: 'CRITICAL' }]), `exc-${id}`);
    expect(decide(p, [with_('CVE-2023-12345')]).allowed).toBe(false); // not a prefix match
    expect(decide(p, [with_('CVE-2023-1234')]).allowed).toBe(false); // expired yesterday
    expect(decide(p, [with_('CVE-2023-90')]).allowed).toBe(false);
    expect(decide(p, [with_('cve-2023-9')]).allowed).toBe(true); // ids are case-insensitive
  });
});

// -------------------------------------------------------------------------------------------------
// SBOMs and predicate type confusion

describe('SBOM requirements', () => {
  const denyLog4j = policy('{ sbom: { deniedPackages: ["log4j-core < 2.17.1"] } }');
  const sbomOnly = policy('{ sbom: {} }');
  const log4jCdx = {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    components: [{ type: 'library', name: 'log4j-core', version: '2.14.1', purl: 'pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1' }],
  };

  it('a denied package is found in SPDX, CycloneDX and nested components, under any case or purl spelling', () => {
    expect(decide(denyLog4j, [attestation(PREDICATE_TYPE.SPDX, spdxSbom([{ name: 'LOG4J-Core', version: '2.14.1' }]))]).allowed).toBe(
      false,
    );
    expect(decide(denyLog4j, [attestation(PREDICATE_TYPE.CYCLONEDX, log4jCdx)]).allowed).toBe(false);
    const nested = { ...log4jCdx, components: [{ name: 'app', version: '1', components: log4jCdx.components }] };
    expect(
      decide(denyLog4j, [attestation(PREDICATE_TYPE.CYCLONEDX, nested, 'ci-release', { referrerDigest: digestOf('nested') })]).allowed,
    ).toBe(false);
    const renamed = spdxSbom([{ name: 'org.apache.logging.log4j:log4j-core', version: '2.14.1' }]);
    expect(decide(denyLog4j, [attestation(PREDICATE_TYPE.SPDX, renamed)]).allowed).toBe(false);
  });

  it('a denied package without a version is denied (fail closed)', () => {
    expect(decide(denyLog4j, [attestation(PREDICATE_TYPE.SPDX, spdxSbom([{ name: 'log4j-core' }]))]).allowed).toBe(false);
  });

  it('predicate types are not confused: a scan is no SBOM, an SBOM no scan, "bomb" no CycloneDX', () => {
    expect(decide(sbomOnly, [scan(trivyScan(hoursAgo(1), []), 'scan-as-sbom')]).allowed).toBe(false);
    expect(decide(noHigh, [attestation(PREDICATE_TYPE.CYCLONEDX, { ...log4jCdx, vulnerabilities: [] })]).allowed).toBe(false);
    expect(decide(sbomOnly, [attestation('https://cyclonedx.org/bomb', log4jCdx)]).allowed).toBe(false);
    expect(decide(sbomOnly, [attestation('https://spdx.dev/Document/v2.3', spdxSbom([]))]).allowed).toBe(true);
    expect(decide(sbomOnly, [attestation('https://spdx.dev/Document/vX', spdxSbom([]))]).allowed).toBe(false);
  });

  it('a signature is not an SBOM, and an unverified SBOM never counts', () => {
    expect(decide(sbomOnly, [signature('ci-release', { predicateType: PREDICATE_TYPE.SPDX })]).allowed).toBe(false);
    expect(decide(sbomOnly, [attestation(PREDICATE_TYPE.SPDX, spdxSbom([]), 'ci-release', { verified: false })]).allowed).toBe(false);
  });

  it('an SBOM about another image never counts', () => {
    const e = attestation(PREDICATE_TYPE.SPDX, spdxSbom([]), 'ci-release', { subjectDigest: digestOf('other') });
    expect(decide(sbomOnly, [e]).allowed).toBe(false);
    expect(e.subjectDigest).not.toBe(IMAGE_DIGEST);
  });

  // A CycloneDX BOM attested under the SPDX predicate type (`cosign attest --type spdxjson bom.cdx.json`)
  // is read as an SPDX document with no `packages`: zero packages, so every denied package passes.
  // Countersign's own writer refuses this content (prepare.ts: 'SPDX document has no "spdxVersion"');
  // its reader must not turn it into "clean".
  it('a CycloneDX BOM under the SPDX predicate type is unreadable, not an empty SPDX SBOM through which log4j-core 2.14.1 passes deniedPackages', () => {
    const d = decide(denyLog4j, [attestation(PREDICATE_TYPE.SPDX, log4jCdx)]);
    expect(d.allowed).toBe(false);
  });

  it('an SPDX 2 document under the CycloneDX predicate type is unreadable, not an empty BOM', () => {
    const d = decide(denyLog4j, [attestation(PREDICATE_TYPE.CYCLONEDX, spdxSbom([{ name: 'log4j-core', version: '2.14.1' }]))]);
    expect(d.allowed).toBe(false);
  });

  it('an empty object under the SPDX predicate type does not satisfy an sbom requirement', () => {
    expect(() => sbomPackages(PREDICATE_TYPE.SPDX, {})).toThrow();
    expect(decide(sbomOnly, [attestation(PREDICATE_TYPE.SPDX, {})]).allowed).toBe(false);
  });

  it('reading a predicate whose shape is wrong fails, never yields "no findings"', () => {
    expect(() => sbomPackages(PREDICATE_TYPE.SPDX, { spdxVersion: 'SPDX-2.3', packages: {} })).toThrow();
    expect(() => sbomPackages(PREDICATE_TYPE.CYCLONEDX, { bomFormat: 'CycloneDX', components: 'x' })).toThrow();
    expect(() => extractVulnerabilities(PREDICATE_TYPE.SPDX, { spdxVersion: 'SPDX-2.3' })).toThrow();
  });
});
