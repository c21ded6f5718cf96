/** OCI data shapes and the registry client contract used by the rest of Countersign. */

export const MEDIA_TYPE = {
  OCI_MANIFEST: 'application/vnd.oci.image.manifest.v1+json',
  OCI_INDEX: 'application/vnd.oci.image.index.v1+json',
  OCI_EMPTY: 'application/vnd.oci.empty.v1+json',
  OCI_CONFIG: 'application/vnd.oci.image.config.v1+json',
  DOCKER_MANIFEST: 'application/vnd.docker.distribution.manifest.v2+json',
  DOCKER_MANIFEST_LIST: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

/** Every manifest media type we are willing to read, in the order sent in `Accept`. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPE.OCI_MANIFEST,
  MEDIA_TYPE.OCI_INDEX,
  MEDIA_TYPE.DOCKER_MANIFEST,
  MEDIA_TYPE.DOCKER_MANIFEST_LIST,
] as const;

/** The OCI empty blob `{}` and its descriptor (image-spec "Guidance for an Empty Descriptor"). */
export const EMPTY_BLOB = Buffer.from('{}');
export const EMPTY_DESCRIPTOR = {
  mediaType: MEDIA_TYPE.OCI_EMPTY,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string; 'os.version'?: string };
  data?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/**
 * A parsed image reference. `registry` is the host[:port] the client talks to (Docker Hub is
 * `index.docker.io` for display and `registry-1.docker.io` on the wire), `repository` the path.
 * At least one of `tag` / `digest` is set after parsing (a bare name gets tag `latest`).
 */
export interface ImageReference {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** A repository on a registry: what every client call is scoped to (defined in src/formats/). */
export type { RepositoryRef } from '../formats/repository';

/** What every client call accepts: a signal that cancels it (a deadline, a departed caller, shutdown). */
export interface CallOptions {
  signal?: AbortSignal;
}

/** A manifest as read: its descriptor (digest checked), its exact bytes, and the ETag for conditional updates. */
export interface ManifestResult {
  descriptor: Descriptor;
  bytes: Buffer;
  etag?: string;
}
