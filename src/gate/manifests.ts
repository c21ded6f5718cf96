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
 * when it is recognisably evidence (its layers and config of the payload types of signatures,
 * attestations, SBOMs and scans: an artifact of another type may be a Helm chart or an Apptainer
 * image, which their clients run) and no client would run it, judged the way each one decides
 * (see `isRunnableLayer`):
 * containerd (and so Kubernetes) unpacks layers by their media type; Docker's classic puller
 * unpacks EVERY layer of a manifest whose config type it takes for an image's (moby's ImageTypes:
 * the OCI and Docker config types, application/octet-stream, application/json, text/html and an
 * empty or absent type), whatever the layer's type, and sniffs the compression. Under such a
 * config only layers of the signature, attestation and SBOM payload types are inert. An image with
 * a `subject`, an index tagged `sha256-<hex>` that is not a referrers index (every entry an
 * artifact with its artifactType, no platform), is content like any other and is judged by the
 * policy. Media types are compared without case and parameters (stricter than any one client).
 *
 * The body is also read the way the clients read it (formats/go-json-keys.ts: Go clients match
 * keys case-insensitively, `Layers` and `layerſ` fill `layers`). A referrer whose layers only a
 * Go client sees would be unpacked and run by it, so a body with a key that a Go client could
 * read as another spelling of a field the gate reads, or whose
 * `mediaType` contradicts the Content-Type it is served under, is never evidence.
 */
import { misleadingKey, readFields } from '../formats/go-json-keys';
import { isAttestationManifest } from '../formats/oci';
import { baseMediaType } from '../registry/referrers-index';
import { MANIFEST_ACCEPT as MANIFEST_TYPES, MEDIA_TYPE } from '../registry/types';
import { declaredManifestType, manifestDocument } from '../registry/manifest-type';

/** The manifest types the registry client reads too (registry/types.ts), in the same order. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = MANIFEST_TYPES;

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
  /**
   * For an index: the digests of the entries its decision covers, every entry but BuildKit's
   * attestation manifests (isAttestationManifest, the definition Countersign judges by): those are
   * never judged as part of the index, so an allow of the index says nothing about them, and one
   * pulled by digest is decided on its own (a genuine one is evidence: in-toto payload layers).
   */
  children: string[];
  hasSubject: boolean;
  /** True when a runtime could unpack it: a layer a client runs (see isRunnableLayer), or (for an index) a platform entry. */
  runnable: boolean;
  /** For an index: every entry names an artifact (its artifactType, not an image config's), as in a referrers index. */
  onlyArtifacts: boolean;
  /**
   * Digests of the layers that are inert by their declared payload type only (under an image
   * config type, which Docker's classic puller runs whatever the layer types): evidence only if
   * none of their bytes starts an archive (archive-head.ts). Empty when nothing needs reading.
   */
  payloadLayers: string[];
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
  const m = manifestDocument(bytes);
  if (m === undefined) return undefined;
  const served = mediaTypeOf(contentType);
  const declared = declaredManifestType(m) ?? served;
  // Clients go by the Content-Type, the gate by the body: they must not disagree (a generic
  // Content-Type such as application/json names no manifest type: the body's governs). Nor may the body
  // be both an image and an index (a reader that sniffs the shape could pick either).
  const ambiguous =
    (MANIFEST_MEDIA_TYPES.includes(served) && declared !== served) ||
    ('layers' in m && 'manifests' in m) ||
    misleadingKey(m, READ_FIELDS) !== undefined;
  const manifests = Array.isArray(m.manifests) ? m.manifests : undefined;
  const layers = Array.isArray(m.layers) ? m.layers : undefined;
  const isIndex = INDEX_TYPES.has(declared);
  const hasSubject = typeof m.subject === 'object' && m.subject !== null;
  if (isIndex) {
    const entries = (manifests ?? []).filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null);
    const children = entries
      .filter((e) => !isAttestationManifest(e as Parameters<typeof isAttestationManifest>[0]))
      .map((e) => e.digest)
      .filter((d): d is string => typeof d === 'string');
    // Any entry with a platform (other than the unknown/unknown attestation entries builders add)
    // makes the index something a runtime pulls.
    const runnable = entries.some((e) => {
      const p = e.platform as Record<string, unknown> | undefined;
      return p !== undefined && typeof p === 'object' && !(p.os === 'unknown' && p.architecture === 'unknown');
    });
    // A referrers index lists artifacts: each entry carries the artifactType of the manifest it
    // names (OCI distribution spec: its artifactType, else its config's type), and an image's
    // would be its image config type. An entry without one, or with an image's, may be an image.
    const onlyArtifacts = entries.length === (manifests ?? []).length && entries.every((e) => isArtifactType(e.artifactType));
    return {
      mediaType: declared || MEDIA_TYPE.OCI_INDEX,
      isIndex: true,
      children,
      hasSubject,
      runnable,
      onlyArtifacts,
      payloadLayers: [],
      ambiguous,
    };
  }
  const config = typeof m.config === 'object' && m.config !== null ? (m.config as Record<string, unknown>) : undefined;
  // An absent config, or one without a type, is an image's to Docker (its ImageTypes include "").
  const imageConfig = isImageConfigType(config?.mediaType);
  const descriptors = (layers ?? []).map((l) => (typeof l === 'object' && l !== null ? (l as Record<string, unknown>) : {}));
  // Schema 1 (`fsLayers`) is runnable whatever else the body says; so is an artifact whose config
  // is of a type no evidence uses (a Helm chart's, an Apptainer image's: their clients run them).
  const runnable =
    'fsLayers' in m ||
    (!imageConfig && !isEvidenceConfigType(config?.mediaType)) ||
    descriptors.some((l) => isRunnableLayer(l.mediaType) || (imageConfig && typeof l.digest !== 'string'));
  // Under an image config, payload types alone do not make layers inert: their bytes must not be
  // a layer either (archive-head.ts), which only a read of each can tell.
  const payloadLayers = imageConfig && !runnable ? descriptors.map((l) => l.digest as string) : [];
  return { mediaType: declared, isIndex: false, children: [], hasSubject, runnable, onlyArtifacts: false, payloadLayers, ambiguous };
}

