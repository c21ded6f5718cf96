/**
 * Finds and verifies everything that vouches for one image manifest: Sigstore bundle referrers
 * (referrers API or tag-schema fallback) and cosign's legacy `.sig`/`.att` tags.
 *
 * Everything a pusher can write is evidence, judged entry by entry:
 * - Each referrer is judged from its OWN manifest (artifactType, layers), never from the index entry
 *   (fallback indexes written by cosign carry wrong artifactTypes and no annotations, and anyone with
 *   push access can write an index). A malformed referrer becomes unverified evidence with a reason;
 *   it never hides a valid one next to it.
 * - A referrers list that cannot be read at all (not JSON, oversized, an image manifest under the
 *   `sha256-<hex>` tag) and each malformed entry of one are reported as unverified evidence: they
 *   hide neither the other entries nor the legacy `.sig` next to them, and never become an error.
 * - No positional cap: entries are deduplicated, those whose artifactType is a format we verify are
 *   examined first (smallest first), and a budget of bytes and time bounds the work; what it leaves
 *   unexamined is reported, in a note that says which budget ran out (`cutShort`: a cut by time is
 *   a fact of that moment, and the evidence cache never keeps it).
 * Transport failures (unreachable, 5xx, timeouts, auth refusals) propagate, so that the caller fails
 * closed (or applies onError) and nothing transient is cached.
 */
import type { RegistryClient, ReferrersResult } from '../registry';
import type { Descriptor, RepositoryRef } from '../registry/types';
import { checkReferrerManifest, declaredArtifactType } from './referrer-manifest';
import { CountersignError, isContentError, isTransient } from '../shared/errors';
import type { TrustStore } from '../trust/types';
import { isBundleArtifact, verifyBundleReferrer } from './bundle-verifier';
import { CollectionBudget } from './collection-budget';
import { quoteUntrusted } from '../shared/untrusted-text';
import { legacyCosignEvidence } from './cosign-legacy';
import { notationEnvelopeLayer, notationEvidence } from './notation/referrer';
import { MAX_NOTATION_ENVELOPE_BYTES, NOTATION_ARTIFACT } from '../formats/notation';
import type { SigstoreTrustRoot } from './sigstore/trusted-root';
import type { Evidence, EvidenceFormat } from '../policy/input';

export { NOTATION_ARTIFACT };
const MiB = 1024 * 1024;
/** Unverified evidence listed one by one per format; beyond, one summary (keeps answers readable). */
export const MAX_LISTED_UNVERIFIED = 16;

export interface CollectorOptions {
  client: RegistryClient;
  trust: TrustStore;
  /** Manifest and blob bytes one image's collection may read. Default 64 MiB. */
  maxBytes?: number;
  /**
   * Time one image's collection may spend before what is left is reported unexamined (evidence,
   * not an error). Default 3 s: well inside Verify's own deadline, so junk cannot turn a Verify
   * into a timeout (onError).
   */
  maxCollectMs?: number;
  /** Parallel manifest/blob fetches per image. */
  concurrency?: number;
  /** Also read cosign's legacy `.sig`/`.att` tags. */
  legacy?: boolean;
  /** Sigstore trusted roots, parsed once: keyless bundles, log entries, timestamps (see verifyBundleReferrer). */
  trustedRoots?: readonly SigstoreTrustRoot[];
  /** Milliseconds for the time budget (tests inject a counter). */
  clock?: () => number;
}

interface Listing {
  manifests: Descriptor[];
  /** What the listing itself said: unreadable, skipped entries, duplicates. */
  notes: Evidence[];
}

export class EvidenceCollector {
  private readonly concurrency: number;
  private readonly legacy: boolean;

  constructor(private readonly opts: CollectorOptions) {
    this.concurrency = opts.concurrency ?? 8;
    this.legacy = opts.legacy ?? true;
  }

