/**
 * Deadlines cancel the registry work under them (issue 7 item 13): a total deadline per request
 * (a body trickled a byte a second cannot outlive timeoutMs), the caller's AbortSignal through
 * requests, bodies, retry waits and token fetches, and close() that never waits for a registry.
 * "The server saw the connection close" is what proves the request was really let go.
 */
import { createHash } from 'node:crypto';
import { RegistryClient } from '../../../src/registry/client';
import { StaticCredentialStore } from '../../../src/registry/credentials';
import { MEDIA_TYPE, type RepositoryRef } from '../../../src/registry/types';
import { CountersignError } from '../../../src/shared/errors';
import { expectCode, imageManifest } from './helpers';
import { SlowServer } from './slow-server';

const MANIFEST = imageManifest(Buffer.from('a layer that is never downloaded')).bytes;
const DIGEST = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;

let server: SlowServer | undefined;
let client: RegistryClient | undefined;
let repo: RepositoryRef;

async function start(
  handler: Parameters<typeof SlowServer.start>[0],
  options: ConstructorParameters<typeof RegistryClient>[0] = {},
): Promise<void> {
  server = await SlowServer.start(handler);
  client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1, ...options });
  repo = { registry: server.host, repository: 'team/app' };
}

afterEach(async () => {
  await client?.close();
  await server?.close();
  client = undefined;
  server = undefined;
});

const manifestHeaders = { 'content-type': MEDIA_TYPE.OCI_MANIFEST, 'docker-content-digest': DIGEST };

test('a manifest trickled one byte per second fails at the total deadline, and the connection is closed', async () => {
  // Every gap (1 s) is shorter than timeoutMs, so only a total deadline can end this request.
  await start((_req, res) => server!.trickle(res, 200, manifestHeaders, MANIFEST, 1000), { timeoutMs: 1500 });
  const err = await expectCode(
    client!.getManifest(repo, 'v1'),
    'UNAVAILABLE',
    new RegExp(`registry ${server!.host} is unavailable: response not complete within 1500 ms \\(GET `),
  );
  expect(err.details).toMatchObject({ registry: server!.host, errorCode: 'RESPONSE_DEADLINE' });
  await server!.requests[0]!.closed;
  expect(server!.requests).toHaveLength(1); // a deadline is not retried
}, 20_000);

test("the caller's signal aborts a request still waiting for headers; the registry sees the connection close", async () => {
  await start(
    () => {
      /* never answers */
    },
    { timeoutMs: 60_000 },
  );
  const controller = new AbortController();
  const pending = client!.headManifest(repo, 'v1', { signal: controller.signal });
  const seen = await server!.waitFor('HEAD', /\/manifests\/v1$/);
  controller.abort();
  await expectCode(pending, 'DEADLINE_EXCEEDED', /cancelled/);
  await seen.closed;
});

test('aborting while the body arrives stops the read with the reason the caller gave', async () => {
  await start((_req, res) => server!.trickle(res, 200, manifestHeaders, MANIFEST, 1000), { timeoutMs: 60_000 });
  const controller = new AbortController();
  const pending = client!.getManifest(repo, 'v1', { signal: controller.signal });
  const seen = await server!.waitFor('GET', /\/manifests\/v1$/);
  controller.abort(new CountersignError('DEADLINE_EXCEEDED', 'verification of the image did not finish in time'));
  await expectCode(pending, 'DEADLINE_EXCEEDED', /^verification of the image did not finish in time$/);
  await seen.closed;
});

test('an already aborted signal sends nothing', async () => {
  await start((_req, res) => res.end());
  const controller = new AbortController();
  controller.abort();
  await expectCode(client!.getBlob(repo, DIGEST, { signal: controller.signal }), 'DEADLINE_EXCEEDED');
  expect(server!.requests).toHaveLength(0);
});

test('a wait between retries ends when the signal fires (no second attempt)', async () => {
  let answered!: () => void;
  const sent = new Promise<void>((resolve) => (answered = resolve));
  await start(
    (_req, res) => {
      res.writeHead(503, { 'retry-after': '25', 'content-length': '0' });
      res.end(answered);
    },
    { maxRetries: 3, maxRetryDelayMs: 30_000 },
  );
  const controller = new AbortController();
  const pending = client!.getManifest(repo, 'v1', { signal: controller.signal });
  await sent;
  // The 503 has been answered (and, a moment later, read): the client is waiting 25 s to retry.
  await new Promise((r) => setTimeout(r, 100));
  controller.abort();
  await expectCode(pending, 'DEADLINE_EXCEEDED');
  expect(server!.requests).toHaveLength(1);
}, 15_000);

describe('token fetches', () => {
  /** A Bearer registry whose token endpoint answers only when released. */
  async function bearerRegistry(): Promise<{ release: () => void }> {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    await start(
      (req, res, url) => {
        if (url.pathname === '/token') {
          void released.then(() => {
            if (res.destroyed) return;
            const body = JSON.stringify({ token: 'tok', expires_in: 300 });
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
            res.end(body);
          });
          return;
        }
        if (req.headers.authorization !== 'Bearer tok') {
          res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${server!.host}/token",service="slow"`, 'content-length': '0' });
          res.end();
          return;
        }
        res.writeHead(200, { ...manifestHeaders, 'content-length': String(MANIFEST.length) });
        res.end(req.method === 'HEAD' ? undefined : MANIFEST);
      },
      { credentials: new StaticCredentialStore({}) },
    );
    return { release };
  }

  test('one caller giving up does not fail another caller sharing the token request', async () => {
    const { release } = await bearerRegistry();
    const impatient = new AbortController();
    const a = client!.getManifest(repo, 'v1', { signal: impatient.signal });
    const b = client!.getManifest(repo, 'v1');
    await server!.waitFor('GET', /^\/token$/);
    impatient.abort();
    await expectCode(a, 'DEADLINE_EXCEEDED');
    release();
    expect((await b).descriptor.digest).toBe(DIGEST);
    expect(server!.requests.filter((r) => r.path === '/token')).toHaveLength(1);
  });

  test('when every caller gives up, the token request itself is aborted', async () => {
    await bearerRegistry();
    const controller = new AbortController();
    const a = client!.getManifest(repo, 'v1', { signal: controller.signal });
    const b = client!.headManifest(repo, 'v1', { signal: controller.signal });
    const token = await server!.waitFor('GET', /^\/token$/);
    controller.abort();
    await expectCode(a, 'DEADLINE_EXCEEDED');
    await expectCode(b, 'DEADLINE_EXCEEDED');
    await token.closed;
  });
});

test('close() aborts requests in flight and does not wait for a trickling body', async () => {
  await start((_req, res) => server!.trickle(res, 200, manifestHeaders, MANIFEST, 1000), { timeoutMs: 60_000 });
  const pending = client!.getManifest(repo, 'v1');
  const seen = await server!.waitFor('GET', /\/manifests\/v1$/);
  await client!.close();
  await expectCode(pending, 'UNAVAILABLE', /registry client was closed/);
  await seen.closed;
  // Closed for good: nothing more is sent.
  await expectCode(client!.headManifest(repo, 'v1'), 'UNAVAILABLE', /closed/);
  expect(server!.requests).toHaveLength(1);
});
