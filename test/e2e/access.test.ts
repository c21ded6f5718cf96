/**
 * Access control on every RPC, end to end: bearer tokens (stored hashed), roles, signer scopes,
 * audited denials, health left open. (The role × RPC matrix and mTLS are covered in test/unit/auth.)
 */
import { pushSampleImage } from '../../src/dev/sample-image';
import { RegistryClient } from '../../src/registry';
import { healthStatus } from '../support/grpc-health';
import { grpcFailure, startService, testRegistryHost, uniqueRepo, type RunningService } from '../support/harness';

let svc: RunningService;
let host: string;
let pusher: RegistryClient;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  host = testRegistryHost();
  pusher = new RegistryClient({});
  svc = await startService({ auth: { mode: 'enforce', mtlsBindings: [] } });
  const mk = async (name: string, roles: Array<'signer' | 'verifier' | 'key-admin'>, scopes: string[] = []) =>
    (tokens[name] = (await svc.app.tokens.create({ name, roles, scopes, createdBy: 'test' })).token);
  await mk('ci-team-a', ['signer'], [`${host}/countersign-test/team-a-*`]);
  await mk('ci-anything', ['signer'], ['**']);
  await mk('gate', ['verifier']);
  await mk('secops', ['key-admin']);
});

afterAll(async () => {
  await svc.stop();
  await pusher.close();
});

test('enforce mode: no credentials → UNAUTHENTICATED; health stays open', async () => {
  expect(svc.app.accessMode).toBe('enforce');
  const f = await grpcFailure(svc.call('ListKeys', {}));
  expect(f.code).toBe('UNAUTHENTICATED');
  expect((await grpcFailure(svc.call('ListKeys', {}, 5000, 'cst_not-a-real-token'))).code).toBe('UNAUTHENTICATED');
  expect(await healthStatus(svc.address)).toBe('SERVING');
});

test('roles: key-admin manages keys, signers sign inside their scopes, verifiers verify — and nothing else', async () => {
  const created = await svc.call<{ key: { name: string; createdBy: string } }>(
    'CreateKey',
    { name: 'ci-release', ownerTeam: 'platform' },
    5000,
    tokens.secops,
  );
  expect(created.key.createdBy).toBe('token:secops');
  expect((await grpcFailure(svc.call('CreateKey', { name: 'x' }, 5000, tokens['ci-team-a']))).code).toBe('PERMISSION_DENIED');
  expect((await grpcFailure(svc.call('CreateKey', { name: 'x' }, 5000, tokens.gate))).code).toBe('PERMISSION_DENIED');

  const teamA = uniqueRepo('team-a-app');
  const teamB = uniqueRepo('team-b-app');
  await pushSampleImage(pusher, { registry: host, repository: teamA }, 'v1');
  await pushSampleImage(pusher, { registry: host, repository: teamB }, 'v1');
  await svc.call('Sign', { image: `${host}/${teamA}:v1`, key: 'ci-release' }, 10000, tokens['ci-team-a']);
  const outOfScope = await grpcFailure(svc.call('Sign', { image: `${host}/${teamB}:v1`, key: 'ci-release' }, 10000, tokens['ci-team-a']));
  expect(outOfScope.code).toBe('PERMISSION_DENIED');
  expect(outOfScope.details).toContain('team-a-*');
  expect((await grpcFailure(svc.call('Sign', { image: `${host}/${teamA}:v1`, key: 'ci-release' }, 5000, tokens.gate))).code).toBe(
    'PERMISSION_DENIED',
  );

  const verified = await svc.call<{ allowed: boolean }>(
    'Verify',
    { image: `${host}/${teamA}:v1`, action: 'ACTION_DEPLOY' },
    10000,
    tokens.gate,
  );
  expect(verified.allowed).toBe(true);
  expect(
    (await grpcFailure(svc.call('Verify', { image: `${host}/${teamA}:v1`, action: 'ACTION_DEPLOY' }, 5000, tokens['ci-team-a']))).code,
  ).toBe('PERMISSION_DENIED');
});

test("a key scoped to team A cannot sign team B's image, whoever asks", async () => {
  await svc.call('CreateKey', { name: 'team-a-key', scopes: [`${host}/countersign-test/team-a-*`] }, 5000, tokens.secops);
  const teamB = uniqueRepo('team-b-other');
  await pushSampleImage(pusher, { registry: host, repository: teamB }, 'v1');
  const f = await grpcFailure(svc.call('Sign', { image: `${host}/${teamB}:v1`, key: 'team-a-key' }, 10000, tokens['ci-anything']));
  expect(f.code).toBe('PERMISSION_DENIED');
  expect(f.details).toMatch(/key team-a-key may only sign/);
});

test('denials are audited with who, what and why; tokens appear nowhere', async () => {
  const denied = (await svc.app.audit.list({ limit: 100 })).filter((e) => e.outcome === 'denied');
  expect(denied.length).toBeGreaterThanOrEqual(5);
  expect(
    denied.some((e) => e.actor === 'token:ci-team-a' && e.action === 'countersign.v1.SigningService/Sign' && /team-a/.test(e.reason ?? '')),
  ).toBe(true);
  expect(denied.some((e) => e.actor === 'anonymous')).toBe(true);
  expect(await svc.app.audit.verify()).toMatchObject({ ok: true });
  const everything = JSON.stringify(await svc.app.audit.list({ limit: 1000 })) + svc.rawLogs();
  for (const t of Object.values(tokens)) expect(everything).not.toContain(t.slice(12));
});
