/**
 * Small, strict PEM and base64 helpers shared by the key-format code. None of them ever puts the
 * input text into an error message: the input may be key material.
 */

export interface PemBlock {
  /** The label between BEGIN and the dashes, e.g. "PUBLIC KEY". */
  type: string;
  /** The text between the BEGIN and END lines (headers, if any, included). */
  body: string;
}

const BEGIN = /-----BEGIN ([A-Z0-9][A-Z0-9 ]*[A-Z0-9])-----/g;

/**
 * Finds the PEM blocks in `text`. A BEGIN line without its END line is reported as a block with
 * `body: null` so callers can say "truncated" rather than "not found".
 */
export function findPemBlocks(text: string): Array<{ type: string; body: string | null }> {
  const blocks: Array<{ type: string; body: string | null }> = [];
  BEGIN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = BEGIN.exec(text)) !== null) {
    const type = m[1]!;
    const start = m.index + m[0].length;
    const endMarker = `-----END ${type}-----`;
    const end = text.indexOf(endMarker, start);
    if (end < 0) {
      blocks.push({ type, body: null });
      break;
    }
    blocks.push({ type, body: text.slice(start, end) });
    BEGIN.lastIndex = end + endMarker.length;
  }
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
