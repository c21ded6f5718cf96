import { CountersignError } from '../../../src/shared/errors';
import { formatReference, parseReference, referrersTagFor, registryEndpointHost } from '../../../src/registry/reference';

const D = `sha256:${'a'.repeat(64)}`;
const D512 = `sha512:${'b'.repeat(128)}`;

describe('parseReference: valid references', () => {
  test.each<[string, { registry: string; repository: string; tag?: string; digest?: string }]>([
    ['ubuntu', { registry: 'index.docker.io', repository: 'library/ubuntu', tag: 'latest' }],
    ['ubuntu:22.04', { registry: 'index.docker.io', repository: 'library/ubuntu', tag: '22.04' }],
    ['docker.io/ubuntu', { registry: 'index.docker.io', repository: 'library/ubuntu', tag: 'latest' }],
    ['index.docker.io/ubuntu', { registry: 'index.docker.io', repository: 'library/ubuntu', tag: 'latest' }],
    ['docker.io/library/ubuntu:20.04', { registry: 'index.docker.io', repository: 'library/ubuntu', tag: '20.04' }],
    ['team/app', { registry: 'index.docker.io', repository: 'team/app', tag: 'latest' }],
    ['team/sub/app:v1', { registry: 'index.docker.io', repository: 'team/sub/app', tag: 'v1' }],
    ['ghcr.io/org/app:1.2.3', { registry: 'ghcr.io', repository: 'org/app', tag: '1.2.3' }],
    ['GHCR.IO/org/app', { registry: 'ghcr.io', repository: 'org/app', tag: 'latest' }],
    ['localhost/app', { registry: 'localhost', repository: 'app', tag: 'latest' }],
    ['localhost:5000/app', { registry: 'localhost:5000', repository: 'app', tag: 'latest' }],
    ['localhost:5000/team/app:dev', { registry: 'localhost:5000', repository: 'team/app', tag: 'dev' }],
    ['127.0.0.1:5000/app@' + D, { registry: '127.0.0.1:5000', repository: 'app', digest: D }],
    ['[::1]:5000/app:x', { registry: '[::1]:5000', repository: 'app', tag: 'x' }],
    ['registry.example.com/a/b:t@' + D, { registry: 'registry.example.com', repository: 'a/b', tag: 't', digest: D }],
    ['ubuntu@' + D, { registry: 'index.docker.io', repository: 'library/ubuntu', digest: D }],
    ['quay.io/x/y@' + D512, { registry: 'quay.io', repository: 'x/y', digest: D512 }],
    ['my-host:443/a_b/c.d/e__f/g--h:_tag-1.x', { registry: 'my-host:443', repository: 'a_b/c.d/e__f/g--h', tag: '_tag-1.x' }],
    // No '/': "localhost:5000" is the Docker Hub image library/localhost with tag 5000, as in Docker.
    ['localhost:5000', { registry: 'index.docker.io', repository: 'library/localhost', tag: '5000' }],
    ['a'.repeat(10) + ':' + 'T'.repeat(128), { registry: 'index.docker.io', repository: 'library/aaaaaaaaaa', tag: 'T'.repeat(128) }],
  ])('%s', (input, expected) => {
    expect(parseReference(input)).toEqual(expected);
  });
});

const label = (s: string): string => (s.length > 48 ? `${s.slice(0, 48)}…(${s.length} chars)` : s);

describe('parseReference: rejected input', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    [' ubuntu', /whitespace/],
    ['ubuntu :1', /whitespace/],
    ['ubun\ttu', /whitespace/],
    ['Ubuntu', /lowercase/],
    ['ghcr.io/Org/app', /lowercase/],
    ['team/App:1', /lowercase/],
    ['ubuntu:.bad', /tag/],
    ['ubuntu:-bad', /tag/],
    ['ubuntu:a/b', /repository|tag/],
    ['ubuntu:' + 'x'.repeat(129), /tag/],
    ['ubuntu:t@sha256:abc', /digest/],
    ['ubuntu@sha256:' + 'A'.repeat(64), /digest/],
    ['ubuntu@sha256:' + 'a'.repeat(63), /digest/],
    ['ubuntu@sha512:' + 'a'.repeat(64), /digest/],
    ['ubuntu@md5:' + 'a'.repeat(32), /digest/],
    ['ubuntu@', /digest/],
    ['ghcr.io/', /missing/],
    ['ghcr.io//app', /empty component/],
    ['team/app/', /empty component/],
    ['-app', /not valid/],
    ['app-', /not valid/],
    ['a..b', /not valid/],
    ['a___b', /not valid/],
    ['host.example.com:99999/app', /port/],
    ['bad_host.com/app', /host/],
    [':tag', /missing/],
    ['ghcr.io/' + 'a/'.repeat(127) + 'abc', /longer than 255/],
    ['x'.repeat(2000), /longer than 1024/],
  ];
  test.each(cases.map(([input, problem]): [string, string, RegExp] => [label(input), input, problem]))('%j', (_label, input, problem) => {
    let caught: unknown;
    try {
      parseReference(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CountersignError);
    const err = caught as CountersignError;
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(problem);
    // Every message shows the forms that are accepted.
    expect(err.message).toMatch(/accepted forms: name, name:tag, name@sha256/);
  });

  test('a Docker Hub library name pushed over 255 characters by the library/ prefix is rejected', () => {
    const name = 'a'.repeat(250); // becomes library/<250> = 258 characters
    expect(() => parseReference(name)).toThrow(/longer than 255/);
    expect(parseReference('a'.repeat(247)).repository).toHaveLength(255);
  });
});

describe('formatReference', () => {
  test('round-trips the normalized form', () => {
    for (const input of ['ubuntu', 'ghcr.io/org/app:1', `localhost:5000/a/b:t@${D}`, `quay.io/x@${D}`]) {
      const ref = parseReference(input);
      expect(parseReference(formatReference(ref))).toEqual(ref);
    }
    expect(formatReference(parseReference('ubuntu'))).toBe('index.docker.io/library/ubuntu:latest');
    expect(formatReference({ registry: 'r.io', repository: 'a', tag: 't', digest: D })).toBe(`r.io/a:t@${D}`);
  });
});

describe('referrersTagFor', () => {
  test('sha256 becomes sha256-<hex>', () => {
    expect(referrersTagFor(D)).toBe(`sha256-${'a'.repeat(64)}`);
  });
  test('the encoded part is truncated to 64 characters (sha512)', () => {
    expect(referrersTagFor(D512)).toBe(`sha512-${'b'.repeat(64)}`);
  });
  test('the algorithm is truncated to 32 characters and illegal characters become "-"', () => {
    const tag = referrersTagFor(`${'x'.repeat(40)}+b64:ab=c/d${'e'.repeat(70)}`);
    expect(tag).toBe(`${'x'.repeat(32)}-ab-c-d${'e'.repeat(58)}`);
    expect(tag).toMatch(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/);
  });
  test('rejects something that is not a digest', () => {
    expect(() => referrersTagFor('nocolon')).toThrow(CountersignError);
  });
});

describe('registryEndpointHost', () => {
  test('maps Docker Hub names to its API host and leaves others alone', () => {
    expect(registryEndpointHost('index.docker.io')).toBe('registry-1.docker.io');
    expect(registryEndpointHost('docker.io')).toBe('registry-1.docker.io');
    expect(registryEndpointHost('ghcr.io')).toBe('ghcr.io');
    expect(registryEndpointHost('localhost:5000')).toBe('localhost:5000');
  });
});
