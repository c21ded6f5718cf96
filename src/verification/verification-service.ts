/**
 * Verify: resolve the image (tags on every call), collect verified evidence (cached by digest),
 * re-apply key state at the time of the decision, evaluate the policy (on every call), and explain.
 * Every failure to collect evidence becomes a policy decision (onError), never an implicit allow.
 */
import type { Policy, PolicyStore } from '../policy';
import { evaluate, evidenceSources, type Decision } from '../policy';
import type { RegistryClient } from '../registry';
import { formatReference, parseReference } from '../registry';
import { MEDIA_TYPE, type ImageIndex, type RepositoryRef } from '../registry/types';
import { CountersignError } from '../shared/errors';
import { keyUsability } from '../trust/usability';
import type { TrustStore } from '../trust/types';
import type { EvidenceCollector } from './collector';
import type { EvidenceCache } from './evidence-cache';
import type { Action, CollectionError, Evidence, ImageFacts, RequestContext } from './types';

export interface VerifyInput {
  image: string;
  action: Action;
  context?: RequestContext;
  /** Absolute time (ms since epoch) by which an answer must exist. */
  deadline?: number;
}

export interface VerifyResult extends Decision {
  image: string;
  digest: string;
  evidence: Evidence[];
  trustRevision: string;
  cached: boolean;
}

export interface VerificationServiceOptions {
  registry: RegistryClient;
  collector: EvidenceCollector;
  cache: EvidenceCache;
  trust: TrustStore;
  policies: PolicyStore;
  /** Upper bound on the work for one Verify when the caller sets no deadline. */
  maxDurationMs?: number;
  /** Kept free before the caller's deadline so that the answer (a deny) still reaches it. */
  deadlineMarginMs?: number;
  now?: () => Date;
}

interface ManifestFacts {
  mediaType: string;
  platforms?: ImageFacts['platforms'];
}

const MAX_MANIFEST_FACTS = 10_000;

export class VerificationService {
  private readonly now: () => Date;
  /** Digest → media type and platforms: content-addressed, so it never goes stale. */
  private readonly manifestFacts = new Map<string, ManifestFacts>();

  constructor(private readonly opts: VerificationServiceOptions) {
    this.now = opts.now ?? (() => new Date());
    // A key change invalidates every verified result at once.
    opts.trust.onChange(() => opts.cache.clear());
  }

  async verify(input: VerifyInput): Promise<VerifyResult> {
    if (!input.image) throw new CountersignError('INVALID_ARGUMENT', 'an image reference is required');
    const ref = parseReference(input.image);
    const policy = this.opts.policies.current();
    const trustRevision = this.opts.trust.revision();
    const context = input.context ?? {};
    const repo: RepositoryRef = { registry: ref.registry, repository: ref.repository };
    const reference = formatReference(ref);
    const budget = this.budgetMs(input.deadline);

    let facts: ImageFacts | undefined;
    let evidence: Evidence[] = [];
    let cached = false;
    let error: CollectionError | undefined;
    try {
      const collected = await withDeadline(budget, async () => {
        const image = await this.resolve(repo, ref.digest ?? ref.tag ?? 'latest', reference, ref.tag);
        facts = image;
        const digests = [image.digest, ...(image.platforms ?? []).map((p) => p.digest)];
        // The deciding rule may name other repositories whose evidence for these digests counts (promotion).
        const sources = [repo, ...evidenceSources(policy, { image, action: input.action, ...(context.namespace !== undefined ? { namespace: context.namespace } : {}) })];
        const results = await Promise.all(
          sources.flatMap((src) => digests.map((d) => this.opts.cache.get(cacheKey(src, d), trustRevision, () => this.opts.collector.collect(src, d)))),
        );
        return { evidence: results.flatMap((r) => r.evidence), cached: results.every((r) => r.cached) };
      });
      evidence = collected.evidence;
      cached = collected.cached;
    } catch (err) {
      error = toCollectionError(err, reference, budget);
    }

    const now = this.now();
    const current = evidence.map((e) => this.withKeyState(e, now, `${ref.registry}/${ref.repository}`));
    const image: ImageFacts = facts ?? { reference, registry: ref.registry, repository: ref.repository, ...(ref.tag ? { tag: ref.tag } : {}), digest: ref.digest ?? '', mediaType: '' };
    const decision = evaluate(policy, {
      image,
      action: input.action,
      context,
      evidence: current,
      now,
      ...(error ? { error } : {}),
    });
    if (!decision.allowed || decision.requirements.some((r) => !r.satisfied)) {
      // Evidence that did not satisfy the policy is kept only briefly: a signature or SBOM pushed
      // a moment later must be seen soon.
      for (const d of [image.digest, ...(image.platforms ?? []).map((p) => p.digest)]) if (d) this.opts.cache.shorten(cacheKey(repo, d));
    }
    return {
      ...decision,
      image: reference,
      digest: image.digest,
      evidence: current.map(stripPredicate),
      trustRevision,
      cached: cached && !error,
    };
  }

