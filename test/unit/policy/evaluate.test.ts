import { PREDICATE_TYPE } from '../../../src/attestations';
import {
  DEFAULT_POLICY,
  decideWithoutEvidence,
  evaluate,
  parsePolicy,
  type Decision,
  type EvaluationInput,
  type Policy,
} from '../../../src/policy';
import type { Evidence, ImageFacts } from '../../../src/policy/input';
import {
  EXAMPLE_POLICY,
  FLUENTD_CDX,
  GRYPE_CHAINGUARD,
  GRYPE_KEYCLOAK,
  IMAGE_DIGEST,
  LEGACY_DIGEST,
  TRIVY_ALPINE,
  attestation,
  digestOf,
  image,
  readVector,
  signature,
  spdxSbom,
  trivyScan,
  vulnPredicateFromVector,
} from './fixtures';

const NOW = new Date('2026-06-01T12:00:00Z');
const hoursAgo = (h: number, from = NOW): string => new Date(from.getTime() - h * 3600_000).toISOString().replace(/\.000Z$/, 'Z');

const example = parsePolicy(EXAMPLE_POLICY, 'policy.yaml');
const payments = image('registry.example.com/acmecorp/payments-api:1.4.2');

const goodSig = signature('ci-release');
const goodSbom = attestation(PREDICATE_TYPE.SPDX, spdxSbom([{ name: 'openssl', version: '3.1.0', license: 'Apache-2.0' }]));
const goodScan = attestation(PREDICATE_TYPE.COSIGN_VULN, trivyScan(hoursAgo(3), [{ id: 'CVE-2024-0001', severity: 'MEDIUM' }]));

function run(evidence: Evidence[], over: Partial<EvaluationInput> = {}, policy: Policy = example): Decision {
  return evaluate(policy, {
    image: payments,
    action: 'deploy',
    context: { namespace: 'payments' },
    evidence,
    now: NOW,
    ...over,
  });
}

function requirement(d: Decision, name: string): { satisfied: boolean; message: string } {
  const r = d.requirements.find((x) => x.requirement === name);
  if (!r) throw new Error(`no requirement ${name} in ${JSON.stringify(d.requirements)}`);
  return r;
}

/** A one-rule policy around the given `require` block (YAML flow syntax). */
function policyRequiring(require: string, extra = ''): Policy {
  return parsePolicy(`rules:\n  - name: r\n${extra}    require: ${require}\n`, 'test.yaml');
}

