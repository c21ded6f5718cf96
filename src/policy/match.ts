/**
 * Which rule applies to a request. Image patterns are matched against the normalized reference
 * `registry/repository` (plus tag and digest when the pattern names them) by the one matcher that
 * key, token and mTLS scopes use too (src/shared/image-pattern.ts, which defines the syntax):
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
import {
  canonicalHost,
  compileImagePattern,
  parseImagePattern as parsePattern,
  patternMatches,
  type ImagePattern,
} from '../shared/image-pattern';
import type { Action, ImageFacts } from './input';
import type { MatchSpec, Policy, PolicyException, Rule } from './types';

export { canonicalHost, type ImagePattern };

/** One request's facts that rules match on. */
export interface MatchTarget {
  image: ImageFacts;
  action: Action;
  namespace?: string;
}

/** `docker.io/library/nginx`, `registry.example.com/acmecorp/payments-api`: how decisions name an image. */
export function canonicalImageName(image: Pick<ImageFacts, 'registry' | 'repository'>): string {
  return `${canonicalHost(image.registry)}/${image.repository}`;
}

/**
 * Parses a policy image pattern, or says precisely what is wrong with it (the loader reports
 * that with the line number). Never throws.
 */
export function parseImagePattern(pattern: string): { pattern: ImagePattern } | { error: string } {
  return parsePattern(pattern, 'policy');
}

/**
 * Patterns were validated when the policy loaded, so one that does not compile is a bug; it is
 * treated as "does not match" rather than crashing the request path.
 */
export function matchesImage(pattern: string, image: ImageFacts): boolean {
  const p = compileImagePattern(pattern, 'policy');
  return p !== null && patternMatches(p, image);
}

const MAX_COMPILED = 4096;

/** Compiled simple globs; SBOM checks run them over every package, so they are compiled once. */
const globs = new Map<string, RegExp>();

/** Simple globs (namespaces, package names, licenses): `*` matches any run of characters. */
export function matchesGlob(glob: string, value: string, caseInsensitive = false): boolean {
  const key = `${caseInsensitive ? 'i' : 's'}:${glob}`;
  let re = globs.get(key);
  if (re === undefined) {
    re = new RegExp(
      `^${glob
        .split('*')
        .map((part) => part.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&'))
        .join('.*')}$`,
      caseInsensitive ? 'is' : 's',
    );
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
export function matchingExceptions(
  policy: Pick<Policy, 'exceptions'>,
  target: MatchTarget,
): Array<{ index: number; exception: PolicyException }> {
  const out: Array<{ index: number; exception: PolicyException }> = [];
  policy.exceptions.forEach((exception, index) => {
    if (matchesSpec(exception, target)) out.push({ index, exception });
  });
  return out;
}
