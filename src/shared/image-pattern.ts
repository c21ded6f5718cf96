/**
 * Image and repository patterns: one syntax and one meaning wherever Countersign names
 * repositories by pattern — policy `match.images` and exceptions (src/policy/match.ts), key
 * scopes (src/trust/usability.ts, src/keys/scope.ts), token scopes and mTLS binding scopes
 * (src/auth/policy.ts). A pattern that grants a signer team A's repositories must cover exactly
 * the repositories the same text covers in a policy, or the two drift apart unnoticed.
 *
 * A pattern is matched against the canonical name `host/path` of a repository:
 *
 * - `*` matches any characters except `/` (within one path segment), `**` any characters
 *   including `/` (across segments): `reg.example.com/approved/**` covers every repository under
 *   `approved/` (not `approved` itself), `…/acmecorp/payments-*` only direct children.
 * - The host is case-insensitive; its port is part of it (`localhost:5000` is not
 *   `localhost:5001`), except the default HTTPS port: `host:443` is `host`, and `host:*` covers
 *   both. Docker Hub is spelled `docker.io`, `index.docker.io`, `registry-1.docker.io` or
 *   `registry.hub.docker.com` interchangeably, and a one-segment Docker Hub path means an official
 *   image (`docker.io/nginx` = `docker.io/library/nginx`), as `docker pull` reads it. Both the
 *   pattern and the repository are normalized this way, so every spelling means the same image.
 * - The first segment is the registry host when it contains `.` or `:`, is `localhost`, is a
 *   bracketed IPv6 address, or holds a wildcard (`*.example.com/app`, `**`); Docker's rule plus
 *   wildcards. A pattern whose first segment is none of these has no host: policies refuse it
 *   (`nginx` alone would silently mean Docker Hub), scopes read it as "this path on any
 *   registry" (`acmecorp/payments-*` covers `acmecorp/payments-api` on every registry).
 * - Policies may add `:tag` (glob) and `@sha256:…`; a scope names repositories only, so a tag or
 *   digest in a scope is refused.
 * - A repository that is not a well-formed name (`..`, an empty segment, a trailing `/`, `%2f`,
 *   capitals in the path) matches nothing: an answer is only ever "yes" for a real repository.
 *
 * The matcher is hand-written rather than picomatch: picomatch's `a/**` also matches `a` itself
 * (which would widen every `…/**` scope by one repository), it brings syntax that has no place in a
 * repository name (`?`, `[…]`, `{a,b}`, extglobs, `!` negation) that we would have to refuse
 * anyway, and neither it nor any glob library knows the registry-host and Docker Hub rules,
 * which are most of what this module is about. With only `*` and `**` left, the glob itself is
 * one small function.
 */

/** Docker Hub's spellings (the hosts that serve its registry API); all mean the host `docker.io` here. */
export const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
]);

/** Scopes are stored and shown; anything longer than this is a mistake. */
export const MAX_SCOPE_LENGTH = 512;

const DIGEST_RE = /^(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;
/** A registry host[:port] pattern: DNS-ish labels or a bracketed IPv6 address; `*` allowed. */
const HOST_RE = /^(?:[a-z0-9*](?:[a-z0-9.*-]*[a-z0-9*])?|\[[0-9a-f:]+\])(?::(?:[0-9]{1,5}|\*))?$/;
const PATH_SEGMENT_RE = /^[a-z0-9._*-]+$/;
const TAG_RE = /^[\w.*-]{1,128}$/;

/** A real registry host[:port], as src/registry/reference.ts accepts it (lowercased). */
const NAME_HOST_RE =
  /^(?:(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])(?:\.(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9]))*|\[[a-f0-9:]+\])(?::[0-9]{1,5})?$/;
/** A real repository path component (distribution/reference): lowercase alphanumerics joined by `.`, `_`, `__` or `-`s. */
const NAME_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** Which consumer's rules a pattern follows (see the module comment). */
export type PatternSyntax = 'policy' | 'scope';

export interface ImagePattern {
  source: string;
  /** Matches the canonical name `host/path` (see `canonicalName`). */
  name: RegExp;
  tag?: RegExp;
  digest?: string;
}

/**
 * One spelling per registry: hosts are case-insensitive, the default HTTPS port is dropped
 * (`registry.example.com:443` is the registry `registry.example.com`: a runtime pulls the same
 * image from it, so a rule for one spelling must hold for the other), and Docker Hub's aliases
 * collapse to `docker.io`.
 */
