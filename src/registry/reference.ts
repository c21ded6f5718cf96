/**
 * Image references as users type them (`ubuntu`, `ghcr.io/org/app:1.2`, `localhost:5000/x@sha256:…`),
 * normalized the way the Docker CLI does, so that a reference means the same image here as it does
 * for `docker pull`. Anything we cannot parse unambiguously is rejected rather than guessed at:
 * signing the wrong image is much worse than asking the caller to fix a typo.
 */
import { CountersignError } from '../shared/errors';
import { canonicalHost } from '../shared/image-pattern';
import { isDigest } from './digest';
import type { ImageReference } from './types';

/** Docker Hub's canonical name in references, and the host its API is actually served from. */
export const DOCKER_HUB = 'index.docker.io';
export const DOCKER_HUB_ENDPOINT = 'registry-1.docker.io';

const ACCEPTED_FORMS =
  'accepted forms: name, name:tag, name@sha256:<64 hex>, name:tag@sha256:<64 hex>, ' +
  'where name is [host[:port]/]path (e.g. ubuntu, ghcr.io/org/app:1.0, localhost:5000/team/app@sha256:…)';

/** Upper bound on the whole input, checked before any regex runs so hostile input stays cheap. */
const MAX_INPUT_LENGTH = 1024;
/** distribution/reference's limit on the repository path. */
const MAX_REPOSITORY_LENGTH = 255;

/** One path component: lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`. */
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
/** A DNS-ish host (labels of alphanumerics and inner dashes) or a bracketed IPv6 literal, optional port. */
const HOST_RE =
  /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::([0-9]{1,5}))?$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;

function invalid(input: string, problem: string): CountersignError {
  // The input is echoed (quoted, truncated) because it is the caller's own text, never a secret.
  const shown = input.length > 100 ? `${input.slice(0, 100)}…` : input;
  return new CountersignError('INVALID_ARGUMENT', `invalid image reference "${shown}": ${problem}; ${ACCEPTED_FORMS}`);
}

/**
 * Docker's rule for whether the first path component is a registry host: it must look like one
 * (contain `.` or `:`) or be `localhost`. Otherwise `team/app` would be ambiguous.
 */
function looksLikeHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

export function parseReference(input: string): ImageReference {
  // Typed as a string, but it is request input: checked as whatever it really is.
  const raw: unknown = input;
  if (typeof raw !== 'string') throw invalid('', raw === undefined || raw === null ? 'it is empty' : `it is a ${typeof raw}, not text`);
  if (raw.length === 0) throw invalid('', 'it is empty');
  if (input.length > MAX_INPUT_LENGTH) throw invalid(input, `it is longer than ${MAX_INPUT_LENGTH} characters`);
  if (/\s/.test(input)) throw invalid(input, 'it contains whitespace');

  // name[:tag][@digest] — the digest is split off first because it contains a ':' of its own.
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) {
      throw invalid(input, `"${digest}" is not a supported digest (sha256:<64 lowercase hex> or sha512:<128 lowercase hex>)`);
    }
  }

  // A ':' after the last '/' starts the tag; one before it belongs to a host:port.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) {
      throw invalid(
        input,
        `tag "${tag}" is not valid (letters, digits, '_', '.', '-'; must not start with '.' or '-'; at most 128 characters)`,
      );
    }
  }

  if (rest.length === 0) throw invalid(input, 'the repository name is missing');

  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash !== -1 && looksLikeHost(rest.slice(0, slash))) {
    const host = rest.slice(0, slash);
    const m = HOST_RE.exec(host);
    if (!m) throw invalid(input, `registry host "${host}" is not a valid host[:port]`);
    if (m[1] !== undefined && (Number(m[1]) < 1 || Number(m[1]) > 65535)) {
      throw invalid(input, `port ${m[1]} of registry host "${host}" is out of range`);
    }
    // Hosts are case-insensitive; one spelling keeps caches and credential lookups consistent.
    registry = host.toLowerCase();
    // Every spelling of Docker Hub (registry-1.docker.io, registry.hub.docker.com, :443) is one
    // registry, with its library/ rule below: what scopes and policies match (canonicalName), what
    // is written to and what is signed must be the same repository.
    if (canonicalHost(registry) === 'docker.io') registry = DOCKER_HUB;
    repository = rest.slice(slash + 1);
  }

  if (repository.length === 0) throw invalid(input, 'the repository name is missing');
  for (const component of repository.split('/')) {
    if (component.length === 0) throw invalid(input, 'the repository path has an empty component');
    if (/[A-Z]/.test(component)) throw invalid(input, `repository names must be lowercase ("${component}")`);
    if (!PATH_COMPONENT_RE.test(component)) {
      throw invalid(
        input,
        `repository component "${component}" is not valid (lowercase letters and digits separated by '.', '_', '__' or '-')`,
      );
    }
  }
  // Official images live under library/ on Docker Hub; `ubuntu` and `docker.io/ubuntu` are the same image.
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (repository.length > MAX_REPOSITORY_LENGTH) {
    throw invalid(input, `the repository name is longer than ${MAX_REPOSITORY_LENGTH} characters`);
  }

  const ref: ImageReference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = 'latest';
  return ref;
}

/** The fully qualified form, e.g. `index.docker.io/library/ubuntu:22.04@sha256:…`. */
export function formatReference(ref: ImageReference): string {
  let out = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/**
 * The referrers tag for a subject digest (distribution-spec "Referrers Tag Schema", main-branch
 * wording): algorithm truncated to 32 characters, '-', encoded part truncated to 64, then every
 * character a tag may not contain replaced by '-'. For sha256 this is `sha256-<64 hex>`.
 */
export function referrersTagFor(digest: string): string {
  const i = digest.indexOf(':');
  if (i <= 0 || i === digest.length - 1) {
    throw new CountersignError('INVALID_ARGUMENT', `"${digest}" is not a digest (expected <algorithm>:<encoded>, e.g. sha256:<64 hex>)`);
  }
  const tag = `${digest.slice(0, i).slice(0, 32)}-${digest.slice(i + 1).slice(0, 64)}`;
  return tag.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

/**
 * The host to open connections to. Docker Hub is named `index.docker.io` (or `docker.io`) in
 * references and credentials, but its registry API is served from `registry-1.docker.io`.
 */
export function registryEndpointHost(registry: string): string {
  const host = registry.toLowerCase();
  return host === DOCKER_HUB || host === 'docker.io' ? DOCKER_HUB_ENDPOINT : registry;
}
