/**
 * What manifest bytes say they are, read one way by Verify and by the gate: their `mediaType`,
 * else their shape (a `manifests` list and no `layers` is an OCI index). Two readings that
 * disagreed (the gate took an image-typed body with a `manifests` list for an index, Verify for
 * an image) would let an allow judged of one stand for the other.
 */
import { MEDIA_TYPE } from './types';

/** The type a parsed manifest document declares, by field or by shape; undefined when neither. */
export function declaredManifestType(doc: Record<string, unknown>): string | undefined {
  if (typeof doc.mediaType === 'string') return doc.mediaType;
  return Array.isArray(doc.manifests) && doc.layers === undefined ? MEDIA_TYPE.OCI_INDEX : undefined;
}

/** Manifest bytes as the JSON object they must be; undefined when they are not one. */
export function manifestDocument(bytes: Buffer): Record<string, unknown> | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  return typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>) : undefined;
}

/** declaredManifestType of manifest bytes; undefined when they are not a JSON object. */
export function manifestTypeOfBytes(bytes: Buffer): string | undefined {
  const doc = manifestDocument(bytes);
  return doc === undefined ? undefined : declaredManifestType(doc);
}