export function canonicalHost(host: string): string {
  const lower = host.toLowerCase();
  // The port as the number a runtime reads (Go's URL parsing: `:0443` is 443), not as written.
  const port = /^(.*):(\d+)$/.exec(lower);
  const number = port ? Number(port[2]) : undefined;
  const bare = port && number !== undefined ? (number === 443 ? port[1]! : `${port[1]!}:${number}`) : lower;
  return DOCKER_HUB_ALIASES.has(bare) ? 'docker.io' : bare;
}

/**
 * `docker.io/library/nginx`, `registry.example.com/acmecorp/payments-api`: what patterns match.
 * Undefined when `registry`/`repository` is not a well-formed repository name, which then
 * matches no pattern at all.
 */
export function canonicalName(registry: string, repository: string): string | undefined {
  const host = canonicalHost(registry);
  if (!NAME_HOST_RE.test(host)) return undefined;
  const segments = repository.split('/');
  if (!segments.every((s) => NAME_COMPONENT_RE.test(s))) return undefined;
  // docker.io/nginx is docker.io/library/nginx, as for `docker pull nginx`.
  if (host === 'docker.io' && segments.length === 1) segments.unshift('library');
  return `${host}/${segments.join('/')}`;
}

/**
 * Parses a pattern, or says precisely what is wrong with it (the policy loader reports that with
 * the line number; scope validation with the key, token or binding). Never throws.
 */
export function parseImagePattern(pattern: string, syntax: PatternSyntax): { pattern: ImagePattern } | { error: string } {
  if (pattern === '') return { error: 'is empty' };
  if (/\s/.test(pattern)) return { error: `"${pattern}" contains whitespace` };
  if (pattern === '**') return { pattern: { source: pattern, name: /^.*$/s } };

  let rest = pattern;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    if (syntax === 'scope') return { error: `"${pattern}" names a digest; a scope names repositories (leave out "@…")` };
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) {
      return { error: `"${pattern}": "${digest}" is not a digest (sha256:<64 lowercase hex> or sha512:<128 lowercase hex>)` };
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/') && !(rest.startsWith('[') && colon < rest.indexOf(']'))) {
    if (syntax === 'scope')
      return { error: `"${pattern}" names a tag; a scope names repositories (leave out ":${rest.slice(colon + 1)}")` };
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) return { error: `"${pattern}": tag "${tag}" is not valid (letters, digits, '_', '.', '-', '*')` };
  }
  const slash = rest.indexOf('/');
  const rawHost = slash === -1 ? '' : rest.slice(0, slash);
  const host = canonicalHost(rawHost);
  const hasHost =
    slash !== -1 && (host.includes('*') || host.includes('.') || host.includes(':') || host === 'localhost' || host.startsWith('['));
  if (!hasHost && syntax === 'policy') {
    if (slash === -1) {
      return {
        error: `"${pattern}" has no registry host; write the full name, e.g. "docker.io/${rest}" or ` + `"registry.example.com/${rest}/**"`,
      };
    }
    return {
      error: `"${pattern}" does not start with a registry host ("${rawHost}" is not one); write e.g. "docker.io/${rest}"`,
    };
  }
  if (hasHost && !HOST_RE.test(host)) return { error: `"${pattern}": "${rawHost}" is not a valid registry host[:port]` };
  let segments = (hasHost ? rest.slice(slash + 1) : rest).split('/');
  for (const segment of segments) {
    if (segment === '') return { error: `"${pattern}" has an empty path segment` };
    if (!PATH_SEGMENT_RE.test(segment)) {
      return { error: `"${pattern}": path segment "${segment}" may only hold lowercase letters, digits, '.', '_', '-' and '*'` };
    }
    if (/\*\*\*/.test(segment)) return { error: `"${pattern}": "***" is not a wildcard; use * or **` };
    // With every wildcard standing for one letter the segment must be a real path component;
    // otherwise (`..`, `.hidden`, `app-`) no repository could ever match it.
    if (!NAME_COMPONENT_RE.test(segment.replace(/\*+/g, 'a'))) {
      return {
        error: `"${pattern}": path segment "${segment}" can never match a repository (path components are lowercase letters and digits separated by '.', '_', '__' or '-')`,
      };
    }
  }
  // docker.io/nginx is docker.io/library/nginx, as for `docker pull nginx`.
  if (host === 'docker.io' && segments.length === 1 && !segments[0]!.includes('**')) segments = ['library', ...segments];

  // No host: any one registry host (a `*` here would also match the first path segment).
  // `host:*` is any port, the default one included (which names spell without a port).
  // In a host, `*` and `**` alike stand for characters other than `/` (a host has no path): a
  // `**.example.com` that crossed `/` matched evil.com/x.example.com/… as well.
  const hostGlob = (glob: string): string => globToRegex(glob.replace(/\*\*/g, '*'));
  const hostRegex = !hasHost ? '[^/]+' : host.endsWith(':*') ? `${hostGlob(host.slice(0, -2))}(?::[^/]*)?` : hostGlob(host);
  return {
    pattern: {
      source: pattern,
      name: new RegExp(`^${hostRegex}/${globToRegex(segments.join('/'))}$`, 's'),
      ...(tag !== undefined ? { tag: new RegExp(`^${globToRegex(tag)}$`) } : {}),
      ...(digest !== undefined ? { digest } : {}),
    },
  };
}

