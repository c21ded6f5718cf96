/**
 * Turns (policy, request, evidence) into a decision. Pure and synchronous: evidence collection is
 * done (and cached) elsewhere, while the policy is evaluated on every request with the current
 * time, so that scan ages and exception expiries are always judged against "now". (The caller may
 * reuse a decision for an identical request when evaluating it read `now` only through bounded
 * readings, until the first instant one of them would come out otherwise: see readTime.)
 *
 * Order, and why:
 * 1. Top-level exceptions: an explicit, approved, time-limited waiver overrides everything else,
 *    including deny rules and collection errors (it needs no evidence). Expired ones are skipped
 *    with a warning.
 * 2. The first matching rule (match.ts). None → `defaults.onUnmatched`.
 * 3. `deny:` / `allow:` rules decide without evidence.
 *    Steps 1-3 are also offered alone (decideWithoutEvidence), so that the caller decides them
 *    before any registry request.
 * 4. A collection error (registry unreachable, 5xx, timeout, auth failure) → the effective
 *    onError; the evidence is incomplete, so it is not evaluated. Hostile content is not an error.
 * 5. An image that cannot be judged (absent, malformed or oversized index, bytes that do not match
 *    their digest) → a deny for that image (`image`), whatever onError says.
 * 6. Each requirement, on the manifests that `multiArch` selects.
 * The mode then turns failures into a deny (enforce), warnings (warn) or a record only (audit).
 */
import type { Action, CollectionError, Evidence, ImageFacts, RequestContext } from './input';
import { isAttestationManifest } from '../formats/oci';
import { canonicalImageName, matchesSpec, type MatchTarget } from './match';
import {
  EXCEPTION_WARNING_MS,
  checkAttestation,
  checkSbom,
  checkSignatures,
  checkVulnerabilities,
  shortDigest,
  type CheckContext,
  type CheckResult,
} from './requirements';
import { PUSH_LABELS, checkPushRules, isContentWrite, isDelete, type PushCheck } from './push-rules';
import type { MatchSpec, Mode, MultiArch, Policy, Rule } from './types';
import { expiryAt } from './values';

export interface RequirementResult {
  /** `signatures`, `sbom`, `vulnerabilities`, `attestation:<predicateType>`, `deny`, `allow`, `exception`, `unmatched`, `evidence-collection`, `image`. */
  requirement: string;
  satisfied: boolean;
  message: string;
}

export interface Decision {
  allowed: boolean;
  /** The mode that applied (the rule's, else the policy default). */
  mode: Mode;
  /** The matched rule's name, `exception:<index>`, or `(unmatched)`; the built-in policy's rule is `(default)`. */
  rule: string;
  requirements: RequirementResult[];
  /** Referrer digests of the evidence that satisfied requirements. */
  evidenceUsed: string[];
  warnings: string[];
  /** Why: the failed requirements' messages when any failed, otherwise what satisfied the policy. */
  reasons: string[];
  policyRevision: string;
  /** Set when a top-level exception allowed the request. */
  exception?: { index: number; reason: string; approvedBy: string; expires: string };
}

export interface EvaluationInput {
  image: ImageFacts;
  action: Action;
  context: RequestContext;
  /** Everything found about the image and (for an index) its platform manifests. */
  evidence: Evidence[];
  error?: CollectionError;
  now: Date;
  /** Resolves a key id to its trusted name, for evidence that carries only the id. */
  keyNames?: (id: string) => string | undefined;
}

/** What a decision that needs no evidence is made from. */
export interface RequestFacts {
  /** Before resolution `digest` is '' (and `mediaType` too): the image has not been looked up yet. */
  image: ImageFacts;
  action: Action;
  context: RequestContext;
  now: Date;
}

/**
 * The decision, when it needs no evidence: a top-level exception, a `deny:` or `allow:` rule, or
 * no matching rule (`defaults.onUnmatched`). Undefined when evidence is needed, or when, before
 * resolution (`image.digest` is ''), a pattern pinned to a digest could still change which
 * exception or rule applies. Pure: the caller uses it to decide before any registry request.
 */
export function decideWithoutEvidence(policy: Policy, request: RequestFacts): Decision | undefined {
  const step = firstStep(policy, request, request.image.digest === '');
  return 'decision' in step ? step.decision : undefined;
}

/**
 * Whether the tag of `image` can change which exception or rule applies: some exception or rule
 * matches the image with its tag and not without it, or the other way round. A caller that was
 * given a tag next to a digest (`name:tag@sha256:…`, which runtimes pull by the digest alone)
 * must then confirm that the tag points at that digest before the tag may count. Pure.
 */
