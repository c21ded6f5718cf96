/**
 * Verify: resolve the image (tags on every call), collect verified evidence (cached by digest),
 * re-apply key state at the time of the decision, evaluate the policy (or answer with the decision an
 * identical call made, while it holds), and explain.
 * Every failure to collect evidence becomes a policy decision (onError), never an implicit allow.
 */
import type { Policy } from '../policy';
import type { PolicyStore } from '../policy-store';
import { decideWithoutEvidence, evaluate, evidenceSources, tagCanDecide, type Decision } from '../policy';
import type { RegistryClient } from '../registry';
import { formatReference, parseReference, type ImageReference } from '../registry';
import { MalformedIndexError, parseImageIndexChildren } from '../registry/image-index';
import { manifestTypeOfBytes } from '../registry/manifest-type';
import { isAttestationManifest } from '../formats/oci';
import { MANIFEST_ACCEPT, MEDIA_TYPE, type Descriptor, type ManifestResult, type RepositoryRef } from '../registry/types';
import { quoteUntrusted } from '../shared/untrusted-text';
import { CountersignError, isContentError } from '../shared/errors';
import { flatString, packDigest, StringTable } from '../shared/compact-strings';
import { LruMap } from '../shared/lru';
import { keyUsability } from '../trust/usability';
import { WatchedDate } from '../shared/watched-date';
import type { TrustStore } from '../trust/types';
import type { EvidenceCollector } from './collector';
import type { EvidenceCache } from './evidence-cache';
import { checkRequestContext, requestContextKey } from './request-context';
import type { Action, CollectionError, Evidence, ImageFacts, RequestContext } from '../policy/input';

export interface VerifyInput {
  image: string;
  action: Action;
  context?: RequestContext;
  /** Absolute time (ms since epoch) by which an answer must exist. */
  deadline?: number;
  /** The caller went away (a cancelled gRPC call, shutdown): stop the registry work at once. */
  signal?: AbortSignal;
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
  /** Digests whose media type and platforms are remembered (LRU); default: 10,000. */
  manifestFactsMaxEntries?: number;
  now?: () => Date;
}

interface ManifestFacts {
  mediaType: string;
  /** `mediaType` is what the bytes say they are (their field or shape), not how they were served. */
  declared?: true;
  platforms?: ImageFacts['platforms'];
  unusable?: string;
}

interface ParsedImage {
  ref: Readonly<ImageReference>;
  repo: Readonly<RepositoryRef>;
  /** The cache key of `repo` and the digest, for a reference by digest (made once: see CacheKeys). */
  key: string | undefined;
  reference: string;
  unresolved: Readonly<ImageFacts>;
  /**
   * For a reference by tag: the digest the tag last resolved to and its cache key, so that a tag
   * that has not moved does not cost packing the digest again. Only a memo of the key: the tag is
   * still resolved with a HEAD on every call, and a different answer replaces it.
   */
  lastResolved: { digest: string; key: string } | undefined;
  /** The last allowed decision for this reference, for the next identical call (see reusable()). */
  decision: DecisionMemo | undefined;
}

/**
 * What an allowed decision was made from, and the decision. Everything evaluate() and the key
 * state read is here, but for the time: a memo is only kept when the decision read the clock
 * through bounded readings alone (WatchedDate, readTime: a scan's age, an exception's expiry), and
 * only until the first of them would come out otherwise, so an identical call made within that
 * window gets the identical answer, reasons and warnings included.
 */
interface DecisionMemo {
  policy: Policy;
  trustRevision: string;
  action: Action;
  /**
   * requestContextKey() of the request's context: a memo outlives its call (up to
   * PARSED_REFERENCES of them are kept), so it must not keep the caller's labels themselves.
   */
  contextKey: string;
  digest: string;
  mediaType: string;
  platforms: ImageFacts['platforms'];
  /** The cached evidence objects themselves: a refreshed or re-collected entry is a new object. */
  evidence: readonly Evidence[];
  /**
   * When the decision holds (ms since epoch, from inclusive, until exclusive): from when it was
   * made to the first instant at which a key or certificate state it used changes (a validFrom,
   * validUntil, revocation time or chain notAfter still to come) or a bounded reading of the time
   * would differ (a scan age as shown or past its maximum, an exception expiring or its time left
   * as shown). A clock that went back is outside it: what held before `from` was not judged.
   */
  from: number;
  until: number;
  result: Readonly<VerifyResult>;
}