describe('the example policy, payments rule', () => {
  it('allows a signed image with an SBOM and a fresh clean scan, naming the evidence', () => {
    const d = run([goodSig, goodSbom, goodScan]);
    expect(d.allowed).toBe(true);
    expect(d.rule).toBe('payments');
    expect(d.mode).toBe('enforce');
    expect(d.policyRevision).toBe(example.revision);
    expect(d.requirements.map((r) => [r.requirement, r.satisfied])).toEqual([
      ['signatures', true],
      ['sbom', true],
      ['vulnerabilities', true],
    ]);
    expect(d.evidenceUsed).toEqual([goodSig.referrerDigest, goodSbom.referrerDigest, goodScan.referrerDigest]);
    expect(requirement(d, 'signatures').message).toBe(
      `${IMAGE_DIGEST.slice(0, 19)} is signed by ci-release (${goodSig.referrerDigest.slice(0, 19)})`,
    );
    expect(requirement(d, 'sbom').message).toContain('SPDX SBOM');
    expect(requirement(d, 'sbom').message).toContain('signed by ci-release (1 package)');
    expect(requirement(d, 'vulnerabilities').message).toContain('1 vulnerability, highest medium, none above medium');
    expect(requirement(d, 'vulnerabilities').message).toContain('3h old');
    expect(d.reasons).toEqual(d.requirements.map((r) => r.message));
    expect(d.warnings).toEqual([]);
  });

  describe('signatures', () => {
    it('denies an unsigned image: "no signature by ci-release"', () => {
      const d = run([goodSbom, goodScan]);
      expect(d.allowed).toBe(false);
      expect(requirement(d, 'signatures')).toEqual({
        requirement: 'signatures',
        satisfied: false,
        message: `no signature by ci-release on ${IMAGE_DIGEST.slice(0, 19)}`,
      });
      expect(d.reasons).toEqual([`no signature by ci-release on ${IMAGE_DIGEST.slice(0, 19)}`]);
      expect(d.evidenceUsed).not.toContain(goodSig.referrerDigest);
    });

    it('denies a signature by another trusted key, naming it', () => {
      const d = run([signature('dev-laptop'), goodSbom, goodScan]);
      expect(d.allowed).toBe(false);
      expect(requirement(d, 'signatures').message).toContain('no signature by ci-release');
      expect(requirement(d, 'signatures').message).toContain('found signatures by dev-laptop, which this rule does not accept');
    });

    it('denies a signature by ci-release that did not verify, saying why', () => {
      const d = run([
        signature('ci-release', { verified: false, reason: 'key ci-release was revoked at 2026-05-01T00:00:00Z' }),
        goodSbom,
        goodScan,
      ]);
      expect(d.allowed).toBe(false);
      expect(requirement(d, 'signatures').message).toContain('a Sigstore bundle signature is present but is not verified');
      expect(requirement(d, 'signatures').message).toContain('was revoked');
    });

    it('counts distinct keys toward minimum and accepts key ids', () => {
      const p = policyRequiring('{ signatures: { keys: [ci-release, id-security-team, qa], minimum: 2 } }');
      const twiceSameKey = run([goodSig, signature('ci-release', { referrerDigest: digestOf('second') })], {}, p);
      expect(twiceSameKey.allowed).toBe(false);
      expect(twiceSameKey.reasons[0]).toContain('signed by 1 distinct key');
      expect(twiceSameKey.reasons[0]).toContain('but 2 are required');
      const twoKeys = run([goodSig, signature('security-team')], {}, p);
      expect(twoKeys.allowed).toBe(true);
      expect(twoKeys.reasons[0]).toContain('2 distinct keys, 2 required');
    });

    it('resolves key names through keyNames when evidence carries only the id', () => {
      const p = policyRequiring('{ signatures: { keys: [ci-release] } }');
      const idOnly: Evidence = { ...goodSig, keyName: undefined };
      delete (idOnly as Partial<Evidence>).keyName;
      expect(run([idOnly], {}, p).allowed).toBe(false);
      const d = run([idOnly], { keyNames: (id) => (id === 'id-ci-release' ? 'ci-release' : undefined) }, p);
      expect(d.allowed).toBe(true);
      expect(d.reasons[0]).toContain('signed by ci-release');
    });

    it('names a present but unverifiable signature in the deny: Notary Project, keyless cosign', () => {
      const p = policyRequiring('{ signatures: {} }');
      const notary = signature('x', {
        format: 'notation',
        verified: false,
        reason: 'it needs X.509 trust, which Countersign does not verify yet',
        keyName: undefined,
        keyId: undefined,
        predicateType: undefined,
      });
      const keyless = signature('y', {
        format: 'cosign-legacy-signature',
        verified: false,
        reason: 'layer 0: keyless (certificate) signature: not supported, configure a key',
        keyName: undefined,
        keyId: undefined,
      });
      const d = run([notary, keyless], {}, p);
      expect(d.allowed).toBe(false);
      const message = requirement(d, 'signatures').message;
      expect(message).toContain(
        `a Notary Project signature is present but is not verified: ${notary.referrerDigest.slice(0, 19)}: it needs X.509 trust`,
      );
      expect(message).toContain('a cosign .sig signature is present but is not verified: ');
      expect(message).toContain('keyless (certificate) signature');
      expect(d.reasons[0]).toBe(message);
    });

    it('says when the referrers list itself was not usable', () => {
      const listing: Evidence = {
        referrerDigest: '',
        format: 'referrers-index',
        kind: 'other',
        subjectDigest: IMAGE_DIGEST,
        verified: false,
        reason: 'the referrers of x could not be read: the body is not JSON',
      };
      const d = run([listing], {}, policyRequiring('{ signatures: {} }'));
      expect(requirement(d, 'signatures').message).toContain(
        '; the referrers list was not fully usable: the referrers of x could not be read: the body is not JSON',
      );
    });

    it('ignores evidence about other manifests', () => {
      expect(run([signature('ci-release', { subjectDigest: digestOf('other') }), goodSbom, goodScan]).allowed).toBe(false);
    });
  });

  describe('SBOM', () => {
    it('denies when no SBOM is attested', () => {
      const d = run([goodSig, goodScan]);
      expect(d.allowed).toBe(false);
      expect(requirement(d, 'sbom').message).toBe(
        `no readable SPDX or CycloneDX SBOM signed by a trusted key on ${IMAGE_DIGEST.slice(0, 19)}`,
      );
    });

    it('denies an SBOM that cannot be parsed, and says so', () => {
      const broken = attestation(PREDICATE_TYPE.CYCLONEDX, { bomFormat: 'CycloneDX', specVersion: '1.6', components: 'oops' });
      const d = run([goodSig, broken, goodScan]);
      expect(d.allowed).toBe(false);
      expect(requirement(d, 'sbom').message).toContain(
        `CycloneDX SBOM ${broken.referrerDigest.slice(0, 19)} could not be read (CycloneDX BOM: components must be a list)`,
      );
    });

    it('does not count an unverified SBOM', () => {
      const d = run([goodSig, { ...goodSbom, verified: false, reason: 'signature does not match' }, goodScan]);
      expect(d.allowed).toBe(false);
      expect(requirement(d, 'sbom').message).toContain('1 SBOM attestation did not verify');
    });

    it('matches SBOM predicate types by versioned prefix', () => {
      const v23 = attestation('https://spdx.dev/Document/v2.3', spdxSbom([{ name: 'zlib', version: '1.3' }]));
      expect(run([goodSig, v23, goodScan]).allowed).toBe(true);
    });

    it('refuses formats the rule does not accept', () => {
      const p = policyRequiring('{ sbom: { formats: [cyclonedx] } }');
      const d = run([goodSbom], {}, p);
      expect(d.allowed).toBe(false);
      expect(d.reasons[0]).toContain('found SPDX SBOMs, which this rule does not accept (formats: cyclonedx)');
    });

    describe('denied packages: log4j-core < 2.17.1', () => {
      const p = policyRequiring('{ sbom: { deniedPackages: ["log4j-core < 2.17.1"] } }');
      it.each<[string, string, boolean]>([
        ['log4j-core', '2.14.1', false],
        ['log4j-core', '2.17.0', false],
        ['org.apache.logging.log4j:log4j-core', '2.16.0', false], // Trivy's SPDX name for Maven packages
        ['LOG4J-CORE', '2.0-beta9', false],
        ['log4j-core', '2.17.1', true],
        ['log4j-core', '2.20.0', true],
        ['log4j-api', '2.14.1', true],
      ])('%s %s → allowed %s', (name, version, allowed) => {
        const d = run([attestation(PREDICATE_TYPE.SPDX, spdxSbom([{ name, version }]))], {}, p);
        expect(d.allowed).toBe(allowed);
        if (!allowed) expect(d.reasons[0]).toContain(`lists 1 denied package: ${name} ${version} (denied: log4j-core < 2.17.1)`);
      });

      it('matches on the purl name in CycloneDX and treats an unknown version as denied', () => {
        const bom = {
          bomFormat: 'CycloneDX',
          specVersion: '1.5',
          components: [
            { name: 'core', version: '2.14.1', purl: 'pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1' },
            { name: 'log4j-core' },
          ],
        };
        const d = run([attestation(PREDICATE_TYPE.CYCLONEDX, bom)], {}, p);
        expect(d.allowed).toBe(false);
        expect(d.reasons[0]).toContain('core 2.14.1 (denied: log4j-core < 2.17.1), log4j-core (version unknown)');
      });
    });

    it('denies packages under a denied license, also inside an expression', () => {
      const p = policyRequiring('{ sbom: { deniedLicenses: [AGPL-3.0-only, "GPL-3.0*"] } }');
      const sbom = spdxSbom([
        { name: 'ok', version: '1', license: 'MIT' },
        { name: 'dual', version: '2', license: '(MIT OR GPL-3.0-or-later)' },
        { name: 'agpl', version: '3', license: 'agpl-3.0-only' },
      ]);
      const d = run([attestation(PREDICATE_TYPE.SPDX, sbom)], {}, p);
      expect(d.allowed).toBe(false);
      expect(d.reasons[0]).toContain(
        '2 denied packages: dual 2 has denied license GPL-3.0-or-later, agpl 3 has denied license agpl-3.0-only',
      );
      const clean = run([attestation(PREDICATE_TYPE.SPDX, spdxSbom([{ name: 'ok', version: '1', license: 'MIT' }]))], {}, p);
      expect(clean.allowed).toBe(true);
      expect(clean.reasons[0]).toContain('no denied packages or licenses');
    });
  });

  describe('vulnerabilities', () => {
    const scan = (hours: number, vulns: Array<{ id: string; severity: string }>, label = '') =>
      attestation(PREDICATE_TYPE.COSIGN_VULN, trivyScan(hoursAgo(hours), vulns), 'ci-release', {
        referrerDigest: digestOf(`scan:${hours}:${label}`),
      });

    it('denies a critical CVE above maxSeverity, naming it', () => {
      const d = run([
        goodSig,
        goodSbom,
        scan(2, [
          { id: 'CVE-2024-3094', severity: 'CRITICAL' },
          { id: 'CVE-2024-0002', severity: 'LOW' },
        ]),
      ]);
      expect(d.allowed).toBe(false);
      expect(d.reasons).toHaveLength(1);
      expect(d.reasons[0]).toContain('1 vulnerability above medium without a valid exception: CVE-2024-3094 (critical, openssl 3.1.0-r0)');
    });

    it('lists at most five ids and counts the rest', () => {
      const many = Array.from({ length: 8 }, (_, i) => ({ id: `CVE-2024-100${i}`, severity: 'HIGH' }));
      const d = run([goodSig, goodSbom, scan(1, many)]);
      expect(d.reasons[0]).toContain('8 vulnerabilities above medium');
      expect(d.reasons[0]).toContain('CVE-2024-1004 (high, openssl 3.1.0-r0) and 3 more');
    });

    it('allows under an unexpired exception, and denies once it has expired', () => {
      const evidence = [goodSig, goodSbom, scan(1, [{ id: 'CVE-2023-1234', severity: 'CRITICAL' }])];
      const before = run(evidence);
      expect(before.allowed).toBe(true);
      expect(requirement(before, 'vulnerabilities').message).toContain('CVE-2023-1234 accepted until 2027-01-31 (approved by security)');
      expect(before.warnings).toEqual([]);

      const lastWeek = new Date('2027-01-28T00:00:00Z');
      const soon = run(
        [
          goodSig,
          goodSbom,
          attestation(PREDICATE_TYPE.COSIGN_VULN, trivyScan(hoursAgo(1, lastWeek), [{ id: 'CVE-2023-1234', severity: 'CRITICAL' }])),
        ],
        { now: lastWeek },
      );
      expect(soon.allowed).toBe(true);
      expect(soon.warnings).toEqual([
        'the exception for CVE-2023-1234 (approved by security: mitigated by network policy) expires 2027-01-31, in 4d; renew it or fix the vulnerability',
      ]);

      const after = new Date('2027-02-01T00:00:00Z'); // the day after the expiry date
      const expired = run(
        [
          goodSig,
          goodSbom,
          attestation(PREDICATE_TYPE.COSIGN_VULN, trivyScan(hoursAgo(1, after), [{ id: 'CVE-2023-1234', severity: 'CRITICAL' }])),
        ],
        { now: after },
      );
      expect(expired.allowed).toBe(false);
      expect(expired.reasons[0]).toContain('CVE-2023-1234 (critical, openssl 3.1.0-r0; its exception expired 2027-01-31)');
      expect(expired.warnings).toContain('the exception for CVE-2023-1234 (approved by security) expired 2027-01-31 and no longer applies');
    });

    it('denies a stale scan: "scan is 80h old, maximum 72h"', () => {
      const d = run([goodSig, goodSbom, scan(80, [])]);
      expect(d.allowed).toBe(false);
      expect(d.reasons[0]).toContain('scan is 80h old, maximum 72h');
    });

    it('uses the newest scan: an old bad scan does not block a new clean one', () => {
      const d = run([goodSig, goodSbom, scan(40, [{ id: 'CVE-2024-3094', severity: 'CRITICAL' }], 'old'), scan(2, [], 'new')]);
      expect(d.allowed).toBe(true);
      expect(d.evidenceUsed).toContain(digestOf('scan:2:new'));
      expect(d.evidenceUsed).not.toContain(digestOf('scan:40:old'));
      expect(requirement(d, 'vulnerabilities').message).toContain('no vulnerabilities');
    });

    it('uses the newest scan: an old clean scan does not hide a new finding', () => {
      const d = run([goodSig, goodSbom, scan(40, [], 'old'), scan(2, [{ id: 'CVE-2024-3094', severity: 'CRITICAL' }], 'new')]);
      expect(d.allowed).toBe(false);
      expect(d.reasons[0]).toContain(`newest vulnerability scan ${digestOf('scan:2:new').slice(0, 19)}`);
      expect(d.reasons[0]).toContain('CVE-2024-3094');
    });

    it('decides nothing from the scans it saw while referrers were left unexamined (time or bytes): a newer scan may be among them', () => {
      for (const cutShort of ['time', 'bytes'] as const) {
        const unexamined: Evidence = {
          referrerDigest: IMAGE_DIGEST,
          format: 'referrers-index',
          kind: 'other',
          subjectDigest: IMAGE_DIGEST,
          verified: false,
          reason: '3 of 40 referrers were not examined (the collection budget ran out)',
          cutShort,
        };
        const d = run([goodSig, goodSbom, scan(2, [], 'clean'), unexamined]);
        expect(d.allowed).toBe(false);
        expect(requirement(d, 'vulnerabilities').message).toMatch(/3 of 40 referrers were not examined .*a newer scan may be among them/);
        // A signature stands either way; an SBOM with no denied lists to check is not judged for it.
        expect(requirement(d, 'signatures').satisfied).toBe(true);
        expect(requirement(d, 'sbom').satisfied).toBe(true);
        // An SBOM check with denied packages cannot say none is listed.
        const strict = policyRequiring('{ sbom: { deniedPackages: [log4j-core] } }');
        expect(run([goodSbom, unexamined], {}, strict).reasons[0]).toMatch(/an SBOM listing a denied package may be among them/);
        // The same evidence without the note: allowed (the control).
        expect(run([goodSig, goodSbom, scan(2, [], 'clean')]).allowed).toBe(true);
      }
    });

    it('denies without any scan, and ignores a scan with no result or an unreadable one', () => {
      expect(run([goodSig, goodSbom]).reasons[0]).toBe(
        `no usable vulnerability scan signed by a trusted key on ${IMAGE_DIGEST.slice(0, 19)}`,
      );
      const empty = attestation(PREDICATE_TYPE.COSIGN_VULN, {
        scanner: { uri: 'x', result: null },
        metadata: { scanStartedOn: hoursAgo(1), scanFinishedOn: hoursAgo(1) },
      });
      const garbage = attestation(
        PREDICATE_TYPE.COSIGN_VULN,
        { scanner: { uri: 'x', result: { hello: 1 } }, metadata: { scanStartedOn: hoursAgo(1) } },
        'ci-release',
        { referrerDigest: digestOf('garbage') },
      );
      const d = run([goodSig, goodSbom, empty, garbage]);
      expect(d.allowed).toBe(false);
      expect(d.reasons[0]).toContain(`scan ${empty.referrerDigest.slice(0, 19)} carries no scanner result`);
      expect(d.reasons[0]).toContain(`scan ${digestOf('garbage').slice(0, 19)} could not be read`);
    });

    it('refuses a scan dated in the future', () => {
      const future = attestation(PREDICATE_TYPE.COSIGN_VULN, trivyScan('2026-06-02T12:00:00Z', []));
      expect(run([goodSig, goodSbom, future]).reasons[0]).toContain('claims a scan time in the future (2026-06-02T12:00:00Z)');
    });

    it('reads the in-toto vulns predicate', () => {
      const intoto = (score: string) =>
        attestation(PREDICATE_TYPE.INTOTO_VULNS_V02, {
          scanner: {
            uri: 'pkg:github/aquasecurity/trivy@0.50.1',
            db: { lastUpdate: hoursAgo(5) },
            result: [{ id: 'CVE-2024-5535', severity: [{ method: 'nvd', score }] }],
          },
          metadata: { scanStartedOn: hoursAgo(4), scanFinishedOn: hoursAgo(4) },
        });
      const bad = run([goodSig, goodSbom, intoto('critical')]);
      expect(bad.allowed).toBe(false);
      expect(bad.reasons[0]).toContain('(intoto-vulns, scanned');
      expect(bad.reasons[0]).toContain('CVE-2024-5535 (critical)');
      expect(run([goodSig, goodSbom, intoto('low')]).allowed).toBe(true);
    });

    it('accepts only the configured report formats', () => {
      const p = policyRequiring('{ vulnerabilities: { formats: [trivy] } }');
      const grype = attestation(PREDICATE_TYPE.COSIGN_VULN, vulnPredicateFromVector(GRYPE_KEYCLOAK));
      const d = run([grype], {}, p);
      expect(d.allowed).toBe(false);
      expect(d.reasons[0]).toContain('is a grype report; this rule accepts trivy');
    });
  });
});

