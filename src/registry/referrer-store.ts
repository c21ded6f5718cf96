/**
 * Storing artifacts (signatures, attestations) as OCI 1.1 referrers of an image, and finding them.
 *
 * attach() pushes the artifact's blobs and its manifest by digest (never by tag, so nothing gets
 * overwritten), then makes sure the artifact is discoverable: on registries with the referrers API
 * the registry does that itself; on others we maintain the fallback index under the
 * `sha256-<hex>` tag, following distribution-spec "Pushing Manifests with Subject".
 */
import { CountersignError } from '../shared/errors';
import type { CallOptions, RegistryClient } from './client';
import { isDigest, sha256Digest } from './digest';
import { KeyedMutex } from './keyed-mutex';
import { referrersTagFor } from './reference';
import { parseImageIndex, referrerDescriptor, withReferrer } from './referrers-index';
import { EMPTY_BLOB, EMPTY_DESCRIPTOR, MEDIA_TYPE, type Descriptor, type ImageIndex, type ImageManifest, type RepositoryRef } from './types';

export interface ArtifactToAttach {
  /** The exact manifest bytes to push; the artifact's digest is their sha256. */
  manifestBytes: Buffer;
  /** The same manifest, parsed (must agree with manifestBytes on subject, artifactType, config and annotations). */
  manifest: ImageManifest;
  /** Blobs referenced by the manifest (the empty `{}` config is pushed even if not listed). */
  blobs: Buffer[];
}

export interface AttachResult {
  digest: string;
  size: number;
  /** How the artifact became discoverable: the registry's referrers API, or our fallback tag update. */
  referrersUpdate: 'api' | 'tag';
}

export interface ReferrerStoreOptions {
  /**
   * How many times we write the fallback index before giving up when other writers keep
   * replacing it (412s, or our entry missing when we read back). Default 10.
   */
  maxIndexWrites?: number;
}

function sameAnnotations(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ka = Object.keys(a ?? {});
  const kb = Object.keys(b ?? {});
  return ka.length === kb.length && ka.every((k) => (a ?? {})[k] === (b ?? {})[k]);
}

export class ReferrerStore {
  private readonly mutex = new KeyedMutex();
  private readonly maxIndexWrites: number;

  constructor(
    private readonly client: RegistryClient,
    options: ReferrerStoreOptions = {},
  ) {
    this.maxIndexWrites = options.maxIndexWrites ?? 10;
  }

  async attach(repo: RepositoryRef, artifact: ArtifactToAttach, opts: CallOptions = {}): Promise<AttachResult> {
    const { manifest, manifestBytes } = artifact;
    const subject = this.checkArtifact(artifact);
    const digest = sha256Digest(manifestBytes);
    const size = manifestBytes.length;
    const mediaType = manifest.mediaType ?? MEDIA_TYPE.OCI_MANIFEST;

    // (a) Blobs first: registries may refuse a manifest whose blobs they do not have.
    const blobs = [...artifact.blobs];
    const usesEmpty = [manifest.config, ...manifest.layers].some((d) => d.digest === EMPTY_DESCRIPTOR.digest);
    if (usesEmpty && !blobs.some((b) => b.equals(EMPTY_BLOB))) blobs.push(EMPTY_BLOB);
    await Promise.all(blobs.map((b) => this.client.pushBlob(repo, b, undefined, opts)));

    // (b) The manifest, by digest.
    const pushed = await this.client.putManifest(repo, digest, manifestBytes, mediaType, opts);

    // (c) Discoverability. OCI-Subject alone is not trusted (some registries send it without
    // serving the API), and without it the spec makes index maintenance the client's job.
    if (pushed.ociSubject !== undefined && (await this.client.pingReferrersApi(repo, opts))) {
      return { digest, size, referrersUpdate: 'api' };
    }
    await this.addToReferrersTag(repo, subject.digest, referrerDescriptor(manifest, digest, size), opts);
    return { digest, size, referrersUpdate: 'tag' };
  }

  /** The referrers of `subjectDigest` (optionally only one artifactType). */
  async discover(repo: RepositoryRef, subjectDigest: string, opts: { artifactType?: string } & CallOptions = {}): Promise<Descriptor[]> {
    return (await this.client.listReferrers(repo, subjectDigest, opts)).manifests;
  }

