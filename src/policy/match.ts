/**
 * Which rule applies to a request. Image patterns are matched against the normalized reference
 * `registry/repository` (plus tag and digest when the pattern names them):
 *
 * - `*` matches within one path segment, `**` across segments: `registry.example.com/approved/**`
 *   matches every repository under `approved/`, `…/acmecorp/payments-*` only direct children.
 * - Docker Hub is spelled `docker.io`, `index.docker.io` or `registry-1.docker.io` interchangeably,
 *   and a one-segment Docker Hub path means an official image (`docker.io/nginx` =
 *   `docker.io/library/nginx`), exactly as `docker pull` reads it; the reference parser in
 *   src/registry/reference.ts normalizes Hub images to `index.docker.io/library/…`.
 * - `:tag` (glob allowed) only matches requests made by that tag; `@sha256:…` pins one digest and
 *   matches only the image that resolved to it.
 * - Every pattern must start with a registry host (or a wildcard): `nginx` alone would silently
 *   mean Docker Hub, which is rarely what a policy author had in mind.
 *
 * Rules are tried in document order and the first whose `match` holds wins, so specific rules go
 * first and catch-alls (`**`) last. A rule without `match` matches everything.
 */
import type { Action, ImageFacts } from '../verification/types';
import type { MatchSpec, Policy, PolicyException, Rule } from './types';