const DEFAULT_MANIFEST_FACTS = 10_000;
/** Distinct image strings whose parse is remembered (a cluster deploys a few thousand at most). */
const PARSED_REFERENCES = 4096;
/**
 * Children of one index that are verified (each costs a collection). Real multi-platform images
 * have a handful; an index listing more is refused (a deny naming the limit) rather than letting
 * it turn every Verify into a timeout.
 */
export const MAX_INDEX_CHILDREN = 64;

export class VerificationService {
  private readonly now: () => Date;
  /**
   * Digest → what its bytes say (media type, platforms): content-addressed, so it never goes
   * stale. How the registry serves the digest is not remembered: a by-tag call compares its HEAD's
   * type with it every time; by digest, a warm call makes no request and checks it at resolution only.
   */
  private readonly manifestFacts: LruMap<string, ManifestFacts>;
  private readonly strings = new StringTable();
  readonly keys = new CacheKeys();
  /** Media type → the facts of a manifest that is not an index (bounded like `strings`). */
  private readonly singleManifests = new LruMap<string, Readonly<ManifestFacts>>(64);
  /** Image reference as sent → its parse (see parsed()). */
  private readonly parsedReferences = new LruMap<string, ParsedImage>(PARSED_REFERENCES);

  constructor(private readonly opts: VerificationServiceOptions) {
    this.now = opts.now ?? (() => new Date());
    this.manifestFacts = new LruMap(opts.manifestFactsMaxEntries ?? DEFAULT_MANIFEST_FACTS);
    // A key change invalidates every verified result at once.
    opts.trust.onChange(() => opts.cache.clear());
  }

