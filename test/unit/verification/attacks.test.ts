/**
 * Attacks on the verification service's caches and on the `name:tag@digest` confirmation: an
 * attacker who can push anything, move tags and send any Verify request, and who wants an ALLOW
 * that a fresh, cache-less verification would DENY. Each test compares with what the same
 * request gets from a fresh service (empty caches) or states the expected decision directly. The
 * three on an invalidation during a collection reproduced a race found in a review (fixed in
 * src/verification/evidence-cache.ts); the rest guard attacks the service already handled.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SigningKey } from '../../../src/keys/types';
import { PolicyStore } from '../../../src/policy-store';
import { RegistryClient } from '../../../src/registry/client';
import { ReferrerStore } from '../../../src/registry/referrer-store';
import type { Descriptor, RepositoryRef } from '../../../src/registry/types';
import type { TrustStore } from '../../../src/trust/types';
import { newSigningKey, tempKeyStore, type TempKeyStore } from '../../support/managed-keys';
import { EvidenceCollector } from '../../../src/verification/collector';
import { EvidenceCache } from '../../../src/verification/evidence-cache';
import { VerificationService, type VerificationServiceOptions } from '../../../src/verification/verification-service';
import type { Evidence } from '../../../src/policy/input';
import { FakeRegistry } from '../registry/fake-registry';
import { signedReferrer, storeImage, tempDir } from './bundle-fixtures';
import { PREDICATE_TYPE } from '../../../src/attestations/predicate-types';
import { trivyScan } from '../policy/fixtures';

const REPOSITORY = 'team/app';

let tmp: ReturnType<typeof tempDir>;
let signer: SigningKey;
let fake: FakeRegistry;
let client: RegistryClient;
let keys: TempKeyStore | undefined;
let trust: TrustStore;
let keyClock = new Date();
let policies: PolicyStore;
let policyFile: string;
let cache: EvidenceCache;
let repo: RepositoryRef;
let image: Descriptor;
let counter = 0;

beforeAll(async () => {
  tmp = tempDir('verification-attacks');
  signer = await newSigningKey('ci');
});
afterAll(() => tmp.cleanup());

async function setup(policy: string, cacheOpts: ConstructorParameters<typeof EvidenceCache>[0] = {}): Promise<void> {
  counter++;
  const dir = path.join(tmp.dir, `policy-${counter}`);
  mkdirSync(dir);
  await keys?.close();
  keyClock = new Date();
  keys = await tempKeyStore({ now: () => keyClock });
  await keys.store.importPublicKey({ name: 'ci' }, signer.publicKeyPem, 'test');
  trust = keys.store.trust;
  policyFile = path.join(dir, 'policy.yaml');
  writeFileSync(policyFile, policy);
  policies = await PolicyStore.open(policyFile, { watch: false, pollMs: 0 });
  fake = await FakeRegistry.start({ referrersApi: true });
  client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
  cache = new EvidenceCache(cacheOpts);
  repo = { registry: fake.host, repository: REPOSITORY };
  image = storeImage(fake, REPOSITORY, 'signed image', 'v1');
  isSetUp = true;
}

async function setPolicy(text: string): Promise<void> {
  writeFileSync(policyFile, text);
  expect(await policies.reload()).toBe(true);
}

async function sign(target: Descriptor = image, r: RepositoryRef = repo): Promise<string> {
  return (await new ReferrerStore(client).attach(r, await signedReferrer(signer, target))).digest;
}

async function scan(scannedAt: string, vulns: Array<{ id: string; severity: string }>, target: Descriptor = image): Promise<string> {
  const referrer = await signedReferrer(signer, target, {
    predicateType: PREDICATE_TYPE.COSIGN_VULN,
    predicate: trivyScan(scannedAt, vulns),
  });
  return (await new ReferrerStore(client).attach(repo, referrer)).digest;
}

function service(extra: Partial<VerificationServiceOptions> = {}): VerificationService {
  const collector = new EvidenceCollector({ client, trust });
  return new VerificationService({ registry: client, collector, cache, trust, policies, ...extra });
}

/** What a fresh service with empty caches decides for the same request. */
async function fresh(req: Parameters<VerificationService['verify']>[0]): Promise<boolean> {
  const collector = new EvidenceCollector({ client, trust });
  const svc = new VerificationService({ registry: client, collector, cache: new EvidenceCache(), trust, policies });
  return (await svc.verify(req)).allowed;
}