  /** `signal` (the Verify deadline) aborts the registry reads; the collection then fails DEADLINE_EXCEEDED. */
  async collect(repo: RepositoryRef, digest: string, opts: { signal?: AbortSignal } = {}): Promise<Evidence[]> {
    const { signal } = opts;
    const trustedKeys = this.opts.trust.list();
    const budget = new CollectionBudget({
      maxBytes: this.opts.maxBytes ?? 64 * MiB,
      maxMs: this.opts.maxCollectMs ?? 3000,
      clock: this.opts.clock ?? Date.now,
    });
    const [listing, legacy] = await Promise.all([
      this.listReferrers(repo, digest, signal),
      this.legacy
        ? legacyCosignEvidence({
            client: this.opts.client,
            repo,
            imageDigest: digest,
            trustedKeys,
            caBundles: this.opts.trust.caBundles?.() ?? [],
            budget,
            signal,
            ...(this.opts.trustedRoots ? { trustedRoots: this.opts.trustedRoots } : {}),
          })
        : [],
    ]);
    const order = examinationOrder(listing.manifests);
    const envelopes = new Map<string, EnvelopeRead>();
    // The image as the registry resolves it (one HEAD, made only when a Notary signature needs it):
    // what a signed targetArtifact must describe, as notation-go checks it. The referrer's own
    // subject descriptor is the pusher's word and is never what the payload is compared with.
    let resolved: Promise<Descriptor> | undefined;
    const imageDescriptor = (): Promise<Descriptor> => (resolved ??= this.opts.client.headManifest(repo, digest, signal ? { signal } : {}));
    let stoppedBecause: string | undefined;
    const judged = await mapLimit(order, this.concurrency, async ({ entry }) => {
      const exhausted = budget.exhausted();
      if (exhausted !== undefined) {
        stoppedBecause ??= exhausted;
        return undefined;
      }
      return this.examine(repo, digest, entry, trustedKeys, budget, envelopes, imageDescriptor, signal);
    });
    const byPosition = order.map((o, i) => ({ position: o.position, evidence: judged[i] })).sort((a, b) => a.position - b.position);
    const evidence = byPosition.flatMap((x) => (x.evidence ? [x.evidence] : []));
    const unexamined = byPosition.filter((x) => !x.evidence);
    // Which budget cut the collection short: time anywhere (a referrer or a legacy layer left
    // unread for want of time) makes it 'time', a fact of that moment that is never cached.
    const cutShort = budget.outOfTime !== undefined ? 'time' : 'bytes';
    if (unexamined.length > 0) {
      evidence.push({
        ...note(
          digest,
          listing.manifests[unexamined[0]!.position]!.digest,
          `${unexamined.length} of ${order.length} referrers were not examined: ${stoppedBecause ?? 'the collection budget ran out'} ` +
            '(referrers whose artifactType is a format Countersign verifies are examined first)',
        ),
        cutShort,
      });
    } else if (budget.outOfTime !== undefined) {
      // Only legacy .sig/.att layers were left unread (each says so): the collection is still incomplete.
      evidence.push({
        ...note(digest, '', `legacy signature or attestation layers were not examined: ${budget.outOfTime}`),
        cutShort: 'time',
      });
    }
    return compact([...evidence, ...listing.notes, ...legacy]);
  }

  /** The referrers list; content that is not a usable list is reported as evidence, not thrown. */
  private async listReferrers(repo: RepositoryRef, digest: string, signal: AbortSignal | undefined): Promise<Listing> {
    let listed: ReferrersResult;
    try {
      listed = await this.opts.client.listReferrers(repo, digest, signal ? { signal } : {});
    } catch (err) {
      if (!isContentError(err)) throw err;
      return { manifests: [], notes: [note(digest, '', `the referrers of ${digest} could not be read: ${(err as Error).message}`)] };
    }
    const notes: Evidence[] = [];
    const candidates: Descriptor[] = [...listed.manifests];
    for (const s of listed.skipped ?? []) {
      // An entry with a usable digest is still judged by its own manifest; only the listing is bad.
      const where = `referrers index entry manifests[${s.position}]`;
      if (s.digest !== undefined) {
        candidates.push({ mediaType: '', digest: s.digest, size: -1 });
        notes.push(
          note(digest, listed.indexDigest ?? '', `${where} (${s.digest}) is malformed (${s.reason}); its manifest was judged on its own`),
        );
      } else {
        notes.push(note(digest, listed.indexDigest ?? '', `${where} was skipped: ${s.reason}`));
      }
    }
    const seen = new Set<string>();
    const manifests: Descriptor[] = [];
    for (const d of candidates) {
      if (seen.has(d.digest)) continue;
      seen.add(d.digest);
      manifests.push(d);
    }
    const duplicates = candidates.length - manifests.length;
    if (duplicates > 0) notes.push(note(digest, listed.indexDigest ?? '', `${duplicates} duplicate referrer entries were examined once`));
    return { manifests, notes };
  }