describe('real scanner reports from shared/vectors (wrapped as cosign vuln predicates)', () => {
  const policy = (max: string) => policyRequiring(`{ vulnerabilities: { maxSeverity: ${max}, maxAge: 1d } }`);
  const at = (iso: string) => new Date(new Date(iso).getTime() + 3600_000);

  it('Trivy alpine-310: 4 MEDIUM findings (2 CVEs) pass "max medium" and fail "max low"', () => {
    const scan = attestation(PREDICATE_TYPE.COSIGN_VULN, vulnPredicateFromVector(TRIVY_ALPINE));
    const now = at('2021-08-25T12:20:30Z');
    const ok = run([scan], { now }, policy('medium'));
    expect(ok.allowed).toBe(true);
    expect(ok.reasons[0]).toContain('by pkg:github/aquasecurity/trivy@dev');
    expect(ok.reasons[0]).toContain('2 vulnerabilities, highest medium');
    const strict = run([scan], { now }, policy('low'));
    expect(strict.allowed).toBe(false);
    expect(strict.reasons[0]).toContain(
      '2 vulnerabilities above low without a valid exception: CVE-2019-1549 (medium, libcrypto1.1 1.1.1c-r0), CVE-2019-1551 (medium, libcrypto1.1 1.1.1c-r0)',
    );
  });

  it('Grype chainguard-ruby: High findings fail "max medium"; an exception by CVE id also covers its GHSA alias', () => {
    const scan = attestation(PREDICATE_TYPE.COSIGN_VULN, vulnPredicateFromVector(GRYPE_CHAINGUARD));
    const now = at('2023-05-18T01:00:56Z');
    const d = run([scan], { now }, policy('medium'));
    expect(d.allowed).toBe(false);
    expect(d.reasons[0]).toContain('2 vulnerabilities above medium');
    expect(d.reasons[0]).toContain('CVE-2023-28755 (high, ruby-3.0 3.0.4-r1)');
    expect(d.reasons[0]).toContain('GHSA-hv5j-3h9f-99c2 (high, uri 0.10.1)');
    const excepted = policyRequiring(
      '{ vulnerabilities: { maxSeverity: medium, exceptions: [{ id: CVE-2023-28755, expires: 2023-06-30, reason: "ReDoS not reachable", approvedBy: appsec }] } }',
    );
    const ok = run([scan], { now }, excepted);
    expect(ok.allowed).toBe(true);
    expect(ok.reasons[0]).toContain('GHSA-hv5j-3h9f-99c2 accepted until 2023-06-30 (approved by appsec)');
  });

  it('Grype keycloak: 6 Low matches of one CVE pass "max medium"', () => {
    const scan = attestation(PREDICATE_TYPE.COSIGN_VULN, vulnPredicateFromVector(GRYPE_KEYCLOAK));
    const d = run([scan], { now: at('2023-09-01T12:13:42Z') }, policy('medium'));
    expect(d.allowed).toBe(true);
    expect(d.reasons[0]).toContain('1 vulnerability, highest low');
  });

  it('Trivy fluentd CycloneDX 1.6 report: critical findings fail "max high"', () => {
    const bom = JSON.parse(readVector(FLUENTD_CDX).toString('utf8')) as unknown;
    const scan = attestation(PREDICATE_TYPE.COSIGN_VULN, {
      scanner: { uri: 'pkg:github/aquasecurity/trivy@0.50.1', result: bom },
      metadata: { scanStartedOn: '2024-03-01T10:00:00Z', scanFinishedOn: '2024-03-01T10:01:00Z' },
    });
    const d = run([scan], { now: at('2024-03-01T10:00:00Z') }, policy('high'));
    expect(d.allowed).toBe(false);
    expect(d.reasons[0]).toContain('(cyclonedx, scanned 2024-03-01T10:00:00Z, 1h old)');
    expect(d.reasons[0]).toContain('CVE-2019-18224 (critical, libidn2-0');
    expect(d.reasons[0]).toContain('CVE-2020-8165 (critical, activesupport');
  });
});

