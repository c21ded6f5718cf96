/**
 * Where a registry may send the service. Registries answer with URLs the service then requests: a
 * token realm, a redirect to blob storage, an upload Location. A registry on the internet (or a
 * pusher who controls one an image names) must not be able to aim the service at its own host or
 * network: an admin port on loopback, a sidecar, the cloud metadata endpoint (server-side request
 * forgery). The address is what counts, not how the URL spells it: `metadata.evil.example` may
 * resolve to 169.254.169.254, and may resolve elsewhere when checked and there when connected.
 *
 * The rule: a request to the registry's own endpoint host goes wherever that host resolves (an
 * operator names it). Any other host (a foreign hop) must resolve to public addresses only,
 * unless the registry itself sits on an internal address (then its token service and storage
 * usually do too, and the network it could reach is the one it is in already). Literal IPs are
 * judged as they are; names are resolved before the hop and again, by the same rule, when the
 * connection is made (`confinedLookup`), so a second answer cannot differ from the first.
 */
import dns from 'node:dns';
import net from 'node:net';
import { CountersignError } from '../shared/errors';
import { LruMap } from '../shared/lru';
import { hostWithoutPort, isLoopbackHost } from './endpoint';

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a name to every address it has (dns.lookup with `all: true`). */
export type LookupAll = (hostname: string, callback: (err: NodeJS.ErrnoException | null, addresses: ResolvedAddress[]) => void) => void;

export const systemLookup: LookupAll = (hostname, callback) => {
  dns.lookup(hostname, { all: true }, callback);
};

/** A net/tls `lookup` (undici's `connect.lookup`, which may ask for one address or all) answering from `lookup`. */
export function connectLookup(lookup: LookupAll): net.LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, (err, addresses) => {
      const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
      const first = wanted[0];
      if (err) callback(err, '');
      else if (options.all) callback(null, wanted);
      else if (!first) callback(Object.assign(new Error(`${hostname} has no address to connect to`), { code: 'ENOTFOUND' }), '');
      else callback(null, first.address, first.family);
    });
  };
}

/**
 * Loopback, private (RFC 1918, CGNAT, unique local), link-local (cloud metadata), unspecified and
 * the IPv6 forms that reach them (IPv4-mapped addresses match the IPv4 ranges; NAT64's well-known
 * prefix is left out: RFC 6052 forbids translating non-global IPv4 addresses through it).
 */
const INTERNAL = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  INTERNAL.addSubnet(prefix, bits, 'ipv4');
}
for (const [prefix, bits] of [
  ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible form (::127.0.0.1)
  ['fc00::', 7],
  ['fe80::', 10],
] as const) {
  INTERNAL.addSubnet(prefix, bits, 'ipv6');
}

/** Whether an address literal (IPv4 or IPv6) is one of the internal ranges above; a name is not an address. */
export function isInternalAddress(address: string): boolean {
  const family = net.isIP(address);
  return family !== 0 && INTERNAL.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * An IPv4-mapped IPv6 address as the IPv4 address it is. URLs and dns.lookup print IPv6 in its
 * compressed form, so the mapped ones read `::ffff:7f00:1` or `::ffff:127.0.0.1`.
 */
function unmapped(address: string): string {
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted) return dotted[1]!;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex) return address;
  const [hi, lo] = [parseInt(hex[1]!, 16), parseInt(hex[2]!, 16)];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** How long what a host resolves to is remembered for the checks before a hop (connections re-resolve anyway). */
const RESOLVED_TTL_MS = 30_000;
const REMEMBERED_HOSTS = 256;

export interface AddressGuardOptions {
  /** The origin a registry name's requests go to (EndpointResolver.origin). */
  home: (registry: string) => string;
  lookup?: LookupAll;
  /** What counts as internal (tests stand loopback addresses in for a network). */
  isInternal?: (address: string) => boolean;
}

export class AddressGuard {
  private readonly lookup: LookupAll;
  private readonly isInternal: (address: string) => boolean;
  private readonly resolved = new LruMap<string, { addresses: Promise<ResolvedAddress[]>; until: number }>(REMEMBERED_HOSTS);

  constructor(private readonly opts: AddressGuardOptions) {
    this.lookup = opts.lookup ?? systemLookup;
    this.isInternal = opts.isInternal ?? isInternalAddress;
  }

  /**
   * Whether a request for `registry` to `url` must be connected through `confinedLookup`: false at
   * once (no promise) for the registry's own origin, the path of nearly every request. Rejects
   * with FAILED_PRECONDITION when the hop must not be made at all.
   */
  confinement(registry: string, url: URL): false | Promise<boolean> {
    const home = this.opts.home(registry);
    if (url.origin === home) return false;
    return this.foreignHop(registry, new URL(home).host.toLowerCase(), url.host.toLowerCase());
  }

  private async foreignHop(registry: string, home: string, target: string): Promise<boolean> {
    if (hostWithoutPort(target) === hostWithoutPort(home)) return false;
    if (await this.onInternalAddress(hostWithoutPort(home))) return false;
    const host = hostWithoutPort(target);
    const internal = net.isIP(host) !== 0 ? (this.isInternal(unmapped(host)) ? host : undefined) : await this.firstInternal(host);
    if (internal !== undefined) {
      throw new CountersignError(
        'FAILED_PRECONDITION',
        `registry ${registry} sent the service to ${target}, which ${internal === host ? 'is' : `resolves to ${internal},`} a loopback, private or link-local address; refused for a registry that is not on one`,
        { details: { registry, host: target } },
      );
    }
    return true;
  }

  /**
   * A `lookup` for net/tls connect (undici's `connect.lookup`) that fails a connection to a name
   * resolving to any internal address: what `confinement` saw may have been another answer.
   */
  readonly confinedLookup = connectLookup((hostname, callback) => {
    this.lookup(hostname, (err, addresses) => {
      const internal = addresses.find((a) => this.isInternal(unmapped(a.address)));
      if (err || !internal) {
        callback(err, err ? [] : addresses);
        return;
      }
      const refused = Object.assign(new Error(`${hostname} resolves to ${internal.address}, an internal address; connection refused`), {
        code: 'EADDRINTERNAL',
      });
      callback(refused, []);
    });
  });

  private async onInternalAddress(host: string): Promise<boolean> {
    if (net.isIP(host) !== 0) return this.isInternal(unmapped(host));
    if (isLoopbackHost(host)) return true;
    // A registry whose name does not resolve now is treated as public: the stricter rule.
    return (await this.firstInternal(host).catch(() => undefined)) !== undefined;
  }

  /** The first internal address `host` resolves to, or undefined. */
  private async firstInternal(host: string): Promise<string | undefined> {
    const addresses = await this.addressesOf(host);
    return addresses.find((a) => this.isInternal(unmapped(a.address)))?.address;
  }

  private addressesOf(host: string): Promise<ResolvedAddress[]> {
    const now = Date.now();
    const known = this.resolved.get(host);
    if (known && known.until > now) return known.addresses;
    const addresses = new Promise<ResolvedAddress[]>((resolve, reject) => {
      this.lookup(host, (err, list) => (err ? reject(err) : resolve(list)));
    });
    this.resolved.set(host, { addresses, until: now + RESOLVED_TTL_MS });
    // A failed lookup is not remembered.
    addresses.catch(() => this.resolved.delete(host));
    return addresses;
  }
}
