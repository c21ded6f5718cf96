/**
 * The image index that lists referrers, both as the referrers API returns it and as the
 * fallback tag (`sha256-<hex>`) stores it. Pure functions: validation of what a registry sent,
 * the descriptor a referrer is listed with, and adding entries without disturbing the others.
 */
import { CountersignError } from '../shared/errors';
import { isDigest } from './digest';
import { MEDIA_TYPE, type Descriptor, type ImageManifest } from './types';

/** `type/subtype` without parameters, lowercased; undefined for a missing header. */
export function baseMediaType(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const base = contentType.split(';')[0]!.trim().toLowerCase();
  return base === '' ? undefined : base;
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

/** An entry of a referrers list that was not usable as a descriptor, and why. */
export interface SkippedReferrerEntry {
  /** Position in `manifests`. */
  position: number;
  /** The entry's digest, when it had a valid one. */
  digest?: string;
  reason: string;
}

/**
 * Reads a referrers list, the registry's API answer or the fallback tag's index, for every reader
 * (verification and the writer alike). The index as a whole must be an OCI image index (anything
 * else — a manifest, a Docker list, junk — is DATA_LOSS: the spec says a client finding something
 * else under a referrers tag should report failure rather than overwrite it), but its entries
 * are what pushers wrote: each is judged on its own, and an entry that is not a valid descriptor
 * is skipped and reported, never allowed to hide the valid entries next to it, nor to stop a
 * writer from adding its own (see withReferrers).
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
    const problem = referrerEntryProblem(raw);
    if (problem === undefined) {
      manifests.push(raw as Descriptor);
      return;
    }
    const digest = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>).digest : undefined;
    skipped.push({ position, ...(typeof digest === 'string' && isDigest(digest) ? { digest } : {}), reason: problem });
  });
  return { manifests, skipped };
}

/** What makes a referrers-list entry unusable for a reader, or undefined. */
export function referrerEntryProblem(raw: unknown): string | undefined {
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
 * The fallback index with each of `entries` appended in order unless a valid descriptor with its
 * digest is `listed` already (or was appended before it; no duplicates), or `changed: false`
 * when none is new. `listed` are the valid entries of `bytes` (readReferrersIndex), `bytes` the
 * index as read, or undefined when the tag does not exist.
 *
 * The new entries are spliced into the bytes, just before the closing bracket of the
 * `manifests` array: what other writers left is kept byte for byte, because it is not ours to
 * rewrite and a parse and re-serialization would rewrite it (integers beyond 2^53 rounded, 1e400
 * turned into null, duplicate keys dropped). That also means a malformed foreign entry, or a
 * field too deeply nested for JSON.stringify, never stops an entry from being added. An entry
 * that only looks like ours (our digest, but not a valid descriptor) does not count as listed:
 * other tools skip it. One pass over the bytes, because an index is whatever a pusher left there
 * (one of 20,000 entries merged entry by entry took seconds of the event loop on every Sign).
 */
export function withReferrers(
  bytes: Buffer | undefined,
  listed: readonly Descriptor[],
  entries: Iterable<Descriptor>,
): { bytes: Buffer; changed: boolean } {
  const known = new Set(listed.map((d) => d.digest));
  const added: Descriptor[] = [];
  for (const entry of entries) {
    if (known.has(entry.digest)) continue;
    known.add(entry.digest);
    added.push(entry);
  }
  if (bytes === undefined) {
    return {
      bytes: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests: added })),
      changed: added.length > 0,
    };
  }
  if (added.length === 0) return { bytes, changed: false };
  const array = manifestsArray(bytes);
  if (array === undefined) throw new CountersignError('DATA_LOSS', 'the referrers index has no "manifests" array to add to');
  const json = added.map((d) => JSON.stringify(d)).join(',');
  return {
    bytes: Buffer.concat([bytes.subarray(0, array.end), Buffer.from(array.empty ? json : `,${json}`), bytes.subarray(array.end)]),
    changed: true,
  };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;
const isSpace = (c: number | undefined): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/**
 * Where the top-level `manifests` array of a JSON document ends (the offset of its `]`) and
 * whether it is empty; undefined when there is none. Of duplicate keys the last counts, as
 * JSON.parse reads them. `bytes` must be JSON that parsed (this is no validator). It scans bytes,
 * not a decoded string, so offsets are exact whatever the document's encoding: every structural
 * character is ASCII, and UTF-8 never uses bytes below 0x80 inside a multi-byte character.
 */
function manifestsArray(bytes: Buffer): { end: number; empty: boolean } | undefined {
  let found: { end: number; empty: boolean } | undefined;
  let depth = 0;
  let arrayAt = -1; // offset of the `[` that opens the last `manifests` value seen
  let inArray = false;
  let empty = true;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      const close = stringEnd(bytes, i);
      if (inArray && depth === 2) empty = false;
      if (depth === 1) {
        let next = close + 1;
        while (isSpace(bytes[next])) next++;
        if (bytes[next] === COLON && JSON.parse(bytes.subarray(i, close + 1).toString('utf8')) === 'manifests') {
          next++;
          while (isSpace(bytes[next])) next++;
          found = undefined; // a later duplicate replaces the value
          arrayAt = bytes[next] === OPEN_ARRAY ? next : -1;
        }
      }
      i = close;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (inArray && depth === 2) empty = false;
      if (i === arrayAt && depth === 1) {
        inArray = true;
        empty = true;
      }
      depth++;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
      if (inArray && depth === 1) {
        found = { end: i, empty };
        inArray = false;
      }
    } else if (inArray && depth === 2 && !isSpace(c) && c !== COMMA) {
      empty = false; // a number, true, false or null
    }
  }
  return found;
}

/** The offset of the quote that closes the string opening at `open`. */
function stringEnd(bytes: Buffer, open: number): number {
  for (let at = open + 1; ;) {
    const quote = bytes.indexOf(QUOTE, at);
    if (quote < 0) return bytes.length;
    let backslashes = 0;
    while (bytes[quote - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
    at = quote + 1;
  }
}

/** Client-side `artifactType` filtering, for registries that ignore the query parameter and for the fallback tag. */
export function filterByArtifactType(manifests: Descriptor[], artifactType: string | undefined): Descriptor[] {
  return artifactType === undefined ? manifests : manifests.filter((d) => d.artifactType === artifactType);
}