/** `**` → any characters; `*` → any characters except `/`; everything else literal. */
function globToRegex(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        out += '.*';
        i++;
      } else {
        out += '[^/]*';
      }
    } else {
      out += c.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&');
    }
  }
  return out;
}

/**
 * Compiled patterns, keyed by syntax and text. Patterns are validated where they are configured,
 * so a failure here means "matches nothing" (a stored scope from an older version that no longer
 * parses grants nothing rather than something unintended). Bounded: a long-running process
 * reloading many policies must not grow without limit.
 */
const compiled = new Map<string, ImagePattern | null>();
const MAX_COMPILED = 4096;

export function compileImagePattern(pattern: string, syntax: PatternSyntax): ImagePattern | null {
  const key = `${syntax}\u0000${pattern}`;
  let entry = compiled.get(key);
  if (entry === undefined) {
    const parsed = parseImagePattern(pattern, syntax);
    entry = 'pattern' in parsed ? parsed.pattern : null;
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    compiled.set(key, entry);
  }
  return entry;
}

/** Whether a compiled pattern covers an image (tag and digest only matter if the pattern names them). */
export function patternMatches(
  p: ImagePattern,
  image: { registry: string; repository: string; tag?: string | undefined; digest?: string | undefined },
): boolean {
  const name = canonicalName(image.registry, image.repository);
  if (name === undefined || !p.name.test(name)) return false;
  if (p.tag !== undefined && (image.tag === undefined || !p.tag.test(image.tag))) return false;
  if (p.digest !== undefined && image.digest !== p.digest) return false;
  return true;
}

/**
 * Whether a key, token or mTLS binding scope covers `repository` (`registry/path`, as
 * `${ref.registry}/${ref.repository}` of a parsed reference).
 */
export function scopeMatches(scope: string, repository: string): boolean {
  const p = compileImagePattern(scope, 'scope');
  if (p === null) return false;
  const slash = repository.indexOf('/');
  if (slash <= 0) return false;
  return patternMatches(p, { registry: repository.slice(0, slash), repository: repository.slice(slash + 1) });
}

/**
 * What is wrong with a scope given for a key, token or mTLS binding, or undefined when it is a
 * valid one (the message reads after "<what>: ", e.g. "token ci-team-a: scope … must be lowercase").
 */
export function scopeProblem(scope: unknown): string | undefined {
  if (typeof scope !== 'string' || scope.length === 0 || scope.length > MAX_SCOPE_LENGTH) {
    return `each scope must be a non-empty repository pattern of at most ${MAX_SCOPE_LENGTH} characters`;
  }
  const parsed = parseImagePattern(scope, 'scope');
  if ('error' in parsed) {
    // Hosts are case-insensitive, repository paths lowercase by definition: say so plainly.
    if ('pattern' in parseImagePattern(scope.toLowerCase(), 'scope'))
      return `scope ${JSON.stringify(scope)} must be lowercase (image references are)`;
    return (
      `scope ${JSON.stringify(scope)} is not a repository pattern: ${parsed.error}; expected [registry/]path with * (one path segment) ` +
      `or ** (any depth), e.g. "registry.example.com/acmecorp/payments-*" (or "acmecorp/payments-*" on any registry)`
    );
  }
  return undefined;
}
