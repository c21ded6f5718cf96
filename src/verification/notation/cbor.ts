/**
 * A small strict CBOR (RFC 8949) reader for Notary COSE envelopes. Written here rather than taken
 * from a library: a COSE_Sign1 needs integers, byte and text strings, arrays, maps and tags only,
 * and a reader of hostile input is easier to bound when it is this small. Refused: indefinite
 * lengths and non-minimal integers and lengths (COSE uses deterministic encoding), floats and other simple values than
 * false/true/null, map keys other than integers and text, duplicate keys, trailing bytes, more
 * than MAX_DEPTH nesting levels and more than MAX_ITEMS items.
 */
import { quoteUntrusted } from '../../shared/untrusted-text';

export class CborError extends Error {}

export interface CborTag {
  tag: number;
  value: CborValue;
}

export type CborValue = number | string | Buffer | boolean | null | CborValue[] | Map<number | string, CborValue> | CborTag;

const MAX_DEPTH = 16;
const MAX_ITEMS = 10_000;

export function decodeCbor(bytes: Buffer): CborValue {
  const r = new Reader(bytes);
  const value = r.item(0);
  if (r.pos !== bytes.length) throw new CborError(`${bytes.length - r.pos} bytes follow the CBOR item`);
  return value;
}

export function isTag(v: CborValue): v is CborTag {
  return typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && !Array.isArray(v) && !(v instanceof Map);
}

class Reader {
  pos = 0;
  private items = 0;

  constructor(private readonly buf: Buffer) {}

  item(depth: number): CborValue {
    if (depth > MAX_DEPTH) throw new CborError('CBOR nesting is too deep');
    if (++this.items > MAX_ITEMS) throw new CborError('too many CBOR items');
    const initial = this.byte();
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (major === 7) {
      if (info === 20) return false;
      if (info === 21) return true;
      if (info === 22) return null;
      throw new CborError('CBOR floats and simple values are not used in a Notary envelope');
    }
    const n = this.argument(info);
    switch (major) {
      case 0:
        return n;
      case 1:
        return -1 - n;
      case 2:
        return this.take(n);
      case 3: {
        const text = this.take(n);
        try {
          return new TextDecoder('utf-8', { fatal: true }).decode(text);
        } catch {
          throw new CborError('a CBOR text string is not UTF-8');
        }
      }
      case 4: {
        if (n > this.buf.length - this.pos) throw new CborError('CBOR array longer than its input');
        const out: CborValue[] = [];
        for (let i = 0; i < n; i++) out.push(this.item(depth + 1));
        return out;
      }
      case 5: {
        if (n > this.buf.length - this.pos) throw new CborError('CBOR map longer than its input');
        const out = new Map<number | string, CborValue>();
        for (let i = 0; i < n; i++) {
          const key = this.item(depth + 1);
          if (typeof key !== 'number' && typeof key !== 'string')
            throw new CborError('a CBOR map key is neither an integer nor a text string');
          if (out.has(key)) throw new CborError(`the CBOR map key ${quoteUntrusted(key)} appears twice`);
          out.set(key, this.item(depth + 1));
        }
        return out;
      }
      default:
        return { tag: n, value: this.item(depth + 1) };
    }
  }

  private byte(): number {
    if (this.pos >= this.buf.length) throw new CborError('truncated CBOR');
    return this.buf[this.pos++]!;
  }

  private argument(info: number): number {
    if (info < 24) return info;
    if (info === 31) throw new CborError('indefinite-length CBOR is not deterministic encoding');
    if (info > 27) throw new CborError('malformed CBOR');
    const size = 1 << (info - 24);
    const bytes = this.take(size);
    let v: number;
    if (size === 8) {
      const big = bytes.readBigUInt64BE();
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new CborError('CBOR integer too large');
      v = Number(big);
    } else v = bytes.readUIntBE(0, size);
    // Deterministic encoding (RFC 8949 §4.2.1): the shortest form. A longer one is a second
    // encoding of the same value, which signed bytes must not have.
    if (v < (size === 1 ? 24 : 2 ** (4 * size))) throw new CborError('a non-minimal CBOR integer or length is not deterministic encoding');
    return v;
  }

  private take(n: number): Buffer {
    if (n > this.buf.length - this.pos) throw new CborError('truncated CBOR');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/** Encodes the values a COSE Sig_structure holds (text, byte strings, arrays). */
export function encodeCbor(v: string | Buffer | Array<string | Buffer>): Buffer {
  const head = (major: number, n: number): Buffer => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
    if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    return b;
  };
  if (Array.isArray(v)) return Buffer.concat([head(4, v.length), ...v.map((x) => encodeCbor(x))]);
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
  const text = Buffer.from(v, 'utf8');
  return Buffer.concat([head(3, text.length), text]);
}