describe('collection errors', () => {
  const error = { code: 'UNAVAILABLE', message: 'registry registry.example.com did not answer within 5s' };

  it('fail closed by default, saying what went wrong', () => {
    const d = run([goodSig, goodSbom, goodScan], { error });
    expect(d.allowed).toBe(false);
    expect(d.rule).toBe('payments');
    expect(d.requirements).toEqual([
      {
        requirement: 'evidence-collection',
        satisfied: false,
        message:
          'could not collect evidence for registry.example.com/acmecorp/payments-api:1.4.2@' +
          `${IMAGE_DIGEST}: registry registry.example.com did not answer within 5s (UNAVAILABLE); denied because evidence is incomplete and the policy fails closed (onError: deny)`,
      },
    ]);
  });

  it('allow with a warning naming the error when the rule says onError: allow', () => {
    const p = policyRequiring('{ signatures: {} }', '    onError: allow\n');
    const d = run([], { error: { code: 'RESOURCE_EXHAUSTED', message: 'referrers list exceeds 1000 entries' } }, p);
    expect(d.allowed).toBe(true);
    expect(d.warnings).toHaveLength(1);
    expect(d.warnings[0]).toContain('referrers list exceeds 1000 entries (RESOURCE_EXHAUSTED); allowed because rule r says onError: allow');
  });

  it('a policy-wide onError: allow applies too, and a rule can override it back to deny', () => {
    const p = parsePolicy(
      'defaults: { onError: allow }\nrules:\n  - name: lax\n    match: { namespaces: [dev] }\n    require: { signatures: {} }\n  - name: strict\n    onError: deny\n    require: { signatures: {} }\n',
      'p',
    );
    expect(run([], { error, context: { namespace: 'dev' } }, p).allowed).toBe(true);
    const strict = run([], { error, context: { namespace: 'prod' } }, p);
    expect(strict.allowed).toBe(false);
    expect(strict.reasons[0]).toContain('rule strict fails closed (onError: deny)');
  });
});