const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
const DIGEST_RE = /^(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;
const HOST_RE = /^[a-z0-9*](?:[a-z0-9.*-]*[a-z0-9*])?(?::(?:[0-9]{1,5}|\*))?$/;
const PATH_SEGMENT_RE = /^[a-z0-9._*-]+$/;
const TAG_RE = /^[\w.*-]{1,128}$/;

export interface ImagePattern {
  source: string;
  /** Matches `host/repository` of the canonical image name. */
  name: RegExp;
  tag?: RegExp;
  digest?: string;
}

/** One request's facts that rules match on. */
export interface MatchTarget {
  image: ImageFacts;
  action: Action;
  namespace?: string;
}

/** Docker Hub's aliases collapse to `docker.io`; hosts are case-insensitive. */
export function canonicalHost(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? 'docker.io' : lower;
}

/** `docker.io/library/nginx`, `registry.example.com/acmecorp/payments-api`: what patterns match. */
export function canonicalImageName(image: Pick<ImageFacts, 'registry' | 'repository'>): string {
  return `${canonicalHost(image.registry)}/${image.repository}`;
}

/**
 * Parses a pattern, or says precisely what is wrong with it (the loader reports that with the
 * line number). Never throws.
 */
export function parseImagePattern(pattern: string): { pattern: ImagePattern } | { error: string } {
  if (pattern === '') return { error: 'is empty' };
  if (/\s/.test(pattern)) return { error: `"${pattern}" contains whitespace` };
  if (pattern === '**') return { pattern: { source: pattern, name: /^.*$/s } };

  let rest = pattern;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) {
      return { error: `"${pattern}": "${digest}" is not a digest (sha256:<64 lowercase hex> or sha512:<128 lowercase hex>)` };
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) return { error: `"${pattern}": tag "${tag}" is not valid (letters, digits, '_', '.', '-', '*')` };
  }
  const slash = rest.indexOf('/');
  if (slash === -1) {
    return {
      error:
        `"${pattern}" has no registry host; write the full name, e.g. "docker.io/${rest}" or ` +
        `"registry.example.com/${rest}/**"`,
    };
  }
  const rawHost = rest.slice(0, slash);
  const host = canonicalHost(rawHost);
  const hasWildcard = host.includes('*');
  if (!hasWildcard && !host.includes('.') && !host.includes(':') && host !== 'localhost') {
    return {
      error: `"${pattern}" does not start with a registry host ("${rawHost}" is not one); write e.g. "docker.io/${rest}"`,
    };
  }
  if (!HOST_RE.test(host)) return { error: `"${pattern}": "${rawHost}" is not a valid registry host[:port]` };
  let segments = rest.slice(slash + 1).split('/');
  for (const segment of segments) {
    if (segment === '') return { error: `"${pattern}" has an empty path segment` };
    if (!PATH_SEGMENT_RE.test(segment)) {
      return { error: `"${pattern}": path segment "${segment}" may only hold lowercase letters, digits, '.', '_', '-' and '*'` };
    }
    if (/\*\*\*/.test(segment)) return { error: `"${pattern}": "***" is not a wildcard; use * or **` };
  }
  // docker.io/nginx is docker.io/library/nginx, as for `docker pull nginx`.
  if (host === 'docker.io' && segments.length === 1 && !segments[0]!.includes('**')) segments = ['library', ...segments];

  return {
    pattern: {
      source: pattern,
      name: new RegExp(`^${globToRegex(host)}/${globToRegex(segments.join('/'))}$`, 's'),
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
 * Compiled patterns, keyed by their text. Patterns were validated when the policy loaded, so a
 * failure here is a bug; it is treated as "does not match" rather than crashing the request path.
 * Bounded: a long-running process reloading many policies must not grow without limit.
 */
const compiled = new Map<string, ImagePattern | null>();
const MAX_COMPILED = 4096;

function compile(pattern: string): ImagePattern | null {
  let entry = compiled.get(pattern);
  if (entry === undefined) {
    const parsed = parseImagePattern(pattern);
    entry = 'pattern' in parsed ? parsed.pattern : null;
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    compiled.set(pattern, entry);
  }
  return entry;
}

export function matchesImage(pattern: string, image: ImageFacts): boolean {
  const p = compile(pattern);
  if (p === null) return false;
  if (!p.name.test(canonicalImageName(image))) return false;
  if (p.tag !== undefined && (image.tag === undefined || !p.tag.test(image.tag))) return false;
  if (p.digest !== undefined && image.digest !== p.digest) return false;
  return true;
}

/** Compiled simple globs; SBOM checks run them over every package, so they are compiled once. */
const globs = new Map<string, RegExp>();

/** Simple globs (namespaces, package names, licenses): `*` matches any run of characters. */
export function matchesGlob(glob: string, value: string, caseInsensitive = false): boolean {
  const key = `${caseInsensitive ? 'i' : 's'}:${glob}`;
  let re = globs.get(key);
  if (re === undefined) {
    re = new RegExp(`^${glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&')).join('.*')}$`, caseInsensitive ? 'is' : 's');
    if (globs.size >= MAX_COMPILED) globs.clear();
    globs.set(key, re);
  }
  return re.test(value);
}

/**
 * Every list given must match. A `namespaces` list never matches a request without a namespace
 * (a registry push or pull through the gate): such a rule is about workloads in namespaces.
 */
export function matchesSpec(spec: MatchSpec | undefined, target: MatchTarget): boolean {
  if (spec === undefined) return true;
  if (spec.actions !== undefined && !spec.actions.includes(target.action)) return false;
  if (spec.namespaces !== undefined) {
    const ns = target.namespace;
    if (ns === undefined || ns === '' || !spec.namespaces.some((g) => matchesGlob(g, ns))) return false;
  }
  if (spec.images !== undefined && !spec.images.some((p) => matchesImage(p, target.image))) return false;
  return true;
}

/** The first rule (in document order) whose match holds, or undefined. */
export function findRule(policy: Pick<Policy, 'rules'>, target: MatchTarget): Rule | undefined {
  return policy.rules.find((rule) => matchesSpec(rule.match, target));
}

/** Top-level exceptions that match, with their index in the document; expired ones included. */
export function matchingExceptions(policy: Pick<Policy, 'exceptions'>, target: MatchTarget): Array<{ index: number; exception: PolicyException }> {
  const out: Array<{ index: number; exception: PolicyException }> = [];
  policy.exceptions.forEach((exception, index) => {
    if (matchesSpec(exception, target)) out.push({ index, exception });
  });
  return out;
}
