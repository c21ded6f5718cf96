/**
 * Strings held for a long time (cache keys and cached evidence: 100,000 entries at scale) are
 * stored compactly. A string built by concatenation (a template literal) is a V8 "cons" string
 * that keeps its parts alive, and a substring keeps its whole parent (a request, a JSON document);
 * measured here, a cache key built as `${registry}/${repository}@${digest}` cost ~340 bytes held
 * as built and ~150 as one flat copy. Values repeated across entries (media types, predicate
 * types, key ids and names) are shared through a bounded table.
 */

/** A flat copy of `s` that shares nothing with the strings it was built from. */
export function flatString(s: string): string {
  // V8 keeps strings under 13 characters flat; JSON.parse always returns a fresh flat string.
  return s.length < 13 ? s : (JSON.parse(JSON.stringify(s)) as string);
}

/** Longest value worth sharing; distinct values shared at most (pushers choose some of them). */
const MAX_INTERNED_LENGTH = 256;
const MAX_INTERNED = 4096;

/**
 * One shared copy of a value many entries repeat. Bounded: once the table is full, values not in
 * it are returned flat but not added (a pusher inventing artifact types cannot grow it).
 */
export class StringTable {
  private readonly table = new Map<string, string>();

  intern(s: string): string {
    if (s.length > MAX_INTERNED_LENGTH) return flatString(s);
    const known = this.table.get(s);
    if (known !== undefined) return known;
    const flat = flatString(s);
    if (this.table.size < MAX_INTERNED) this.table.set(flat, flat);
    return flat;
  }

  get size(): number {
    return this.table.size;
  }
}

const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;
/** First character of a packed sha256 digest; a digest kept as it is starts with RAW_MARK instead. */
const PACKED_MARK = '\u0000';
const RAW_MARK = '\u0001';

/**
 * A digest held for a long time, in 33 characters instead of 71: `sha256:<64 hex>` as its 32
 * bytes (one latin1 character each) behind a marker. Anything else (another algorithm, or what a
 * pusher wrote that is not a digest) is kept as it is behind another marker, so unpackDigest()
 * returns exactly what was packed, whatever it was.
 */
export function packDigest(digest: string): string {
  if (!SHA256_DIGEST.test(digest)) return flatString(RAW_MARK + digest);
  // Written into one buffer: a concatenation would be a "cons" string holding both parts.
  const bytes = Buffer.allocUnsafe(33);
  bytes.write(PACKED_MARK, 0, 'latin1');
  bytes.write(digest.slice(7), 1, 'hex');
  return bytes.toString('latin1');
}

/** Characters of a packed sha256 digest. */
export const PACKED_SHA256_LENGTH = 33;

export function unpackDigest(packed: string): string {
  if (packed.startsWith(RAW_MARK)) return packed.slice(1);
  return `sha256:${Buffer.from(packed.slice(1), 'latin1').toString('hex')}`;
}
