/** Shared builders for registry tests. */
import { CountersignError, type ErrorCode } from '../../../src/shared/errors';
import { sha256Digest } from '../../../src/registry/digest';
import { EMPTY_BLOB, EMPTY_DESCRIPTOR, MEDIA_TYPE, type Descriptor, type ImageManifest } from '../../../src/registry/types';
import type { ArtifactToAttach } from '../../../src/registry/referrer-store';

/** A minimal but real OCI image: empty config, one layer with the given content. */
export function imageManifest(layer: Buffer): { bytes: Buffer; manifest: ImageManifest } {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.OCI_MANIFEST,
    config: { ...EMPTY_DESCRIPTOR },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256Digest(layer), size: layer.length }],
  };
  return { bytes: Buffer.from(JSON.stringify(manifest)), manifest };
}

/** An artifact referring to `subject`, laid out the way cosign v3 does (empty config, one payload layer). */
export function artifact(
  subject: Descriptor,
  opts: { payload?: string; artifactType?: string; annotations?: Record<string, string>; withArtifactType?: boolean } = {},
): ArtifactToAttach {
  const payload = Buffer.from(opts.payload ?? `payload-${Math.random()}`);
  const artifactType = opts.artifactType ?? 'application/vnd.dev.sigstore.bundle.v0.3+json';
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.OCI_MANIFEST,
    ...(opts.withArtifactType === false ? {} : { artifactType }),
    config: { ...EMPTY_DESCRIPTOR },
    layers: [{ mediaType: artifactType, digest: sha256Digest(payload), size: payload.length }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: opts.annotations ?? {
      'org.opencontainers.image.created': '2026-01-02T03:04:05Z',
      'dev.sigstore.bundle.content': 'dsse-envelope',
    },
  };
  return { manifest, manifestBytes: Buffer.from(JSON.stringify(manifest)), blobs: [payload, EMPTY_BLOB] };
}

export async function caught(p: Promise<unknown>): Promise<CountersignError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CountersignError) return err;
    throw new Error(`expected a CountersignError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected the promise to reject');
}

export async function expectCode(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<CountersignError> {
  const err = await caught(p);
  expect(err.code).toBe(code);
  if (message) expect(err.message).toMatch(message);
  return err;
}
