/**
 * PEM and base64 as the formats the service reads and writes use them (keys, certificates, CA
 * bundles, trust stores, cosign annotations): one scanner for every reader, strict decoding. None
 * of them ever puts the input text into an error message: the input may be key material.
 */

export interface PemBlock {
  /** The label between BEGIN and the dashes, e.g. "PUBLIC KEY". */
  type: string;
  /** The text between the BEGIN and END lines (headers, if any, included); null when the END line is missing (truncated). */
  body: string | null;
  /** Non-whitespace text anywhere before or after the blocks. */
  outside: boolean;
  /** Non-whitespace text right before this block (after the previous one, or at the start). */
  textBefore: boolean;
  /** Non-whitespace text after the last block (set on the last block only). */
  textAfter?: boolean;
}

const BEGIN = /-----BEGIN ([A-Z0-9][A-Z0-9 ]*[A-Z0-9])-----/g;

/**
 * Every PEM block of `text` up to the first one without its END line (reported with `body: null`,
 * so callers can say "truncated" rather than "not found"), and where anything but whitespace lies
 * outside them.
 */
export function scanPem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  BEGIN.lastIndex = 0;
  let last = 0;
  let outside = false;
  let m: RegExpExecArray | null;
  while ((m = BEGIN.exec(text)) !== null) {
    const textBefore = text.slice(last, m.index).trim() !== '';
    if (textBefore) outside = true;
    const type = m[1]!;
    const start = m.index + m[0].length;
    const endMarker = `-----END ${type}-----`;
    const end = text.indexOf(endMarker, start);
    if (end < 0) {
      blocks.push({ type, body: null, outside, textBefore });
      return blocks;
    }
    blocks.push({ type, body: text.slice(start, end), outside: false, textBefore });
    last = end + endMarker.length;
    BEGIN.lastIndex = last;
  }
  const textAfter = text.slice(last).trim() !== '';
  if (textAfter) outside = true;
  for (const b of blocks) b.outside = outside;
  if (blocks.length > 0) blocks[blocks.length - 1]!.textAfter = textAfter;
  return blocks;
}

/** Looks like a private key of any kind (PKCS#8, SEC1, PKCS#1, OpenSSH, cosign/sigstore encrypted...). */
export function isPrivateKeyLabel(type: string): boolean {
  return /PRIVATE KEY/.test(type);
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const B64URL = /^[A-Za-z0-9_-]*$/;

/** Standard, padded base64 (Go's base64.StdEncoding). Whitespace is removed first when `allowWhitespace`. Returns null if invalid. */
export function decodeBase64Strict(text: string, allowWhitespace = false): Buffer | null {
  const s = allowWhitespace ? text.replace(/[ \t\r\n]+/g, '') : text;
  if (!B64.test(s)) return null;
  return Buffer.from(s, 'base64');
}

/** Unpadded base64url. Returns null if invalid (including a length that cannot occur). */
export function decodeBase64UrlStrict(text: string): Buffer | null {
  if (!B64URL.test(text) || text.length % 4 === 1) return null;
  const buf = Buffer.from(text, 'base64url');
  // Reject non-canonical encodings (stray low bits in the last character): the text must round-trip.
  return buf.toString('base64url') === text ? buf : null;
}

/** A PEM block as Go's pem.Encode writes it: 64-character lines, trailing newline. */
export function encodePem(type: string, der: Buffer): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${type}-----\n${lines.join('\n')}\n-----END ${type}-----\n`;
}

/**
 * The DER of each CERTIFICATE block whose body is strict base64 (headers or other text in a block
 * make it no certificate; blocks of other types and text outside blocks are skipped: callers that
 * must refuse them look at scanPem themselves).
 */
export function pemCertificates(text: string): Buffer[] {
  const out: Buffer[] = [];
  for (const block of scanPem(text)) {
    const der = block.type === 'CERTIFICATE' && block.body !== null ? decodeBase64Strict(block.body, true) : null;
    if (der !== null && der.length > 0) out.push(der);
  }
  return out;
}