const name = (): string => `${fake.host}/${REPOSITORY}`;
const heads = (tag: string): number => fake.requestsMatching('HEAD', new RegExp(`/manifests/${tag}$`)).length;

/** Whether setup() ran for this test (the cache-level tests at the end use a bare EvidenceCache). */
let isSetUp = false;
afterEach(async () => {
  if (!isSetUp) return;
  isSetUp = false;
  await cache.settled();
  await keys?.close();
  keys = undefined;
  policies.close();
  await fake.close();
  await client.close();
});

const SIGNED = 'rules:\n  - name: signed\n    require:\n      signatures: {}\n';
const SIGNED_AND_SCANNED = 'rules:\n  - name: signed\n    require:\n      signatures: {}\n      vulnerabilities: { maxSeverity: high }\n';

describe('the decision memo is not reused after what it was made from changes', () => {
  test('a policy change that requires more evidence denies the next warm call', async () => {
    await setup(SIGNED);
    await sign();
    const svc = service();
    for (const ref of [`${name()}@${image.digest}`, `${name()}:v1`]) {
      await svc.verify({ image: ref, action: 'deploy' });
      expect(await svc.verify({ image: ref, action: 'deploy' })).toMatchObject({ allowed: true, cached: true });
    }
    await setPolicy(SIGNED_AND_SCANNED);
    for (const ref of [`${name()}@${image.digest}`, `${name()}:v1`]) {
      expect(await svc.verify({ image: ref, action: 'deploy' })).toMatchObject({ allowed: false });
      expect(await fresh({ image: ref, action: 'deploy' })).toBe(false);
    }
  });

  test('a revocation denies the next warm call by tag@digest (tag confirmed or not)', async () => {
    await setup(SIGNED);
    await sign();
    const svc = service();
    const pinned = `${name()}:v1@${image.digest}`;
    await svc.verify({ image: pinned, action: 'deploy' });
    expect(await svc.verify({ image: pinned, action: 'deploy' })).toMatchObject({ allowed: true, cached: true });
    keyClock = new Date('2020-01-01T00:00:00Z');
    await keys!.store.revoke('ci', 'key leaked', 'test');
    expect(await svc.verify({ image: pinned, action: 'deploy' })).toMatchObject({ allowed: false });
  });

  test('a top-level exception pinned to a digest, reached by tag: reused until it expires, denied from then', async () => {
    const expires = new Date('2030-03-01T00:00:00Z');
    await setup(
      SIGNED +
        `exceptions:\n  - images: ["**/${REPOSITORY}@${image.digest}"]\n    expires: "${expires.toISOString()}"\n    reason: hotfix\n    approvedBy: sec\n`,
    );
    // Unsigned: only the exception allows it.
    let now = new Date(expires.getTime() - 30 * 86_400_000);
    const svc = service({ now: () => now });
    await svc.verify({ image: `${name()}:v1`, action: 'deploy' });
    const warm = await svc.verify({ image: `${name()}:v1`, action: 'deploy' });
    expect(warm).toMatchObject({ allowed: true, rule: 'exception:0' });
    now = new Date(expires.getTime() - 1);
    expect(await svc.verify({ image: `${name()}:v1`, action: 'deploy' })).toMatchObject({ allowed: true });
    now = expires;
    expect(await svc.verify({ image: `${name()}:v1`, action: 'deploy' })).toMatchObject({ allowed: false, rule: 'signed' });
    expect(await svc.verify({ image: `${name()}@${image.digest}`, action: 'deploy' })).toMatchObject({ allowed: false });
  });

  test('a signature removed from the registry: denied once the background refresh has seen it', async () => {
    let t = 1_000_000;
    await setup(SIGNED, { refreshAfterMs: 1000, now: () => t });
    const referrer = await sign();
    const svc = service();
    const ref = `${name()}@${image.digest}`;
    await svc.verify({ image: ref, action: 'deploy' });
    expect(await svc.verify({ image: ref, action: 'deploy' })).toMatchObject({ allowed: true, cached: true });
    fake.repo(REPOSITORY).manifests.delete(referrer);
    t += 1000;
    // Answered from the cache (the refresh runs in the background)...
    expect(await svc.verify({ image: ref, action: 'deploy' })).toMatchObject({ allowed: true });
    await cache.settled();
    // ...and the next call must not reuse the memo of evidence that is gone.
    expect(await svc.verify({ image: ref, action: 'deploy' })).toMatchObject({ allowed: false });
  });

  test('a failing scan pushed through this instance (referrerAdded) while a collection is in flight is seen by the next call', async () => {
    await setup(SIGNED_AND_SCANNED);
    await sign();
    await scan(new Date(Date.now() - 7_200_000).toISOString().replace(/\.\d+Z$/, 'Z'), []);
    const svc = service();
    const ref = `${name()}@${image.digest}`;
    // The listing is read at once; a blob read of the collection is slow, so it is still in flight.
    fake.inject({ method: 'GET', path: /\/blobs\//, delayMs: 400, times: 1 });
    const first = svc.verify({ image: ref, action: 'deploy' });
    await new Promise((r) => setTimeout(r, 150));
    await scan(new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z'), [{ id: 'CVE-2030-9999', severity: 'CRITICAL' }]);
    svc.referrerAdded(repo, image.digest);
    expect((await first).allowed).toBe(true); // asked before the scan: fine either way
    expect(await fresh({ image: ref, action: 'deploy' })).toBe(false);
    // This instance was told its evidence for the digest is out of date.
    const next = await svc.verify({ image: ref, action: 'deploy' });
    expect(next.reasons.join('\n')).toMatch(/CVE-2030-9999/);
    expect(next.allowed).toBe(false);
  });
});

describe("evidenceFrom: another repository's evidence counts only under the rule that names it", () => {
  const STAGING = 'staging/app';
  const policy = [
    'rules:',
    '  - name: promoted',
    '    match: { namespaces: [prod] }',
    '    evidenceFrom: ["HOST/staging/{name}"]',
    '    require: { signatures: {} }',
    '  - name: own',
    '    require: { signatures: {} }',
    '',
  ].join('\n');

  test('warm evidence of staging is not reused for another namespace (another rule) or by another registry', async () => {
    await setup('rules: []\n');
    await setPolicy(policy.replace('HOST', fake.host));
    const prod = storeImage(fake, REPOSITORY, 'promoted image', 'p1');
    storeImage(fake, STAGING, 'promoted image');
    await sign(prod, { registry: fake.host, repository: STAGING });
    const svc = service();
    const ref = `${name()}@${prod.digest}`;
    await svc.verify({ image: ref, action: 'deploy', context: { namespace: 'prod' } });
    expect(await svc.verify({ image: ref, action: 'deploy', context: { namespace: 'prod' } })).toMatchObject({
      allowed: true,
      rule: 'promoted',
    });
    expect(await svc.verify({ image: ref, action: 'deploy', context: { namespace: 'dev' } })).toMatchObject({
      allowed: false,
      rule: 'own',
    });
    expect(await svc.verify({ image: `${name()}:p1`, action: 'deploy', context: { namespace: 'dev' } })).toMatchObject({ allowed: false });
    // Another registry holding the same bytes, unsigned: the warm evidence of the first is not its evidence.
    const fake2 = await FakeRegistry.start({ referrersApi: true });
    try {
      storeImage(fake2, REPOSITORY, 'promoted image');
      await sign(prod);
      svc.referrerAdded(repo, prod.digest);
      const mine = `${name()}@${prod.digest}`;
      await svc.verify({ image: mine, action: 'deploy', context: { namespace: 'dev' } });
      expect(await svc.verify({ image: mine, action: 'deploy', context: { namespace: 'dev' } })).toMatchObject({
        allowed: true,
        cached: true,
      });
      const r = await svc.verify({ image: `${fake2.host}/${REPOSITORY}@${prod.digest}`, action: 'deploy', context: { namespace: 'dev' } });
      expect(r).toMatchObject({ allowed: false });
    } finally {
      await fake2.close();
    }
  });
});

describe('name:tag@digest confirmation', () => {
  // dev-* builds need a signature; everything else a signature and a clean scan.
  const LENIENT_TAG = [
    'rules:',
    '  - name: dev',
    `    match: { images: ["**/${REPOSITORY}:dev-*"] }`,
    '    require: { signatures: {} }',
    '  - name: release',
    '    require: { signatures: {}, vulnerabilities: { maxSeverity: high } }',
    '',
  ].join('\n');

  test('confirmed once, memoized, then the tag moves: the next call re-confirms and is denied', async () => {
    await setup(LENIENT_TAG);
    storeImage(fake, REPOSITORY, 'signed image', 'dev-1');
    await sign();
    const svc = service();
    const pinned = `${name()}:dev-1@${image.digest}`;
    await svc.verify({ image: pinned, action: 'deploy' });
    const warm = await svc.verify({ image: pinned, action: 'deploy' });
    expect(warm).toMatchObject({ allowed: true, rule: 'dev', cached: true });
    expect(await svc.verify({ image: pinned, action: 'deploy' })).toBe(warm);
    storeImage(fake, REPOSITORY, 'another dev build', 'dev-1');
    const r = await svc.verify({ image: pinned, action: 'deploy' });
    expect(r).toMatchObject({ allowed: false, rule: 'release', image: pinned, digest: image.digest });
    expect(r.warnings.join('\n')).toMatch(/tag dev-1 .* points at sha256:/);
    expect(heads('dev-1')).toBe(4);
    expect(await fresh({ image: pinned, action: 'deploy' })).toBe(false);
  });

  test("the digest-alone answer does not leak the warning or the tag into the bare digest's memo (no loop: one HEAD)", async () => {
    await setup(LENIENT_TAG);
    await sign();
    await scan(new Date(Date.now() - 7_200_000).toISOString().replace(/\.\d+Z$/, 'Z'), []);
    const svc = service();
    const decoy = `${name()}:dev-7@${image.digest}`;
    const bare = `${name()}@${image.digest}`;
    await svc.verify({ image: bare, action: 'deploy' });
    const warmBare = await svc.verify({ image: bare, action: 'deploy' });
    const r = await svc.verify({ image: decoy, action: 'deploy' });
    expect(r).toMatchObject({ allowed: true, rule: 'release', image: decoy });
    expect(r.warnings).toHaveLength(1);
    expect(heads('dev-7')).toBe(1);
    const again = await svc.verify({ image: bare, action: 'deploy' });
    expect(again).toBe(warmBare);
    expect(again.warnings).toEqual([]);
    expect(again.image).toBe(bare);
  });

  test('a tag-scoped exception: decoy denied, confirmed allowed, moved away denied again', async () => {
    await setup(
      SIGNED +
        `exceptions:\n  - images: ["**/${REPOSITORY}:hotfix"]\n    expires: "2099-01-01T00:00:00Z"\n    reason: incident\n    approvedBy: sec\n`,
    );
    const unsigned = storeImage(fake, REPOSITORY, 'hotfix build', 'hotfix');
    const svc = service();
    const decoy = `${name()}:hotfix@${image.digest}`;
    expect(await svc.verify({ image: decoy, action: 'deploy' })).toMatchObject({ allowed: false, rule: 'signed' });
    const real = `${name()}:hotfix@${unsigned.digest}`;
    expect(await svc.verify({ image: real, action: 'deploy' })).toMatchObject({ allowed: true, rule: 'exception:0' });
    storeImage(fake, REPOSITORY, 'signed image', 'hotfix');
    expect(await svc.verify({ image: real, action: 'deploy' })).toMatchObject({ allowed: false, rule: 'signed' });
  });

  test('a tag-scoped deny: a decoy tag gets exactly what the bare digest gets; the real tag is denied', async () => {
    await setup(
      [
        'rules:',
        '  - name: no-latest',
        `    match: { images: ["**/${REPOSITORY}:latest"] }`,
        '    deny: "pin a version"',
        '  - name: signed',
        '    require: { signatures: {} }',
        '',
      ].join('\n'),
    );
    await sign();
    const other = storeImage(fake, REPOSITORY, 'latest build', 'latest');
    await sign(other);
    const svc = service();
    const decoy = await svc.verify({ image: `${name()}:latest@${image.digest}`, action: 'deploy' });
    const bare = await svc.verify({ image: `${name()}@${image.digest}`, action: 'deploy' });
    expect(decoy.allowed).toBe(bare.allowed);
    expect(decoy.rule).toBe('signed');
    expect(await svc.verify({ image: `${name()}:latest@${other.digest}`, action: 'deploy' })).toMatchObject({
      allowed: false,
      rule: 'no-latest',
    });
  });

  test("a tag-scoped rule that wants MORE evidence: the bare digest's warm memo does not answer once the tag is confirmed", async () => {
    await setup(
      [
        'rules:',
        '  - name: prod',
        `    match: { images: ["**/${REPOSITORY}:prod-*"] }`,
        '    require: { signatures: {}, vulnerabilities: {} }',
        '  - name: signed',
        '    require: { signatures: {} }',
        '',
      ].join('\n'),
    );
    await sign();
    const svc = service();
    const pinned = `${name()}:prod-1@${image.digest}`;
    // prod-1 does not exist yet: judged by the digest alone (what runs), memoized.
    await svc.verify({ image: pinned, action: 'deploy' });
    expect(await svc.verify({ image: pinned, action: 'deploy' })).toMatchObject({ allowed: true, rule: 'signed', cached: true });
    storeImage(fake, REPOSITORY, 'signed image', 'prod-1');
    expect(await svc.verify({ image: pinned, action: 'deploy' })).toMatchObject({ allowed: false, rule: 'prod' });
    expect(await fresh({ image: pinned, action: 'deploy' })).toBe(false);
  });

  test('action push is not confirmed (the gate names the tag it writes) and its answer is never reused for a deploy', async () => {
    await setup(
      [
        'rules:',
        '  - name: dev',
        `    match: { images: ["**/${REPOSITORY}:dev-*"] }`,
        '    require: { signatures: {} }',
        '  - name: release',
        '    require: { signatures: {}, vulnerabilities: {} }',
        '',
      ].join('\n'),
    );
    await sign();
    const svc = service();
    const pinned = `${name()}:dev-3@${image.digest}`;
    await svc.verify({ image: pinned, action: 'push' });
    expect(await svc.verify({ image: pinned, action: 'push' })).toMatchObject({ allowed: true, rule: 'dev', cached: true });
    expect(heads('dev-3')).toBe(0);
    expect(await svc.verify({ image: pinned, action: 'deploy' })).toMatchObject({ allowed: false, rule: 'release' });
    expect(await svc.verify({ image: pinned, action: 'pull' })).toMatchObject({ allowed: false, rule: 'release' });
  });

  test('a HEAD that fails for a tag that does point at the digest: judged by the digest alone, never by the tag', async () => {
    await setup(LENIENT_TAG);
    storeImage(fake, REPOSITORY, 'signed image', 'dev-1');
    await sign();
    fake.inject({ method: 'HEAD', path: /\/manifests\/dev-1$/, status: 503 });
    const r = await service().verify({ image: `${name()}:dev-1@${image.digest}`, action: 'deploy' });
    expect(r).toMatchObject({ allowed: false, rule: 'release' });
    expect(r.warnings.join('\n')).toMatch(/could not be confirmed/);
  });
});

describe('evidence cache: background refresh and trust revisions', () => {
  const evidence = (id: string): Evidence[] => [
    {
      referrerDigest: `sha256:${id.repeat(64)}`,
      format: 'sigstore-bundle',
      kind: 'signature',
      subjectDigest: `sha256:${'a'.repeat(64)}`,
      verified: true,
      keyId: 'k',
    },
  ];
  test('a refresh that finishes after a trust change (clear) stores nothing; one over a newer entry does not replace it', async () => {
    let t = 0;
    const c = new EvidenceCache({ ttlMs: 60_000, refreshAfterMs: 10, now: () => t });
    await c.get('k1', 'r1', async () => evidence('1'));
    t = 20;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    expect(c.peek('k1', 'r1', async () => (await gate, evidence('2')))).toBeDefined();
    c.clear();
    release();
    await c.settled();
    expect(c.has('k1', 'r1')).toBe(false);
    expect(c.size).toBe(0);

    await c.get('k2', 'r1', async () => evidence('3'));
    t = 40;
    let release2!: () => void;
    const gate2 = new Promise<void>((r) => (release2 = r));
    c.peek('k2', 'r1', async () => (await gate2, evidence('4')));
    c.clear();
    await c.get('k2', 'r2', async () => evidence('5'));
    release2();
    await c.settled();
    expect(c.has('k2', 'r1')).toBe(false);
    expect(c.peek('k2', 'r2', async () => evidence('6'))![0]!.referrerDigest).toBe(`sha256:${'5'.repeat(64)}`);
  });

  test('an invalidation during an in-flight get() is not undone by the collection storing what it read before', async () => {
    const c = new EvidenceCache({ ttlMs: 60_000, refreshAfterMs: 0 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const inFlight = c.get('k', 'r1', async () => (await gate, evidence('1')));
    c.invalidate('k');
    release();
    await inFlight;
    expect(c.has('k', 'r1')).toBe(false);
  });

  test('a get() made after the invalidation does not join the collection that started before it', async () => {
    const c = new EvidenceCache({ ttlMs: 60_000, refreshAfterMs: 0 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const before = c.get('k', 'r1', async () => (await gate, evidence('1')));
    c.invalidate('k');
    const after = c.get('k', 'r1', async () => evidence('2'));
    release();
    await before;
    expect((await after).evidence[0]!.referrerDigest).toBe(`sha256:${'2'.repeat(64)}`);
  });
});
