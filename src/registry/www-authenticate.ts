/**
 * Parser for `WWW-Authenticate` (RFC 7235 §4.1, RFC 6750 §3). Registries put commas inside quoted
 * values (`scope="repository:a:pull,push"`) and may send several challenges in one header, so a
 * naive split on ',' gets realm/service/scope wrong; this is a small tokenizer instead.
 */

export interface AuthChallenge {
  /** Lowercased scheme, e.g. `bearer`, `basic`. */
  scheme: string;
  /** Parameters with lowercased names; quoted values unescaped. */
  params: Record<string, string>;
  /** The token68 form (`Scheme abc==`), rare for registries; kept for completeness. */
  token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;

export function parseWwwAuthenticate(header: string | string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  // Several header lines are equivalent to one comma-joined line (RFC 9110 §5.3).
  const text = Array.isArray(header) ? header.join(', ') : header;
  const out: AuthChallenge[] = [];
  let i = 0;
  const n = text.length;

  const skipWs = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TCHAR.test(text[i]!)) i++;
    return text.slice(start, i);
  };
  const readQuoted = (): string => {
    // Caller has checked text[i] === '"'.
    i++;
    let value = '';
    while (i < n && text[i] !== '"') {
      if (text[i] === '\\' && i + 1 < n) i++;
      value += text.charAt(i);
      i++;
    }
    i++; // closing quote (or end of input for a truncated header)
    return value;
  };
  /** True when the text at i is `token BWS "="` but not a token68 ending in '='. */
  const atParam = (): boolean => {
    const save = i;
    const name = readToken();
    skipWs();
    const isParam = name.length > 0 && text[i] === '=' && text[i + 1] !== '=';
    i = save;
    return isParam;
  };

  while (i < n) {
    while (i < n && (text[i] === ',' || text[i] === ' ' || text[i] === '\t')) i++;
    if (i >= n) break;
    const scheme = readToken();
    if (scheme.length === 0) {
      i++; // junk character: skip it rather than loop forever
      continue;
    }
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    skipWs();
    if (i < n && text[i] !== ',' && !atParam()) {
      // token68
      const start = i;
      while (i < n && TOKEN68_CHAR.test(text[i]!)) i++;
      while (i < n && text[i] === '=') i++;
      if (i > start) challenge.token68 = text.slice(start, i);
      continue;
    }
    // auth-params, until a token that is not followed by '=' (the next challenge's scheme).
    for (;;) {
      while (i < n && (text[i] === ',' || text[i] === ' ' || text[i] === '\t')) i++;
      if (i >= n || !atParam()) break;
      const name = readToken().toLowerCase();
      skipWs();
      i++; // '='
      skipWs();
      const value = text[i] === '"' ? readQuoted() : readToken();
      challenge.params[name] = value;
    }
  }
  return out;
}