export function tagCanDecide(policy: Policy, image: ImageFacts, action: Action, context: RequestContext): boolean {
  if (image.tag === undefined) return false;
  const { tag: _tag, ...untagged } = image;
  const namespace = context.namespace !== undefined ? { namespace: context.namespace } : {};
  const tagged: MatchTarget = { image, action, ...namespace };
  const bare: MatchTarget = { image: untagged, action, ...namespace };
  const differs = (spec: MatchSpec | undefined): boolean => matchesSpec(spec, tagged) !== matchesSpec(spec, bare);
  return policy.exceptions.some((e) => differs(e)) || policy.rules.some((r) => differs(r.match));
}

export function evaluate(policy: Policy, input: EvaluationInput): Decision {
  const step = firstStep(policy, input, false);
  if ('decision' in step) return step.decision;
  const { rule, warnings } = step;
  const base = { policyRevision: policy.revision };
  const mode = rule.mode ?? policy.defaults.mode;
  const pushChecks = step.pushChecks;

  if (input.error !== undefined) {
    const onError = rule.onError ?? policy.defaults.onError;
    const what = `could not collect evidence for ${describeImage(input.image)}: ${input.error.message} (${input.error.code})`;
    if (onError === 'allow') {
      const message = `${what}; allowed because rule ${rule.name} says onError: allow`;
      warnings.push(message);
      return finish(base, mode, rule.name, [{ requirement: 'evidence-collection', satisfied: true, message }], [], warnings);
    }
    const message = `${what}; denied because evidence is incomplete and ${rule.onError !== undefined ? `rule ${rule.name}` : 'the policy'} fails closed (onError: deny)`;
    return finish(base, mode, rule.name, [{ requirement: 'evidence-collection', satisfied: false, message }], [], warnings);
  }
  if (input.image.unusable !== undefined) {
    // What the registry holds is hostile or absent: a fact about the image, never onError.
    const message = `${describeImage(input.image)} cannot be admitted: ${input.image.unusable}`;
    return finish(base, mode, rule.name, [{ requirement: 'image', satisfied: false, message }], [], warnings, rule);
  }

  const results: RequirementResult[] = [...pushChecks];
  const used: string[] = [];
  const subjects = subjectsOf(input.image);
  const multiArch = rule.multiArch ?? policy.defaults.multiArch;
  const run = (requirement: string, check: (ctx: CheckContext) => CheckResult): void => {
    const r = onSubjects(subjects, multiArch, (subject) =>
      check({
        evidence: input.evidence.filter((e) => e.subjectDigest === subject.digest),
        label: subject.label,
        now: input.now,
        keyNames: input.keyNames,
        warnings,
      }),
    );
    results.push({ requirement, satisfied: r.satisfied, message: r.message });
    if (r.satisfied) used.push(...r.evidence);
  };
  const req = rule.require ?? {};
  if (req.signatures) run('signatures', (ctx) => checkSignatures(req.signatures!, ctx));
  if (req.sbom) run('sbom', (ctx) => checkSbom(req.sbom!, ctx));
  if (req.vulnerabilities) run('vulnerabilities', (ctx) => checkVulnerabilities(req.vulnerabilities!, ctx));
  for (const a of req.attestations ?? []) run(`attestation:${a.predicateType}`, (ctx) => checkAttestation(a, ctx));
  return finish(base, mode, rule.name, results, used, warnings, rule);
}

type Step = { decision: Decision } | { rule: Rule; warnings: string[]; pushChecks: PushCheck[] } | { pending: true };

/**
 * Steps 1 to 3 (exceptions, the matching rule, deny/allow rules). With `digestPending`, an
 * exception or rule whose digest-pinned pattern could match the image once resolved makes the
 * step `pending`: deciding now could apply the wrong one.
 */
