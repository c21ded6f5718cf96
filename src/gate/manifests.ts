/**
 * What a manifest body is, for the gate: runnable content (gated), or evidence (readable).
 *
 * Evidence is what Countersign and other verifiers must read to decide anything: referrer
 * artifacts (signatures, attestations, SBOMs), the `sha256-<hex>` referrers fallback index and
 * cosign's `sha256-<hex>.sig` / `.att` tags. Reading evidence is never PULL-gated, otherwise a
 * verifier reading through the gate would recurse into a decision about its own inputs, and
 * every piece of evidence is verified by whoever uses it.
 *
 * Recognition is by the BODY, never by the name alone: an attacker can name or tag anything
 * `sha256-…`, and can attach a `subject` to a real image. So a manifest only counts as evidence
 * when it cannot be run: it has no filesystem layers (OCI/Docker layer tarballs, WASM modules) and is not an
 * index of runnable platforms. An image with a `subject`, or an index tagged `sha256-<hex>` whose
 * entries are platform images, is content like any other and is judged by the policy.
 *
 * The body is also read the way the clients read it (formats/go-json-keys.ts: Go clients match
 * keys case-insensitively, `Layers` and `layerſ` fill `layers`). A referrer whose layers only a
 * Go client sees would be unpacked and run by it, so a body with a key that a Go client could
 * read as another spelling of a field the gate reads, or whose
 * `mediaType` contradicts the Content-Type it is served under, is never evidence.
 */
import { misleadingKey, readFields } from '../formats/go-json-keys';
import { MEDIA_TYPE } from '../registry/types';

export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MEDIA_TYPE.OCI_MANIFEST,
  MEDIA_TYPE.OCI_INDEX,
  MEDIA_TYPE.DOCKER_MANIFEST,
  MEDIA_TYPE.DOCKER_MANIFEST_LIST,
];

/** The Accept list the gate sends upstream for every manifest read (containerd/containerd#4397). */
export const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

const INDEX_TYPES = new Set<string>([MEDIA_TYPE.OCI_INDEX, MEDIA_TYPE.DOCKER_MANIFEST_LIST]);

/** An index media type, from a Content-Type (parameters ignored). */
export function isIndexMediaType(contentType: string): boolean {
  const semi = contentType.indexOf(';');
  return INDEX_TYPES.has((semi < 0 ? contentType : contentType.slice(0, semi)).trim());
}

export interface ParsedManifest {
  mediaType: string;
  isIndex: boolean;
  /** For an index: the digests of its entries. */
  children: string[];
  hasSubject: boolean;
  /** True when a runtime could unpack it: a filesystem layer, or (for an index) a platform entry. */
  runnable: boolean;
  /** True when a Go client may read the body otherwise than JSON.parse does (see the module comment). */
  ambiguous: boolean;
}

/** The fields the gate reads anywhere in a manifest (and schema 1's layers). */
const READ_FIELDS = readFields([
  'mediaType',
  'manifests',
  'layers',
  'fsLayers',
  'subject',
  'config',
  'digest',
  'platform',
  'os',
  'architecture',
]);

function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim();
}

/** `undefined` when the bytes are not a JSON manifest we understand. */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const m = doc as Record<string, unknown>;
  const served = mediaTypeOf(contentType);
  const declared = typeof m.mediaType === 'string' ? m.mediaType : served;
  // Clients go by the Content-Type, the gate by the body: they must not disagree (a generic
  // Content-Type such as application/json names no manifest type: the body's governs). Nor may the body
  // be both an image and an index (a reader that sniffs the shape could pick either).
  const ambiguous =
    (MANIFEST_MEDIA_TYPES.includes(served) && declared !== served) ||
    ('layers' in m && 'manifests' in m) ||
    misleadingKey(m, READ_FIELDS) !== undefined;
  const manifests = Array.isArray(m.manifests) ? m.manifests : undefined;
  const layers = Array.isArray(m.layers) ? m.layers : undefined;
  const isIndex = INDEX_TYPES.has(declared) || (manifests !== undefined && layers === undefined);
  const hasSubject = typeof m.subject === 'object' && m.subject !== null;
  if (isIndex) {
    const entries = (manifests ?? []).filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null);
    const children = entries.map((e) => e.digest).filter((d): d is string => typeof d === 'string');
    // Any entry with a platform (other than the unknown/unknown attestation entries builders add),
    // or any entry that is itself an image, makes the index something a runtime pulls.
    const runnable = entries.some((e) => {
      const p = e.platform as Record<string, unknown> | undefined;
      if (p && typeof p === 'object' && !(p.os === 'unknown' && p.architecture === 'unknown')) return true;
      return false;
    });
    return { mediaType: declared || MEDIA_TYPE.OCI_INDEX, isIndex: true, children, hasSubject, runnable, ambiguous };
  }
  // Schema 1 (`fsLayers`) is runnable whatever else the body says.
  const runnable =
    'fsLayers' in m ||
    (layers ?? []).some((l) => {
      const t = typeof l === 'object' && l !== null ? (l as Record<string, unknown>).mediaType : undefined;
      return typeof t !== 'string' || isFilesystemLayer(t);
    });
  return { mediaType: declared, isIndex: false, children: [], hasSubject, runnable, ambiguous };
}

/** Layers a runtime unpacks or executes: OCI and Docker layer tarballs (any compression, foreign or not), WASM modules. */
export function isFilesystemLayer(mediaType: string): boolean {
  return (
    mediaType.startsWith('application/vnd.oci.image.layer.') ||
    mediaType.startsWith('application/vnd.wasm.') ||
    mediaType === 'application/wasm' ||
    mediaType.startsWith('application/vnd.docker.image.rootfs.') ||
    mediaType === 'application/vnd.docker.container.image.rootfs.diff+x-gtar'
  );
}

const FALLBACK_TAG = /^sha256-[0-9a-f]{64}$/;
const COSIGN_TAG = /^sha256-[0-9a-f]{64}\.(sig|att)$/;

/**
 * Why a manifest is evidence (readable without a pull decision; written as content, where only
 * who writes is judged), or undefined when it is an image to decide about. `tag` is the tag it
 * is read or written under, if any.
 */
export function evidenceKind(parsed: ParsedManifest | undefined, tag: string | undefined): string | undefined {
  if (!parsed || parsed.ambiguous) return undefined;
  if (tag !== undefined && FALLBACK_TAG.test(tag)) {
    // The referrers fallback index: an OCI index of referrer manifests, nothing runnable.
    return parsed.isIndex && parsed.mediaType === MEDIA_TYPE.OCI_INDEX && !parsed.runnable ? 'referrers fallback index' : undefined;
  }
  if (tag !== undefined && COSIGN_TAG.test(tag)) {
    return !parsed.isIndex && !parsed.runnable ? 'cosign signature/attestation tag' : undefined;
  }
  if (tag !== undefined) return undefined;
  // By digest: a referrer artifact (has a subject) that cannot be run.
  return parsed.hasSubject && !parsed.isIndex && !parsed.runnable ? 'referrer artifact' : undefined;
}

export function isFallbackOrCosignTag(tag: string): boolean {
  return FALLBACK_TAG.test(tag) || COSIGN_TAG.test(tag);
}
