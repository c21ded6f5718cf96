/**
 * The service's own lifecycle against a registry that never answers (issue 7 item 13): a gRPC
 * call's deadline cancels the registry work it started, and app.stop() ends after its grace even
 * while a request hangs, because in-flight registry requests are aborted and the agent destroyed.
 * The registry here is a local HTTP server that holds every manifest request open.
 */
import { defaultConfig } from '../../../src/config/config';
import { grpcFailure, startService, type RunningService } from '../../support/harness';
import { notFound, SlowServer } from '../registry/slow-server';

let registry: SlowServer;
let svc: RunningService | undefined;

beforeEach(async () => {
  registry = await SlowServer.start((_req, res, url) => {
    if (url.pathname.includes('/manifests/')) return; // never answers
    notFound(res);
  });
  svc = await startService({
    // Neither the per-request timeout nor the Verify bound can end the hang within the test.
    registry: { ...defaultConfig('.').registry, timeoutMs: 120_000, maxRetries: 0 },
    shutdownGraceMs: 300,
  });
  const created = await svc.call<{ key: { name: string } }>('CreateKey', { name: 'ci' });
  expect(created.key.name).toBe('ci');
});

afterEach(async () => {
  await svc?.stop();
  await registry.close();
});

test('a Sign whose gRPC deadline passes aborts the registry request it was waiting on', async () => {
  // The deadline leaves time for the HEAD to reach the registry on a loaded machine (the test waits for it).
  const failed = grpcFailure(svc!.call('Sign', { image: `${registry.host}/team/app:v1`, key: 'ci' }, 2000));
  const head = await registry.waitFor('HEAD', /\/manifests\/v1$/);
  expect((await failed).code).toBe('DEADLINE_EXCEEDED');
  // The server side let go too: the registry sees the connection close long before 120 s.
  await head.closed;
});

test('app.stop() finishes after the grace while a registry request hangs, and aborts that request', async () => {
  const inFlight = grpcFailure(svc!.call('Sign', { image: `${registry.host}/team/app:v1`, key: 'ci' }, 60_000));
  const head = await registry.waitFor('HEAD', /\/manifests\/v1$/);
  await svc!.app.stop();
  await head.closed;
  expect(['UNAVAILABLE', 'CANCELLED', 'DEADLINE_EXCEEDED']).toContain((await inFlight).code);
});