  private notationEnvelope(
    repo: RepositoryRef,
    digest: string,
    budget: CollectionBudget,
    reads: Map<string, EnvelopeRead>,
    signal: AbortSignal | undefined,
  ): EnvelopeRead {
    let read = reads.get(digest);
    if (read === undefined) {
      read = this.opts.client.getBlob(repo, digest, { maxBytes: MAX_NOTATION_ENVELOPE_BYTES, ...(signal ? { signal } : {}) }).then(
        (bytes) => {
          budget.charge(bytes.length);
          return bytes;
        },
        (err: unknown) => {
          if (!isContentError(err)) throw err;
          budget.charge(MAX_NOTATION_ENVELOPE_BYTES);
          return `the envelope layer ${digest} could not be used: ${(err as Error).message}`;
        },
      );
      reads.set(digest, read);
    }
    return read;
  }

  private async examine(
    repo: RepositoryRef,
    imageDigest: string,
    entry: Descriptor,
    trustedKeys: ReturnType<TrustStore['list']>,
    budget: CollectionBudget,
    envelopes: Map<string, EnvelopeRead>,
    imageDescriptor: () => Promise<Descriptor>,
    signal: AbortSignal | undefined,
  ): Promise<Evidence> {
    const unverified = (reason: string, extra: Partial<Evidence> = {}): Evidence => ({
      referrerDigest: entry.digest,
      format: 'unknown',
      kind: 'other',
      subjectDigest: imageDigest,
      verified: false,
      reason,
      ...extra,
    });
    try {
      const { bytes, descriptor } = await this.opts.client.getManifest(repo, entry.digest, signal ? { signal } : {});
      budget.charge(bytes.length);
      let json: unknown;
      try {
        json = JSON.parse(bytes.toString('utf8'));
      } catch {
        return unverified('referrer manifest is not JSON');
      }
      const checked = checkReferrerManifest(json, imageDigest, descriptor.mediaType);
      if ('problem' in checked) {
        const claimed = checked.artifactType;
        const shown = claimed !== undefined ? { artifactType: claimed } : {};
        if (isBundleArtifact(claimed)) return unverified(checked.problem, { ...shown, format: 'sigstore-bundle' });
        // Notation's own wording for a signature that cannot be trusted as written.
        if (claimed === NOTATION_ARTIFACT)
          return unverified(`integrity validation failed: ${checked.problem}`, { ...shown, format: 'notation', kind: 'signature' });
        return unverified(checked.problem, shown);
      }
      const { manifest } = checked;
      const artifactType = declaredArtifactType(manifest);
      if (isBundleArtifact(artifactType)) {
        const layers = manifest.layers.filter((l) => isBundleArtifact(l.mediaType));
        if (manifest.layers.length !== 1 || layers.length !== 1) {
          return unverified(`bundle referrer must have exactly one bundle layer, has ${manifest.layers.length}`, {
            format: 'sigstore-bundle',
            artifactType,
          });
        }
        const bundleBytes = await this.opts.client.getBlob(repo, layers[0]!.digest, signal ? { signal } : {});
        budget.charge(bundleBytes.length);
        return verifyBundleReferrer({
          manifest,
          manifestDigest: entry.digest,
          bundleBytes,
          imageDigest,
          trustedKeys,
          byId: (id) => this.opts.trust.byId(id),
          caBundles: this.opts.trust.caBundles?.() ?? [],
          ...(this.opts.trustedRoots ? { trustedRoots: this.opts.trustedRoots } : {}),
        });
      }
      if (artifactType === NOTATION_ARTIFACT) {
        const layer = notationEnvelopeLayer(manifest);
        if (typeof layer === 'string') return unverified(layer, { format: 'notation', kind: 'signature', artifactType });
        const envelope = await this.notationEnvelope(repo, layer.digest, budget, envelopes, signal);
        if (typeof envelope === 'string')
          return unverified(`integrity validation failed: ${envelope}`, { format: 'notation', kind: 'signature', artifactType });
        // An image that cannot be resolved now (gone: NOT_FOUND) leaves this signature unverified below;
        // an outage or a refusal is fatal, as for every read.
        const { mediaType, size } = await imageDescriptor();
        return notationEvidence({
          manifest,
          manifestDigest: entry.digest,
          envelopeBytes: envelope,
          target: { digest: imageDigest, mediaType, size },
          artifactType,
        });
      }
      return unverified(`artifact type ${quoteUntrusted(artifactType)} is not a signature or attestation format Countersign verifies`, {
        artifactType,
      });
    } catch (err) {
      // An outage or an auth refusal is fatal (fail closed, never cached). Anything else about one
      // referrer, even a bug tripped by hostile input, only makes that referrer unverified: it must
      // never turn the whole decision into onError (which a rule may set to allow).
      if (isTransient(err) || isAccessRefusal(err)) throw err;
      return unverified(
        err instanceof CountersignError ? `referrer could not be read: ${err.message}` : 'referrer could not be processed (internal error)',
      );
    }
  }
}

