/**
 * A small strict DER reader for the structures a Notary signature carries besides its certificates
 * (RFC 3161 timestamp tokens: CMS SignedData around a TSTInfo). Every element keeps its exact bytes
 * (`raw`), because CMS signs encodings, not values: re-encoding what was parsed would let a
 * non-canonical token verify against bytes nobody signed. Hostile input is bounded: definite
 * lengths only, no trailing bytes, and every read is checked against its parent. The reader never
 * recurses (callers walk the one level they expect), so nesting cannot exhaust the stack.
 */

export class DerError extends Error {}

export interface Der {
  /** The identifier octet: class, constructed bit and tag number (numbers above 30 are refused). */
  tag: number;
  constructed: boolean;
  /** The content octets. */
  content: Buffer;
  /** Identifier, length and content: the element exactly as encoded. */
  raw: Buffer;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  GENERALIZED_TIME: 0x18,
  UTC_TIME: 0x17,
} as const;

/** Context-specific tag [n], constructed (EXPLICIT, or IMPLICIT of a constructed type). */
export const ctx = (n: number): number => 0xa0 | n;
/** Context-specific tag [n], primitive (IMPLICIT of a primitive type). */
export const ctxPrimitive = (n: number): number => 0x80 | n;

/** Parses exactly one element filling `bytes`. */
export function parseDer(bytes: Buffer): Der {
  const [el, end] = readElement(bytes, 0);
  if (end !== bytes.length) throw new DerError(`${bytes.length - end} bytes follow the DER element`);
  return el;
}

/** The elements of a constructed element's content, in order. */
export function children(el: Der): Der[] {
  if (!el.constructed) throw new DerError(`tag 0x${el.tag.toString(16)} is not constructed`);
  const out: Der[] = [];
  let pos = 0;
  while (pos < el.content.length) {
    const [child, end] = readElement(el.content, pos);
    out.push(child);
    pos = end;
  }
  return out;
}

function readElement(buf: Buffer, start: number): [Der, number] {
  if (start + 2 > buf.length) throw new DerError('truncated DER element');
  const tag = buf[start]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not used here');
  let pos = start + 1;
  const first = buf[pos++]!;
  let length: number;
  if (first < 0x80) length = first;
  else {
    const n = first & 0x7f;
    if (n === 0) throw new DerError('indefinite lengths are not DER');
    if (n > 4) throw new DerError('DER length too large');
    if (pos + n > buf.length) throw new DerError('truncated DER length');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[pos++]!;
    if (length < 0x80 || (n > 1 && buf[pos - n] === 0)) throw new DerError('non-minimal DER length');
  }
  const end = pos + length;
  if (end > buf.length) throw new DerError('DER element longer than its container');
  return [{ tag, constructed: (tag & 0x20) !== 0, content: buf.subarray(pos, end), raw: buf.subarray(start, end) }, end];
}

/** Reads `el` as `tag`, or throws naming what was expected. */
export function expect(el: Der | undefined, tag: number, what: string): Der {
  if (el === undefined) throw new DerError(`${what} is missing`);
  if (el.tag !== tag) throw new DerError(`${what} has tag 0x${el.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  return el;
}

export function oid(el: Der | undefined, what: string): string {
  const c = expect(el, TAG.OID, what).content;
  if (c.length === 0 || c[c.length - 1]! & 0x80) throw new DerError(`${what} is not a valid OID`);
  const arcs: bigint[] = [];
  let v = 0n;
  for (let i = 0; i < c.length; i++) {
    const b = c[i]!;
    // A sub-identifier starting with 0x80 is padded: a second encoding of the same arc.
    if (b === 0x80 && (i === 0 || !(c[i - 1]! & 0x80))) throw new DerError(`${what} is not a valid OID (padded sub-identifier)`);
    v = (v << 7n) | BigInt(b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(v);
      v = 0n;
    }
  }
  const head = arcs.shift()!;
  const a = head < 80n ? head / 40n : 2n;
  return [a, head - a * 40n, ...arcs].join('.');
}

/** A non-negative INTEGER small enough for a number (versions, accuracy fields). */
export function smallInt(el: Der | undefined, what: string, tag: number = TAG.INTEGER): number {
  const c = expect(el, tag, what).content;
  // DER INTEGERs are minimal: a leading zero byte only before a byte with its top bit set.
  if (c.length === 0 || c.length > 6 || c[0]! & 0x80 || (c.length > 1 && c[0] === 0 && !(c[1]! & 0x80)))
    throw new DerError(`${what} is not a small non-negative integer`);
  return c.reduce((n, b) => n * 256 + b, 0);
}

/** GeneralizedTime as RFC 3161 requires it: UTC (`Z`), optional fractional seconds. */
export function generalizedTime(el: Der | undefined, what: string): Date {
  const text = expect(el, TAG.GENERALIZED_TIME, what).content.toString('latin1');
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\.\d{1,9})?Z$/.exec(text);
  if (!m) throw new DerError(`${what} is not a UTC GeneralizedTime`);
  const ms = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  const d = new Date(Date.UTC(year!, month! - 1, day, hour, minute, second, ms));
  // Date.UTC rolls month 13 or day 32 over and reads years 0..99 as 1900..1999: only a time that
  // reads back as written is one (no second spelling of another time).
  d.setUTCFullYear(year!);
  const fields = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()];
  if (Number.isNaN(d.getTime()) || fields.some((v, i) => v !== [year, month, day, hour, minute, second][i]))
    throw new DerError(`${what} is not a valid time`);
  return d;
}
