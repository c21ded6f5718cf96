/**
 * Text a pusher wrote, quoted in a reason a user reads (an error, a deny, a log line). It is
 * bounded, so a megabyte field cannot fill an answer, and every control, bidi or invisible
 * character is escaped, so it can neither break a line nor disguise itself as other text.
 */

const DEFAULT_MAX_CHARS = 80;
// Besides C0 controls: C1 controls, zero-width and direction marks, line/paragraph separators,
// bidi embeddings and isolates, BOM, and surrogates (a lone one is not text; a pair is shown
// escaped, still visible).
const UNSAFE_BEYOND_C0 = '\\u007f-\\u009f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2069\\ud800-\\udfff\\ufeff';
/** Every character escaped in a quotation. */
const UNSAFE = new RegExp(`[\\u0000-\\u001f${UNSAFE_BEYOND_C0}]`, 'g');
/** The same but for newline and tab: what a whole block of output may keep. */
const UNSAFE_IN_BLOCK = new RegExp(`[\\u0000-\\u0008\\u000b-\\u001f${UNSAFE_BEYOND_C0}]`, 'g');

/** `c` as the \uXXXX escape it is shown as. */
function escaped(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * Where to cut `text` to keep at most `maxChars` code units without halving a surrogate pair (a
 * lone surrogate is not text): `maxChars`, or one less when a pair would straddle the cut.
 */
export function cutAtCodePoint(text: string, maxChars: number): number {
  return maxChars > 0 && maxChars < text.length && /[\ud800-\udbff]/.test(text[maxChars - 1]!) ? maxChars - 1 : maxChars;
}

/** `value` as a short, single-line, visible quotation: strings in quotes, other JSON values named by kind. */
export function quoteUntrusted(value: unknown, maxChars = DEFAULT_MAX_CHARS): string {
  if (typeof value === 'string') {
    const cut = value.length > maxChars ? `${value.slice(0, cutAtCodePoint(value, maxChars))}…` : value;
    return `"${cut.replace(/["\\]/g, (c) => `\\${c}`).replace(UNSAFE, escaped)}"`;
  }
  if (value === undefined) return '(absent)';
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value).slice(0, maxChars);
  return Array.isArray(value) ? '(an array)' : typeof value === 'object' ? '(an object)' : `(a ${typeof value})`;
}

/**
 * `value` when it may be shown as it is (a short string, nothing unsafe in it), else undefined:
 * for fields of unverified evidence that are reported as values rather than quoted in a sentence.
 */
export function plainUntrusted(value: unknown, maxChars = 256): string | undefined {
  // search() ignores the global flag's lastIndex: no state shared with quoteUntrusted's replace().
  return typeof value === 'string' && value.length <= maxChars && value.search(UNSAFE) < 0 ? value : undefined;
}

/**
 * Stored text someone else wrote (an audit record's actor, target or reason; a key's owner team),
 * for one line of terminal output: as it is when that is safe, else quoted and escaped, so that
 * no newline or escape sequence in it can forge another line of the listing. Nor can blank
 * padding: a run of spaces (or one at either end) would let a field, wrapped by a terminal, start
 * a visual row that reads like an entry of its own, so such text is quoted and every blank (any
 * Unicode space) after the first of a run is escaped.
 */
export function displayUntrusted(value: string, maxChars = 256): string {
  const padded = /\s{2}|^\s|\s$/.test(value);
  if (!padded) return plainUntrusted(value, maxChars) ?? quoteUntrusted(value, maxChars);
  return quoteUntrusted(value, maxChars).replace(/(?<=\s)\s/g, escaped);
}

/**
 * Text bound for a terminal, lines and all, with every other unsafe character escaped as \uXXXX:
 * the last line of defence for whatever a program prints, where the fields someone else wrote
 * are already quoted one by one. Inside JSON text the escape is the same character, still valid.
 */
export function escapeForTerminal(text: string): string {
  return text.replace(UNSAFE_IN_BLOCK, escaped);
}
