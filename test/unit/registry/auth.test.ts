/** Authentication flows against the fake registry: Basic, Bearer tokens, caching per scope, refusals. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sha256Digest } from '../../../src/registry/digest';
import { RegistryClient } from '../../../src/registry/client';
import { StaticCredentialStore, type RegistryCredential } from '../../../src/registry/credentials';
import { MEDIA_TYPE, type RepositoryRef } from '../../../src/registry/types';
import { FakeRegistry, type FakeAuth } from './fake-registry';
import { expectCode, imageManifest } from './helpers';

let fake: FakeRegistry;
let client: RegistryClient;
let repo: RepositoryRef;

async function setup(auth: FakeAuth, cred?: RegistryCredential): Promise<void> {
  fake = await FakeRegistry.start({ auth });
  client = new RegistryClient({ retryBaseMs: 5, ...(cred ? { credentials: new StaticCredentialStore({ [fake.host]: cred }) } : {}) });
  repo = { registry: fake.host, repository: 'team/app' };
  const { bytes } = imageManifest(Buffer.from('layer'));
  fake.storeManifest('team/app', bytes, MEDIA_TYPE.OCI_MANIFEST, 'v1');
  fake.storeManifest('team/other', bytes, MEDIA_TYPE.OCI_MANIFEST, 'v1');
}

afterEach(async () => {
  await client.close();
  await fake.close();
});

const unauthorized = (): number => fake.requests.filter((r) => r.headers.authorization === undefined).length;

describe('Basic auth', () => {
  test('anonymous first, then Basic; later requests authenticate up front', async () => {
    await setup({ scheme: 'basic', users: { alice: 's3cret' } }, { username: 'alice', password: 's3cret' });
    await client.headManifest(repo, 'v1');
    await client.getManifest(repo, 'v1');
    await client.headManifest({ ...repo, repository: 'team/other' }, 'v1');
    expect(fake.requests).toHaveLength(4); // 401 + 3 authorized
    expect(unauthorized()).toBe(1);
    expect(fake.requests[1]!.headers.authorization).toBe(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
  });

  test('no credentials: PERMISSION_DENIED (never UNAUTHENTICATED, which means a bad Countersign token) telling the operator how to give them', async () => {
    await setup({ scheme: 'basic', users: { alice: 's3cret' } });
    const err = await expectCode(
      client.headManifest(repo, 'v1'),
      'PERMISSION_DENIED',
      new RegExp(`registry ${fake.host} requires a username and password to pull repository team/app`),
    );
    expect(err.message).toContain(`docker login ${fake.host}`);
    expect(err.message).toMatch(/registry\.dockerConfig.*DOCKER_CONFIG/);
    expect(err.details).toMatchObject({ registry: fake.host, repository: 'team/app', credentials: 'none' });
  });

  test('wrong password: PERMISSION_DENIED that names registry and repository but not the secret', async () => {
    await setup({ scheme: 'basic', users: { alice: 's3cret' } }, { username: 'alice', password: 'wrong-pw' });
    const err = await expectCode(
      client.headManifest(repo, 'v1'),
      'PERMISSION_DENIED',
      new RegExp(`registry ${fake.host} refused the credentials for repository team/app.*registry\\.dockerConfig`),
    );
    expect(err.message).not.toContain('wrong-pw');
    expect(JSON.stringify(err.details)).not.toContain('wrong-pw');
    expect(fake.requests).toHaveLength(2); // anonymous, then one authenticated attempt: no loop
  });
});

describe('Bearer token auth', () => {
  const auth: FakeAuth = { scheme: 'bearer', users: { bob: 'pw' }, expiresIn: 300 };

  test('token request carries service, scope built from the operation, and Basic credentials', async () => {
    await setup(auth, { username: 'bob', password: 'pw' });
    await client.headManifest(repo, 'v1');
    expect(fake.tokenRequests).toHaveLength(1);
    const t = fake.tokenRequests[0]!;
    expect(t.query.get('service')).toBe('fake.registry');
    expect(t.query.getAll('scope')).toEqual(['repository:team/app:pull']);
    expect(t.headers.authorization).toBe(`Basic ${Buffer.from('bob:pw').toString('base64')}`);
  });

  test('tokens are cached per (registry, scope): pull and push and another repository each need one', async () => {
    await setup(auth, { username: 'bob', password: 'pw' });
    for (let i = 0; i < 3; i++) await client.headManifest(repo, 'v1');
    expect(fake.tokenRequests).toHaveLength(1);
    await client.pushBlob(repo, Buffer.from('blob'));
    await client.pushBlob(repo, Buffer.from('blob2'));
    expect(fake.tokenRequests).toHaveLength(2);
    expect(fake.tokenRequests[1]!.query.getAll('scope')).toEqual(['repository:team/app:pull,push']);
    await client.headManifest({ ...repo, repository: 'team/other' }, 'v1');
    await client.headManifest({ ...repo, repository: 'team/other' }, 'v1');
    expect(fake.tokenRequests).toHaveLength(3);
    expect(fake.tokenRequests[2]!.query.getAll('scope')).toEqual(['repository:team/other:pull']);
    // Only the very first registry request went out without a token.
    expect(unauthorized()).toBe(1);
  });

  test('concurrent requests share one token request', async () => {
    await setup(auth, { username: 'bob', password: 'pw' });
    await Promise.all(Array.from({ length: 10 }, () => client.headManifest(repo, 'v1')));
    expect(fake.tokenRequests).toHaveLength(1);
  });

  test('a token is reused until shortly before expires_in, then renewed', async () => {
    await setup({ ...auth, expiresIn: 1 }, { username: 'bob', password: 'pw' });
    await client.headManifest(repo, 'v1');
    await client.headManifest(repo, 'v1');
    expect(fake.tokenRequests).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 850)); // past the 1 s lifetime minus its margin
    await client.headManifest(repo, 'v1');
    expect(fake.tokenRequests).toHaveLength(2);
  });

  test('a 401 on a cached token drops it and re-authenticates once', async () => {
    await setup(auth, { username: 'bob', password: 'pw' });
    await client.headManifest(repo, 'v1');
    fake.revokeTokens();
    await client.headManifest(repo, 'v1');
    expect(fake.tokenRequests).toHaveLength(2);
    expect(fake.requests).toHaveLength(4); // 401, ok, 401 (revoked), ok
  });

  test('wrong credentials at the token endpoint: PERMISSION_DENIED, no secret in the message', async () => {
    await setup(auth, { username: 'bob', password: 'not-the-pw' });
    const err = await expectCode(
      client.headManifest(repo, 'v1'),
      'PERMISSION_DENIED',
      /refused the credentials for repository team\/app.*registry\.dockerConfig/,
    );
    expect(err.message).not.toContain('not-the-pw');
  });

  test.each(['null', '[]', '"a-token"', '{"token":null,"access_token":7}'])(
    'a token endpoint answering JSON %s, which holds no token, is DATA_LOSS naming it (never a crash)',
    async (body) => {
      await setup(auth, { username: 'bob', password: 'pw' });
      fake.inject({
        method: 'HEAD',
        path: /manifests/,
        status: 401,
        headers: { 'www-authenticate': `Bearer realm="http://${fake.host}/token-odd",service="fake.registry"` },
      });
      fake.inject({ method: 'GET', path: /^\/token-odd$/, status: 200, headers: { 'content-type': 'application/json' }, body });
      await expectCode(
        client.headManifest(repo, 'v1'),
        'DATA_LOSS',
        new RegExp(`token endpoint of registry ${fake.host} returned no token`),
      );
    },
  );

  test('a 401 with a fresh token is final: PERMISSION_DENIED after one token request', async () => {
    await setup(auth, { username: 'bob', password: 'pw' });
    fake.inject({
      method: 'GET',
      path: /manifests/,
      times: 10,
      status: 401,
      headers: { 'www-authenticate': `Bearer realm="http://${fake.host}/token",service="fake.registry"` },
      body: '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
    });
    await expectCode(
      client.getManifest(repo, 'v1'),
      'PERMISSION_DENIED',
      /refused the credentials for repository team\/app \(pull\): DENIED: requested access/,
    );
    expect(fake.tokenRequests).toHaveLength(1);
    expect(fake.requests).toHaveLength(2);
  });

  test('anonymous pull works without credentials; push without credentials is PERMISSION_DENIED saying how to give credentials', async () => {
    await setup({ ...auth, anonymousPull: true });
    expect((await client.headManifest(repo, 'v1')).mediaType).toBe(MEDIA_TYPE.OCI_MANIFEST);
    expect(fake.tokenRequests[0]!.headers.authorization).toBeUndefined();
    await expectCode(
      client.pushBlob(repo, Buffer.from('x')),
      'PERMISSION_DENIED',
      new RegExp(
        `registry ${fake.host} requires authentication to push repository team/app.*no credentials.*docker login ${fake.host}.*registry\\.dockerConfig`,
      ),
    );
  });

  test('an uncredentialed pull from a registry without anonymous access is PERMISSION_DENIED, not UNAUTHENTICATED', async () => {
    await setup(auth);
    const err = await expectCode(
      client.getManifest(repo, 'v1'),
      'PERMISSION_DENIED',
      new RegExp(`registry ${fake.host} requires authentication to pull repository team/app.*docker login ${fake.host}.*DOCKER_CONFIG`),
    );
    expect(err.details).toMatchObject({ registry: fake.host, repository: 'team/app', access: 'pull', credentials: 'none' });
  });

  test('a token endpoint refusing an uncredentialed request is PERMISSION_DENIED naming it', async () => {
    await setup(auth);
    fake.inject({
      method: 'GET',
      path: /manifests/,
      status: 401,
      headers: { 'www-authenticate': `Bearer realm="http://${fake.host}/token-denied",service="fake.registry"` },
    });
    fake.inject({
      path: /^\/token-denied$/,
      status: 401,
      headers: { 'content-type': 'application/json' },
      body: '{"details":"anonymous access is disabled"}',
    });
    await expectCode(
      client.getManifest(repo, 'v1'),
      'PERMISSION_DENIED',
      new RegExp(
        `registry ${fake.host} requires authentication to pull repository team/app \\(refused at its token endpoint\\).*docker login`,
      ),
    );
  });

  test('a 401 without a usable challenge is PERMISSION_DENIED, with or without credentials', async () => {
    await setup(auth);
    fake.inject({ method: 'GET', path: /manifests/, status: 401, body: '{"errors":[{"code":"UNAUTHORIZED","message":"go away"}]}' });
    await expectCode(
      client.getManifest(repo, 'v1'),
      'PERMISSION_DENIED',
      /without a usable WWW-Authenticate challenge: UNAUTHORIZED: go away; run docker login/,
    );
  });

  test('a 403 is PERMISSION_DENIED naming registry, repository and access', async () => {
    await setup({ ...auth, anonymousPull: true });
    fake.inject({ method: 'GET', path: /manifests/, status: 403, body: '{"errors":[{"code":"DENIED","message":"no"}]}' });
    const err = await expectCode(
      client.getManifest(repo, 'v1'),
      'PERMISSION_DENIED',
      new RegExp(`registry ${fake.host} denied pull access to repository team/app: DENIED: no;.*DOCKER_CONFIG`),
    );
    expect(err.details).toMatchObject({ status: 403, access: 'pull' });
  });

  test('an identity token is exchanged with an OAuth2 refresh_token POST; access_token is read', async () => {
    await setup({ ...auth, refreshTokens: ['idtok'], tokenField: 'access_token' }, { identityToken: 'idtok' });
    await client.headManifest(repo, 'v1');
    expect(fake.tokenRequests).toHaveLength(1);
    expect(fake.tokenRequests[0]!.method).toBe('POST');
    expect(fake.requests.at(-1)!.headers.authorization).toMatch(/^Bearer /);
  });

  test('Bearer is chosen when a registry offers Basic as well', async () => {
    await setup(auth, { username: 'bob', password: 'pw' });
    fake.inject({
      method: 'HEAD',
      path: /manifests/,
      status: 401,
      headers: { 'www-authenticate': `Basic realm="x", Bearer realm="http://${fake.host}/token",service="fake.registry"` },
    });
    await client.headManifest(repo, 'v1');
    expect(fake.tokenRequests).toHaveLength(1);
  });
});

test('a blob redirect to another host is followed without forwarding the registry credentials', async () => {
  await setup({ scheme: 'basic', users: { alice: 's3cret' } }, { username: 'alice', password: 's3cret' });
  const blob = Buffer.from('stored in object storage');
  const seen: http.IncomingHttpHeaders[] = [];
  const storage = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-length': String(blob.length) });
    res.end(blob);
  });
  await new Promise<void>((resolve) => storage.listen(0, '127.0.0.1', resolve));
  try {
    const port = (storage.address() as AddressInfo).port;
    fake.inject({ method: 'GET', path: /\/blobs\//, status: 307, headers: { location: `http://localhost:${port}/bucket/blob?sig=abc` } });
    // The first request is anonymous (401); authenticate once so the redirected request carries Basic auth.
    await client.headManifest(repo, 'v1');
    expect(await client.getBlob(repo, sha256Digest(blob))).toEqual(blob);
    expect(fake.requests.at(-1)!.headers.authorization).toMatch(/^Basic /);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.authorization).toBeUndefined();
  } finally {
    storage.closeAllConnections();
    await new Promise((r) => storage.close(r));
  }
});
