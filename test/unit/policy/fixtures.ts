/**
 * Shared test material: the policy example from the issue (with a real-looking digest in place of
 * the elided one), evidence builders and the scan reports from shared/vectors.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { preparePredicate, PREDICATE_TYPE } from '../../../src/attestations';
import { parseReference } from '../../../src/registry/reference';
import type { Evidence, ImageFacts } from '../../../src/policy/input';

export const VECTORS_DIR = path.resolve(__dirname, '../../../../shared/vectors');

export function readVector(relative: string): Buffer {
  return fs.readFileSync(path.join(VECTORS_DIR, relative));
}

export const LEGACY_DIGEST = 'sha256:4f1b7d9e2a6c8b0d3e5f7a9c1b3d5e7f9a0c2e4f6a8b0d2c4e6f8a0b2c4d6e8f';

export const EXAMPLE_POLICY = `defaults: { mode: enforce, onUnmatched: deny, onError: deny }
rules:
  - name: payments
    match: { images: ["registry.example.com/acmecorp/payments-*"], namespaces: ["payments*"], actions: [deploy, pull] }
    require:
      signatures: { keys: [ci-release], minimum: 1 }
      sbom: { formats: [spdx, cyclonedx] }
      vulnerabilities: { maxSeverity: medium, maxAge: 72h,
        exceptions: [{ id: CVE-2023-1234, expires: 2027-01-31, reason: "mitigated by network policy", approvedBy: security }] }
  - name: approved-public-images          # third-party images only through the organization's approved repository
    match: { images: ["registry.example.com/approved/**"] }
    require: { signatures: { keys: [security-team] }, vulnerabilities: { maxSeverity: high, maxAge: 7d } }
  - name: no-direct-public-pulls
    match: { images: ["docker.io/**", "ghcr.io/**", "quay.io/**"] }
    deny: "use registry.example.com/approved/… instead of public registries"
exceptions:
  - { images: ["registry.example.com/acmecorp/legacy-batch@${LEGACY_DIGEST}"], expires: 2026-12-31, reason: "batch job retired in Q4", approvedBy: "platform-team" }
`;

/** A digest made from a label, so tests read as names but digests stay well-formed. */
export function digestOf(label: string): string {
  let hex = '';
  for (let i = 0; hex.length < 64; i++) hex += createHash('sha256').update(`${label}#${i}`).digest('hex');
  return `sha256:${hex.slice(0, 64)}`;
}

export const IMAGE_DIGEST = digestOf('image');

export function image(reference: string, over: Partial<ImageFacts> = {}): ImageFacts {
  // registry.example.com/acmecorp/payments-api:1.0 → registry / repository / tag
  const at = reference.indexOf('@');
  const name = at === -1 ? reference : reference.slice(0, at);
  const colon = name.lastIndexOf(':');
  const hasTag = colon > name.lastIndexOf('/');
  const repoPath = hasTag ? name.slice(0, colon) : name;
  const slash = repoPath.indexOf('/');
  return {
    reference,
    registry: repoPath.slice(0, slash),
    repository: repoPath.slice(slash + 1),
    ...(hasTag ? { tag: name.slice(colon + 1) } : {}),
    digest: at === -1 ? IMAGE_DIGEST : reference.slice(at + 1),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    ...over,
  };
}

export function signature(key: string, over: Partial<Evidence> = {}): Evidence {
  return {
    referrerDigest: digestOf(`sig:${key}:${JSON.stringify(over)}`),
    format: 'sigstore-bundle',
    kind: 'signature',
    subjectDigest: IMAGE_DIGEST,
    verified: true,
    keyId: `id-${key}`,
    keyName: key,
    predicateType: PREDICATE_TYPE.COSIGN_SIGN,
    ...over,
  };
}

export function attestation(predicateType: string, predicate: unknown, key = 'ci-release', over: Partial<Evidence> = {}): Evidence {
  return {
    referrerDigest: digestOf(`att:${predicateType}:${key}:${JSON.stringify(predicate).length}:${JSON.stringify(over)}`),
    format: 'sigstore-bundle',
    kind: 'attestation',
    subjectDigest: IMAGE_DIGEST,
    verified: true,
    keyId: `id-${key}`,
    keyName: key,
    predicateType,
    predicate,
    ...over,
  };
}

export function spdxSbom(packages: Array<{ name: string; version?: string; license?: string }>): Record<string, unknown> {
  return {
    spdxVersion: 'SPDX-2.3',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: 'payments-api',
    packages: packages.map((p, i) => ({
      SPDXID: `SPDXRef-Package-${i}`,
      name: p.name,
      ...(p.version ? { versionInfo: p.version } : {}),
      ...(p.license ? { licenseConcluded: p.license } : {}),
    })),
  };
}

/** A real scanner report from shared/vectors, wrapped as a cosign vuln predicate (as `attest --type vuln` does). */
export function vulnPredicateFromVector(relative: string): Record<string, unknown> {
  return preparePredicate({ predicateType: 'vuln', content: readVector(relative), now: new Date('2030-01-01T00:00:00Z') }).predicate;
}

export const TRIVY_ALPINE = 'trivy/integration/testdata/alpine-310.json.golden'; // 4 MEDIUM, CreatedAt 2021-08-25T12:20:30Z
export const GRYPE_CHAINGUARD = 'grype/grype/presenter/explain/testdata/chainguard-ruby-test.json'; // 3 High, 2023-05-17T21:00:56-04:00
export const GRYPE_KEYCLOAK = 'grype/grype/presenter/explain/testdata/keycloak-test.json'; // 6 Low, 2023-09-01T08:13:42-04:00
export const FLUENTD_CDX = 'trivy/integration/testdata/fluentd-multiple-lockfiles-short.cdx.json.golden'; // CycloneDX 1.6, critical

/** A cosign vuln predicate around a synthetic Trivy report with the given findings and scan time. */
export function trivyScan(scannedAt: string, vulns: Array<{ id: string; severity: string; pkg?: string }>): Record<string, unknown> {
  return {
    invocation: { parameters: null, uri: '', event_id: '', 'builder.id': '' },
    scanner: {
      uri: 'pkg:github/aquasecurity/trivy@0.50.1',
      version: '0.50.1',
      result: {
        SchemaVersion: 2,
        ArtifactName: 'registry.example.com/acmecorp/payments-api',
        ArtifactType: 'container_image',
        Results: [
          {
            Target: 'payments-api (alpine 3.19)',
            Class: 'os-pkgs',
            Type: 'alpine',
            Vulnerabilities: vulns.map((v) => ({
              VulnerabilityID: v.id,
              PkgName: v.pkg ?? 'openssl',
              InstalledVersion: '3.1.0-r0',
              Severity: v.severity,
            })),
          },
        ],
      },
    },
    metadata: { scanStartedOn: scannedAt, scanFinishedOn: scannedAt },
  };
}

/** Facts as the verification service builds them: through the real reference parser. */
export function factsOf(reference: string, digest = IMAGE_DIGEST): ImageFacts {
  const ref = parseReference(reference);
  return {
    reference,
    registry: ref.registry,
    repository: ref.repository,
    ...(ref.tag !== undefined ? { tag: ref.tag } : {}),
    digest: ref.digest ?? digest,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
  };
}
