/**
 * Which URL a registry name maps to. Like Docker, we speak plain HTTP only to loopback registries
 * (nothing crosses a network there) and to hosts an operator explicitly listed as insecure;
 * everything else is HTTPS, so a typo cannot silently downgrade a production registry.
 */
import { LruMap } from '../shared/lru';
import { normalizeRegistryKey } from './credentials';
import { registryEndpointHost } from './reference';

/** Splits `host[:port]` (IPv6 in brackets) and returns the lowercase host without brackets. */
export function hostWithoutPort(registry: string): string {
  const r = registry.toLowerCase();
  if (r.startsWith('[')) {
    const end = r.indexOf(']');
    return end === -1 ? r : r.slice(1, end);
  }
  const colon = r.lastIndexOf(':');
  return colon === -1 ? r : r.slice(0, colon);
}

/** localhost, 127.0.0.0/8 and ::1: the addresses Docker treats as implicitly insecure. */
export function isLoopbackHost(registry: string): boolean {
  const host = hostWithoutPort(registry);
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return m !== null && m.slice(1).every((octet) => Number(octet) <= 255);
}

/** Registry names whose origin is remembered: a service talks to a handful; a bound all the same. */
const ORIGINS = 256;

export class EndpointResolver {
  private readonly insecure: Set<string>;
  /** Registry name → origin: every request (a warm Verify by tag is one HEAD) needs it, and it never changes. */
  private readonly origins = new LruMap<string, string>(ORIGINS);

  constructor(insecureHosts: readonly string[] = []) {
    this.insecure = new Set(insecureHosts.map((h) => normalizeRegistryKey(h)));
  }

  /** True when plain HTTP is acceptable for this host (also used before sending credentials to a token realm). */
  allowsPlainHttp(host: string): boolean {
    return isLoopbackHost(host) || this.insecure.has(normalizeRegistryKey(host)) || this.insecure.has(hostWithoutPort(host));
  }

  /** `http(s)://<endpoint host>` for a registry name from a reference. */
  baseUrl(registry: string): URL {
    return new URL(this.origin(registry));
  }

  /** `http(s)://<endpoint host>` as a string (what URL.origin gives for baseUrl), computed once per registry. */
  origin(registry: string): string {
    let origin = this.origins.get(registry);
    if (origin === undefined) {
      const scheme = this.allowsPlainHttp(registry) ? 'http' : 'https';
      origin = new URL(`${scheme}://${registryEndpointHost(registry)}`).origin;
      this.origins.set(registry, origin);
    }
    return origin;
  }
}
