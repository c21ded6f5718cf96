/**
 * The image index that lists referrers, both as the referrers API returns it and as the
 * fallback tag (`sha256-<hex>`) stores it. Pure functions: validation of what a registry sent,
 * the descriptor a referrer is listed with, and adding one entry without disturbing the others.
 */
import { CountersignError } from '../shared/errors';
import { isDigest } from './digest';
import { MEDIA_TYPE, type Descriptor, type ImageIndex, type ImageManifest } from './types';

/** `type/subtype` without parameters, lowercased; undefined for a missing header. */
export function baseMediaType(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const base = contentType.split(';')[0]!.trim().toLowerCase();
  return base === '' ? undefined : base;
}

function isDescriptorLike(d: unknown): d is Descriptor {
  if (typeof d !== 'object' || d === null) return false;
  const x = d as Record<string, unknown>;
  return (
    typeof x.mediaType === 'string' &&
    typeof x.digest === 'string' &&
    typeof x.size === 'number' &&
    Number.isSafeInteger(x.size) &&
    x.size >= 0
  );
}

/**
 * The checks every reader of a referrers list shares: the body must be an OCI image index with a
 * `manifests` array. Anything else is DATA_LOSS naming `what`. The entries are returned unjudged.
 */
function parseIndexEnvelope(
  bytes: Buffer,
  contentType: string | undefined,
  what: string,
): { parsed: Record<string, unknown>; entries: unknown[]; fail: (why: string) => CountersignError } {
  const fail = (why: string): CountersignError => new CountersignError('DATA_LOSS', `${what} is not an OCI image index: ${why}`);
  const headerType = baseMediaType(contentType);
  if (headerType !== undefined && headerType !== MEDIA_TYPE.OCI_INDEX && headerType !== 'application/json') {
    throw fail(`its Content-Type is ${headerType}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw fail('the body is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw fail('the body is not a JSON object');
  const index = parsed as Record<string, unknown>;
  if (index.schemaVersion !== 2) throw fail('schemaVersion is not 2');
  if (index.mediaType !== undefined && index.mediaType !== MEDIA_TYPE.OCI_INDEX) {
    // Never String() a pusher's value: a deeply nested array overflows the stack there.
    throw fail(
      `its mediaType is ${typeof index.mediaType === 'string' ? index.mediaType.slice(0, 200) : `not a string (${Array.isArray(index.mediaType) ? 'array' : typeof index.mediaType})`}`,
    );
  }
  if (!Array.isArray(index.manifests)) throw fail('it has no "manifests" array');
  return { parsed: index, entries: index.manifests, fail };
}

/**
 * Parses bytes that must be an OCI image index. Anything else (a manifest, a Docker list, junk)
 * is DATA_LOSS: the spec says a client finding something else under a referrers tag should
 * report failure rather than overwrite it.
 */
export function parseImageIndex(bytes: Buffer, contentType: string | undefined, what: string): ImageIndex {
  const { parsed, entries, fail } = parseIndexEnvelope(bytes, contentType, what);
  entries.forEach((d, i) => {
    if (!isDescriptorLike(d)) throw fail(`manifests[${i}] is not a descriptor (mediaType, digest, size)`);
  });
  return parsed as unknown as ImageIndex;
}

/** An entry of a referrers list that was not usable as a descriptor, and why. */
export interface SkippedReferrerEntry {
  /** Position in `manifests`. */
  position: number;
  /** The entry's digest, when it had a valid one. */
  digest?: string;
  reason: string;
}

/**
 * Reads a referrers list for verification. The index as a whole must be an OCI image index (else
 * DATA_LOSS, exactly as parseImageIndex), but its entries are evidence a pusher wrote: each is
 * judged on its own, and an entry that is not a valid descriptor is skipped and reported, never
 * allowed to hide the valid entries next to it. (The writer keeps using parseImageIndex: it must
 * refuse to rewrite an index it cannot reproduce exactly.)
 */
export function readReferrersIndex(
  bytes: Buffer,
  contentType: string | undefined,
  what: string,
): { manifests: Descriptor[]; skipped: SkippedReferrerEntry[] } {
  const { entries } = parseIndexEnvelope(bytes, contentType, what);
  const manifests: Descriptor[] = [];
  const skipped: SkippedReferrerEntry[] = [];
  entries.forEach((raw: unknown, position: number) => {
    const problem = entryProblem(raw);
    if (problem === undefined) {
      manifests.push(raw as Descriptor);
      return;
    }
    const digest = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>).digest : undefined;
    skipped.push({ position, ...(typeof digest === 'string' && isDigest(digest) ? { digest } : {}), reason: problem });
  });
  return { manifests, skipped };
}

/** What makes an untrusted referrers-list entry unusable, or undefined. */
function entryProblem(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'not a descriptor object';
  const d = raw as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType === '') return 'mediaType is missing or not a string';
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) return 'digest is missing or not a digest';
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) return 'size is missing or not a non-negative integer';
  if (d.artifactType !== undefined && typeof d.artifactType !== 'string') return 'artifactType is not a string';
  if (
    d.annotations !== undefined &&
    (typeof d.annotations !== 'object' || d.annotations === null || !Object.values(d.annotations).every((v) => typeof v === 'string'))
  ) {
    return 'annotations is not an object of strings';
  }
  return undefined;
}

/**
 * The index entry for a referrer, as distribution-spec "Pushing Manifests with Subject" step 4
 * describes it: mediaType, digest and size of the pushed manifest, its artifactType (or, for older
 * artifacts without one, its config mediaType) and all of its annotations.
 */
export function referrerDescriptor(manifest: ImageManifest, digest: string, size: number): Descriptor {
  const entry: Descriptor = {
    mediaType: manifest.mediaType ?? MEDIA_TYPE.OCI_MANIFEST,
    digest,
    size,
    artifactType: manifest.artifactType ?? manifest.config.mediaType,
  };
  if (manifest.annotations && Object.keys(manifest.annotations).length > 0) entry.annotations = { ...manifest.annotations };
  return entry;
}

/**
 * The index with each of `entries` appended in order unless a descriptor with its digest is
 * listed already (or was appended before it; no duplicates), or `changed: false` when none is
 * new. Existing entries and any other index fields are kept exactly as they were: they may have
 * been written by other tools and are not ours to rewrite. One pass with a set of the digests,
 * because an index is whatever a pusher left there, and one of 20,000 entries merged entry by
 * entry took seconds of the event loop (quadratic) on every Sign of its image.
 */
export function withReferrers(index: ImageIndex | undefined, entries: Iterable<Descriptor>): { index: ImageIndex; changed: boolean } {
  const base: ImageIndex = index ?? { schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: [] };
  const listed = new Set(base.manifests.map((d) => d.digest));
  const added: Descriptor[] = [];
  for (const entry of entries) {
    if (listed.has(entry.digest)) continue;
    listed.add(entry.digest);
    added.push(entry);
  }
  if (added.length === 0) return { index: base, changed: false };
  return { index: { ...base, mediaType: base.mediaType ?? MEDIA_TYPE.OCI_INDEX, manifests: [...base.manifests, ...added] }, changed: true };
}

/** Client-side `artifactType` filtering, for registries that ignore the query parameter and for the fallback tag. */
export function filterByArtifactType(manifests: Descriptor[], artifactType: string | undefined): Descriptor[] {
  return artifactType === undefined ? manifests : manifests.filter((d) => d.artifactType === artifactType);
}
