/**
 * The OCI Distribution routes the gate knows, parsed from the RAW request target (before any
 * normalization): a path that a proxy and the registry could read differently (`..`, `.`, `//`,
 * percent-encoded bytes such as `%2F`, backslashes) is refused rather than guessed at, so the
 * repository and reference the gate decides about are exactly the ones the upstream serves.
 * Anything that is not one of these routes is refused (404), never forwarded.
 */

/** distribution-spec repository name grammar (path components separated by `/`). */
const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = `${NAME_COMPONENT}(?:/${NAME_COMPONENT})*`;
const TAG = '[A-Za-z0-9_][A-Za-z0-9._-]{0,127}';
const DIGEST = '[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+';
const UUID = '[A-Za-z0-9._=-]{1,256}';

const RE = {
  manifest: new RegExp(`^/v2/(${NAME})/manifests/(${TAG}|${DIGEST})$`),
  blob: new RegExp(`^/v2/(${NAME})/blobs/(${DIGEST})$`),
  uploadStart: new RegExp(`^/v2/(${NAME})/blobs/uploads/?$`),
  upload: new RegExp(`^/v2/(${NAME})/blobs/uploads/(${UUID})$`),
  tags: new RegExp(`^/v2/(${NAME})/tags/list$`),
  referrers: new RegExp(`^/v2/(${NAME})/referrers/(${DIGEST})$`),
};

export type Route =
  | { kind: 'ping' }
  | { kind: 'manifest'; name: string; reference: string; byDigest: boolean }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'upload-start'; name: string }
  | { kind: 'upload'; name: string; session: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string };

export type RouteResult = { ok: true; route: Route; query: string } | { ok: false; status: 400 | 404 | 405; code: string; message: string };

/** Which methods each route accepts (everything else is a 405, not forwarded). */
const METHODS: Record<Route['kind'], readonly string[]> = {
  ping: ['GET', 'HEAD'],
  manifest: ['GET', 'HEAD', 'PUT', 'DELETE'],
  blob: ['GET', 'HEAD', 'DELETE'],
  'upload-start': ['POST'],
  upload: ['GET', 'PATCH', 'PUT', 'DELETE'],
  tags: ['GET'],
  referrers: ['GET'],
};

export const MAX_TARGET_CHARS = 8192;

export function parseRoute(method: string, rawTarget: string): RouteResult {
  if (rawTarget.length > MAX_TARGET_CHARS) return bad(400, 'request target too long');
  if (!rawTarget.startsWith('/')) return bad(400, 'request target must be an absolute path');
  const q = rawTarget.indexOf('?');
  const path = q < 0 ? rawTarget : rawTarget.slice(0, q);
  const query = q < 0 ? '' : rawTarget.slice(q + 1);
  // The path is matched as sent: no decoding, no dot-segment removal. OCI names, tags and digests
  // never need percent-encoding, so an encoded byte (%2F, %2E, ...) is an attempt to make two
  // parsers disagree.
  if (/[%\\]/.test(path) || /\/\.{1,2}(?:\/|$)/.test(path) || path.includes('//')) {
    return bad(400, 'path must not contain percent-encoding, backslashes, "." or ".." segments, or empty segments');
  }
  const route = match(path);
  if (!route) return bad(404, `unknown route ${path.slice(0, 200)}`);
  if (!METHODS[route.kind].includes(method))
    return { ok: false, status: 405, code: 'UNSUPPORTED', message: `${method} is not supported on ${path.slice(0, 200)}` };
  return { ok: true, route, query };
}

function match(path: string): Route | undefined {
  if (path === '/v2/' || path === '/v2') return { kind: 'ping' };
  let m: RegExpExecArray | null;
  // Order matters: "blobs/uploads" must not be read as a blob named "uploads" (it is not a digest
  // anyway), and names may themselves contain "manifests" or "blobs" as components.
  if ((m = RE.uploadStart.exec(path))) return { kind: 'upload-start', name: m[1]! };
  if ((m = RE.upload.exec(path))) return { kind: 'upload', name: m[1]!, session: m[2]! };
  if ((m = RE.manifest.exec(path))) return { kind: 'manifest', name: m[1]!, reference: m[2]!, byDigest: m[2]!.includes(':') };
  if ((m = RE.blob.exec(path))) return { kind: 'blob', name: m[1]!, digest: m[2]! };
  if ((m = RE.tags.exec(path))) return { kind: 'tags', name: m[1]! };
  if ((m = RE.referrers.exec(path))) return { kind: 'referrers', name: m[1]!, digest: m[2]! };
  return undefined;
}

function bad(status: 400 | 404, message: string): RouteResult {
  return { ok: false, status, code: status === 404 ? 'NAME_UNKNOWN' : 'UNSUPPORTED', message };
}
