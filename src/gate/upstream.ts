/**
 * The registry behind the gate, as configured (gate.upstream, --gate-upstream, `countersign gate
 * --upstream`): the one reading of it, for the configuration check at start-up and for the gate.
 */
import { CountersignError } from '../shared/errors';

/** `text` as the upstream's URL: http(s), without credentials. The text is never quoted: it may carry a password. */
export function parseGateUpstream(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      'gate.upstream is not a URL: expected http(s)://HOST[:PORT] of the registry behind the gate',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CountersignError('INVALID_ARGUMENT', `gate.upstream must be http:// or https://, not ${url.protocol}`);
  }
  // Clients' own credentials pass through the gate; credentials in the URL would be dropped (and
  // logged with it).
  if (url.username || url.password) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      "gate.upstream carries credentials (user:password@): the gate passes each client's own credentials to the registry and uses none of its own; remove them",
    );
  }
  return url;
}
