/**
 * Whether the first bytes of a blob are something Docker's classic puller would apply as a layer.
 *
 * Why: that puller unpacks every layer of a manifest whose config type it takes for an image's,
 * whatever the layer's declared type (see manifests.ts). A cosign `.sig` / `.att` manifest has
 * such a config, so its layers are inert only if their BYTES are not a layer: an attacker can
 * declare a gzip'd tarball as a simple-signing payload. The puller detects the compression by its
 * magic number (gzip, bzip2, xz, zstd, including zstd's skippable frames) and reads the rest as a
 * tar stream, whose first header block must carry a valid checksum (Go's archive/tar refuses it
 * otherwise, whatever the magic field says, and reads pre-POSIX V7 headers that have none).
 * Signature and attestation payloads are JSON: neither.
 */

/** How many bytes `isArchiveHead` needs to see of a blob (one tar header block). */
export const ARCHIVE_HEAD_BYTES = 512;

/** True when `head` (the first ARCHIVE_HEAD_BYTES of a blob, or all of a shorter one) starts a compressed stream or a tar archive. */
export function isArchiveHead(head: Buffer): boolean {
  if (startsWith(head, [0x1f, 0x8b]) || startsWith(head, [0x42, 0x5a, 0x68]) || startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) {
    return true;
  }
  if (startsWith(head, [0x28, 0xb5, 0x2f, 0xfd])) return true;
  // A zstd skippable frame: 0x184D2A50..0x184D2A5F, little-endian.
  if (head.length >= 4 && (head[0]! & 0xf0) === 0x50 && head[1] === 0x2a && head[2] === 0x4d && head[3] === 0x18) return true;
  return isTarHeader(head);
}

function startsWith(head: Buffer, magic: readonly number[]): boolean {
  return head.length >= magic.length && magic.every((b, i) => head[i] === b);
}

/**
 * A tar header block: 512 bytes whose checksum field (octal, bytes 148..155) equals the sum of the
 * block's bytes with that field counted as spaces (unsigned, or signed as some old tars wrote it).
 * An all-zero block ends an archive: an empty layer, nothing to run.
 */
function isTarHeader(head: Buffer): boolean {
  if (head.length < ARCHIVE_HEAD_BYTES) return false;
  const field = head
    .subarray(148, 156)
    .toString('latin1')
    .replace(/^[\0 ]+|[\0 ]+$/g, '');
  if (!/^[0-7]{1,8}$/.test(field)) return false;
  const stored = parseInt(field, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < ARCHIVE_HEAD_BYTES; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : head[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}
