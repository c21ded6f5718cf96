/**
 * A registry that refuses the service (no credentials for it) as the CI caller sees it through
 * gRPC and the CLI (issue 7 item 15): PERMISSION_DENIED naming the registry, the repository and
 * how to give the service credentials, never UNAUTHENTICATED (which means "your Countersign token
 * is wrong"). Verify turns the same refusal into a deny that says so.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import type * as grpc from '@grpc/grpc-js';
import { describeGrpcError } from '../../../src/cli/client';
import { defaultConfig } from '../../../src/config/config';
import { MEDIA_TYPE } from '../../../src/registry/types';
import { grpcFailure, startService, type RunningService } from '../../support/harness';
import { FakeRegistry } from '../registry/fake-registry';
import { imageManifest } from '../registry/helpers';

let registry: FakeRegistry;
let svc: RunningService;

beforeAll(async () => {
  registry = await FakeRegistry.start({ auth: { scheme: 'bearer', users: { ci: 'pw' } } });
  registry.storeManifest('team/app', imageManifest(Buffer.from('layer')).bytes, MEDIA_TYPE.OCI_MANIFEST, 'v1');
  // A docker config with no credentials: the service has none for any registry. (A configured
  // path that does not exist is refused at start-up.)
  const dockerConfig = path.join(mkdtempSync(path.join(os.tmpdir(), 'countersign-no-credentials-')), 'config.json');
  writeFileSync(dockerConfig, '{"auths":{}}');
  svc = await startService({ registry: { ...defaultConfig('.').registry, dockerConfig } });
  await svc.call('CreateKey', { name: 'ci' });
});

afterAll(async () => {
  await svc.stop();
  await registry.close();
});

test('Sign against a registry that needs credentials the service lacks: PERMISSION_DENIED saying how to give them', async () => {
  let error: unknown;
  const failure = await grpcFailure(
    svc.call('Sign', { image: `${registry.host}/team/app:v1`, key: 'ci' }).catch((err: unknown) => {
      error = err;
      throw err;
    }),
  );
  expect(failure.code).toBe('PERMISSION_DENIED');
  expect(failure.details).toMatch(new RegExp(`^registry ${registry.host} requires authentication to pull repository team/app`));
  expect(failure.details).toContain(`docker login ${registry.host}`);
  expect(failure.details).toMatch(/registry\.dockerConfig.*DOCKER_CONFIG/);
  // What the CLI prints: one line a CI log reader can act on.
  expect(describeGrpcError(error as grpc.ServiceError, svc.address)).toMatch(
    new RegExp(`^PERMISSION_DENIED: registry ${registry.host} requires authentication`),
  );
});

test('Verify against the same registry is a deny naming the refusal, not an error status', async () => {
  const r = await svc.call<{ allowed: boolean; reasons: string[] }>('Verify', {
    image: `${registry.host}/team/app:v1`,
    action: 'ACTION_DEPLOY',
  });
  expect(r.allowed).toBe(false);
  expect(r.reasons.join('\n')).toMatch(
    new RegExp(`registry ${registry.host} requires authentication to pull repository team/app.*PERMISSION_DENIED`),
  );
});
