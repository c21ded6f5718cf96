/**
 * The policy document's vocabulary: the fields each object may hold, the values each enumerated
 * field may take, the size bound, and the built-in policy in force when no file is configured.
 * The loader (load.ts) reads a document against these; docs/policy.schema.json publishes the same
 * shape (a test compares the two, so they never drift apart).
 */
import type { Action } from './input';
import type { Defaults, Mode, MultiArch, Policy, PolicySeverity, SbomFormat, ScanFormat, Verdict } from './types';

/**
 * The fields the loader accepts, per object. Exported so that a test can compare them with
 * docs/policy.schema.json: the two must never drift apart.
 */
export const POLICY_FIELDS = {
  policy: ['version', 'description', 'defaults', 'rules', 'exceptions'],
  defaults: ['mode', 'onUnmatched', 'onError', 'multiArch'],
  rule: ['name', 'description', 'match', 'require', 'deny', 'allow', 'push', 'evidenceFrom', 'mode', 'onError', 'multiArch'],
  push: ['immutableTags', 'tagPattern', 'identities'],
  match: ['images', 'namespaces', 'actions'],
  require: ['signatures', 'sbom', 'vulnerabilities', 'attestations'],
  signatures: ['keys', 'identities', 'notation', 'minimum', 'transparencyLog', 'timestamps'],
  notation: ['trustStore', 'signingAuthorityTrustStore', 'tsaTrustStore', 'verifyTimestamp', 'identities', 'level'],
  identity: ['issuer', 'issuerRegExp', 'subject', 'subjectRegExp', 'extensions'],
  witnessMinimum: ['minimum'],
  sbom: ['formats', 'keys', 'identities', 'deniedPackages', 'deniedLicenses'],
  deniedPackage: ['name', 'versions'],
  vulnerabilities: ['maxSeverity', 'maxAge', 'exceptions', 'formats', 'keys', 'identities'],
  vulnerabilityException: ['id', 'expires', 'reason', 'approvedBy'],
  attestation: ['predicateType', 'keys', 'identities'],
  exception: ['images', 'namespaces', 'actions', 'expires', 'reason', 'approvedBy'],
} as const;

export const MODES: readonly Mode[] = ['enforce', 'warn', 'audit'];
export const VERDICTS: readonly Verdict[] = ['allow', 'deny'];
export const MULTI_ARCH: readonly MultiArch[] = ['index', 'platforms', 'either'];
export const ACTIONS: readonly Action[] = ['push', 'pull', 'deploy'];
export const SBOM_FORMATS: readonly SbomFormat[] = ['spdx', 'cyclonedx'];
export const SCAN_FORMATS: readonly ScanFormat[] = ['trivy', 'grype', 'cyclonedx', 'intoto-vulns'];
export const POLICY_SEVERITIES: readonly PolicySeverity[] = ['negligible', 'low', 'medium', 'high', 'critical'];
/** The only document version so far; `version` is optional and exists so a future format can be told apart. */
export const POLICY_VERSIONS: readonly number[] = [1];

/** A policy is a few kilobytes; a megabyte is a mistake (or an attack on the YAML parser). */
export const MAX_POLICY_BYTES = 1024 * 1024;

export const DEFAULT_DEFAULTS: Defaults = { mode: 'enforce', onUnmatched: 'deny', onError: 'deny', multiArch: 'either' };

/**
 * In force when no policy file is configured: every image needs at least one valid signature by
 * any trusted key; errors and everything else fail closed.
 */
export const DEFAULT_POLICY: Policy = Object.freeze({
  revision: 'default',
  source: '(built-in default)',
  description: 'pushes are allowed; pulls and deploys need a valid signature by a trusted key (no policy file configured)',
  defaults: { ...DEFAULT_DEFAULTS },
  rules: [
    // Evidence arrives after the image (sign after push), so a push cannot demand it; what is
    // readable is guarded by the pull gate, which does demand a signature.
    {
      name: '(default-push)',
      match: { actions: ['push'] },
      allow: 'no policy file: pushes are allowed; pulls and deploys need a trusted signature',
    },
    { name: '(default)', require: { signatures: { minimum: 1 } } },
  ],
  exceptions: [],
}) as Policy;
