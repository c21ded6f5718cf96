/**
 * How a registry's answers become CountersignErrors: an unexpected HTTP status (with the OCI error
 * body's own explanation attached) and bytes that do not hash to their digest. Every error names
 * the registry and repository and says what to do, so the gRPC status a caller sees is actionable.
 */
import { CountersignError } from '../shared/errors';
import { credentialsHint, type Access } from './auth';
import { computeDigest, splitDigest } from './digest';
import { displayUrl, errorText, type HttpRequest, type HttpResponse } from './http';
import type { RepositoryRef } from './types';

/** Maps an unexpected status to a CountersignError with the registry's own explanation attached. */
export async function registryStatusError(
  res: HttpResponse,
  repo: RepositoryRef,
  req: HttpRequest,
  access: Access,
  what: string,
): Promise<CountersignError> {
  const text = await errorText(res);
  const reason = text ? `: ${text}` : '';
  const details = { registry: repo.registry, repository: repo.repository, status: res.status };
  const at = `${req.method} ${displayUrl(req.url)}`;
  switch (true) {
    case res.status === 404:
      return new CountersignError('NOT_FOUND', `${what} not found in registry ${repo.registry}${reason}`, { details });
    case res.status === 401 || res.status === 403:
      return new CountersignError(
        'PERMISSION_DENIED',
        `registry ${repo.registry} denied ${access} access to repository ${repo.repository}${reason}; check that the account whose credentials the service has for ${repo.registry} may ${access} it (${credentialsHint(repo.registry)})`,
        { details: { ...details, access } },
      );
    case res.status === 412:
      return new CountersignError(
        'FAILED_PRECONDITION',
        `registry ${repo.registry} rejected a conditional request for ${what} (412)${reason}`,
        { details },
      );
    case res.status === 413:
      return new CountersignError('RESOURCE_EXHAUSTED', `registry ${repo.registry} rejected ${what} as too large (413)${reason}`, {
        details,
      });
    case res.status === 429:
      return new CountersignError(
        'UNAVAILABLE',
        `registry ${repo.registry} is rate limiting us (429) for ${what}${reason}; try again later`,
        { details },
      );
    case res.status >= 500:
      return new CountersignError(
        'UNAVAILABLE',
        `registry ${repo.registry} failed with ${res.status} for ${what} (${at})${reason}; try again later`,
        { details },
      );
    case res.status === 405:
      return new CountersignError('FAILED_PRECONDITION', `registry ${repo.registry} does not allow ${at} (405)${reason}`, { details });
    case res.status === 400 && /BLOB_UNKNOWN/.test(text):
      return new CountersignError(
        'FAILED_PRECONDITION',
        `registry ${repo.registry} rejected ${what}: it references blobs the repository does not have${reason}`,
        { details },
      );
    case res.status >= 400 && res.status < 500:
      return new CountersignError('INVALID_ARGUMENT', `registry ${repo.registry} rejected ${what} with ${res.status}${reason}`, {
        details,
      });
    default:
      return new CountersignError('INTERNAL', `registry ${repo.registry} answered ${at} with unexpected status ${res.status}${reason}`, {
        details,
      });
  }
}

/** Bytes a registry served that do not hash to the digest they were asked for (or claimed). */
export function digestMismatchError(repo: RepositoryRef, what: string, expected: string, bytes: Buffer): CountersignError {
  const algorithm = splitDigest(expected)?.algorithm ?? 'sha256';
  return new CountersignError(
    'DATA_LOSS',
    `${what} from registry ${repo.registry} does not match its digest: expected ${expected}, got ${computeDigest(bytes, algorithm)}`,
    {
      details: { registry: repo.registry, repository: repo.repository, expected },
    },
  );
}
