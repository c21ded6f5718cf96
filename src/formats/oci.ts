/** OCI image-index conventions other tools write into images (here: BuildKit's attestation manifests). */

/** BuildKit's annotations on the attestation manifests it adds to an index (buildx `--attest`). */
export const ATTESTATION_REFERENCE_TYPE = 'vnd.docker.reference.type';
export const ATTESTATION_MANIFEST = 'attestation-manifest';

/**
 * A child descriptor that is a recognised attestation manifest: BuildKit marks them with platform
 * `unknown/unknown` AND the annotation `vnd.docker.reference.type: attestation-manifest`. Both
 * are required: an `unknown` os with a real architecture, a child without a platform, or the
 * annotation on a real platform are all children a runtime could run, and are judged.
 */
export function isAttestationManifest(child: {
  platform?: { os?: string; architecture?: string } | undefined;
  annotations?: Record<string, string> | undefined;
}): boolean {
  return (
    child.platform?.os === 'unknown' &&
    child.platform.architecture === 'unknown' &&
    child.annotations?.[ATTESTATION_REFERENCE_TYPE] === ATTESTATION_MANIFEST
  );
}
