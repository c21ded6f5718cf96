/**
 * A referrer's manifest, checked before anything it says is believed. The registry hands back
 * whatever a pusher wrote, and the signature inside a referrer signs only its payload: the
 * manifest around it (its subject, artifact type, layers, annotations) is unsigned. So a pusher
 * can wrap a valid bundle in a manifest of their own making, and the manifest must be held to
 * the OCI image-manifest rules before its bundle is judged:
 * - it is an OCI image manifest (schemaVersion 2, its mediaType if given, served as one), not an
 *   index, a Docker or schema 1 manifest, nor a body that is both;
 * - it reads the same to a Go client (Distribution, containerd, cosign: encoding/json matches keys
 *   case-insensitively) as to us: `"Subject"` or `"Layers"` next to (or instead of) the real key
 *   would make the registry file it under one image and us judge it as about another;
 * - config, layers and subject are descriptors (a media type, a sha256/sha512 digest, a size);
 * - the subject is exactly the image being verified;
 * - artifactType is a media type; annotations map strings to strings.
 * A manifest that breaks one of these is unverified evidence with the reason, never an error, and
 * it hides nothing next to it (src/verification/collector.ts).
 */
import { parseRfc3339 } from '../attestations';
import { misleadingKey, readFields } from '../formats/go-json-keys';
import { ANNOTATION } from '../formats/sigstore-bundle';
import { isDigest } from '../registry/digest';
import { MEDIA_TYPE, type Descriptor } from '../registry/types';
import { quoteUntrusted } from '../shared/untrusted-text';

export interface ReferrerManifest {
  layers: Descriptor[];
  /** A media type, when given (an OCI 1.1 referrer names its type here). */
  artifactType?: string;
  /** An OCI 1.0 referrer names its artifact type as config.mediaType. */
  config: Descriptor;
  /** Always the image being verified (checkReferrerManifest refuses any other). */
  subject: Descriptor;
  /** Strings to strings; `created` is left out unless it is an RFC 3339 date-time. */
  annotations?: Record<string, string>;
}

export type CheckedReferrer = { manifest: ReferrerManifest } | { problem: string; artifactType?: string };

/** Every field of an image manifest or a descriptor a reader relies on, and those that make it something else. */
const READ_FIELDS = readFields([
  'schemaVersion',
  'mediaType',
  'artifactType',
  'config',
  'layers',
  'subject',
  'annotations',
  'digest',
  'size',
  'urls',
  'data',
  'manifests',
  'fsLayers',
]);

