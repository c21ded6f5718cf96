import { sha256Digest } from '../registry/digest';
import { EMPTY_BLOB, EMPTY_DESCRIPTOR, MEDIA_TYPE, type Descriptor, type ImageManifest } from '../registry/types';

import { ANNOTATION, BUNDLE_V03_MEDIA_TYPE } from '../formats/sigstore-bundle';

export interface ReferrerArtifact {
  manifest: ImageManifest;
  /** Serialized once; the digest is over exactly these bytes and exactly these bytes are PUT. */
  manifestBytes: Buffer;
  digest: string;
  /** Blobs the manifest references: the bundle, then the empty config. */
  blobs: Buffer[];
}

export { sha256Digest };

/**
 * The manifest cosign v3 writes for a bundle (FORMATS.md §2.2): artifactType and the single layer
 * are the bundle media type, config is the empty descriptor, subject is the signed image, and the
 * manifest annotations (copied by the referrers API into its index) name the content and the
 * predicate type so readers can filter without downloading every bundle.
 */
export function bundleReferrer(args: {
  bundleBytes: Buffer;
  subject: Descriptor;
  predicateType: string;
  created: Date;
  annotations?: Record<string, string>;
}): ReferrerArtifact {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.OCI_MANIFEST,
    artifactType: BUNDLE_V03_MEDIA_TYPE,
    config: { ...EMPTY_DESCRIPTOR },
    layers: [{ mediaType: BUNDLE_V03_MEDIA_TYPE, digest: sha256Digest(args.bundleBytes), size: args.bundleBytes.length }],
    subject: { mediaType: args.subject.mediaType, digest: args.subject.digest, size: args.subject.size },
    annotations: {
      ...args.annotations,
      [ANNOTATION.BUNDLE_CONTENT]: 'dsse-envelope',
      [ANNOTATION.BUNDLE_PREDICATE_TYPE]: args.predicateType,
      // RFC 3339, second precision, as cosign writes it.
      [ANNOTATION.CREATED]: args.created.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    },
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { manifest, manifestBytes, digest: sha256Digest(manifestBytes), blobs: [args.bundleBytes, EMPTY_BLOB] };
}
