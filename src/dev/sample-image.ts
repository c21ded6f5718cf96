/**
 * Development and test tooling: writes small but real OCI images into a registry (a gzipped tar
 * layer, an image config, a manifest, optionally a multi-platform index), so the demo and the
 * end-to-end tests have something to sign without Docker.
 */
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import type { RegistryClient } from '../registry';
import { sha256Digest } from '../registry/digest';
import { MEDIA_TYPE, type Descriptor, type RepositoryRef } from '../registry/types';

export interface PushedImage {
  digest: string;
  size: number;
  mediaType: string;
}

/** A one-file ustar archive; the content makes the image (and so its digest) unique. */
export function tarWithFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100, 8, 'ascii');
  header.write('0000000\0', 108, 8, 'ascii');
  header.write('0000000\0', 116, 8, 'ascii');
  header.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124, 12, 'ascii');
  header.write(
    `${Math.floor(Date.UTC(2026, 0, 1) / 1000)
      .toString(8)
      .padStart(11, '0')}\0`,
    136,
    12,
    'ascii',
  );
  header.write('        ', 148, 8, 'ascii'); // checksum placeholder: spaces while summing
  header.write('0', 156, 1, 'ascii');
  header.write('ustar\0', 257, 6, 'ascii');
  header.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  const padded = Buffer.alloc(Math.ceil(content.length / 512) * 512);
  content.copy(padded);
  return Buffer.concat([header, padded, Buffer.alloc(1024)]);
}

const digestOf = sha256Digest;

/** Pushes a single-platform image and tags it; returns the manifest descriptor. */
export async function pushSampleImage(
  client: RegistryClient,
  repo: RepositoryRef,
  tag: string,
  opts: { content?: string; architecture?: string; os?: string } = {},
): Promise<PushedImage> {
  const content = Buffer.from(opts.content ?? `hello from countersign ${crypto.randomUUID()}\n`);
  const tar = tarWithFile('hello.txt', content);
  const layer = zlib.gzipSync(tar, { level: 6 });
  const config = Buffer.from(
    JSON.stringify({
      architecture: opts.architecture ?? 'amd64',
      os: opts.os ?? 'linux',
      config: { Cmd: ['/bin/cat', '/hello.txt'] },
      rootfs: { type: 'layers', diff_ids: [digestOf(tar)] },
    }),
  );
  await client.pushBlob(repo, layer);
  await client.pushBlob(repo, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
      config: { mediaType: MEDIA_TYPE.OCI_CONFIG, digest: digestOf(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(layer), size: layer.length }],
    }),
  );
  const { digest } = await client.putManifest(repo, tag, manifest, MEDIA_TYPE.OCI_MANIFEST);
  return { digest, size: manifest.length, mediaType: MEDIA_TYPE.OCI_MANIFEST };
}

/** Pushes one image per platform plus an index over them, tagged `tag`. */
export async function pushSampleIndex(
  client: RegistryClient,
  repo: RepositoryRef,
  tag: string,
  platforms: Array<{ architecture: string; os: string }> = [
    { architecture: 'amd64', os: 'linux' },
    { architecture: 'arm64', os: 'linux' },
  ],
): Promise<PushedImage & { platforms: Descriptor[] }> {
  const manifests: Descriptor[] = [];
  for (const p of platforms) {
    const img = await pushSampleImage(client, repo, `${tag}-${p.os}-${p.architecture}`, p);
    manifests.push({ mediaType: img.mediaType, digest: img.digest, size: img.size, platform: { architecture: p.architecture, os: p.os } });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_INDEX, manifests }));
  const { digest } = await client.putManifest(repo, tag, index, MEDIA_TYPE.OCI_INDEX);
  return { digest, size: index.length, mediaType: MEDIA_TYPE.OCI_INDEX, platforms: manifests };
}
