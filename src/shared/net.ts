import { isIP } from 'node:net';
import { CountersignError } from './errors';

/** A listen address: `host` without brackets; '' means every interface. */
export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * The one parser of listen addresses (the gRPC port, the admission webhook, the registry gate,
 * the metrics port). `HOST:PORT` with:
 * - an IPv6 host in brackets, `[::1]:8443`, returned without them; a bare IPv6 address with a
 *   port (`::1:8443`) is ambiguous and refused;
 * - an empty host, `:8443`, meaning every interface (Go's and Node's convention);
 * - a port from 0 (pick a free one) to 65535; a port is required;
 * - surrounding whitespace ignored; whitespace, `/`, `[` or `]` inside the host refused.
 * `what` names the setting in the error ("admission listen address").
 */
export function parseListenAddress(listen: string, what = 'listen address'): ListenAddress {
  const text = listen.trim();
  const m = /^(?:\[([^\]]*)\]|([^:[\]\s/]*)):(\d{1,5})$/.exec(text);
  const bracketed = m?.[1];
  if (!m || (bracketed !== undefined && isIP(bracketed) !== 6)) {
    const hint =
      bracketed === undefined && isIP(text.replace(/:\d{1,5}$/, '')) === 6 ? '; write an IPv6 address in brackets, e.g. [::1]:8443' : '';
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `${what} ${JSON.stringify(listen)} is not host:port: expected HOST:PORT, e.g. 127.0.0.1:50051, 0.0.0.0:8443, [::]:8443, or :8443 for every interface${hint}`,
    );
  }
  const port = Number(m[3]);
  if (port > 65535) throw new CountersignError('INVALID_ARGUMENT', `${what} port ${port} is out of range (0 to 65535)`);
  return { host: bracketed ?? m[2] ?? '', port };
}

/** A host as written in a URL or a `host:port` string: IPv6 in brackets. */
export function hostForUrl(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/**
 * The host part of a listen address (`127.0.0.1:50051`, `[::1]:8443`) or of a bare host
 * (`localhost`, `::1`, `[::1]`), lowercased; undefined when it is neither. The loopback checks
 * read either; a listener itself needs a port (parseListenAddress).
 */
export function listenHost(listen: string): string | undefined {
  const text = listen.trim().toLowerCase();
  try {
    return parseListenAddress(text).host;
  } catch {
    // Not HOST:PORT: a bare host, as the loopback rule is also asked about.
  }
  const bracketed = /^\[([^\]]+)\]$/.exec(text)?.[1];
  if (bracketed !== undefined) return isIP(bracketed) === 6 ? bracketed : undefined;
  if (isIP(text) === 6) return text;
  return /^[^:[\]\s/]+$/.test(text) ? text : undefined;
}

/**
 * Loopback only: `localhost`, 127.0.0.0/8, ::1 (either spelling) and its IPv4-mapped form.
 * Wildcards (0.0.0.0, ::), LAN addresses and other host names are not. This one rule decides
 * every "local development only" relaxation (no authentication, a generated KEK, plain-HTTP
 * admission), so that they cannot disagree about what is local.
 */
export function isLoopbackAddress(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) {
    if (h === '::1' || /^(?:0{1,4}:){7}0{0,3}1$/.test(h)) return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped !== null && isIP(mapped[1] as string) === 4 && (mapped[1] as string).startsWith('127.');
  }
  return false;
}

/** Whether a listen address (`host:port`) is reachable from this machine only. */
export function isLoopbackListen(listen: string): boolean {
  const host = listenHost(listen);
  return host !== undefined && isLoopbackAddress(host);
}
