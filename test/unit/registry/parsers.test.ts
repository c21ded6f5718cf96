/** Header parsers and the retry policy: small pure functions with sharp edges. */
import { parseWwwAuthenticate } from '../../../src/registry/www-authenticate';
import { parseNextLink } from '../../../src/registry/link-header';
import { backoffDelay, parseRetryAfter } from '../../../src/registry/retry';
import { isLoopbackHost, EndpointResolver } from '../../../src/registry/endpoint';
import { digestMatches, isDigest, sha256Digest } from '../../../src/registry/digest';

describe('parseWwwAuthenticate', () => {
  test('Bearer with quoted params containing commas and colons', () => {
    const [c] = parseWwwAuthenticate(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
    );
    expect(c).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:samalba/my-app:pull,push' },
    });
  });
  test('several challenges, mixed case, whitespace, unquoted values and escapes', () => {
    const cs = parseWwwAuthenticate(
      'Basic realm="a \\"quoted\\" realm", charset=UTF-8,  BEARER Realm = "https://x/t" , error=invalid_token',
    );
    expect(cs).toEqual([
      { scheme: 'basic', params: { realm: 'a "quoted" realm', charset: 'UTF-8' } },
      { scheme: 'bearer', params: { realm: 'https://x/t', error: 'invalid_token' } },
    ]);
  });
  test('multiple header lines and token68', () => {
    expect(parseWwwAuthenticate(['Negotiate abc+/=', 'Basic realm="r"'])).toEqual([
      { scheme: 'negotiate', params: {}, token68: 'abc+/=' },
      { scheme: 'basic', params: { realm: 'r' } },
    ]);
  });
  test('a bare scheme and empty input', () => {
    expect(parseWwwAuthenticate('Basic')).toEqual([{ scheme: 'basic', params: {} }]);
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
    expect(parseWwwAuthenticate('')).toEqual([]);
  });
});

describe('parseNextLink', () => {
  test('finds rel="next" among several links, with URLs containing ; and ,', () => {
    expect(parseNextLink('</v2/a/referrers/x?last=1;2,3>; rel="prev", </v2/a/referrers/x?n=2&last=b>; rel="next"')).toBe(
      '/v2/a/referrers/x?n=2&last=b',
    );
    expect(parseNextLink('<https://r.io/v2/x?p=2>; type="x"; rel=next')).toBe('https://r.io/v2/x?p=2');
  });
  test('no next relation', () => {
    expect(parseNextLink('</v2/a>; rel="prev"')).toBeUndefined();
    expect(parseNextLink(undefined)).toBeUndefined();
  });
});

describe('retry policy', () => {
  test('Retry-After as seconds or HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
  test('exponential backoff with jitter in [ceiling/2, ceiling], capped', () => {
    expect(backoffDelay(0, 100, 10_000, () => 0)).toBe(50);
    expect(backoffDelay(0, 100, 10_000, () => 1)).toBe(100);
    expect(backoffDelay(3, 100, 10_000, () => 1)).toBe(800);
    expect(backoffDelay(20, 100, 10_000, () => 1)).toBe(10_000);
  });
});

describe('endpoints', () => {
  test('loopback registries use plain HTTP, others HTTPS unless listed as insecure', () => {
    expect(isLoopbackHost('localhost:5000')).toBe(true);
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('127.10.20.30:443')).toBe(true);
    expect(isLoopbackHost('[::1]:5000')).toBe(true);
    expect(isLoopbackHost('127.0.0.1.evil.com')).toBe(false);
    expect(isLoopbackHost('10.0.0.1:5000')).toBe(false);
    const e = new EndpointResolver(['registry.internal:5000']);
    expect(e.baseUrl('localhost:5000').href).toBe('http://localhost:5000/');
    expect(e.baseUrl('registry.internal:5000').protocol).toBe('http:');
    expect(e.baseUrl('registry.internal:6000').protocol).toBe('https:');
    expect(e.baseUrl('ghcr.io').protocol).toBe('https:');
    expect(e.baseUrl('docker.io').href).toBe('https://registry-1.docker.io/');
  });

  test('the origin is remembered per registry name, the same twice, and bounded (an LRU of 256)', () => {
    const e = new EndpointResolver(['registry.internal:5000']);
    for (const name of ['localhost:5000', 'registry.internal:5000', 'Docker.IO', 'GHCR.io'])
      for (let i = 0; i < 2; i++) expect(e.origin(name)).toBe(new URL(e.baseUrl(name)).origin);
    expect(e.origin('Docker.IO')).toBe('https://registry-1.docker.io');
    expect(e.origin('GHCR.io')).toBe('https://ghcr.io');
    // Hostile references name any host: the memory stays bounded, and an evicted name is recomputed alike.
    for (let i = 0; i < 300; i++) expect(e.origin(`r${i}.example`)).toBe(`https://r${i}.example`);
    expect((e as unknown as { origins: { size: number } }).origins.size).toBe(256);
    expect(e.origin('localhost:5000')).toBe('http://localhost:5000');
  });
});

describe('digests', () => {
  test('only sha256/sha512 with lowercase hex of the right length', () => {
    expect(isDigest(`sha256:${'0'.repeat(64)}`)).toBe(true);
    expect(isDigest(`sha512:${'0'.repeat(128)}`)).toBe(true);
    expect(isDigest(`sha256:${'0'.repeat(65)}`)).toBe(false);
    expect(isDigest(`sha384:${'0'.repeat(96)}`)).toBe(false);
  });
  test("digestMatches checks with the digest's own algorithm", () => {
    const b = Buffer.from('{}');
    expect(sha256Digest(b)).toBe('sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
    expect(digestMatches(b, sha256Digest(b))).toBe(true);
    expect(digestMatches(Buffer.from('{ }'), sha256Digest(b))).toBe(false);
    expect(digestMatches(b, 'sha256:nothex')).toBe(false);
  });
});