function firstStep(policy: Policy, input: RequestFacts, digestPending: false): Exclude<Step, { pending: true }>;
function firstStep(policy: Policy, input: RequestFacts, digestPending: boolean): Step;
function firstStep(policy: Policy, input: RequestFacts, digestPending: boolean): Step {
  const target: MatchTarget = {
    image: input.image,
    action: input.action,
    ...(input.context.namespace !== undefined ? { namespace: input.context.namespace } : {}),
  };
  const warnings: string[] = [];
  const base = { policyRevision: policy.revision };
  const undecided = (spec: MatchSpec | undefined): boolean => digestPending && couldMatchOnceResolved(spec, target);

  // The first rule whose match holds, or `pending` when one pinned to a digest could match once resolved.
  const matchingRule = (): Rule | undefined | 'pending' => {
    for (const candidate of policy.rules) {
      if (matchesSpec(candidate.match, target)) return candidate;
      if (undecided(candidate.match)) return 'pending';
    }
    return undefined;
  };

  for (const [index, exception] of policy.exceptions.entries()) {
    if (!matchesSpec(exception, target)) {
      if (undecided(exception)) return { pending: true };
      continue;
    }
    const standing = expiryAt(exception.expires, input.now, EXCEPTION_WARNING_MS);
    if (standing.expired) {
      warnings.push(
        `exception ${index} for ${describeImage(input.image)} (approved by ${exception.approvedBy}: ${exception.reason}) expired ${exception.expiresText} and was ignored`,
      );
      continue;
    }
    if (standing.left !== undefined) {
      warnings.push(`exception ${index} (approved by ${exception.approvedBy}) expires ${exception.expiresText}, in ${standing.left}`);
    }
    if (input.action === 'push') {
      // An exception waives evidence, not who may write which tag: the push constraints of the
      // rule that matches still decide (an immutable tag stays immutable, a team's repository
      // stays the team's), or anyone could move a release tag onto the excepted digest.
      const ruled = matchingRule();
      if (ruled === 'pending') return { pending: true };
      if (ruled?.push) {
        if (digestPending) return { pending: true };
        const checks = checkPushRules(ruled.push, ruled.name, input.image, input.context);
        if (checks.some((c) => !c.satisfied)) {
          return { decision: finish(base, ruled.mode ?? policy.defaults.mode, ruled.name, checks, [], warnings, ruled) };
        }
      }
    }
    const message =
      `${describeImage(input.image)} is allowed without evidence by exception ${index}: "${exception.reason}", ` +
      `approved by ${exception.approvedBy}, valid until ${exception.expiresText}`;
    return {
      decision: {
        ...base,
        allowed: true,
        mode: policy.defaults.mode,
        rule: `exception:${index}`,
        requirements: [{ requirement: 'exception', satisfied: true, message }],
        evidenceUsed: [],
        warnings,
        reasons: [message],
        exception: { index, reason: exception.reason, approvedBy: exception.approvedBy, expires: exception.expiresText },
      },
    };
  }

  const rule = matchingRule();
  if (rule === 'pending') return { pending: true };
  if (rule === undefined) {
    const verdict = policy.defaults.onUnmatched;
    const message =
      `no rule matches ${describeImage(input.image)} for ${input.action} in ${describeNamespace(input.context)}` +
      (verdict === 'allow' ? '; allowed by defaults.onUnmatched: allow' : '; denied by defaults.onUnmatched: deny');
    return {
      decision: finish(
        base,
        policy.defaults.mode,
        '(unmatched)',
        [{ requirement: 'unmatched', satisfied: verdict === 'allow', message }],
        [],
        warnings,
      ),
    };
  }

  const mode = rule.mode ?? policy.defaults.mode;
  let pushChecks: PushCheck[] = [];
  if (input.action === 'push' && rule.push) {
    // Push constraints (immutable tags, tag names, who may push) compare digests: before
    // resolution they cannot be judged yet.
    if (digestPending) return { pending: true };
    // They come first: a tag that may not be written is refused whatever the evidence.
    pushChecks = checkPushRules(rule.push, rule.name, input.image, input.context);
    if (pushChecks.some((c) => !c.satisfied)) return { decision: finish(base, mode, rule.name, pushChecks, [], warnings, rule) };
  }
  // A deny rule denies every request it matches, deletes included (a delete of a release tag or of
  // its signatures is as much a change as a write).
  if (rule.deny !== undefined) {
    const message = `rule ${rule.name} denies ${describeImage(input.image)}: ${rule.deny}`;
    return { decision: finish(base, mode, rule.name, [{ requirement: 'deny', satisfied: false, message }], [], warnings) };
  }
  if (input.action === 'push' && isDelete(input.context)) {
    // Removing a tag or manifest needs no evidence about it; only the push constraints apply.
    const message = `rule ${rule.name} allows deleting ${describeImage(input.image)}`;
    return {
      decision: finish(base, mode, rule.name, [...pushChecks, { requirement: 'delete', satisfied: true, message }], [], warnings, rule),
    };
  }
  if (input.action === 'push' && isContentWrite(input.context)) {
    // Content is evidence or the parts of an image: judged where it is pulled or used, never here.
    const message = `rule ${rule.name} allows writing content (${describeImage(input.image)}${contentTag(input.context)}) without evidence`;
    return {
      decision: finish(base, mode, rule.name, [...pushChecks, { requirement: 'content', satisfied: true, message }], [], warnings, rule),
    };
  }
  if (rule.allow !== undefined) {
    const message = `rule ${rule.name} allows ${describeImage(input.image)} without evidence: ${rule.allow}`;
    return { decision: finish(base, mode, rule.name, [...pushChecks, { requirement: 'allow', satisfied: true, message }], [], warnings) };
  }
  return { rule, warnings, pushChecks };
}

