/** Sigstore bundle media types and the referrer annotations cosign v3 writes (FORMATS.md §2). */

/** The bundle version Countersign writes, as the layer media type of a referrer. */
export const BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/** Every bundle media type (as a bundle's mediaType field or a layer media type) and its version. */
export const BUNDLE_MEDIA_TYPE_VERSIONS: Record<string, string> = {
  'application/vnd.dev.sigstore.bundle+json;version=0.1': '0.1',
  'application/vnd.dev.sigstore.bundle+json;version=0.2': '0.2',
  'application/vnd.dev.sigstore.bundle+json;version=0.3': '0.3',
  [BUNDLE_V03_MEDIA_TYPE]: '0.3',
};

/** Annotations of a bundle referrer manifest. */
export const ANNOTATION = {
  CREATED: 'org.opencontainers.image.created',
  BUNDLE_CONTENT: 'dev.sigstore.bundle.content',
  BUNDLE_PREDICATE_TYPE: 'dev.sigstore.bundle.predicateType',
} as const;
