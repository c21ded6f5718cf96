/**
 * Finds and verifies everything that vouches for one image manifest: Sigstore bundle referrers
 * (referrers API or tag-schema fallback) and cosign's legacy `.sig`/`.att` tags.
 *
 * Each referrer is judged from its OWN manifest (artifactType, layers), never from the index entry
 * (fallback indexes written by cosign carry wrong artifactTypes and no annotations, and anyone with
 * push access can write an index). A malformed referrer becomes unverified evidence with a reason;
 * it never hides a valid one next to it. Transient registry failures propagate, so that the caller
 * fails closed (or applies onError) and nothing transient is cached.
 */
import type { RegistryClient } from '../registry';
import type { Descriptor, ImageManifest, RepositoryRef } from '../registry/types';
import { CountersignError, isTransient } from '../shared/errors';
import type { TrustStore } from '../trust/types';
import { isBundleArtifact, verifyBundleReferrer } from './bundle-verifier';
import { legacyCosignEvidence } from './cosign-legacy';
import type { SigstoreTrustRoot } from './sigstore/trusted-root';
import type { Evidence } from './types';

const NOTATION_ARTIFACT = 'application/vnd.cncf.notary.signature';

export interface CollectorOptions {
  client: RegistryClient;
  trust: TrustStore;
  /** Referrers beyond this many are not examined (and said so): bounds the work per image. */
  maxReferrers?: number;
  /** Parallel manifest/blob fetches per image. */
  concurrency?: number;
  /** Also read cosign's legacy `.sig`/`.att` tags. */
  legacy?: boolean;
  /** Sigstore trusted roots, parsed once: keyless bundles, log entries, timestamps (see verifyBundleReferrer). */
  trustedRoots?: readonly SigstoreTrustRoot[];
  now?: () => Date;
}

export class EvidenceCollector {
  private readonly maxReferrers: number;
  private readonly concurrency: number;
  private readonly legacy: boolean;
  private readonly now: () => Date;

  constructor(private readonly opts: CollectorOptions) {
    this.maxReferrers = opts.maxReferrers ?? 128;
    this.concurrency = opts.concurrency ?? 8;
    this.legacy = opts.legacy ?? true;
    this.now = opts.now ?? (() => new Date());
  }

  async collect(repo: RepositoryRef, digest: string): Promise<Evidence[]> {
    const trustedKeys = this.opts.trust.list();
    const [referrers, legacy] = await Promise.all([
      this.opts.client.listReferrers(repo, digest),
      this.legacy
        ? legacyCosignEvidence({ client: this.opts.client, repo, imageDigest: digest, trustedKeys, now: this.now(), ...(this.opts.trustedRoots ? { trustedRoots: this.opts.trustedRoots } : {}) })
        : [],
    ]);
    const entries = referrers.manifests;
    const examined = entries.slice(0, this.maxReferrers);
    const evidence = await mapLimit(examined, this.concurrency, (d) => this.examine(repo, digest, d, trustedKeys));
    if (entries.length > examined.length) {
      evidence.push({
        referrerDigest: entries[examined.length]!.digest,
        format: 'unknown',
        kind: 'other',
        subjectDigest: digest,
        verified: false,
        reason: `${entries.length - examined.length} more referrers were not examined (limit ${this.maxReferrers})`,
      });
    }
    return [...evidence, ...legacy];
  }

  private async examine(repo: RepositoryRef, imageDigest: string, entry: Descriptor, trustedKeys: ReturnType<TrustStore['list']>): Promise<Evidence> {
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
      const { bytes } = await this.opts.client.getManifest(repo, entry.digest);
      let manifest: ImageManifest;
      try {
        manifest = JSON.parse(bytes.toString('utf8')) as ImageManifest;
      } catch {
        return unverified('referrer manifest is not JSON');
      }
      if (!manifest || typeof manifest !== 'object' || !Array.isArray(manifest.layers) || !manifest.layers.every(isLayerDescriptor)) {
        return unverified('referrer is not an image manifest');
      }
      const declared: unknown = manifest.artifactType ?? manifest.config?.mediaType;
      const artifactType = typeof declared === 'string' ? declared : undefined;
      if (isBundleArtifact(artifactType)) {
        const layers = manifest.layers.filter((l) => isBundleArtifact(l.mediaType));
        if (manifest.layers.length !== 1 || layers.length !== 1) {
          return unverified(`bundle referrer must have exactly one bundle layer, has ${manifest.layers.length}`, { format: 'sigstore-bundle', artifactType });
        }
        const bundleBytes = await this.opts.client.getBlob(repo, layers[0]!.digest);
        return verifyBundleReferrer({
          manifest,
          manifestDigest: entry.digest,
          bundleBytes,
          imageDigest,
          trustedKeys,
          byId: (id) => this.opts.trust.byId(id),
          ...(this.opts.trustedRoots ? { trustedRoots: this.opts.trustedRoots } : {}),
        });
      }
      if (artifactType === NOTATION_ARTIFACT) {
        return unverified('Notary Project signature: needs X.509 trust, which Countersign does not verify yet', { format: 'notation', artifactType });
      }
      return unverified(`artifact type ${artifactType ?? '(none)'} is not a signature or attestation format Countersign verifies`, {
        ...(artifactType ? { artifactType } : {}),
      });
    } catch (err) {
      // An outage is fatal (fail closed, never cached). Anything else about one referrer, even a
      // bug tripped by hostile input, only makes that referrer unverified: it must never turn the
      // whole decision into onError (which a rule may set to allow).
      if (isTransient(err)) throw err;
      return unverified(err instanceof CountersignError ? `referrer could not be read: ${err.message}` : 'referrer could not be processed (internal error)');
    }
  }
}

/** Untrusted JSON: a layer must at least be an object with string mediaType and digest. */
function isLayerDescriptor(l: unknown): boolean {
  return typeof l === 'object' && l !== null && typeof (l as Descriptor).mediaType === 'string' && typeof (l as Descriptor).digest === 'string';
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