/** Whether `spec` (which does not match now) could match once the digest is known: it pins a digest and matches without the pin. */
function couldMatchOnceResolved(spec: MatchSpec | undefined, target: MatchTarget): boolean {
  const images = spec?.images;
  if (images === undefined || !images.some((p) => p.includes('@'))) return false;
  return matchesSpec({ ...spec, images: images.map((p) => p.split('@')[0]!) }, target);
}

function finish(
  base: { policyRevision: string },
  mode: Mode,
  ruleName: string,
  requirements: RequirementResult[],
  used: string[],
  warnings: string[],
  rule?: Rule,
): Decision {
  const failures = requirements.filter((r) => !r.satisfied);
  if (mode === 'warn') {
    for (const f of failures) warnings.push(`${f.message} (rule ${rule?.name ?? ruleName} is in warn mode: allowed anyway)`);
  }
  return {
    ...base,
    allowed: mode !== 'enforce' || failures.length === 0,
    mode,
    rule: ruleName,
    requirements,
    evidenceUsed: [...new Set(used)],
    warnings: [...new Set(warnings)],
    reasons: (failures.length > 0 ? failures : requirements).map((r) => r.message),
  };
}

// -------------------------------------------------------------------------------------------------
// Multi-arch

interface Subject {
  digest: string;
  label: string;
}

interface Subjects {
  index: Subject;
  /** Empty for a single-manifest image. */
  platforms: Subject[];
}

/**
 * Every child a runtime could run is a subject, platform-less ones included. Only recognised
 * attestation manifests (isAttestationManifest, the same definition the resolver uses) carry no
 * image and are never signed per platform; requiring evidence on them would make every BuildKit
 * image fail `platforms`.
 */
function subjectsOf(image: ImageFacts): Subjects {
  const platforms = (image.platforms ?? [])
    .filter((p) => !isAttestationManifest(p))
    .map((p) => {
      const name = p.platform ? [p.platform.os, p.platform.architecture, p.platform.variant].filter(Boolean).join('/') : 'platform';
      return { digest: p.digest, label: `${name} manifest ${shortDigest(p.digest)}` };
    });
  return {
    index: { digest: image.digest, label: platforms.length > 0 ? `index ${shortDigest(image.digest)}` : shortDigest(image.digest) },
    platforms,
  };
}

/**
 * index: the index must satisfy it. platforms: every platform manifest must. either: the index,
 * or else every platform manifest (never a mix across requirements' evidence on one subject).
 */
function onSubjects(subjects: Subjects, multiArch: MultiArch, check: (s: Subject) => CheckResult): CheckResult {
  if (subjects.platforms.length === 0 || multiArch === 'index') return check(subjects.index);
  const everyPlatform = (): CheckResult => {
    const results = subjects.platforms.map(check);
    const failed = results.filter((r) => !r.satisfied);
    if (failed.length === 0) {
      return { satisfied: true, message: results.map((r) => r.message).join('; '), evidence: results.flatMap((r) => r.evidence) };
    }
    return {
      satisfied: false,
      message: `${failed.length} of ${results.length} platform manifests fail: ${failed.map((r) => r.message).join('; ')}`,
      evidence: [],
    };
  };
  if (multiArch === 'platforms') return everyPlatform();
  const onIndex = check(subjects.index);
  if (onIndex.satisfied) return onIndex;
  const onPlatforms = everyPlatform();
  if (onPlatforms.satisfied) return onPlatforms;
  return {
    satisfied: false,
    message: `neither the index nor every platform manifest satisfies it: ${onIndex.message}; ${onPlatforms.message}`,
    evidence: [],
  };
}

// -------------------------------------------------------------------------------------------------
// Wording

function describeImage(image: ImageFacts): string {
  const name = image.reference || canonicalImageName(image);
  return image.digest && !name.includes('@') ? `${name}@${image.digest}` : name;
}

/** ", evidence tag sha256-….sig" when a content write names the tag it writes. */
function contentTag(context: RequestContext): string {
  const tag = context.labels?.[PUSH_LABELS.tag];
  return tag ? `, evidence tag ${tag}` : '';
}

function describeNamespace(context: RequestContext): string {
  return context.namespace ? `namespace ${context.namespace}` : 'no namespace';
}
