/**
 * Verification policy: one document for push, pull and deploy (load.ts), which rule applies
 * (match.ts), what the evidence must show (requirements.ts, evaluate.ts), and the policy in force,
 * hot-reloaded from its file (policy-store.ts). The document is described in docs/policy.md and
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
export { DEFAULT_POLICY, MAX_POLICY_BYTES, POLICY_FIELDS, parsePolicy, policyRevision, type PolicyProblem } from './load';
export { canonicalImageName, findRule, matchesImage, matchesSpec, parseImagePattern, type MatchTarget } from './match';
export { decideWithoutEvidence, evaluate, type Decision, type EvaluationInput, type RequestFacts, type RequirementResult } from './evaluate';
export { evidenceSources } from './evidence-sources';
export { PUSH_LABELS, checkPushRules } from './push-rules';
export { PolicyStore, type PolicyChangeListener, type PolicyInfo, type PolicyLogger, type PolicySource, type PolicyStoreOptions } from './policy-store';
export { STORED_POLICY_SOURCE, parseStoredPolicy } from './stored-policy';
export { compareVersions, parseDuration, parseVersionRange } from './values';