describe('modes', () => {
  it('warn allows and turns failures into warnings', () => {
    const p = parsePolicy(EXAMPLE_POLICY.replace('defaults: { mode: enforce', 'defaults: { mode: warn'), 'p');
    const d = run([goodSbom, goodScan], {}, p);
    expect(d.allowed).toBe(true);
    expect(d.mode).toBe('warn');
    expect(requirement(d, 'signatures').satisfied).toBe(false);
    expect(d.warnings).toEqual([
      `no signature by ci-release on ${IMAGE_DIGEST.slice(0, 19)} (rule payments is in warn mode: allowed anyway)`,
    ]);
    expect(d.reasons).toEqual([`no signature by ci-release on ${IMAGE_DIGEST.slice(0, 19)}`]);
  });

  it('audit allows and only records the failures', () => {
    const p = policyRequiring('{ signatures: { keys: [ci-release] } }', '    mode: audit\n');
    const d = run([], {}, p);
    expect(d.allowed).toBe(true);
    expect(d.mode).toBe('audit');
    expect(d.warnings).toEqual([]);
    expect(d.requirements[0]!.satisfied).toBe(false);
    expect(d.reasons[0]).toContain('no signature by ci-release');
  });

  it('a rule mode overrides the default mode', () => {
    const p = parsePolicy('defaults: { mode: audit }\nrules:\n  - name: r\n    mode: enforce\n    require: { signatures: {} }\n', 'p');
    expect(run([], {}, p).allowed).toBe(false);
  });
});