  async verify(input: VerifyInput): Promise<VerifyResult> {
    if (!input.image) throw new CountersignError('INVALID_ARGUMENT', 'an image reference is required');
    // Before anything is done with it: every caller (gRPC, webhook, gate) comes through here.
    const context = checkRequestContext(input.context);
    const parsed = this.parsed(input.image);
    const { ref, repo, key, reference, unresolved } = parsed;
    // A re-read of an announced key change is under way (a revocation through another replica,
    // say): wait for it within the call's deadline rather than judge by keys it may revoke. One
    // that does not finish in time leaves the keys unreliable for this call (see `stale` below).
    const settling = this.opts.trust.settled?.();
    let unsettled: string | undefined;
    if (settling !== undefined) {
      await withDeadline(this.budgetMs(input.deadline), input.signal, () => settling).catch(() => {
        unsettled = 'a re-read of the keys after a change did not finish within the deadline';
      });
    }
    // The same for the stored policy (SetPolicy through another replica or worker). A policy that
    // may predate an announced change decides nothing: not its rules, nor their onError (the
    // change may be the one that tightened them). UNAVAILABLE: every enforcement point fails
    // closed on it, and a retry after the re-read succeeds.
    const policySettling = this.opts.policies.settled();
    let policyUnsettled: string | undefined;
    if (policySettling !== undefined) {
      await withDeadline(this.budgetMs(input.deadline), input.signal, () => policySettling).catch(() => {
        policyUnsettled = 'a re-read of the policy after a change did not finish within the deadline';
      });
    }
    const policyBehind = policyUnsettled ?? this.opts.policies.behind();
    if (policyBehind !== undefined)
      throw new CountersignError('UNAVAILABLE', `the policy in force cannot be relied on (${policyBehind}); retry once it is re-read`);
    const policy = this.opts.policies.current();
    const trustRevision = this.opts.trust.revision();
    const budget = this.budgetMs(input.deadline);
    // `name:tag@digest`: runtimes pull the digest and ignore the tag, so the tag is only a claim.
    // Where it could change which rule applies (a tag-scoped rule or exception), it counts only
    // once the registry confirms it points at that digest; else the image is judged by the digest
    // alone, as what would run. A push names the tag being written (the gate's), not a claim.
    if (
      ref.tag !== undefined &&
      ref.digest !== undefined &&
      input.action !== 'push' &&
      tagCanDecide(policy, unresolved, input.action, context)
    ) {
      const points = await this.tagTarget(repo, ref.tag, budget, input.signal);
      if (points !== ref.digest) {
        const result = await this.verify({ ...input, image: formatReference({ ...repo, digest: ref.digest }) });
        const why = points === undefined ? 'could not be confirmed to point at that digest' : `points at ${points}`;
        const warning = `tag ${ref.tag} of ${ref.registry}/${ref.repository} ${why}: ${reference} was judged by its digest alone (what a runtime pulls)`;
        return { ...result, image: reference, warnings: [...result.warnings, warning] };
      }
    }
    // The last decision for this reference was made from the same policy, keys and request: the
    // early decision was none then, and reads of the clock in it were bounded (an expired
    // exception stays expired), so it is none now while the memo holds (only the evidence, the
    // image and the memo's window are left to compare, below). Outside the window evaluate()
    // makes the early step again itself.
    const memo = parsed.decision;
    // Made only where a memo is compared or kept (a call without either needs no key).
    let contextKey: string | undefined;
    const keyOfContext = (): string => (contextKey ??= requestContextKey(context));
    const sameRequest =
      memo !== undefined &&
      memo.policy === policy &&
      memo.trustRevision === trustRevision &&
      memo.action === input.action &&
      memo.contextKey === keyOfContext();

    // deny:/allow: rules, exceptions and unmatched requests need no evidence: decided before any
    // registry request (a rule denying docker.io/** must not wait for Docker Hub).
    const earlyNow = WatchedDate.of(this.now());
    const early = sameRequest
      ? undefined
      : decideWithoutEvidence(policy, { image: unresolved, action: input.action, context, now: earlyNow });
    if (early) return { ...early, image: reference, digest: unresolved.digest, evidence: [], trustRevision, cached: false };

    let facts: ImageFacts | undefined;
    let evidence: Evidence[] = [];
    let cached = false;
    let error: CollectionError | undefined;
    // Warm by digest: everything is in memory, so no deadline timer, abort controller or race.
    const warm =
      ref.digest !== undefined && key !== undefined
        ? this.fromMemory(repo, ref.digest, key, reference, ref.tag, trustRevision, (image) =>
            this.evidenceRepositories(policy, repo, image, input.action, context),
          )
        : undefined;
    if (warm) {
      facts = warm.image;
      evidence = warm.evidence;
      cached = true;
    } else
      try {
        const collected = await withDeadline(budget, input.signal, async (signal) => {
          const image = await this.resolve(parsed, signal);
          facts = image;
          if (image.unusable !== undefined) return { evidence: [], cached: false };
          // The deciding rule may name other repositories whose evidence for these digests counts (promotion).
          const sources = this.evidenceRepositories(policy, repo, image, input.action, context);
          // The image's own key: the flat string its manifest facts are kept under (resolve() set
          // it), so that its evidence entry shares it (one copy of the key for both, where 100,000
          // digests are held). The tag memo is shared by concurrent calls naming the tag: its key
          // counts only for its own digest.
          const last = parsed.lastResolved;
          const factsKey = ref.digest !== undefined ? key : last?.digest === image.digest ? last.key : undefined;
          if (ref.digest === undefined) {
            // A warm tag: the HEAD in resolve() was its one request; the rest is the warm-by-digest
            // path (evidence from memory: no collection, no further promise per digest).
            const known = this.warmEvidence(repo, image, factsKey ?? this.keys.of(repo, image.digest), trustRevision, sources);
            if (known) return { evidence: known, cached: true };
          }
          const digests = [image.digest, ...(image.platforms ?? []).map((p) => p.digest)];
          const results = await Promise.all(
            sources.flatMap((src) =>
              digests.map((d) => {
                const own = src === repo && d === image.digest ? factsKey : undefined;
                return this.opts.cache.get(
                  own ?? this.keys.of(src, d),
                  trustRevision,
                  (shared) => this.opts.collector.collect(src, d, { signal: shared }),
                  { signal, keyIsFlat: own !== undefined },
                );
              }),
            ),
          );
          return { evidence: results.flatMap((r) => r.evidence), cached: results.every((r) => r.cached) };
        });
        evidence = collected.evidence;
        cached = collected.cached;
      } catch (err) {
        error = toCollectionError(err, reference, budget);
      }

    // Evidence by managed keys counts only while their store is current (a revocation made through
    // another replica must not go unseen); while it is not, that evidence is a collection error, so
    // the policy's onError decides. What needs no key is still decided from memory.
    const stale = error === undefined ? (unsettled ?? this.opts.trust.stale?.()) : undefined;
    if (stale !== undefined && evidence.some((e) => e.keyId !== undefined))
      error = { code: 'UNAVAILABLE', message: `the key store cannot be relied on (${stale})` };
    const image: ImageFacts = facts ?? unresolved;
    const memoable = cached && error === undefined && stale === undefined;
    const at = this.now();
    const t = at.getTime();
    if (sameRequest && memoable && t >= memo.from && t < memo.until && sameImage(memo, image) && sameEvidence(memo.evidence, evidence))
      return memo.result;
    // The key states are judged at `at` and say when they change (window); the evaluation gets a
    // WatchedDate, which tells whether anything else depended on the time, and until when.
    const window = { until: Infinity };
    const current = evidence.map((e) => this.withKeyState(e, at, `${ref.registry}/${ref.repository}`, window));
    const now = WatchedDate.of(at);
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
      // a moment later must be seen soon, in every repository the decision read (the image's own
      // and those its rule names: a signature pushed to staging, for a promotion).
      const read = image.unusable === undefined ? this.evidenceRepositories(policy, repo, image, input.action, context) : [repo];
      for (const source of read)
        for (const d of [image.digest, ...(image.platforms ?? []).map((p) => p.digest)])
          if (d) this.opts.cache.shorten(this.keys.of(source, d));
    }
    const result: VerifyResult = {
      ...decision,
      image: reference,
      digest: image.digest,
      evidence: current.map(stripPredicate),
      trustRevision,
      cached: cached && !error,
    };
    if (memoable && !earlyNow.read && !now.read && decision.allowed && decision.requirements.every((r) => r.satisfied)) {
      parsed.decision = {
        policy,
        trustRevision,
        action: input.action,
        contextKey: keyOfContext(),
        digest: image.digest,
        mediaType: image.mediaType,
        platforms: image.platforms,
        evidence,
        from: t,
        until: Math.min(window.until, earlyNow.until, now.until),
        result: deepFreeze(result),
      };
      return result;
    }
    // A decision that could not be kept replaces none: it would not be reused either.
    if (memo !== undefined && !sameRequest) parsed.decision = undefined;
    return result;
  }

  /** The digest `tag` points at now, or undefined when the registry does not say (absent, unreachable, late). */
  private async tagTarget(repo: RepositoryRef, tag: string, budget: number, cancel: AbortSignal | undefined): Promise<string | undefined> {
    try {
      return (await withDeadline(budget, cancel, (signal) => this.opts.registry.headManifest(repo, tag, { signal }))).digest;
    } catch {
      return undefined;
    }
  }

  /** The image's own repository and those the deciding rule names (`evidenceFrom`: promotion). */
  private evidenceRepositories(
    policy: Policy,
    repo: RepositoryRef,
    image: ImageFacts,
    action: VerifyInput['action'],
    context: RequestContext,
  ): RepositoryRef[] {
    return [
      repo,
      ...evidenceSources(policy, { image, action, ...(context.namespace !== undefined ? { namespace: context.namespace } : {}) }),
    ];
  }

  /**
   * The image and its evidence when both are in memory (a digest reference whose facts and every
   * child's evidence are cached), else undefined: the caller goes to the registry.
   */
  private fromMemory(
    repo: RepositoryRef,
    digest: string,
    /** The cache key of repo and digest (the parsed reference's). */
    key: string,
    display: string,
    tag: string | undefined,
    trustRevision: string,
    sourcesOf: (image: ImageFacts) => RepositoryRef[],
  ): { image: ImageFacts; evidence: Evidence[] } | undefined {
    const known = this.manifestFacts.get(key);
    if (!known) return undefined;
    const image: ImageFacts = {
      reference: display,
      registry: repo.registry,
      repository: repo.repository,
      ...(tag ? { tag } : {}),
      digest,
      mediaType: known.mediaType,
      ...(known.platforms ? { platforms: known.platforms } : {}),
      ...(known.unusable !== undefined ? { unusable: known.unusable } : {}),
    };
    if (known.unusable !== undefined) return undefined;
    const evidence = this.warmEvidence(repo, image, key, trustRevision, sourcesOf(image));
    return evidence ? { image, evidence } : undefined;
  }

  /**
   * The evidence of `image` (and of its children) from every repository in `sources`, when all of
   * it is in memory, else undefined. `key` is the cache key of `repo` and `image.digest`.
   */
  private warmEvidence(
    repo: RepositoryRef,
    image: ImageFacts,
    key: string,
    trustRevision: string,
    sources: RepositoryRef[],
  ): Evidence[] | undefined {
    const digest = image.digest;
    const digests = image.platforms ? [digest, ...image.platforms.map((p) => p.digest)] : [digest];
    const keyOf = (src: RepositoryRef, d: string): string => (src === repo && d === digest ? key : this.keys.of(src, d));
    // Every repository whose evidence counts must be warm, or this is not a warm call. Asked
    // before any peek: a partly warm set goes to get(), which counts each entry once.
    const single = sources.length === 1 && digests.length === 1;
    if (!single)
      for (const src of sources) for (const d of digests) if (!this.opts.cache.has(keyOf(src, d), trustRevision)) return undefined;
    const evidence: Evidence[] = [];
    for (const src of sources) {
      for (const d of digests) {
        const hit = this.opts.cache.peek(keyOf(src, d), trustRevision, (shared) => this.opts.collector.collect(src, d, { signal: shared }));
        if (!hit) return undefined;
        evidence.push(...hit);
      }
    }
    return evidence;
  }

  /**
   * The parsed reference and what derives from it alone (parsing is pure, and a warm caller sends
   * the same few references over and over). Frozen: shared by every call naming the image.
   */
  private parsed(image: string): ParsedImage {
    let p = this.parsedReferences.get(image);
    if (p === undefined) {
      const ref = parseReference(image);
      const reference = formatReference(ref);
      const repo = Object.freeze({ registry: ref.registry, repository: ref.repository });
      // Frozen but for lastResolved (a memo written by resolve).
      p = Object.seal({
        ref: Object.freeze(ref),
        repo,
        key: ref.digest !== undefined ? flatString(this.keys.of(repo, ref.digest)) : undefined,
        reference,
        lastResolved: undefined,
        decision: undefined,
        unresolved: Object.freeze({
          reference,
          registry: ref.registry,
          repository: ref.repository,
          ...(ref.tag ? { tag: ref.tag } : {}),
          digest: ref.digest ?? '',
          mediaType: '',
        }),
      });
      this.parsedReferences.set(image, p);
    }
    return p;
  }

  private singleManifestFacts(mediaType: string, declared: boolean): Readonly<ManifestFacts> {
    const key = declared ? `${mediaType} declared` : mediaType;
    let facts = this.singleManifests.get(key);
    if (facts === undefined) {
      facts = Object.freeze({ mediaType, ...(declared ? { declared: true as const } : {}) });
      this.singleManifests.set(key, facts);
    }
    return facts;
  }

  /** A referrer was added to `digest` (by this instance): its cached evidence is out of date. */
  referrerAdded(repo: RepositoryRef, digest: string): void {
    this.opts.cache.invalidate(this.keys.of(repo, digest));
  }

  private budgetMs(deadline: number | undefined): number {
    const max = this.opts.maxDurationMs ?? 8000;
    if (deadline === undefined || !Number.isFinite(deadline)) return max;
    const margin = this.opts.deadlineMarginMs ?? 250;
    return Math.max(0, Math.min(max, deadline - Date.now() - margin));
  }

  /**
   * The digest (a tag is resolved with one HEAD on every call) and, for an index, the children a
   * runtime could run. Transport failures throw (onError decides); what the registry holds, when
   * it cannot be judged (absent, malformed, oversized, not matching its digest), is returned as
   * `unusable`: a deny for this image, never an error a policy could turn into an allow.
   */
  private async resolve(parsed: ParsedImage, signal: AbortSignal): Promise<ImageFacts> {
    const { repo, ref, reference: display } = parsed;
    const tag = ref.tag;
    const reference = ref.digest ?? ref.tag ?? 'latest';
    const isDigest = ref.digest !== undefined;
    const image = (digest: string, facts: ManifestFacts): ImageFacts => ({
      reference: display,
      registry: repo.registry,
      repository: repo.repository,
      ...(tag ? { tag } : {}),
      digest,
      mediaType: facts.mediaType,
      ...(facts.platforms ? { platforms: facts.platforms } : {}),
      ...(facts.unusable !== undefined ? { unusable: facts.unusable } : {}),
    });
    const known = isDigest && parsed.key !== undefined ? this.manifestFacts.get(parsed.key) : undefined;
    if (known) return image(reference, known);

    // By digest, the manifest is read at once (its bytes say what it is, below): no HEAD first.
    let head: Descriptor;
    let got: ManifestResult | undefined;
    try {
      if (isDigest) {
        got = await this.opts.registry.getManifest(repo, reference, { signal });
        head = got.descriptor;
      } else head = await this.opts.registry.headManifest(repo, reference, { signal });
    } catch (err) {
      return image(isDigest ? reference : '', { mediaType: '', unusable: unusableBecause(err) });
    }
    const digest = head.digest;
    if (isDigest && digest !== reference) {
      return image(reference, { mediaType: '', unusable: `registry ${repo.registry} answered ${digest} for ${reference}` });
    }
    let key: string;
    if (isDigest) key = parsed.key ?? flatString(this.keys.of(repo, digest));
    else {
      const last = parsed.lastResolved;
      key = last !== undefined && last.digest === digest ? last.key : flatString(this.keys.of(repo, digest));
      if (last?.key !== key) parsed.lastResolved = { digest, key };
    }
    const cachedFacts = this.manifestFacts.get(key);
    if (cachedFacts) {
      // What the bytes are is remembered; how the registry serves them is not theirs and can change
      // (a re-push with another Content-Type): the HEAD made anyway says it on every call.
      const served = cachedFacts.declared ? servedTypeConflict(cachedFacts.mediaType, [head.mediaType]) : undefined;
      return image(digest, served === undefined ? cachedFacts : { mediaType: cachedFacts.mediaType, unusable: served });
    }

    // What the digest is comes from its bytes, never from a HEAD's Content-Type: a registry that
    // calls an index an image manifest (or application/json) would have its platforms go unjudged,
    // and these facts are remembered for the digest. One GET per digest (then cached).
    let bytes: Buffer;
    let mediaType: string;
    let own: string | undefined;
    let conflict: string | undefined;
    try {
      got ??= await this.opts.registry.getManifest(repo, digest, { signal });
      ({ bytes } = got);
      own = manifestTypeOfBytes(bytes);
      mediaType = own ?? got.descriptor.mediaType;
      conflict = servedTypeConflict(own, [head.mediaType, got.descriptor.mediaType]);
    } catch (err) {
      // Not remembered: a digest mismatch or a vanished manifest says nothing lasting about the digest.
      return image(digest, { mediaType: this.strings.intern(head.mediaType), unusable: unusableBecause(err) });
    }
    // A served type that contradicts the bytes is how the registry serves them now, not what the
    // digest is: a deny for this call, not remembered (the next call looks again).
    if (conflict !== undefined) return image(digest, { mediaType: this.strings.intern(mediaType), unusable: conflict });
    // Media types repeat across every digest remembered: one shared copy (compact-strings.ts).
    let facts: ManifestFacts = { mediaType: this.strings.intern(mediaType), ...(own !== undefined ? { declared: true as const } : {}) };
    if (mediaType === MEDIA_TYPE.OCI_INDEX || mediaType === MEDIA_TYPE.DOCKER_MANIFEST_LIST) {
      try {
        const runnable = parseImageIndexChildren(bytes, mediaType).filter((c) => !isAttestationManifest(c));
        if (runnable.length > MAX_INDEX_CHILDREN) {
          facts.unusable = `the image index lists ${runnable.length} manifests a runtime could run; at most ${MAX_INDEX_CHILDREN} are verified`;
        } else {
          facts.platforms = runnable.map((c) => ({
            digest: c.digest,
            mediaType: c.mediaType,
            ...(c.platform ? { platform: c.platform } : {}),
            ...(c.annotations ? { annotations: c.annotations } : {}),
          }));
        }
      } catch (err) {
        if (!(err instanceof MalformedIndexError)) throw err;
        facts.unusable = `the image index is malformed: ${err.message}`;
      }
    }
    // Content-addressed (the bytes matched the digest): the same digest always gives these facts.
    // A single manifest's facts are its media type alone: one shared object per media type.
    if (facts.platforms === undefined && facts.unusable === undefined)
      facts = this.singleManifestFacts(facts.mediaType, facts.declared === true);
    this.manifestFacts.set(key, facts);
    return image(digest, facts);
  }

  /**
   * Revocation, validity windows and scopes, applied at decision time (cached or not). Lowers
   * `window.until` to the first instant after `now` at which what is judged here would change.
   */
  private withKeyState(e: Evidence, now: Date, repository: string, window: { until: number }): Evidence {
    if (!e.verified || !e.keyId) return e;
    const key = this.opts.trust.byId(e.keyId) ?? this.opts.trust.caBundles?.().find((b) => b.id === e.keyId);
    if (!key) return { ...e, verified: false, reason: `key ${e.keyName ?? e.keyId} is no longer trusted` };
    const t = now.getTime();
    // keyUsability changes at each of these instants (revoked from revokedAt on, valid from
    // validFrom, expired from validUntil on); a certificate counts up to its notAfter inclusive.
    for (const d of [key.revokedAt, key.validFrom, key.validUntil])
      if (d !== undefined && d.getTime() > t) window.until = Math.min(window.until, d.getTime());
    if (e.certificateValidUntil !== undefined) {
      const notAfter = Date.parse(e.certificateValidUntil);
      if (notAfter >= t) window.until = Math.min(window.until, notAfter + 1);
    }
    const state = keyUsability(key, now, repository);
    if (!state.usable) return { ...e, verified: false, reason: state.reason };
    if (e.certificateValidUntil !== undefined && !(now.getTime() <= Date.parse(e.certificateValidUntil)))
      return { ...e, verified: false, reason: `the certificate chain of this signature expired at ${e.certificateValidUntil}` };
    return e;
  }
}