  /** A referrer was added to `digest` (by this instance): its cached evidence is out of date. */
  referrerAdded(repo: RepositoryRef, digest: string): void {
    this.opts.cache.invalidate(cacheKey(repo, digest));
  }

  /** The policy in force (for callers that report its revision without verifying). */
  policy(): Policy {
    return this.opts.policies.current();
  }

  private budgetMs(deadline: number | undefined): number {
    const max = this.opts.maxDurationMs ?? 8000;
    if (deadline === undefined || !Number.isFinite(deadline)) return max;
    const margin = this.opts.deadlineMarginMs ?? 250;
    return Math.max(0, Math.min(max, deadline - Date.now() - margin));
  }

  private async resolve(repo: RepositoryRef, reference: string, display: string, tag: string | undefined): Promise<ImageFacts> {
    const isDigest = reference.includes(':');
    const known = isDigest ? this.manifestFacts.get(cacheKey(repo, reference)) : undefined;
    let digest = reference;
    let facts = known;
    if (!facts) {
      // A tag is resolved with one HEAD on every call: a moved tag can never reach stale evidence.
      const head = await this.opts.registry.headManifest(repo, reference);
      digest = head.digest;
      if (isDigest && head.digest !== reference) {
        throw new CountersignError('DATA_LOSS', `registry answered ${head.digest} for ${reference}`);
      }
      facts = this.manifestFacts.get(cacheKey(repo, digest));
      if (!facts) {
        facts = { mediaType: head.mediaType };
        if (head.mediaType === MEDIA_TYPE.OCI_INDEX || head.mediaType === MEDIA_TYPE.DOCKER_MANIFEST_LIST) {
          const { bytes } = await this.opts.registry.getManifest(repo, digest);
          const index = JSON.parse(bytes.toString('utf8')) as ImageIndex;
          facts.platforms = (index.manifests ?? [])
            // Attestation manifests some builders add to indexes are not platforms.
            .filter((m) => m.platform && m.platform.os !== 'unknown')
            .map((m) => ({ digest: m.digest, mediaType: m.mediaType, ...(m.platform ? { platform: m.platform } : {}) }));
        }
        if (this.manifestFacts.size >= MAX_MANIFEST_FACTS) this.manifestFacts.clear();
        this.manifestFacts.set(cacheKey(repo, digest), facts);
      }
    }
    return {
      reference: display,
      registry: repo.registry,
      repository: repo.repository,
      ...(tag ? { tag } : {}),
      digest,
      mediaType: facts.mediaType,
      ...(facts.platforms ? { platforms: facts.platforms } : {}),
    };
  }

  /** Revocation, validity windows and scopes, applied at decision time (cached or not). */
  private withKeyState(e: Evidence, now: Date, repository: string): Evidence {
    if (!e.verified || !e.keyId) return e;
    const key = this.opts.trust.byId(e.keyId);
    if (!key) return { ...e, verified: false, reason: `key ${e.keyName ?? e.keyId} is no longer trusted` };
    const state = keyUsability(key, now, repository);
    return state.usable ? e : { ...e, verified: false, reason: state.reason };
  }
}

function cacheKey(repo: RepositoryRef, digest: string): string {
  return `${repo.registry}/${repo.repository}@${digest}`;
}

function stripPredicate(e: Evidence): Evidence {
  if (e.predicate === undefined) return e;
  const { predicate: _omit, ...rest } = e;
  return rest;
}

function toCollectionError(err: unknown, reference: string, budget: number): CollectionError {
  if (err instanceof DeadlineError) {
    return { code: 'DEADLINE_EXCEEDED', message: `verification of ${reference} did not finish within ${budget} ms` };
  }
  if (err instanceof CountersignError) {
    if (err.code === 'NOT_FOUND') return { code: err.code, message: err.message };
    return { code: err.code, message: `could not verify ${reference}: ${err.message}` };
  }
  return { code: 'INTERNAL', message: `could not verify ${reference}: internal error` };
}

class DeadlineError extends Error {}

async function withDeadline<T>(ms: number, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError()), ms);
  });
  const running = work();
  // The losing side must not become an unhandled rejection.
  running.catch(() => undefined);
  try {
    return await Promise.race([running, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