/** RFC 6838 type/subtype, with parameters (`application/vnd.dev.sigstore.bundle+json;version=0.3`). */
const MEDIA_TYPE_SYNTAX =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(?:\s*;\s*[A-Za-z0-9!#$&^_.+-]+=[A-Za-z0-9!#$&^_.+-]+)*$/;
/** Longest media type accepted: type and subtype are 127 characters each (RFC 6838), parameters bounded too. */
const MAX_MEDIA_TYPE_CHARS = 255;

/** A media type a reason or an evidence field may carry as written (bounded: it is the pusher's text). */
function isMediaType(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_MEDIA_TYPE_CHARS && MEDIA_TYPE_SYNTAX.test(value);
}

/**
 * The referrer manifest in `json`, if it is one that may be judged as a referrer of `imageDigest`,
 * else why not. `servedAs` is the Content-Type the registry served it under. The artifact type is
 * reported with a problem when it can be read, so the reason is filed under the right format.
 */
export function checkReferrerManifest(json: unknown, imageDigest: string, servedAs?: string): CheckedReferrer {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { problem: 'referrer manifest is not a JSON object' };
  const m = json as Record<string, unknown>;
  const artifactType = isMediaType(m.artifactType) ? m.artifactType : undefined;
  const refuse = (problem: string): CheckedReferrer => ({ problem, ...(artifactType !== undefined ? { artifactType } : {}) });

  const misleading = misleadingKey(m, READ_FIELDS);
  if (misleading !== undefined) {
    return refuse(
      `referrer manifest has the key ${quoteUntrusted(misleading)}, which a Go client (the registry, cosign, containerd) ` +
        'reads as another spelling of a manifest field: it says one thing to them and another to us',
    );
  }
  if (m.schemaVersion !== 2) return refuse(`referrer manifest's schemaVersion is ${quoteUntrusted(m.schemaVersion)}, not 2`);
  if ('manifests' in m || 'fsLayers' in m) return refuse('referrer is an image index or a schema 1 manifest, not an image manifest');
  if (m.mediaType !== undefined && m.mediaType !== MEDIA_TYPE.OCI_MANIFEST) {
    return refuse(`referrer manifest's mediaType is ${quoteUntrusted(m.mediaType)}, not ${MEDIA_TYPE.OCI_MANIFEST}`);
  }
  const served = servedAs?.split(';')[0]?.trim();
  if (served && served !== MEDIA_TYPE.OCI_MANIFEST) {
    return refuse(`the registry serves the referrer as ${quoteUntrusted(served)}, not as an OCI image manifest`);
  }
  if (m.artifactType !== undefined && artifactType === undefined) {
    return refuse(`referrer manifest's artifactType ${quoteUntrusted(m.artifactType)} is not a media type`);
  }
  const config = descriptorProblem(m.config, 'config');
  if (config !== undefined) return refuse(config);
  if (!Array.isArray(m.layers)) return refuse('referrer manifest has no layers array');
  for (let i = 0; i < m.layers.length; i++) {
    const problem = descriptorProblem(m.layers[i], `layers[${i}]`);
    if (problem !== undefined) return refuse(problem);
  }
  if (m.subject === undefined) return refuse('referrer manifest has no subject: it names no image');
  const subject = descriptorProblem(m.subject, 'subject');
  if (subject !== undefined) return refuse(subject);
  const subjectDigest = (m.subject as Descriptor).digest;
  if (subjectDigest !== imageDigest) return refuse(`referrer's subject is ${subjectDigest}, not ${imageDigest}`);
  const annotations = stringMapProblem(m.annotations, 'annotations');
  if (annotations !== undefined) return refuse(annotations);

  const manifest = { ...m } as unknown as ReferrerManifest;
  const created = manifest.annotations?.[ANNOTATION.CREATED];
  if (created !== undefined && parseRfc3339(created) === undefined) {
    // Unsigned and informative only: a value that is no date is dropped, not believed.
    const { [ANNOTATION.CREATED]: _dropped, ...rest } = manifest.annotations!;
    manifest.annotations = rest;
  }
  return { manifest };
}

/** The artifact type the referrer declares (artifactType, else config.mediaType). */
export function declaredArtifactType(manifest: ReferrerManifest): string {
  return manifest.artifactType ?? manifest.config.mediaType;
}

/** Why `value` is not an OCI descriptor, or undefined when it is one. */
function descriptorProblem(value: unknown, where: string): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `referrer manifest's ${where} is not a descriptor`;
  const d = value as Record<string, unknown>;
  if (!isMediaType(d.mediaType)) {
    return `referrer manifest's ${where}.mediaType ${quoteUntrusted(d.mediaType)} is not a media type`;
  }
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) {
    return `referrer manifest's ${where}.digest ${quoteUntrusted(d.digest)} is not a sha256 or sha512 digest`;
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    return `referrer manifest's ${where}.size ${quoteUntrusted(d.size)} is not a non-negative integer`;
  }
  if (d.artifactType !== undefined && !isMediaType(d.artifactType)) {
    return `referrer manifest's ${where}.artifactType ${quoteUntrusted(d.artifactType)} is not a media type`;
  }
  return stringMapProblem(d.annotations, `${where}.annotations`);
}

function stringMapProblem(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `referrer manifest's ${where} is not an object`;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') return `referrer manifest's ${where}[${quoteUntrusted(k)}] is not a string`;
  }
  return undefined;
}