/** Repositories given a short id in cache keys; beyond that, keys name the repository in full. */
const REPOSITORY_IDS = 4096;

/**
 * Keys of the evidence cache and the manifest facts (100,000 of each are held at scale): a short
 * id of the repository (`\u0002` and a number, or the repository in full once REPOSITORY_IDS have
 * been given) followed by the packed digest (compact-strings.ts). Repository names cannot contain
 * control characters, so keys of different repositories or digests never collide.
 */
export class CacheKeys {
  private readonly ids = new Map<string, string>();

  of(repo: RepositoryRef, digest: string): string {
    const name = `${repo.registry}/${repo.repository}`;
    let id = this.ids.get(name);
    if (id === undefined) {
      if (this.ids.size >= REPOSITORY_IDS) return name + packDigest(digest);
      id = `\u0002${this.ids.size.toString(36)}`;
      this.ids.set(flatString(name), id);
    }
    return id + packDigest(digest);
  }
}

/** The same manifest: digest, media type and (content-addressed facts, so the same object) platforms. */
function sameImage(memo: DecisionMemo, image: ImageFacts): boolean {
  return (
    memo.digest === image.digest && memo.mediaType === image.mediaType && memo.platforms === image.platforms && image.unusable === undefined
  );
}

/** The same evidence objects in the same order (the cache hands out one frozen object per entry). */
function sameEvidence(a: readonly Evidence[], b: readonly Evidence[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Freezes a result and everything in it that is a plain object or array (it is shared by the calls that reuse it). */
function deepFreeze<T>(value: T): T {
  const plain = Array.isArray(value) || (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype);
  if (plain && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

function stripPredicate(e: Evidence): Evidence {
  if (e.predicate === undefined) return e;
  const { predicate: _omit, ...rest } = e;
  return rest;
}

/**
 * Why the image cannot be judged, for failures that are facts about what the registry holds (the
 * image is absent; its manifest is oversized, corrupt or does not match its digest). Transport
 * failures (unreachable, 5xx, timeouts, auth refusals) are rethrown: those are onError's.
 */
function unusableBecause(err: unknown): string {
  if (err instanceof CountersignError && (err.code === 'NOT_FOUND' || isContentError(err))) return err.message;
  throw err;
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

/**
 * Runs `work` under a deadline of `ms`: when it passes (or `cancel` fires), the signal given to
 * the work aborts, which cancels the registry requests under it, and the answer does not wait for
 * them to wind down.
 */
async function withDeadline<T>(ms: number, cancel: AbortSignal | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onCancel: (() => void) | undefined;
  const timeout = new Promise<never>((_, reject) => {
    const expire = (): void => {
      // Settle first: the work's own failure (its requests aborted) must not become the answer.
      reject(new DeadlineError());
      controller.abort(new CountersignError('DEADLINE_EXCEEDED', `cancelled: the verification deadline (${ms} ms) passed`));
    };
    timer = setTimeout(expire, ms);
    if (cancel) {
      onCancel = expire;
      if (cancel.aborted) expire();
      else cancel.addEventListener('abort', onCancel, { once: true });
    }
  });
  const running = work(controller.signal);
  // The losing side must not become an unhandled rejection.
  running.catch(() => undefined);
  try {
    return await Promise.race([running, timeout]);
  } finally {
    clearTimeout(timer);
    if (onCancel) cancel?.removeEventListener('abort', onCancel);
  }
}

const MANIFEST_TYPES: ReadonlySet<string> = new Set(MANIFEST_ACCEPT);

/**
 * Why a digest cannot be judged when its bytes say one manifest type and the registry serves it
 * as another (HEAD or GET Content-Type; generic types such as application/json say nothing):
 * runtimes go by the served type (containerd resolves a descriptor with a HEAD), this service by
 * the bytes, so a body calling itself an image, served as an index, would have its platforms run
 * unjudged. Undefined when they agree or the bytes say nothing.
 */
function servedTypeConflict(own: string | undefined, served: readonly string[]): string | undefined {
  if (own === undefined) return undefined;
  const other = served.find((t) => MANIFEST_TYPES.has(t) && t !== own);
  return other === undefined
    ? undefined
    : `the manifest says it is ${quoteUntrusted(own)} but the registry serves it as ${other}: a runtime could read it as either, so it is not judged`;
}
