/**
 * Reads an OCI image layout (oci-layout, index.json, blobs/sha256/<hex>) such as notation's e2e
 * test data, in the order a registry accepts it: plain blobs first, then image manifests without a
 * subject, then manifests with a subject (signatures), then indexes; tags from index.json.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface LayoutManifest {
  digest: string;
  bytes: Buffer;
  mediaType: string;
  tag?: string;
}

export function readOciLayout(dir: string): { blobs: Buffer[]; manifests: LayoutManifest[] } {
  const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as {
    manifests: Array<{ digest: string; mediaType: string; annotations?: Record<string, string> }>;
  };
  const tags = new Map(index.manifests.map((m) => [m.digest, m.annotations?.['org.opencontainers.image.ref.name']]));
  const blobs: Buffer[] = [];
  const manifests: Array<LayoutManifest & { rank: number }> = [];
  const blobDir = path.join(dir, 'blobs/sha256');
  for (const hex of readdirSync(blobDir).sort()) {
    const bytes = readFileSync(path.join(blobDir, hex));
    const parsed = tryJson(bytes);
    const mediaType = parsed && typeof parsed.mediaType === 'string' && parsed.schemaVersion === 2 ? parsed.mediaType : undefined;
    if (mediaType === undefined || !/manifest|index/.test(mediaType)) {
      blobs.push(bytes);
      continue;
    }
    const tag = tags.get(`sha256:${hex}`);
    const rank = mediaType.includes('index') ? 2 : parsed!.subject ? 1 : 0;
    manifests.push({ digest: `sha256:${hex}`, bytes, mediaType, rank, ...(tag ? { tag } : {}) });
  }
  manifests.sort((a, b) => a.rank - b.rank);
  return { blobs, manifests: manifests.map(({ rank: _rank, ...m }) => m) };
}

function tryJson(bytes: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
