/**
 * Image indexes (OCI image index, Docker manifest list) read as the list of manifests a runtime
 * may run. Pure functions over untrusted bytes: whoever can push to a repository writes them.
 *
 * - parseImageIndexChildren validates everything verification relies on (the children's media
 *   type, digest, size, platform and annotations) and says precisely what is wrong otherwise.
 *   A runtime chooses among the children by platform, and runs a child without `platform` after
 *   reading its config, so a child that cannot be read exactly cannot be judged: the whole index
 *   is refused, never a child silently dropped.
 * - isAttestationManifest is the ONE definition of a child that carries no runnable image (and so
 *   is not judged as a platform): used by the resolver and by the policy evaluator alike.
 */
import { misleadingKey, readFields } from '../formats/go-json-keys';
import { isDigest } from './digest';
import { MEDIA_TYPE, type Descriptor } from './types';
import { describeDepthViolation, JsonTooDeepError, parseJsonWithinDepth } from '../shared/json-depth';

export type IndexChild = Pick<Descriptor, 'mediaType' | 'digest' | 'size' | 'platform' | 'annotations'>;

export class MalformedIndexError extends Error {}

/** Every field read below: a runtime must not see other values for them than we do. */
const INDEX_FIELDS = readFields([
  'schemaVersion',
  'mediaType',
  'manifests',
  'digest',
  'size',
  'platform',
  'os',
  'architecture',
  'variant',
  'annotations',
]);

/**
 * The children of an image index or Docker manifest list served as `mediaType`. Throws
 * MalformedIndexError with a sentence saying what is wrong (for "the image index is malformed: …").
 */
export function parseImageIndexChildren(bytes: Buffer, mediaType: string): IndexChild[] {
  const fail = (why: string): never => {
    throw new MalformedIndexError(why);
  };
  let json: unknown;
  try {
    // Bounded nesting: every value below may be quoted in a message, and quoting a deeply nested
    // one overflows the stack (a RangeError is not "malformed", so it would reach onError).
    json = parseJsonWithinDepth(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    return fail(err instanceof JsonTooDeepError ? `it ${describeDepthViolation(err.violation)}` : 'it is not valid JSON');
  }
  if (!isObject(json)) return fail('it is not a JSON object');
  const misleading = misleadingKey(json, INDEX_FIELDS);
  if (misleading !== undefined) {
    return fail(
      `its key ${shown(misleading)} is read by Go clients (containerd, Distribution) as a field read here under another spelling (their JSON keys are case-insensitive): the children a runtime sees could differ from those judged`,
    );
  }
  if (json.schemaVersion !== 2) return fail(`schemaVersion is ${shown(json.schemaVersion)}, not 2`);
  if (json.mediaType !== undefined && json.mediaType !== mediaType) {
    return fail(`its mediaType ${shown(json.mediaType)} contradicts the ${mediaType} it was served as`);
  }
  if (mediaType === MEDIA_TYPE.DOCKER_MANIFEST_LIST && json.mediaType === undefined) {
    return fail('a Docker manifest list must name its mediaType');
  }
  if (!Array.isArray(json.manifests))
    return fail(`"manifests" is ${json.manifests === undefined ? 'missing' : `${shown(json.manifests)}, not an array`}`);
  return json.manifests.map((raw: unknown, i: number): IndexChild => {
    const at = `manifests[${i}]`;
    if (!isObject(raw)) return fail(`${at} is not a descriptor object`);
    if (typeof raw.mediaType !== 'string' || raw.mediaType === '') return fail(`${at}.mediaType is missing or not a string`);
    if (typeof raw.digest !== 'string' || !isDigest(raw.digest))
      return fail(`${at}.digest ${shown(raw.digest)} is not a digest (sha256:<64 hex> or sha512:<128 hex>)`);
    if (typeof raw.size !== 'number' || !Number.isSafeInteger(raw.size) || raw.size < 0)
      return fail(`${at}.size ${shown(raw.size)} is not a non-negative integer`);
    const child: IndexChild = { mediaType: raw.mediaType, digest: raw.digest, size: raw.size };
    if (raw.platform !== undefined) {
      const p = raw.platform;
      if (!isObject(p) || typeof p.os !== 'string' || p.os === '' || typeof p.architecture !== 'string' || p.architecture === '') {
        return fail(`${at}.platform must be an object with non-empty string os and architecture`);
      }
      if (p.variant !== undefined && typeof p.variant !== 'string') return fail(`${at}.platform.variant is not a string`);
      child.platform = { os: p.os, architecture: p.architecture, ...(typeof p.variant === 'string' ? { variant: p.variant } : {}) };
    }
    if (raw.annotations !== undefined) {
      if (!isObject(raw.annotations) || !Object.values(raw.annotations).every((v) => typeof v === 'string')) {
        return fail(`${at}.annotations must be an object of strings`);
      }
      child.annotations = { ...(raw.annotations as Record<string, string>) };
    }
    return child;
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Untrusted text for a message: quoted, truncated. */
function shown(value: unknown): string {
  // JSON.stringify returns undefined for undefined, whatever its declared type says.
  const text = typeof value === 'string' ? value : ((JSON.stringify(value) as string | undefined) ?? String(value));
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