  /**
   * Adds `entry` to the fallback index of `subjectDigest`. Read-modify-write: GET (remember ETag),
   * append unless present, PUT with If-Match. 412 means someone else wrote in between: start over.
   * Registries that ignore If-Match give no such signal, so every write is followed by a read; if
   * our entry is gone (a concurrent writer from another process replaced the index), apply again.
   * Inside this process, writers of the same index are serialized by the keyed mutex.
   */
  private async addToReferrersTag(repo: RepositoryRef, subjectDigest: string, entry: Descriptor, opts: CallOptions): Promise<void> {
    const tag = referrersTagFor(subjectDigest);
    const key = `${repo.registry}/${repo.repository}@${subjectDigest}`;
    await this.mutex.run(key, async () => {
      let current = await this.readIndex(repo, tag, opts);
      for (let writes = 0; ; writes++) {
        const { index, changed } = withReferrer(current.index, entry);
        if (!changed) return; // listed (already before us, or our write is confirmed)
        if (writes >= this.maxIndexWrites) {
          throw new CountersignError(
            'UNAVAILABLE',
            `could not add ${entry.digest} to the referrers index ${repo.registry}/${repo.repository}:${tag} after ${writes} writes: other writers kept replacing it; retry the operation`,
            { details: { registry: repo.registry, repository: repo.repository, tag } },
          );
        }
        // Built completely in memory before anything is written: never a partial index.
        const bytes = Buffer.from(JSON.stringify(index));
        try {
          await this.client.putManifest(repo, tag, bytes, MEDIA_TYPE.OCI_INDEX, current.etag !== undefined ? { ...opts, ifMatch: current.etag } : opts);
        } catch (err) {
          if (!(err instanceof CountersignError && err.code === 'FAILED_PRECONDITION' && err.details?.status === 412)) throw err;
        }
        current = await this.readIndex(repo, tag, opts);
      }
    });
  }

  private async readIndex(repo: RepositoryRef, tag: string, opts: CallOptions): Promise<{ index?: ImageIndex; etag?: string }> {
    try {
      const found = await this.client.getManifest(repo, tag, opts);
      // Something other than an index under the tag is reported, never overwritten.
      const index = parseImageIndex(found.bytes, found.descriptor.mediaType, `referrers tag ${repo.registry}/${repo.repository}:${tag}`);
      return found.etag !== undefined ? { index, etag: found.etag } : { index };
    } catch (err) {
      if (err instanceof CountersignError && err.code === 'NOT_FOUND') return {};
      throw err;
    }
  }

  /** The manifest object must describe the bytes we push: the index entry is built from it. */
  private checkArtifact(artifact: ArtifactToAttach): Descriptor {
    const { manifest, manifestBytes } = artifact;
    const subject = manifest.subject;
    if (!subject || typeof subject.digest !== 'string' || !isDigest(subject.digest)) {
      throw new CountersignError('INVALID_ARGUMENT', 'the artifact manifest has no valid subject descriptor (mediaType, digest, size of the image it refers to)');
    }
    if (manifest.mediaType !== undefined && manifest.mediaType !== MEDIA_TYPE.OCI_MANIFEST) {
      throw new CountersignError('INVALID_ARGUMENT', `artifact manifests must be ${MEDIA_TYPE.OCI_MANIFEST}, not ${manifest.mediaType}`);
    }
    let parsed: ImageManifest;
    try {
      parsed = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
    } catch {
      throw new CountersignError('INVALID_ARGUMENT', 'artifact manifestBytes are not JSON');
    }
    const agrees =
      parsed?.subject?.digest === subject.digest &&
      parsed.mediaType === manifest.mediaType &&
      parsed.artifactType === manifest.artifactType &&
      parsed.config?.mediaType === manifest.config.mediaType &&
      parsed.config?.digest === manifest.config.digest &&
      sameAnnotations(parsed.annotations, manifest.annotations);
    if (!agrees) {
      throw new CountersignError('INVALID_ARGUMENT', 'artifact manifest object does not match manifestBytes (subject, mediaType, artifactType, config or annotations differ); serialize the manifest once and pass both');
    }
    return subject;
  }
}