/**
 * A Notary envelope blob, read at most once per collection (a thousand referrers may name one junk
 * blob: it costs its bytes once) and never past MAX_NOTATION_ENVELOPE_BYTES, whatever its
 * descriptor claims. A string says why there is no envelope to judge (content, not an error).
 */
type EnvelopeRead = Promise<Buffer | string>;

function isAccessRefusal(err: unknown): boolean {
  return err instanceof CountersignError && (err.code === 'PERMISSION_DENIED' || err.code === 'UNAUTHENTICATED');
}

/** Evidence about the referrers list itself (never counted: `verified` is false). */
function note(subjectDigest: string, referrerDigest: string, reason: string): Evidence {
  return { referrerDigest, format: 'referrers-index', kind: 'other', subjectDigest, verified: false, reason };
}

/**
 * Entries a pusher listed, in the order they are examined: those declaring a format we verify
 * (Sigstore bundles), then Notary signatures (reported), then the rest; within each, the smallest
 * first (a bundle referrer is a small manifest). Only an order: each entry is still judged by its
 * own manifest, and all are examined while the budget lasts.
 */
function examinationOrder(entries: Descriptor[]): Array<{ entry: Descriptor; position: number }> {
  const rank = (d: Descriptor): number => (isBundleArtifact(d.artifactType) ? 0 : d.artifactType === NOTATION_ARTIFACT ? 1 : 2);
  return entries
    .map((entry, position) => ({ entry, position }))
    .sort((a, b) => rank(a.entry) - rank(b.entry) || sizeRank(a.entry) - sizeRank(b.entry) || a.position - b.position);
}

function sizeRank(d: Descriptor): number {
  return d.size >= 0 ? d.size : Number.MAX_SAFE_INTEGER;
}

/**
 * At most MAX_LISTED_UNVERIFIED unverified items per format, then one summary: a pusher can list
 * thousands of junk entries, and the answer must stay readable. Verified evidence, and intact Notary
 * signatures (judged later, per call, by a trust policy), are always kept.
 */
function compact(evidence: Evidence[]): Evidence[] {
  const listed = new Map<EvidenceFormat, number>();
  const omitted = new Map<EvidenceFormat, Evidence[]>();
  const out: Evidence[] = [];
  for (const e of evidence) {
    // An intact Notary signature is never `verified` by itself (the rule's trust policy judges it
    // per call): it is a candidate, not junk, and dropping it here would let junk listed first hide
    // it. How many there are is bounded by the collection budget; the deny's wording by the policy.
    // The note that the budget cut the collection short is kept too (the evidence cache reads it).
    if (e.verified || (e.format === 'notation' && e.notation !== undefined) || e.cutShort !== undefined) {
      out.push(e);
      continue;
    }
    const n = listed.get(e.format) ?? 0;
    if (n < MAX_LISTED_UNVERIFIED) {
      listed.set(e.format, n + 1);
      out.push(e);
    } else {
      omitted.set(e.format, [...(omitted.get(e.format) ?? []), e]);
    }
  }
  for (const [format, rest] of omitted) {
    out.push({
      referrerDigest: rest[0]!.referrerDigest,
      format,
      kind: 'other',
      subjectDigest: rest[0]!.subjectDigest,
      verified: false,
      reason: `${rest.length} more unverified ${format} entries are not listed one by one (the next: ${rest[0]!.reason ?? 'not verified'})`,
    });
  }
  return out;
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
