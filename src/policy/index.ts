/**
 * Verification policy: one document for push, pull and deploy (its vocabulary in schema.ts, read
 * by load.ts), which rule applies (match.ts), what the evidence must show (requirements.ts,
 * evaluate.ts); the policy in force (file or stored) is the service in src/policy-store. The document is described in docs/policy.md and
 * docs/policy.schema.json.
 */
export type {
  AttestationRequirement,
  Defaults,
  DeniedPackage,
  MatchSpec,
  Mode,
  MultiArch,
  Policy,
  PolicyException,
  PolicySeverity,
  PushRules,
  Requirements,
  Rule,
  SbomFormat,
  SbomRequirement,
  ScanFormat,
  SignatureRequirement,
  Verdict,
  VersionConstraint,
  VersionOperator,
  VulnerabilityException,
  VulnerabilityRequirement,
} from './types';
export { parsePolicy, policyRevision, type PolicyProblem } from './load';
export { DEFAULT_POLICY, MAX_POLICY_BYTES, POLICY_FIELDS } from './schema';
export { canonicalImageName, findRule, matchesImage, matchesSpec, parseImagePattern, type MatchTarget } from './match';
export {
  decideWithoutEvidence,
  tagCanDecide,
  evaluate,
  type Decision,
  type EvaluationInput,
  type RequestFacts,
  type RequirementResult,
} from './evaluate';
export { evidenceSources } from './evidence-sources';
export { PUSH_LABELS, checkPushRules } from './push-rules';
export { compareVersions, parseDuration, parseVersionRange } from './values';