/** A media type without parameters, trimmed and in lower case ('' for none): how the gate compares them. */
function bareType(mediaType: string): string {
  return baseMediaType(mediaType) ?? '';
}

/** Config types Docker's classic puller takes for an image's (moby distribution/registry.go ImageTypes). */
const IMAGE_CONFIG_TYPES = new Set([
  MEDIA_TYPE.OCI_CONFIG,
  'application/vnd.docker.container.image.v1+json',
  'application/octet-stream',
  'application/json',
  'text/html',
  '',
]);

/** True for a config type (any value: a non-string is no type, and so an image's) Docker runs as an image. */
export function isImageConfigType(mediaType: unknown): boolean {
  return typeof mediaType !== 'string' || IMAGE_CONFIG_TYPES.has(bareType(mediaType));
}

/** An artifactType naming an artifact: a non-empty type that is not an image config's. */
function isArtifactType(artifactType: unknown): boolean {
  return typeof artifactType === 'string' && bareType(artifactType) !== '' && !isImageConfigType(artifactType);
}

/**
 * Layers a runtime unpacks or executes by their type: OCI and Docker layer tarballs (any
 * compression, foreign or not; anything under the image and Docker namespaces), WASM modules.
 */
export function isFilesystemLayer(mediaType: string): boolean {
  const t = bareType(mediaType);
  return (
    t.startsWith('application/vnd.oci.image.') ||
    t.startsWith('application/vnd.docker.') ||
    t.startsWith('application/vnd.wasm.') ||
    t === 'application/wasm'
  );
}

/**
 * Payloads of signatures, attestations, SBOMs and scans: the only layer types evidence has.
 * Anything else is something some client runs or deploys (an image layer, a WASM module, a Helm
 * chart, an Apptainer SIF, a Flux or OPA bundle…), and a list of those can never be complete; so
 * evidence is what is recognised, and an unknown artifact is content for the policy to decide.
 * Prefixes of families (versions and suffixes vary by tool).
 */
const EVIDENCE_PAYLOAD_PREFIXES = [
  MEDIA_TYPE.OCI_EMPTY,
  'application/vnd.dev.cosign.',
  'application/vnd.dev.sigstore.',
  'application/vnd.dsse.envelope',
  'application/vnd.in-toto',
  'application/vnd.cncf.notary.',
  'application/jose+json',
  'application/cose',
  'application/spdx',
  'text/spdx',
  'application/vnd.cyclonedx',
  'application/vnd.syft',
  'application/sarif+json',
  'application/vnd.openvex',
  'application/vnd.cncf.openvex',
];

function isEvidencePayloadType(mediaType: string): boolean {
  const t = bareType(mediaType);
  return EVIDENCE_PAYLOAD_PREFIXES.some((prefix) => t.startsWith(prefix));
}

/** A config type evidence is written with (besides an image config's, whose layers are read): the empty config, or a payload type (Notation's signature config). */
function isEvidenceConfigType(mediaType: unknown): boolean {
  return typeof mediaType === 'string' && isEvidencePayloadType(mediaType);
}

/**
 * Whether a layer makes its manifest runnable: a type that is not a string, a filesystem layer
 * type, or any type but an evidence payload's (see EVIDENCE_PAYLOAD_PREFIXES). Under an image
 * config type even payload types are not enough: Docker's classic puller unpacks every layer
 * there, so their bytes are read as well (payloadLayers).
 */
export function isRunnableLayer(mediaType: unknown): boolean {
  return typeof mediaType !== 'string' || isFilesystemLayer(mediaType) || !isEvidencePayloadType(mediaType);
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
    return parsed.isIndex && parsed.mediaType === MEDIA_TYPE.OCI_INDEX && !parsed.runnable && parsed.onlyArtifacts
      ? 'referrers fallback index'
      : undefined;
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
