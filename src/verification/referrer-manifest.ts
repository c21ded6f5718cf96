/**
 * A referrer's manifest as the collector has checked it. The registry hands back whatever a pusher
 * wrote: JSON is parsed as `unknown` and only `layers` is checked (an array of descriptors with a
 * string media type and digest), so the type says what is known and no more — `config` and
 * `artifactType` may be absent, null or any JSON value, and are read through declaredArtifactType.
 */
import type { Descriptor } from '../registry/types';

export interface ReferrerManifest {
  layers: Descriptor[];
  /** As written: not checked. */
  artifactType?: unknown;
  /** As written: not checked (an OCI 1.0 referrer names its artifact type as config.mediaType). */
  config?: { mediaType?: unknown } | null;
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** The JSON of a referrer manifest, if it is one: an object whose `layers` are all descriptors. */
export function asReferrerManifest(json: unknown): ReferrerManifest | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const layers: unknown = (json as { layers?: unknown }).layers;
  if (!Array.isArray(layers) || !layers.every(isLayerDescriptor)) return undefined;
  return json as ReferrerManifest;
}

/** The artifact type the referrer declares (artifactType, else config.mediaType), if it is a string. */
export function declaredArtifactType(manifest: ReferrerManifest): string | undefined {
  const declared = manifest.artifactType ?? manifest.config?.mediaType;
  return typeof declared === 'string' ? declared : undefined;
}

function isLayerDescriptor(l: unknown): l is Descriptor {
  return (
    typeof l === 'object' && l !== null && typeof (l as Descriptor).mediaType === 'string' && typeof (l as Descriptor).digest === 'string'
  );
}
