import { preparePredicate, resolvePredicateType } from '../attestations';
import { unsignableTextProblem } from '../attestations/prepare';
import { checkSigningScope, type KeyStore } from '../keys';
import type { CallOptions, RegistryClient, ReferrerStore } from '../registry';
import { formatReference, parseReference } from '../registry';
import { CountersignError } from '../shared/errors';
import { quoteUntrusted } from '../shared/untrusted-text';
import { signStatement } from './bundle';
import { bundleReferrer } from './referrer-layout';
import { imageStatement } from './statement';
import { COSIGN_SIGN_PREDICATE_TYPE } from '../formats/in-toto';

export interface SignInput {
  image: string;
  key: string;
  annotations?: Record<string, string>;
}

export interface AttestInput extends SignInput {
  predicateType: string;
  predicate: Buffer;
  /** RFC 3339; fills in a raw scan report's missing timestamp (see preparePredicate). */
  scanTime?: string;
}

export interface SignedArtifact {
  image: string;
  digest: string;
  mediaType: string;
  size: number;
  referrerDigest: string;
  bundle: string;
  keyId: string;
  keyName: string;
  predicateType: string;
  referrersIndex: 'api' | 'tag';
  summary: string;
}

export interface SigningServiceOptions {
  keys: KeyStore;
  registry: RegistryClient;
  referrers: ReferrerStore;
  /** Largest predicate accepted, in bytes. */
  maxPredicateBytes: number;
  now?: () => Date;
  /**
   * Called after a referrer was stored for `digest`: lets this instance's verification cache drop
   * what it knew about that digest, so a signature or attestation made here is seen at once.
   */
  onReferrerAdded?: (repo: { registry: string; repository: string }, digest: string) => void;
}

/** Annotation keys are limited so that a CI job cannot bloat every index entry we write. */
const MAX_ANNOTATIONS = 32;
const MAX_ANNOTATION_BYTES = 4096;

/**
 * Signs image digests and stores the resulting bundles as referrers. Plain module: the gRPC
 * handlers and the CLI are thin layers over it, and tests call it directly.
 */
export class SigningService {
  private readonly now: () => Date;

  constructor(private readonly opts: SigningServiceOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  /** `signal` (the gRPC call's deadline or cancellation) aborts the registry work under the call. */
  async sign(input: SignInput, opts: CallOptions = {}): Promise<SignedArtifact> {
    return this.signPredicate(input, COSIGN_SIGN_PREDICATE_TYPE, {}, 'image signature', opts);
  }

  async attest(input: AttestInput, opts: CallOptions = {}): Promise<SignedArtifact> {
    if (!input.predicateType) {
      throw new CountersignError('INVALID_ARGUMENT', 'a predicate type is required: spdx, cyclonedx, vuln or an absolute URI');
    }
    const predicateType = resolvePredicateType(input.predicateType);
    const prepared = preparePredicate({
      predicateType,
      content: input.predicate,
      now: this.now(),
      maxBytes: this.opts.maxPredicateBytes,
      ...(input.scanTime ? { scanTime: input.scanTime } : {}),
    });
    return this.signPredicate(input, prepared.predicateType, prepared.predicate, prepared.summary, opts);
  }

  private async signPredicate(
    input: SignInput,
    predicateType: string,
    predicate: unknown,
    summary: string,
    opts: CallOptions,
  ): Promise<SignedArtifact> {
    if (!input.image)
      throw new CountersignError('INVALID_ARGUMENT', 'an image reference is required (host/repo:tag or host/repo@sha256:…)');
    const ref = parseReference(input.image);
    const annotations = checkAnnotations(input.annotations);
    // Resolve the key before touching the registry: an unknown key is the caller's mistake and
    // must not cost a registry round trip or leave anything behind.
    const key = await this.opts.keys.getSigningKey(input.key);
    checkSigningScope(key, `${ref.registry}/${ref.repository}`);
    const repo = { registry: ref.registry, repository: ref.repository };
    // One HEAD: resolves a tag to its digest, and gives the subject descriptor (media type, size)
    // for a digest. When both are given the digest wins, as with cosign.
    const subject = await this.opts.registry.headManifest(repo, ref.digest ?? ref.tag ?? 'latest', opts);
    if (ref.digest && subject.digest !== ref.digest) {
      throw new CountersignError('DATA_LOSS', `registry ${ref.registry} answered digest ${subject.digest} for ${ref.digest}`);
    }
    const statement = imageStatement({
      digest: subject.digest,
      predicateType,
      predicate,
      name: predicateType === COSIGN_SIGN_PREDICATE_TYPE ? undefined : `${ref.registry}/${ref.repository}`,
      annotations,
    });
    const bundle = await signStatement(key, statement);
    const artifact = bundleReferrer({ bundleBytes: bundle.bytes, subject, predicateType, created: this.now() });
    const stored = await this.opts.referrers.attach(
      repo,
      {
        manifest: artifact.manifest,
        manifestBytes: artifact.manifestBytes,
        blobs: artifact.blobs,
        // A new signature: the bundle cannot be in the registry yet (no HEAD before its upload).
        freshBlobs: artifact.blobs.filter((b) => b === bundle.bytes),
      },
      opts,
    );
    this.opts.onReferrerAdded?.(repo, subject.digest);
    return {
      image: formatReference(ref),
      digest: subject.digest,
      mediaType: subject.mediaType,
      size: subject.size,
      referrerDigest: stored.digest,
      bundle: bundle.bytes.toString('utf8'),
      keyId: key.id,
      keyName: key.name,
      predicateType,
      referrersIndex: stored.referrersUpdate,
      summary,
    };
  }
}

function checkAnnotations(annotations: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!annotations) return undefined;
  const entries = Object.entries(annotations);
  if (entries.length > MAX_ANNOTATIONS) {
    throw new CountersignError('INVALID_ARGUMENT', `too many annotations (${entries.length}); at most ${MAX_ANNOTATIONS}`);
  }
  let bytes = 0;
  for (const [k, v] of entries) {
    if (!k) throw new CountersignError('INVALID_ARGUMENT', 'annotation keys must not be empty');
    // Signed into the statement: text a verifier would read otherwise (or that was lost on its way here) is refused.
    const keyProblem = unsignableTextProblem(k);
    if (keyProblem !== undefined) throw new CountersignError('INVALID_ARGUMENT', `annotation key ${quoteUntrusted(k)} ${keyProblem}`);
    const valueProblem = unsignableTextProblem(v);
    if (valueProblem !== undefined) {
      throw new CountersignError('INVALID_ARGUMENT', `the value of annotation ${quoteUntrusted(k)} ${valueProblem}`);
    }
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (bytes > MAX_ANNOTATION_BYTES) {
    throw new CountersignError('INVALID_ARGUMENT', `annotations total ${bytes} bytes; at most ${MAX_ANNOTATION_BYTES}`);
  }
  return annotations;
}
