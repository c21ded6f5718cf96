/**
 * Key lifecycle against the real registry: rotation overlap, and trusting a cosign public key
 * for signatures made with its private key (imported into another Countersign instance).
 */
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pushSampleImage } from '../../src/dev/sample-image';
import { RegistryClient } from '../../src/registry';
import { grpcFailure, startService, testRegistryHost, uniqueRepo, type RunningService } from '../support/harness';

const VECTORS = path.resolve(__dirname, '../../../shared/vectors');

let svc: RunningService;
let host: string;
let pusher: RegistryClient;

interface VerifyResponse {
  allowed: boolean;
  reasons: string[];
  evidence: Array<{ verified: boolean; keyName: string; keyId: string; reason: string }>;
}

beforeAll(async () => {
  host = testRegistryHost();
  pusher = new RegistryClient({});
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-keys-e2e-'));
  const policyFile = path.join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `defaults: { mode: enforce, onUnmatched: deny, onError: deny }
rules:
  - name: rotating
    match: { images: ["${host}/countersign-test/rot-*"] }
    require: { signatures: { keys: [ci] } }
  - name: rotating-without-overlap
    match: { images: ["${host}/countersign-test/rot0-*"] }
    require: { signatures: { keys: [zero] } }
  - name: cosign-signed
    match: { images: ["${host}/countersign-test/cosign-*"] }
    require: { signatures: { keys: [partner] } }
`,
  );
  svc = await startService({ policyFile, verification: { cacheTtlMs: 300_000, negativeCacheTtlMs: 0, maxDurationMs: 8000 } });
});

afterAll(async () => {
  await svc.stop();
  await pusher.close();
});

async function image(prefix: string) {
  const repository = uniqueRepo(prefix);
  await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  return `${host}/${repository}:v1`;
}

const verify = (ref: string) => svc.call<VerifyResponse>('Verify', { image: ref, action: 'ACTION_DEPLOY' });

test('rotate: old signatures verify during the overlap, new ones use the successor, and after it the old are denied', async () => {
  const v1 = await svc.app.keys.createKey({ name: 'ci' }, 'test');
  const before = await image('rot-before');
  await svc.call('Sign', { image: before, key: 'ci' });
  expect((await verify(before)).allowed).toBe(true);

  const { current } = await svc.app.keys.rotate('ci', { overlapSeconds: 2, reason: 'scheduled' }, 'test');
  const after = await image('rot-after');
  const signed = await svc.call<{ result: { keyId: string } }>('Sign', { image: after, key: 'ci' });
  expect(signed.result.keyId).toBe(current.id);
  expect(signed.result.keyId).not.toBe(v1.id);

  const during = await verify(before);
  expect(during.allowed).toBe(true);
  expect(during.evidence[0]).toMatchObject({ verified: true, keyName: 'ci', keyId: v1.id });

  await new Promise((r) => setTimeout(r, 2100));
  const expired = await verify(before);
  expect(expired.allowed).toBe(false);
  expect(expired.evidence[0]!.reason).toMatch(/expired/);
  expect((await verify(after)).allowed).toBe(true);
});

test('RotateKey with overlap_seconds 0: the old key stops verifying at once (cached allows included); unset keeps the default overlap', async () => {
  const v1 = await svc.app.keys.createKey({ name: 'zero' }, 'test');
  const before = await image('rot0-before');
  await svc.call('Sign', { image: before, key: 'zero' });
  expect((await verify(before)).allowed).toBe(true); // and now cached

  const rotated = await svc.call<{ previous: { id: string; validUntil: string; stateChangedAt: string }; current: { id: string } }>(
    'RotateKey',
    {
      key: 'zero',
      overlapSeconds: 0,
      reason: 'key leak suspected',
    },
  );
  expect(rotated.previous.id).toBe(v1.id);
  expect(rotated.previous.validUntil).toBe(rotated.previous.stateChangedAt);

  const denied = await verify(before);
  expect(denied.allowed).toBe(false);
  expect(denied.evidence[0]).toMatchObject({ verified: false, keyId: v1.id });
  expect(denied.evidence[0]!.reason).toMatch(/expired/);

  const after = await image('rot0-after');
  const signed = await svc.call<{ result: { keyId: string } }>('Sign', { image: after, key: 'zero' });
  expect(signed.result.keyId).toBe(rotated.current.id);
  expect((await verify(after)).allowed).toBe(true);

  // Not sent: the default overlap (7 days), so the successor's signatures stay valid after its own rotation.
  const again = await svc.call<{ previous: { id: string; validUntil: string; stateChangedAt: string } }>('RotateKey', {
    key: 'zero',
    reason: 'scheduled',
  });
  expect(again.previous.id).toBe(rotated.current.id);
  expect(Date.parse(again.previous.validUntil) - Date.parse(again.previous.stateChangedAt)).toBe(7 * 24 * 3600 * 1000);
  expect((await verify(after)).allowed).toBe(true);

  const negative = await grpcFailure(svc.call('RotateKey', { key: 'zero', overlapSeconds: -60 }));
  expect(negative.code).toBe('INVALID_ARGUMENT');
  expect(negative.details).toMatch(/overlap_seconds/);
});

test('a cosign public key, imported, verifies signatures made with its private key', async () => {
  // Another Countersign instance holds the private key (cosign.key, empty password).
  const signer = await startService();
  try {
    await signer.app.keys.importCosignPrivateKey(
      { name: 'partner-signing' },
      readFileSync(path.join(VECTORS, 'policy-controller/examples/keys/cosign.key'), 'utf8'),
      '',
      'test',
    );
    await svc.app.keys.importPublicKey(
      { name: 'partner' },
      readFileSync(path.join(VECTORS, 'policy-controller/examples/keys/cosign.pub'), 'utf8'),
      'test',
    );
    const ref = await image('cosign-partner');
    expect((await verify(ref)).allowed).toBe(false);
    await signer.call('Sign', { image: ref, key: 'partner-signing' });
    const r = await verify(ref);
    expect(r.allowed).toBe(true);
    expect(r.evidence[0]).toMatchObject({ verified: true, keyName: 'partner' });
  } finally {
    await signer.stop();
  }
});