describe('multi-arch images', () => {
  const AMD = digestOf('amd64');
  const ARM = digestOf('arm64');
  const ATT = digestOf('attestation-manifest');
  const index: ImageFacts = {
    ...payments,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    platforms: [
      { digest: AMD, mediaType: 'application/vnd.oci.image.manifest.v1+json', platform: { os: 'linux', architecture: 'amd64' } },
      {
        digest: ARM,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      },
      // BuildKit's attestation manifest is not an image and never needs evidence of its own.
      {
        digest: ATT,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        platform: { os: 'unknown', architecture: 'unknown' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': AMD },
      },
    ],
  };
  const sigOn = (subject: string) => signature('ci-release', { subjectDigest: subject, referrerDigest: digestOf(`sig-on:${subject}`) });
  const policy = (multiArch: string) => policyRequiring('{ signatures: { keys: [ci-release] } }', `    multiArch: ${multiArch}\n`);
  const decide = (multiArch: string, evidence: Evidence[]) => run(evidence, { image: index }, policy(multiArch));

  it('index: the index digest must carry the evidence', () => {
    expect(decide('index', [sigOn(IMAGE_DIGEST)]).allowed).toBe(true);
    const d = decide('index', [sigOn(AMD), sigOn(ARM)]);
    expect(d.allowed).toBe(false);
    expect(d.reasons[0]).toBe(`no signature by ci-release on index ${IMAGE_DIGEST.slice(0, 19)}`);
  });

  it('platforms: every platform manifest must carry it', () => {
    const ok = decide('platforms', [sigOn(AMD), sigOn(ARM)]);
    expect(ok.allowed).toBe(true);
    expect(ok.evidenceUsed).toEqual([digestOf(`sig-on:${AMD}`), digestOf(`sig-on:${ARM}`)]);
    const one = decide('platforms', [sigOn(AMD)]);
    expect(one.allowed).toBe(false);
    expect(one.reasons[0]).toBe(
      `1 of 2 platform manifests fail: no signature by ci-release on linux/arm64/v8 manifest ${ARM.slice(0, 19)}`,
    );
    expect(decide('platforms', [sigOn(IMAGE_DIGEST)]).allowed).toBe(false);
  });

  it('either: the index, or else every platform manifest', () => {
    expect(decide('either', [sigOn(IMAGE_DIGEST)]).allowed).toBe(true);
    expect(decide('either', [sigOn(AMD), sigOn(ARM)]).allowed).toBe(true);
    const d = decide('either', [sigOn(AMD)]);
    expect(d.allowed).toBe(false);
    expect(d.reasons[0]).toContain('neither the index nor every platform manifest satisfies it');
    expect(d.reasons[0]).toContain(`linux/arm64/v8 manifest ${ARM.slice(0, 19)}`);
  });

  it('defaults to either', () => {
    const p = policyRequiring('{ signatures: { keys: [ci-release] } }');
    expect(run([sigOn(AMD), sigOn(ARM)], { image: index }, p).allowed).toBe(true);
  });

  // A runtime runs a child without platform (after reading its config) and may run one whose os
  // is `unknown` but whose architecture is real: only recognised attestation manifests are set aside.
  const EXTRA = digestOf('unsigned child');
  const runnable: Array<[string, ImageFacts['platforms']]> = [
    ['without platform', [{ digest: EXTRA, mediaType: 'application/vnd.oci.image.manifest.v1+json' }]],
    [
      'with os unknown and architecture arm64',
      [{ digest: EXTRA, mediaType: 'application/vnd.oci.image.manifest.v1+json', platform: { os: 'unknown', architecture: 'arm64' } }],
    ],
    [
      'unknown/unknown without the attestation annotation',
      [{ digest: EXTRA, mediaType: 'application/vnd.oci.image.manifest.v1+json', platform: { os: 'unknown', architecture: 'unknown' } }],
    ],
    [
      'with the attestation annotation on a real platform',
      [
        {
          digest: EXTRA,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          platform: { os: 'linux', architecture: 's390x' },
          annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
        },
      ],
    ],
  ];
  describe.each(runnable)('an unsigned child %s is judged', (_name, extra) => {
    const withExtra: ImageFacts = { ...index, platforms: [...index.platforms!, ...extra!] };
    test.each(['platforms', 'either'])('multiArch %s: denied although every other platform is signed', (mode) => {
      const d = run([sigOn(AMD), sigOn(ARM)], { image: withExtra }, policy(mode));
      expect(d.allowed).toBe(false);
      expect(d.reasons[0]).toContain(EXTRA.slice(0, 19));
    });
    test('the default policy (no policy file): denied too', () => {
      expect(run([sigOn(AMD), sigOn(ARM)], { image: withExtra }, DEFAULT_POLICY).allowed).toBe(false);
      expect(run([sigOn(AMD), sigOn(ARM), sigOn(EXTRA)], { image: withExtra }, DEFAULT_POLICY).allowed).toBe(true);
    });
    test('multiArch index: the index signature covers every child (content addressing)', () => {
      expect(run([sigOn(IMAGE_DIGEST)], { image: withExtra }, policy('index')).allowed).toBe(true);
      expect(run([sigOn(AMD), sigOn(ARM)], { image: withExtra }, policy('index')).allowed).toBe(false);
    });
  });
});

describe('top-level exceptions', () => {
  const legacy = image(`registry.example.com/acmecorp/legacy-batch@${LEGACY_DIGEST}`);

  it('allow a pinned digest without evidence, with reason, approver and expiry in the decision', () => {
    const d = run([], { image: legacy, context: { namespace: 'batch' } });
    expect(d.allowed).toBe(true);
    expect(d.rule).toBe('exception:0');
    expect(d.exception).toEqual({ index: 0, reason: 'batch job retired in Q4', approvedBy: 'platform-team', expires: '2026-12-31' });
    expect(d.reasons[0]).toBe(
      `registry.example.com/acmecorp/legacy-batch@${LEGACY_DIGEST} is allowed without evidence by exception 0: "batch job retired in Q4", approved by platform-team, valid until 2026-12-31`,
    );
  });

  it('do not cover another digest of the same repository', () => {
    const rebuilt = image('registry.example.com/acmecorp/legacy-batch:latest', { digest: digestOf('rebuilt') });
    const d = run([], { image: rebuilt });
    expect(d.allowed).toBe(false);
    expect(d.rule).toBe('(unmatched)');
  });

  it('are ignored with a warning once expired', () => {
    const d = run([], { image: legacy, context: { namespace: 'batch' }, now: new Date('2027-01-01T00:00:00Z') });
    expect(d.allowed).toBe(false);
    expect(d.rule).toBe('(unmatched)');
    expect(d.warnings[0]).toContain('exception 0 for registry.example.com/acmecorp/legacy-batch@');
    expect(d.warnings[0]).toContain('expired 2026-12-31 and was ignored');
  });

  it('warn when about to expire, and respect namespaces and actions', () => {
    const p = parsePolicy(
      `rules: []\nexceptions:\n  - { images: ["registry.example.com/tools/**"], namespaces: [ci], actions: [deploy], expires: "2026-06-03T00:00:00Z", reason: migration, approvedBy: alice }\n`,
      'p',
    );
    const tool = image('registry.example.com/tools/kaniko:1.0');
    const ok = run([], { image: tool, context: { namespace: 'ci' } }, p);
    expect(ok.allowed).toBe(true);
    expect(ok.warnings).toEqual(['exception 0 (approved by alice) expires 2026-06-03T00:00:00Z, in 1.5d']);
    expect(run([], { image: tool, context: { namespace: 'prod' } }, p).allowed).toBe(false);
    expect(run([], { image: tool, action: 'push', context: {} }, p).allowed).toBe(false);
  });

  it('take precedence over collection errors and deny rules', () => {
    const p = parsePolicy(
      `rules:\n  - { name: no-hub, match: { images: ["docker.io/**"] }, deny: "no Docker Hub" }\nexceptions:\n  - { images: ["docker.io/library/busybox"], expires: 2027-01-01, reason: debug, approvedBy: sre }\n`,
      'p',
    );
    const busybox = image('index.docker.io/library/busybox:1.36');
    expect(run([], { image: busybox, error: { code: 'UNAVAILABLE', message: 'down' } }, p).allowed).toBe(true);
    expect(run([], { image: image('index.docker.io/library/nginx:1') }, p).allowed).toBe(false);
  });
});

describe('deny and allow rules, unmatched requests', () => {
  it('a deny rule denies with its message, whatever the evidence', () => {
    const d = run([goodSig], { image: image('index.docker.io/library/nginx:1.25'), action: 'pull', context: {} });
    expect(d.allowed).toBe(false);
    expect(d.rule).toBe('no-direct-public-pulls');
    expect(d.reasons).toEqual([
      `rule no-direct-public-pulls denies index.docker.io/library/nginx:1.25@${IMAGE_DIGEST}: use registry.example.com/approved/… instead of public registries`,
    ]);
  });

  it('an allow rule allows without evidence and records why', () => {
    const p = parsePolicy(
      'rules:\n  - name: system\n    match: { namespaces: [kube-system] }\n    allow: "managed by the cloud provider"\n',
      'p',
    );
    const d = run([], { context: { namespace: 'kube-system' } }, p);
    expect(d.allowed).toBe(true);
    expect(d.reasons[0]).toContain('allows registry.example.com/acmecorp/payments-api:1.4.2@');
    expect(d.reasons[0]).toContain('without evidence: managed by the cloud provider');
  });

  it('unmatched requests follow onUnmatched: deny, saying what did not match', () => {
    const internal = image('registry.example.com/internal/tool:2');
    const d = run([goodSig], { image: internal, action: 'push', context: {} });
    expect(d.allowed).toBe(false);
    expect(d.rule).toBe('(unmatched)');
    expect(d.reasons).toEqual([
      `no rule matches registry.example.com/internal/tool:2@${IMAGE_DIGEST} for push in no namespace; denied by defaults.onUnmatched: deny`,
    ]);
    const inNs = run([], { image: internal, context: { namespace: 'payments' } });
    expect(inNs.reasons[0]).toContain('for deploy in namespace payments');
  });

  it('unmatched requests follow onUnmatched: allow', () => {
    const p = parsePolicy(EXAMPLE_POLICY.replace('onUnmatched: deny', 'onUnmatched: allow'), 'p');
    const d = run([], { image: image('registry.example.com/internal/tool:2') }, p);
    expect(d.allowed).toBe(true);
    expect(d.reasons[0]).toContain('allowed by defaults.onUnmatched: allow');
  });

  it('payments images pulled without a namespace (registry gate) do not match the namespaced rule', () => {
    expect(run([goodSig, goodSbom, goodScan], { action: 'pull', context: {} }).rule).toBe('(unmatched)');
  });
});

describe('other attestations', () => {
  it('requires a verified attestation of the predicate type (versioned forms included) by the given key', () => {
    const p = policyRequiring('{ attestations: [{ predicateType: "https://slsa.dev/provenance", keys: [builder] }] }');
    const prov = attestation('https://slsa.dev/provenance/v1', { buildDefinition: {} }, 'builder');
    const ok = run([prov], {}, p);
    expect(ok.allowed).toBe(true);
    expect(ok.requirements[0]!.requirement).toBe('attestation:https://slsa.dev/provenance');
    expect(ok.evidenceUsed).toEqual([prov.referrerDigest]);
    const byOther = run([attestation('https://slsa.dev/provenance/v1', {}, 'ci-release')], {}, p);
    expect(byOther.allowed).toBe(false);
    expect(byOther.reasons[0]).toContain('no https://slsa.dev/provenance attestation signed by builder');
    expect(byOther.reasons[0]).toContain('found attestations by ci-release, which this rule does not accept');
    expect(run([attestation('https://slsa.dev/provenancex', {}, 'builder')], {}, p).allowed).toBe(false);
  });
});

describe('the default policy (no policy file)', () => {
  it('allows an image signed by any trusted key', () => {
    const d = run([signature('anything-trusted')], { context: {} }, DEFAULT_POLICY);
    expect(d.allowed).toBe(true);
    expect(d.rule).toBe('(default)');
    expect(d.policyRevision).toBe('default');
    expect(d.evidenceUsed).toHaveLength(1);
  });

  it('denies an unsigned image, an unverified signature, and a collection error', () => {
    expect(run([], {}, DEFAULT_POLICY).reasons).toEqual([`no signature by a trusted key on ${IMAGE_DIGEST.slice(0, 19)}`]);
    expect(run([signature('k', { verified: false, reason: 'bad signature' })], {}, DEFAULT_POLICY).allowed).toBe(false);
    expect(run([signature('k')], { error: { code: 'DEADLINE_EXCEEDED', message: 'timed out after 10s' } }, DEFAULT_POLICY).allowed).toBe(
      false,
    );
  });

  it('ignores SBOM attestations as signatures', () => {
    expect(run([goodSbom], {}, DEFAULT_POLICY).allowed).toBe(false);
  });
});

describe('decideWithoutEvidence: what needs no registry request', () => {
  const before = (reference: string, over: Partial<ImageFacts> = {}): ImageFacts => ({
    ...image(reference),
    digest: '',
    mediaType: '',
    ...over,
  });
  const decide = (img: ImageFacts, namespace = 'payments') =>
    decideWithoutEvidence(example, { image: img, action: 'deploy', context: { namespace }, now: NOW });

  it('a deny rule, unmatched requests: decided, exactly as evaluate decides them later', () => {
    const hub = decide(before('docker.io/library/nginx:1.27'))!;
    expect(hub).toMatchObject({ allowed: false, rule: 'no-direct-public-pulls' });
    expect(hub.requirements.map((r) => r.requirement)).toEqual(['deny']);
    expect(hub).toEqual(run([], { image: before('docker.io/library/nginx:1.27') }));
    expect(decide(before('other.example.com/app:1'))).toMatchObject({ allowed: false, rule: '(unmatched)' });
  });

  it('a rule with requirements needs evidence: undefined', () => {
    expect(decide(before('registry.example.com/acmecorp/payments-api:1.4.2'))).toBeUndefined();
  });

  it('an exception pinned to a digest waits for the tag to be resolved; by digest it decides', () => {
    // The legacy-batch repository matches no rule: without the pin it would be "unmatched" at once.
    expect(decide(before('registry.example.com/acmecorp/legacy-batch:v1'), 'batch')).toBeUndefined();
    expect(decide(before(`registry.example.com/acmecorp/legacy-batch@${LEGACY_DIGEST}`, { digest: LEGACY_DIGEST }), 'batch')).toMatchObject(
      { allowed: true, rule: 'exception:0' },
    );
    // Another repository is not affected by that exception's pin.
    expect(decide(before('registry.example.com/acmecorp/other-batch:v1'), 'batch')).toMatchObject({ rule: '(unmatched)' });
  });
});
