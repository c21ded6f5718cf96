/**
 * VerificationService end to end inside the process: fake registry, the managed key store's trust
 * view over a temporary database, PolicyStore (built-in default or a temp file), EvidenceCache and EvidenceCollector.
 */
import { getEventListeners } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SigningKey } from '../../../src/keys/types';
import { PolicyStore } from '../../../src/policy-store';
import { RegistryClient } from '../../../src/registry/client';
import { ReferrerStore } from '../../../src/registry/referrer-store';
import { sha256Digest } from '../../../src/registry/digest';
import { MEDIA_TYPE, type Descriptor, type RepositoryRef } from '../../../src/registry/types';
import type { KeyAttributes } from '../../../src/keys/managed-key-store';
import type { TrustStore } from '../../../src/trust/types';
import { newSigningKey, tempKeyStore, type TempKeyStore } from '../../support/managed-keys';
import { EvidenceCollector } from '../../../src/verification/collector';
import { EvidenceCache } from '../../../src/verification/evidence-cache';
import { MAX_INDEX_CHILDREN, VerificationService, type VerificationServiceOptions } from '../../../src/verification/verification-service';
import { FakeRegistry } from '../registry/fake-registry';
import { expectCode } from '../registry/helpers';
import { COSIGN_SIGN_PREDICATE_TYPE } from '../../../src/formats/in-toto';
import { referrerFor, signedReferrer, storeImage, tempDir } from './bundle-fixtures';
import { PREDICATE_TYPE } from '../../../src/attestations/predicate-types';
import { trivyScan } from '../policy/fixtures';

const REPOSITORY = 'team/app';

let tmp: ReturnType<typeof tempDir>;
let signer: SigningKey;
let policyDir: string;

beforeAll(async () => {
  tmp = tempDir('verification-service');
  signer = await newSigningKey('ci');
});

afterAll(() => tmp.cleanup());

let fake: FakeRegistry;
let client: RegistryClient;
let keys: TempKeyStore | undefined;
let trust: TrustStore;
/** The key store's clock (when a revocation happens). */
let keyClock = new Date();
let policies: PolicyStore;
let cache: EvidenceCache;
let repo: RepositoryRef;
let image: Descriptor;
let counter = 0;

async function setup(opts: { policy?: string } = {}): Promise<void> {
  counter++;
  policyDir = path.join(tmp.dir, `policy-${counter}`);
  mkdirSync(policyDir);
  await trustSigner();
  if (opts.policy !== undefined) {
    const file = path.join(policyDir, 'policy.yaml');
    writeFileSync(file, opts.policy);
    policies = await PolicyStore.open(file, { watch: false, pollMs: 0 });
  } else {
    policies = await PolicyStore.open();
  }
  fake = await FakeRegistry.start({ referrersApi: true });
  client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
  cache = new EvidenceCache();
  repo = { registry: fake.host, repository: REPOSITORY };
  image = storeImage(fake, REPOSITORY, 'signed image', 'v1');
}

/** A fresh trust store that holds the signer's public key as `ci`, with `attrs` (validity, scopes). */
async function trustSigner(attrs: Omit<KeyAttributes, 'name'> = {}): Promise<void> {
  await keys?.close();
  keyClock = new Date();
  keys = await tempKeyStore({ now: () => keyClock });
  await keys.store.importPublicKey({ ...attrs, name: 'ci' }, signer.publicKeyPem, 'test');
  trust = keys.store.trust;
}

/** Revokes `ci` as of 2020-01-01 with reason "key leaked"; returns whether the trust revision changed. */
async function revokeSigner(): Promise<boolean> {
  const before = trust.revision();
  keyClock = new Date('2020-01-01T00:00:00Z');
  await keys!.store.revoke('ci', 'key leaked', 'test');
  return trust.revision() !== before;
}

async function sign(target: Descriptor = image): Promise<string> {
  return (await new ReferrerStore(client).attach(repo, await signedReferrer(signer, target))).digest;
}

function service(extra: Partial<VerificationServiceOptions> = {}): VerificationService {
  const collector = new EvidenceCollector({ client, trust });
  return new VerificationService({ registry: client, collector, cache, trust, policies, ...extra });
}

const byTag = (): string => `${fake.host}/${REPOSITORY}:v1`;
const byDigest = (): string => `${fake.host}/${REPOSITORY}@${image.digest}`;

afterEach(async () => {
  await keys?.close();
  keys = undefined;
  policies.close();
  // The fake first: it cuts injected delays short, so closing the client does not wait for them.
  await fake.close();
  await client.close();
});

describe('basic decisions (built-in policy)', () => {
  beforeEach(() => setup());

  test('a signed image is allowed; the decision names the digest, the evidence and the trust revision', async () => {
    const referrer = await sign();
    const r = await service().verify({ image: byTag(), action: 'deploy' });
    expect(r).toMatchObject({
      allowed: true,
      digest: image.digest,
      rule: '(default)',
      cached: false,
      trustRevision: trust.revision(),
      policyRevision: 'default',
    });
    expect(r.evidenceUsed).toEqual([referrer]);
    expect(r.evidence).toEqual([expect.objectContaining({ referrerDigest: referrer, verified: true, keyName: 'ci' })]);
  });

  test('an unsigned image is denied', async () => {
    const r = await service().verify({ image: byTag(), action: 'deploy' });
    expect(r.allowed).toBe(false);
    expect(r.reasons.join('\n')).toMatch(/no signature/);
  });

  test('an image that does not exist is a deny naming the image, not a thrown error', async () => {
    const r = await service().verify({ image: `${fake.host}/${REPOSITORY}:missing`, action: 'deploy' });
    expect(r.allowed).toBe(false);
    expect(r.reasons.join('\n')).toContain(`${fake.host}/${REPOSITORY}:missing`);
    // Absent is a fact about the image (a deny whatever onError says), not a collection error.
    expect(r.requirements).toEqual([expect.objectContaining({ requirement: 'image', satisfied: false })]);
    expect(r.cached).toBe(false);
  });

  test.each(['Team/App:v1', 'registry.example.com/app:bad tag', 'app@sha256:1234', 'app:-x', ''])(
    'a malformed reference %j throws INVALID_ARGUMENT',
    async (ref) => {
      await expectCode(service().verify({ image: ref, action: 'deploy' }), 'INVALID_ARGUMENT');
    },
  );
});

describe('internal deadline', () => {
  const HANG = { method: 'GET', path: /\/referrers\//, delayMs: 10_000 } as const;

  test('collection that hangs: denied within about maxDurationMs, the reason names the deadline', async () => {
    await setup();
    await sign();
    fake.inject(HANG);
    const started = Date.now();
    const r = await service({ maxDurationMs: 200 }).verify({ image: byTag(), action: 'deploy' });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1000);
    expect(r.allowed).toBe(false);
    expect(r.cached).toBe(false);
    expect(r.reasons.join('\n')).toMatch(/did not finish within 200 ms \(DEADLINE_EXCEEDED\)/);
    expect(r.evidence).toEqual([]);
  });

  test('with onError: allow the same hang is allowed, with a warning naming the deadline', async () => {
    await setup({ policy: 'rules:\n  - name: lenient\n    onError: allow\n    require:\n      signatures: {}\n' });
    fake.inject(HANG);
    const started = Date.now();
    const r = await service({ maxDurationMs: 200 }).verify({ image: byTag(), action: 'deploy' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(r.allowed).toBe(true);
    expect(r.rule).toBe('lenient');
    expect(r.warnings.join('\n')).toMatch(/did not finish within 200 ms.*onError: allow/);
  });

  test('a caller deadline shorter than maxDurationMs is honoured (the answer arrives before it)', async () => {
    await setup();
    await sign();
    fake.inject(HANG);
    const deadline = Date.now() + 300;
    const r = await service({ maxDurationMs: 5000 }).verify({ image: byTag(), action: 'deploy', deadline });
    expect(Date.now()).toBeLessThan(deadline);
    expect(r.allowed).toBe(false);
    expect(r.reasons.join('\n')).toMatch(/did not finish within \d+ ms \(DEADLINE_EXCEEDED\)/);
  });

  test('a deadline already past still yields a deny, not a hang or a throw', async () => {
    await setup();
    await sign();
    fake.inject(HANG);
    const started = Date.now();
    const r = await service().verify({ image: byTag(), action: 'deploy', deadline: Date.now() - 1000 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(r.allowed).toBe(false);
    expect(r.reasons.join('\n')).toMatch(/DEADLINE_EXCEEDED/);
  });

  test('a timeout is not remembered: once the registry answers again, the image is allowed', async () => {
    await setup();
    await sign();
    fake.inject({ ...HANG, delayMs: 600 });
    const svc = service({ maxDurationMs: 200 });
    expect((await svc.verify({ image: byTag(), action: 'deploy' })).allowed).toBe(false);
    // Let the delayed request finish, then ask again.
    await new Promise((resolve) => setTimeout(resolve, 700));
    const r = await svc.verify({ image: byTag(), action: 'deploy' });
    expect(r.allowed).toBe(true);
  });
});

describe('resolution and the evidence cache', () => {
  beforeEach(() => setup());

  const heads = (): number => fake.requestsMatching('HEAD', new RegExp(`/manifests/v1$`)).length;

  test('a tag is resolved with a HEAD on every call; the second call reads nothing else', async () => {
    await sign();
    const svc = service();
    const first = await svc.verify({ image: byTag(), action: 'deploy' });
    expect(first).toMatchObject({ allowed: true, cached: false });
    expect(heads()).toBe(1);
    const before = fake.requests.length;
    const second = await svc.verify({ image: byTag(), action: 'deploy' });
    expect(second).toMatchObject({ allowed: true, cached: true, digest: image.digest });
    expect(heads()).toBe(2);
    expect(fake.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([`HEAD /v2/${REPOSITORY}/manifests/v1`]);
  });

  test('a moved tag is seen on the next call, despite the cached evidence of the old digest', async () => {
    await sign();
    const svc = service();
    expect((await svc.verify({ image: byTag(), action: 'deploy' })).allowed).toBe(true);
    const moved = storeImage(fake, REPOSITORY, 'unsigned replacement', 'v1');
    const r = await svc.verify({ image: byTag(), action: 'deploy' });
    expect(r.digest).toBe(moved.digest);
    expect(r.allowed).toBe(false);
  });

  test('20 warm Verify by tag: one HEAD each and nothing else; no collection; every timer cleared, nothing left on the signal', async () => {
    await sign();
    const collector = new EvidenceCollector({ client, trust });
    const svc = new VerificationService({ registry: client, collector, cache, trust, policies });
    expect(await svc.verify({ image: byTag(), action: 'deploy' })).toMatchObject({ allowed: true, cached: false });
    const collect = jest.spyOn(collector, 'collect');
    const head = jest.spyOn(client, 'headManifest');
    const before = fake.requests.length;
    // The deadline timers (the Verify's and the HEAD attempt's).
    const created = new Set<unknown>();
    const cleared = new Set<unknown>();
    const realSet = global.setTimeout;
    const realClear = global.clearTimeout;
    const setSpy = jest.spyOn(global, 'setTimeout').mockImplementation((fn: () => void, ms?: number) => {
      const t = realSet(fn, ms);
      // Ours only: undici's parser keeps its own keep-alive timer per connection.
      if ((ms ?? 0) >= 1000 && !new Error().stack?.includes('node_modules/undici/')) created.add(t);
      return t;
    });
    const clearSpy = jest.spyOn(global, 'clearTimeout').mockImplementation(((t?: NodeJS.Timeout) => {
      cleared.add(t);
      realClear(t);
    }) as typeof clearTimeout);
    try {
      for (let i = 0; i < 20; i++) {
        const caller = new AbortController();
        const r = await svc.verify({ image: byTag(), action: 'deploy', signal: caller.signal });
        expect(r).toMatchObject({ allowed: true, cached: true, digest: image.digest });
        expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
      }
    } finally {
      setSpy.mockRestore();
      clearSpy.mockRestore();
    }
    expect(fake.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual(Array(20).fill(`HEAD /v2/${REPOSITORY}/manifests/v1`));
    expect(head).toHaveBeenCalledTimes(20);
    // Each HEAD runs under the Verify's own deadline signal (the caller's linked into it), live while it runs.
    for (const call of head.mock.calls) expect(call[2]?.signal).toBeInstanceOf(AbortSignal);
    expect(collect).not.toHaveBeenCalled();
    // Two deadlines per call (the Verify's budget, the HEAD attempt's), both cleared before the answer.
    expect(created.size).toBe(40);
    expect([...created].every((t) => cleared.has(t))).toBe(true);
  });

  test('a tag moved away and back: each call judges the digest the HEAD named (the key memo follows the tag)', async () => {
    await sign();
    const svc = service();
    expect(await svc.verify({ image: byTag(), action: 'deploy' })).toMatchObject({ allowed: true, digest: image.digest });
    const moved = storeImage(fake, REPOSITORY, 'unsigned replacement', 'v1');
    expect(await svc.verify({ image: byTag(), action: 'deploy' })).toMatchObject({ allowed: false, digest: moved.digest });
    expect(await svc.verify({ image: byTag(), action: 'deploy' })).toMatchObject({ allowed: false, digest: moved.digest });
    expect(storeImage(fake, REPOSITORY, 'signed image', 'v1').digest).toBe(image.digest);
    expect(await svc.verify({ image: byTag(), action: 'deploy' })).toMatchObject({ allowed: true, cached: true, digest: image.digest });
  });

  test('revoking the key denies the next warm Verify by tag at once (still one HEAD, evidence from memory)', async () => {
    await sign();
    const svc = service();
    expect((await svc.verify({ image: byTag(), action: 'deploy' })).allowed).toBe(true);
    expect((await svc.verify({ image: byTag(), action: 'deploy' })).cached).toBe(true);
    expect(await revokeSigner()).toBe(true);
    const r = await svc.verify({ image: byTag(), action: 'deploy' });
    expect(r.allowed).toBe(false);
    expect(r.digest).toBe(image.digest);
  });

  test('by digest, a second call with cached evidence makes no registry request at all', async () => {
    await sign();
    const svc = service();
    expect(await svc.verify({ image: byDigest(), action: 'deploy' })).toMatchObject({ allowed: true, cached: false });
    const before = fake.requests.length;
    const r = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(r).toMatchObject({ allowed: true, cached: true, digest: image.digest });
    expect(fake.requests.length).toBe(before);
  });

  test('errors are not cached: a 503 denies, the next call after recovery is allowed', async () => {
    await sign();
    const svc = service();
    fake.inject({ method: 'GET', path: /\/referrers\//, status: 503 });
    const failed = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(failed.allowed).toBe(false);
    expect(failed.cached).toBe(false);
    expect(failed.reasons.join('\n')).toMatch(/503.*\(UNAVAILABLE\)/);
    expect(cache.size).toBe(0);
    const r = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(r).toMatchObject({ allowed: true, cached: false });
  });

  test('a 503 while resolving the tag denies; recovery allows', async () => {
    await sign();
    const svc = service();
    fake.inject({ method: 'HEAD', path: /\/manifests\/v1$/, status: 503 });
    const failed = await svc.verify({ image: byTag(), action: 'deploy' });
    expect(failed.allowed).toBe(false);
    expect(failed.reasons.join('\n')).toMatch(/UNAVAILABLE/);
    expect((await svc.verify({ image: byTag(), action: 'deploy' })).allowed).toBe(true);
  });

  test('a referrer added through referrerAdded() is seen at once, despite the cached deny', async () => {
    const svc = service();
    expect((await svc.verify({ image: byDigest(), action: 'deploy' })).allowed).toBe(false);
    await sign();
    svc.referrerAdded(repo, image.digest);
    expect((await svc.verify({ image: byDigest(), action: 'deploy' })).allowed).toBe(true);
  });
});

describe('key state at decision time', () => {
  beforeEach(() => setup());

  test("revoking the key (the key store's revocation) flips a cached allow to deny immediately", async () => {
    await sign();
    const svc = service();
    expect((await svc.verify({ image: byDigest(), action: 'deploy' })).allowed).toBe(true);
    expect((await svc.verify({ image: byDigest(), action: 'deploy' })).cached).toBe(true);
    expect(await revokeSigner()).toBe(true);
    const r = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(r.allowed).toBe(false);
    expect(r.trustRevision).toBe(trust.revision());
    expect(r.reasons.join('\n')).toMatch(/revoked at 2020-01-01T00:00:00\.000Z: key leaked/);
  });

  test('a key whose validUntil passes between two calls flips allow to deny while evidence stays cached', async () => {
    const validUntil = new Date('2030-06-01T00:00:00Z');
    await trustSigner({ validUntil });
    await sign();
    let now = new Date(validUntil.getTime() - 60_000);
    const svc = service({ now: () => now });
    const first = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(first).toMatchObject({ allowed: true, cached: false });

    now = new Date(validUntil.getTime() + 1000);
    const before = fake.requests.length;
    const second = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(second).toMatchObject({ allowed: false, cached: true });
    expect(fake.requests.length).toBe(before);
    expect(second.evidence).toEqual([
      expect.objectContaining({ verified: false, reason: `key ci expired at ${validUntil.toISOString()}` }),
    ]);

    // And back inside the window (a clock that was wrong): allowed again, still from the cache.
    now = new Date(validUntil.getTime() - 1000);
    expect(await svc.verify({ image: byDigest(), action: 'deploy' })).toMatchObject({ allowed: true, cached: true });
  });

  test('a key scoped to another repository does not vouch for this one', async () => {
    await trustSigner({ scopes: ['other/**'] });
    await sign();
    const r = await service().verify({ image: byDigest(), action: 'deploy' });
    expect(r.allowed).toBe(false);
    expect(r.evidence[0]!.reason).toMatch(/may only vouch for other\/\*\*/);
  });
});

describe('hostile referrers', () => {
  test('a referrer whose bundle is JSON null neither hides the valid signature nor becomes an onError: allow', async () => {
    await setup({ policy: 'rules:\n  - name: lenient\n    onError: allow\n    require:\n      signatures: {}\n' });
    const hostile = referrerFor(Buffer.from('null'), image, COSIGN_SIGN_PREDICATE_TYPE);
    await new ReferrerStore(client).attach(repo, hostile);
    const svc = service();
    const unsigned = await svc.verify({ image: byDigest(), action: 'deploy' });
    // Not an evidence-collection error (which this policy would allow): the signature requirement fails.
    expect(unsigned.allowed).toBe(false);
    expect(unsigned.requirements.map((r) => r.requirement)).toEqual(['signatures']);
    expect(unsigned.evidence).toEqual([expect.objectContaining({ referrerDigest: hostile.digest, verified: false })]);

    const valid = await sign();
    svc.referrerAdded(repo, image.digest);
    const signed = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(signed.allowed).toBe(true);
    expect(signed.evidenceUsed).toEqual([valid]);
    expect(signed.warnings).toEqual([]);
  });
});

// ---- issue 7 -----------------------------------------------------------------------------------

const INDEX_MT = 'application/vnd.oci.image.index.v1+json';
const LENIENT = 'rules:\n  - name: lenient\n    onError: allow\n    require:\n      signatures: {}\n';
const multiArchPolicy = (mode: string, extra = ''): string =>
  `rules:\n  - name: multi\n    multiArch: ${mode}\n${extra}    require:\n      signatures: {}\n`;

/** Stores an index body (any bytes: the fake registry stores what it is given) under tag `v1`. */
function storeIndexBytes(bytes: Buffer, mediaType = INDEX_MT): Descriptor {
  const digest = fake.storeManifest(REPOSITORY, bytes, mediaType, 'v1');
  return { mediaType, digest, size: bytes.length };
}

function storeIndex(children: unknown[]): Descriptor {
  return storeIndexBytes(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX_MT, manifests: children })));
}

const child = (d: Descriptor, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  mediaType: d.mediaType,
  digest: d.digest,
  size: d.size,
  ...extra,
});
const linux = (architecture: string) => ({ platform: { os: 'linux', architecture } });

describe('what a digest is, when its bytes and how it is served disagree', () => {
  const OCI_MANIFEST_MT = 'application/vnd.oci.image.manifest.v1+json';
  test.each([
    [
      'a body naming itself an image, served as an index',
      (m: unknown[]) => ({ schemaVersion: 2, mediaType: OCI_MANIFEST_MT, manifests: m }),
      INDEX_MT,
    ],
    [
      'a body with both manifests and layers, served as an index',
      (m: unknown[]) => ({ schemaVersion: 2, manifests: m, layers: [] }),
      INDEX_MT,
    ],
    [
      'an index body whose mediaType key is spelled MediaType (read by Go clients)',
      (m: unknown[]) => ({ schemaVersion: 2, MediaType: INDEX_MT, manifests: m }),
      INDEX_MT,
    ],
  ])('%s: never judged as a single image (a runtime reads the index and runs its unsigned platform)', async (_name, body, servedAs) => {
    await setup({ policy: multiArchPolicy('platforms') });
    const unsigned = storeImage(fake, REPOSITORY, 'the unsigned one');
    const idx = storeIndexBytes(Buffer.from(JSON.stringify(body([child(unsigned, linux('amd64'))]))), servedAs);
    await sign(idx);
    const r = await service().verify({ image: byTag(), action: 'deploy' });
    expect(r.allowed).toBe(false);
  });
});

describe('every index child a runtime could run is judged (issue 7 item 1)', () => {
  const variants: Array<[string, Record<string, unknown>]> = [
    ['without platform', {}],
    ['with os unknown and a real architecture', { platform: { os: 'unknown', architecture: 'arm64' } }],
    ['unknown/unknown without the attestation annotation', { platform: { os: 'unknown', architecture: 'unknown' } }],
  ];
  const policies: Array<[string, string | undefined]> = [
    ['no policy file (default, either)', undefined],
    ['multiArch either', multiArchPolicy('either')],
    ['multiArch platforms', multiArchPolicy('platforms')],
  ];
  describe.each(variants)('an unsigned child %s next to a signed linux/amd64 child', (_name, extra) => {
    test.each(policies)('%s: denied, naming the unsigned child', async (_p, policy) => {
      await setup(policy === undefined ? {} : { policy });
      const amd = storeImage(fake, REPOSITORY, 'amd64');
      const other = storeImage(fake, REPOSITORY, 'the unsigned one');
      storeIndex([child(amd, linux('amd64')), child(other, extra)]);
      await sign(amd);
      const r = await service().verify({ image: byTag(), action: 'deploy' });
      expect(r.allowed).toBe(false);
      expect(r.reasons.join('\n')).toContain(other.digest.slice(0, 19));
    });

    test('multiArch index: the signed index covers it (content addressing)', async () => {
      await setup({ policy: multiArchPolicy('index') });
      const other = storeImage(fake, REPOSITORY, 'the unsigned one');
      const idx = storeIndex([child(storeImage(fake, REPOSITORY, 'amd64'), linux('amd64')), child(other, extra)]);
      await sign(idx);
      expect((await service().verify({ image: byTag(), action: 'deploy' })).allowed).toBe(true);
    });
  });

  test.each(policies)("%s: BuildKit's attestation manifest (unknown/unknown + annotation) is set aside", async (_p, policy) => {
    await setup(policy === undefined ? {} : { policy });
    const amd = storeImage(fake, REPOSITORY, 'amd64');
    const att = storeImage(fake, REPOSITORY, 'attestation manifest');
    storeIndex([
      child(amd, linux('amd64')),
      child(att, {
        platform: { os: 'unknown', architecture: 'unknown' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amd.digest },
      }),
    ]);
    await sign(amd);
    const r = await service().verify({ image: byTag(), action: 'deploy' });
    expect(r.allowed).toBe(true);
    // Nothing is collected for it.
    expect(fake.requests.some((q) => q.path.includes(att.digest.slice(7)))).toBe(false);
  });
});

describe('a malformed image index is a deny for that image, never onError (issue 7 item 4)', () => {
  const d = (label: string): string => sha256Digest(Buffer.from(label));
  const malformed: Array<[string, () => Buffer, RegExp]> = [
    ['not JSON', () => Buffer.from('this is not json'), /not valid JSON/],
    ['{"manifests":5}', () => Buffer.from('{"manifests":5}'), /schemaVersion/],
    [
      'manifests is a number',
      () => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX_MT, manifests: 5 })),
      /"manifests" is "5", not an array/,
    ],
    [
      'a child without digest',
      () => Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MEDIA_TYPE.OCI_MANIFEST, size: 1 }] })),
      /manifests\[0\]\.digest/,
    ],
    [
      'a child with an invalid digest',
      () =>
        Buffer.from(
          JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: 'sha256:zz', size: 1 }] }),
        ),
      /manifests\[0\]\.digest "sha256:zz"/,
    ],
    [
      'a child with a negative size',
      () =>
        Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: d('x'), size: -1 }] })),
      /manifests\[0\]\.size/,
    ],
    [
      'a child without mediaType',
      () => Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ digest: d('x'), size: 1 }] })),
      /manifests\[0\]\.mediaType/,
    ],
    [
      'a child whose platform lacks architecture',
      () =>
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            manifests: [{ mediaType: MEDIA_TYPE.OCI_MANIFEST, digest: d('x'), size: 1, platform: { os: 'linux' } }],
          }),
        ),
      /manifests\[0\]\.platform/,
    ],
    ['a null child', () => Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [null] })), /manifests\[0\] is not a descriptor/],
    // Quoting a 100,000-deep value in the message overflowed the stack (a RangeError: INTERNAL, so onError).
    [
      'a 100,000-deep schemaVersion',
      () => Buffer.from(`{"schemaVersion":${'['.repeat(100_000)}${']'.repeat(100_000)},"manifests":[]}`),
      /deeper than 128 levels/,
    ],
    [
      'a 100,000-deep child digest',
      () =>
        Buffer.from(
          `{"schemaVersion":2,"manifests":[{"mediaType":"${MEDIA_TYPE.OCI_MANIFEST}","size":1,"digest":${'['.repeat(100_000)}${']'.repeat(100_000)}}]}`,
        ),
      /deeper than 128 levels/,
    ],
  ];

  test.each(malformed)('%s: denied under onError: allow, saying the index is malformed', async (_name, body, why) => {
    await setup({ policy: LENIENT });
    storeIndexBytes(body());
    const r = await service().verify({ image: byTag(), action: 'deploy' });
    expect(r.allowed).toBe(false);
    expect(r.warnings).toEqual([]);
    expect(r.requirements).toEqual([expect.objectContaining({ requirement: 'image', satisfied: false })]);
    expect(r.reasons[0]).toMatch(/the image index is malformed: /);
    expect(r.reasons[0]).toMatch(why);
  });

  test('a malformed index is denied even when the index itself carries a valid signature', async () => {
    await setup({ policy: LENIENT });
    const idx = storeIndexBytes(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ digest: d('x'), size: 1 }] })));
    await sign(idx);
    expect((await service().verify({ image: byTag(), action: 'deploy' })).allowed).toBe(false);
  });

  test('an index over the manifest size limit, or whose bytes do not match its digest: denied under onError: allow', async () => {
    await setup({ policy: LENIENT });
    const big = storeIndexBytes(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [], pad: 'x'.repeat(client.maxManifestBytes) })));
    let r = await service().verify({ image: byTag(), action: 'deploy' });
    expect(r).toMatchObject({ allowed: false, requirements: [expect.objectContaining({ requirement: 'image' })] });
    expect(r.reasons[0]).toMatch(/over the \d+-byte limit/);

    // The registry serves other bytes for the digest it named.
    fake
      .repo(REPOSITORY)
      .manifests.set(big.digest, { bytes: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })), mediaType: INDEX_MT });
    r = await service().verify({ image: byTag(), action: 'deploy' });
    expect(r).toMatchObject({ allowed: false, requirements: [expect.objectContaining({ requirement: 'image' })] });
    expect(r.reasons[0]).toMatch(/does not match its digest/);
  });

  test('an image that does not exist is denied under onError: allow too', async () => {
    await setup({ policy: LENIENT });
    const r = await service().verify({ image: `${fake.host}/${REPOSITORY}:missing`, action: 'deploy' });
    expect(r.allowed).toBe(false);
    expect(r.requirements).toEqual([expect.objectContaining({ requirement: 'image', satisfied: false })]);
  });

  test('a transport failure reading the index stays an error: onError: allow applies', async () => {
    await setup({ policy: LENIENT });
    const idx = storeIndex([child(storeImage(fake, REPOSITORY, 'amd64'), linux('amd64'))]);
    fake.inject({ method: 'GET', path: new RegExp(`/manifests/${idx.digest}$`), status: 503 });
    const r = await service().verify({ image: byTag(), action: 'deploy' });
    expect(r.allowed).toBe(true);
    expect(r.requirements).toEqual([expect.objectContaining({ requirement: 'evidence-collection' })]);
    expect(r.warnings.join('\n')).toMatch(/503.*onError: allow/);
  });

  test('an index with more runnable children than are verified: denied, naming the limit', async () => {
    await setup({ policy: LENIENT });
    const children = Array.from({ length: MAX_INDEX_CHILDREN + 1 }, (_, i) => ({
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
      digest: d(`c${i}`),
      size: 1,
    }));
    storeIndex(children);
    const r = await service().verify({ image: byTag(), action: 'deploy' });
    expect(r.allowed).toBe(false);
    expect(r.reasons[0]).toContain(`at most ${MAX_INDEX_CHILDREN}`);
  });
});

describe('decisions that need no evidence are made before any registry request (issue 7 item 10)', () => {
  const policy = (host: string) => `defaults: { onUnmatched: deny }
rules:
  - name: no-public
    match: { images: ["docker.io/**", "${host}/blocked/**"] }
    deny: "use the internal mirror"
  - name: base-images
    match: { images: ["${host}/base/**"] }
    allow: "vetted base images"
  - name: team
    match: { images: ["${host}/${REPOSITORY}"] }
    require: { signatures: {} }
exceptions:
  - { images: ["${host}/waived/**"], expires: 2099-01-01, reason: "migration", approvedBy: security }
  - { images: ["${host}/pinned/app@${'sha256:' + 'a'.repeat(64)}"], expires: 2099-01-01, reason: "pinned", approvedBy: security }
`;

  beforeEach(async () => {
    await setup();
    const file = path.join(policyDir, 'early.yaml');
    writeFileSync(file, policy(fake.host));
    policies = await PolicyStore.open(file, { watch: false, pollMs: 0 });
  });

  test.each([
    ['a deny rule', (): string => `${fake.host}/blocked/app:v1`, false, 'deny'],
    ['a deny rule (Docker Hub, unreachable here)', (): string => 'docker.io/library/nginx:1.27', false, 'deny'],
    ['an allow rule', (): string => `${fake.host}/base/debian:12`, true, 'allow'],
    ['a top-level exception', (): string => `${fake.host}/waived/app:v1`, true, 'exception'],
    ['no matching rule (onUnmatched)', (): string => `${fake.host}/elsewhere/app:v1`, false, 'unmatched'],
  ] as const)('%s: decided with zero registry requests', async (_name, image, allowed, requirement) => {
    const r = await service().verify({ image: image(), action: 'deploy' });
    expect(r.allowed).toBe(allowed);
    expect(r.requirements.map((q) => q.requirement)).toEqual([requirement]);
    expect(fake.requests).toEqual([]);
    expect(r.evidence).toEqual([]);
  });

  test('an exception pinned to a digest still needs the tag resolved; by digest it needs nothing', async () => {
    const svc = service();
    const byTagResult = await svc.verify({ image: `${fake.host}/pinned/app:v1`, action: 'deploy' });
    // The tag does not exist: resolution ran (a HEAD) and no exception applied.
    expect(fake.requests.map((q) => q.method)).toContain('HEAD');
    expect(byTagResult.allowed).toBe(false);
    const before = fake.requests.length;
    const pinned = await svc.verify({ image: `${fake.host}/pinned/app@sha256:${'a'.repeat(64)}`, action: 'deploy' });
    expect(pinned).toMatchObject({ allowed: true, rule: 'exception:1' });
    expect(fake.requests.length).toBe(before);
  });

  test('a rule that needs evidence still reads the registry', async () => {
    await sign();
    expect((await service().verify({ image: byTag(), action: 'deploy' })).allowed).toBe(true);
    expect(fake.requests.length).toBeGreaterThan(0);
  });
});

describe('cosign legacy .sig: key state applied at decision time, not cached (issue 7 item 11)', () => {
  function storeLegacySignature(): void {
    const payload = Buffer.from(
      JSON.stringify({
        critical: {
          identity: { 'docker-reference': 'x' },
          image: { 'docker-manifest-digest': image.digest },
          type: 'cosign container image signature',
        },
        optional: null,
      }),
    );
    const config = Buffer.from('{}');
    fake.storeBlob(REPOSITORY, payload);
    fake.storeBlob(REPOSITORY, config);
    const manifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
      config: { mediaType: MEDIA_TYPE.OCI_CONFIG, digest: sha256Digest(config), size: config.length },
      layers: [
        {
          mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          digest: sha256Digest(payload),
          size: payload.length,
          annotations: { 'dev.cosignproject.cosign/signature': signer.sign(payload).toString('base64') },
        },
      ],
    };
    fake.storeManifest(REPOSITORY, Buffer.from(JSON.stringify(manifest)), MEDIA_TYPE.OCI_MANIFEST, `${image.digest.replace(':', '-')}.sig`);
  }

  beforeEach(() => setup());

  test('revoking the key after a cached allow of a legacy .sig denies', async () => {
    storeLegacySignature();
    const svc = service();
    expect(await svc.verify({ image: byDigest(), action: 'deploy' })).toMatchObject({ allowed: true });
    expect(await svc.verify({ image: byDigest(), action: 'deploy' })).toMatchObject({ allowed: true, cached: true });
    await revokeSigner();
    const r = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(r.allowed).toBe(false);
    expect(r.evidence).toEqual([
      expect.objectContaining({
        format: 'cosign-legacy-signature',
        verified: false,
        reason: expect.stringMatching(/revoked .*key leaked/) as unknown,
      }),
    ]);
  });

  test('a key not yet valid when the evidence was collected, valid now: allowed from the cache', async () => {
    const validFrom = new Date('2030-06-01T00:00:00Z');
    await trustSigner({ validFrom });
    storeLegacySignature();
    let now = new Date(validFrom.getTime() - 60_000);
    const svc = service({ now: () => now });
    const early = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(early).toMatchObject({ allowed: false, cached: false });
    expect(early.evidence[0]!.reason).toMatch(/not valid before 2030-06-01/);
    now = new Date(validFrom.getTime() + 1000);
    const before = fake.requests.length;
    expect(await svc.verify({ image: byDigest(), action: 'deploy' })).toMatchObject({ allowed: true, cached: true });
    expect(fake.requests.length).toBe(before);
  });

  test('a key scoped to another repository does not vouch for a legacy .sig either', async () => {
    await trustSigner({ scopes: ['other/**'] });
    storeLegacySignature();
    const r = await service().verify({ image: byDigest(), action: 'deploy' });
    expect(r.allowed).toBe(false);
    expect(r.evidence[0]!.reason).toMatch(/may only vouch for other\/\*\*/);
  });
});

describe('attacker-written referrer data never becomes onError (issue 7 item 3)', () => {
  const tag = (): string => image.digest.replace(':', '-');
  const writeTag = (bytes: Buffer, mediaType = INDEX_MT): void => {
    fake.storeManifest(REPOSITORY, bytes, mediaType, tag());
  };

  beforeEach(async () => {
    await setup({ policy: LENIENT });
    // This suite needs the tag-schema fallback: a registry without the referrers API.
    await fake.close();
    await client.close();
    fake = await FakeRegistry.start({});
    client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
    repo = { registry: fake.host, repository: REPOSITORY };
    image = storeImage(fake, REPOSITORY, 'signed image', 'v1');
  });

  test.each([
    ['not JSON', () => writeTag(Buffer.from('not json'))],
    [
      'an image manifest',
      () => writeTag(Buffer.from(JSON.stringify({ schemaVersion: 2, config: {}, layers: [] })), MEDIA_TYPE.OCI_MANIFEST),
    ],
    [
      'an index with a malformed entry',
      () => writeTag(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ digest: 'sha256:zz' }] }))),
    ],
  ])('a fallback index that is %s: unsigned is denied under onError: allow; signed is allowed', async (_name, write) => {
    write();
    const svc = service();
    const unsigned = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(unsigned.allowed).toBe(false);
    expect(unsigned.requirements.map((r) => r.requirement)).toEqual(['signatures']);
    expect(unsigned.warnings).toEqual([]);

    // A valid legacy .sig next to the broken index counts.
    const payload = Buffer.from(
      JSON.stringify({
        critical: {
          identity: { 'docker-reference': 'x' },
          image: { 'docker-manifest-digest': image.digest },
          type: 'cosign container image signature',
        },
        optional: null,
      }),
    );
    fake.storeBlob(REPOSITORY, payload);
    fake.storeBlob(REPOSITORY, Buffer.from('{}'));
    fake.storeManifest(
      REPOSITORY,
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MEDIA_TYPE.OCI_MANIFEST,
          config: { mediaType: MEDIA_TYPE.OCI_CONFIG, digest: sha256Digest(Buffer.from('{}')), size: 2 },
          layers: [
            {
              mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
              digest: sha256Digest(payload),
              size: payload.length,
              annotations: { 'dev.cosignproject.cosign/signature': signer.sign(payload).toString('base64') },
            },
          ],
        }),
      ),
      MEDIA_TYPE.OCI_MANIFEST,
      `${tag()}.sig`,
    );
    svc.referrerAdded(repo, image.digest);
    const signed = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(signed.allowed).toBe(true);
    expect(signed.warnings).toEqual([]);
  });
});

describe('a present but unverifiable signature is named in the deny (issue 7 item 9)', () => {
  test('a Notary Project signature', async () => {
    await setup();
    const sig = Buffer.from('{"payload":"jws"}');
    const manifest = {
      schemaVersion: 2 as const,
      mediaType: MEDIA_TYPE.OCI_MANIFEST,
      artifactType: 'application/vnd.cncf.notary.signature',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(Buffer.from('{}')), size: 2 },
      layers: [{ mediaType: 'application/jose+json', digest: sha256Digest(sig), size: sig.length }],
      subject: { mediaType: image.mediaType, digest: image.digest, size: image.size },
    };
    const { digest } = await new ReferrerStore(client).attach(repo, {
      manifest,
      manifestBytes: Buffer.from(JSON.stringify(manifest)),
      blobs: [sig, Buffer.from('{}')],
    });
    const r = await service().verify({ image: byDigest(), action: 'deploy' });
    expect(r.allowed).toBe(false);
    expect(r.reasons[0]).toContain(
      `a Notary Project signature is present but is not verified: ${digest.slice(0, 19)}: integrity validation failed:`,
    );
  });
});

describe('warm path and cache at scale (issue 11)', () => {
  beforeEach(() => setup());

  test('a warm Verify by digest makes no registry request, starts no timer and never reads the call signal', async () => {
    await sign();
    const svc = service();
    expect((await svc.verify({ image: byDigest(), action: 'deploy' })).cached).toBe(false);
    const before = fake.requests.length;
    const timers = jest.spyOn(global, 'setTimeout');
    let signalReads = 0;
    try {
      for (let i = 0; i < 20; i++) {
        const r = await svc.verify({
          image: byDigest(),
          action: 'deploy',
          deadline: Date.now() + 5000,
          get signal() {
            signalReads++;
            return new AbortController().signal;
          },
        });
        expect(r).toMatchObject({ allowed: true, cached: true });
      }
      expect(timers).not.toHaveBeenCalled();
    } finally {
      timers.mockRestore();
    }
    expect(signalReads).toBe(0);
    expect(fake.requests.length).toBe(before);
  });

  test('the manifest facts are an LRU: a working set one above capacity still resolves digests from memory', async () => {
    await sign();
    const svc = service({ manifestFactsMaxEntries: 1 });
    const other = storeImage(fake, REPOSITORY, 'second image', 'v2');
    await svc.verify({ image: byDigest(), action: 'deploy' });
    await svc.verify({ image: `${fake.host}/${REPOSITORY}@${other.digest}`, action: 'deploy' });
    // Capacity 1: the second evicted the first only (not a wholesale clear of the map). A digest
    // whose facts are not held is read again (by digest: one GET of its manifest).
    const reads = (): number =>
      [...fake.requestsMatching('HEAD', /\/manifests\/sha256:/), ...fake.requestsMatching('GET', /\/manifests\/sha256:/)].filter(
        (r) => r.path.endsWith(other.digest) || r.path.endsWith(image.digest),
      ).length;
    const r0 = reads();
    await svc.verify({ image: `${fake.host}/${REPOSITORY}@${other.digest}`, action: 'deploy' });
    expect(reads()).toBe(r0);
    await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(reads()).toBe(r0 + 1);
  });

  test('a signature pushed by another tool is seen after refreshAfterMs, through a background re-list (coalesced)', async () => {
    let t = 1_000_000;
    cache = new EvidenceCache({ now: () => t, refreshAfterMs: 30_000 });
    const first = await sign();
    const svc = service();
    expect((await svc.verify({ image: byDigest(), action: 'deploy' })).evidenceUsed).toEqual([first]);
    // Another tool (no referrerAdded call on this instance) attaches a second signature.
    const second = await sign();
    t += 29_999;
    expect((await svc.verify({ image: byDigest(), action: 'deploy' })).evidence.map((e) => e.referrerDigest)).toEqual([first]);
    expect(cache.refreshes).toBe(0);
    t += 1;
    // Old enough: answered from the cache at once, and one refresh runs however many callers hit it.
    const hits = await Promise.all(Array.from({ length: 5 }, () => svc.verify({ image: byDigest(), action: 'deploy' })));
    expect(hits.every((r) => r.cached)).toBe(true);
    expect(cache.refreshes).toBe(1);
    await cache.settled();
    const after = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(after.cached).toBe(true);
    expect(after.evidence.map((e) => e.referrerDigest).sort()).toEqual([first, second].sort());
    expect(cache.refreshes).toBe(1);
  });
});

describe('cache counters (issue 11)', () => {
  test('a partly warm index counts each digest once: a hit for each warm one, a miss for the cold one', async () => {
    await setup({ policy: multiArchPolicy('platforms') });
    const amd = storeImage(fake, REPOSITORY, 'amd64');
    const arm = storeImage(fake, REPOSITORY, 'arm64');
    storeIndex([child(amd, linux('amd64')), child(arm, linux('arm64'))]);
    await sign(amd);
    await sign(arm);
    const svc = service();
    expect((await svc.verify({ image: byTag(), action: 'deploy' })).allowed).toBe(true);
    cache.invalidate(svc.keys.of(repo, arm.digest));
    cache.hits = 0;
    cache.misses = 0;
    const r = await svc.verify({ image: byTag(), action: 'deploy' });
    expect(r.allowed).toBe(true);
    // The index and amd64 are warm, arm64 is collected again: 2 hits and 1 miss, not the warm
    // pass's hits counted a second time by the collecting pass.
    expect({ hits: cache.hits, misses: cache.misses }).toEqual({ hits: 2, misses: 1 });
  });
});

describe('an identical warm call reuses the decision, and only then (issue 11)', () => {
  test('a repeated warm Verify by digest or by tag answers with the decision already made', async () => {
    await setup();
    await sign();
    const svc = service();
    for (const ref of [byDigest(), byTag()]) {
      await svc.verify({ image: ref, action: 'deploy' });
      const warm = await svc.verify({ image: ref, action: 'deploy' });
      expect(warm).toMatchObject({ allowed: true, cached: true });
      expect(await svc.verify({ image: ref, action: 'deploy' })).toBe(warm);
      // Shared by every caller that reuses it: nobody can change it for the next one.
      expect(Object.isFrozen(warm) && Object.isFrozen(warm.reasons) && Object.isFrozen(warm.requirements[0])).toBe(true);
    }
  });

  test('a key with a validity window: the decision is reused until the window closes, and not once after', async () => {
    const validUntil = new Date('2030-06-01T00:00:00Z');
    await setup();
    await trustSigner({ validUntil });
    await sign();
    let now = new Date(validUntil.getTime() - 60_000);
    const svc = service({ now: () => now });
    await svc.verify({ image: byDigest(), action: 'deploy' });
    const warm = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(warm).toMatchObject({ allowed: true, cached: true });
    now = new Date(validUntil.getTime() - 1);
    expect(await svc.verify({ image: byDigest(), action: 'deploy' })).toBe(warm);
    now = validUntil;
    expect(await svc.verify({ image: byDigest(), action: 'deploy' })).toMatchObject({
      allowed: false,
      cached: true,
      evidence: [expect.objectContaining({ reason: `key ci expired at ${validUntil.toISOString()}` })],
    });
    // A clock that went back before the decision was made: judged again, not assumed.
    now = new Date(validUntil.getTime() - 120_000);
    const again = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(again).toMatchObject({ allowed: true });
    expect(again).not.toBe(warm);
  });

  test('a decision that read a scan age is reused until the age as shown changes, and made again from then', async () => {
    await setup({ policy: 'rules:\n  - name: scanned\n    require:\n      signatures: {}\n      vulnerabilities: { maxAge: 72h }\n' });
    await sign();
    const scannedAt = new Date('2030-01-01T00:00:00Z');
    await new ReferrerStore(client).attach(
      repo,
      await signedReferrer(signer, image, { predicateType: PREDICATE_TYPE.COSIGN_VULN, predicate: trivyScan(scannedAt.toISOString(), []) }),
    );
    const hour = 3_600_000;
    let now = new Date(scannedAt.getTime() + hour);
    const svc = service({ now: () => now });
    await svc.verify({ image: byDigest(), action: 'deploy' });
    const warm = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(warm).toMatchObject({ allowed: true, cached: true });
    expect(warm.reasons.join('\n')).toMatch(/, 1h old\)/);
    now = new Date(scannedAt.getTime() + 3_960_000 - 1);
    expect(await svc.verify({ image: byDigest(), action: 'deploy' })).toBe(warm);
    now = new Date(scannedAt.getTime() + 3_960_000);
    const later = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(later).not.toBe(warm);
    expect(later.reasons.join('\n')).toMatch(/, 1\.1h old\)/);
    // At the maximum, still allowed and reused; the first millisecond past it is a deny.
    now = new Date(scannedAt.getTime() + 72 * hour);
    const last = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(last).toMatchObject({ allowed: true });
    expect(await svc.verify({ image: byDigest(), action: 'deploy' })).toBe(last);
    now = new Date(scannedAt.getTime() + 72 * hour + 1);
    const old = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(old).toMatchObject({ allowed: false, cached: true });
    expect(old.reasons.join('\n')).toMatch(/scan is 72h old, maximum 72h/);
    // A clock that went back before the decision was made: judged again, not assumed.
    now = new Date(scannedAt.getTime() + hour);
    const back = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(back).toMatchObject({ allowed: true });
    expect(back).not.toBe(last);
  });

  test('a vulnerability exception: reused until its warning starts, then until it expires, denied from then', async () => {
    const expires = new Date('2030-02-01T00:00:00Z');
    await setup({
      policy:
        'rules:\n  - name: scanned\n    require:\n      signatures: {}\n' +
        `      vulnerabilities: { maxSeverity: medium, exceptions: [{ id: CVE-2030-0001, expires: "${expires.toISOString()}", reason: unreachable, approvedBy: appsec }] }\n`,
    });
    await sign();
    await new ReferrerStore(client).attach(
      repo,
      await signedReferrer(signer, image, {
        predicateType: PREDICATE_TYPE.COSIGN_VULN,
        predicate: trivyScan('2030-01-01T00:00:00Z', [{ id: 'CVE-2030-0001', severity: 'CRITICAL' }]),
      }),
    );
    const warnFrom = expires.getTime() - 7 * 86_400_000;
    // Half an hour before the warning starts: the scan's age as shown (575h) holds past it too.
    let now = new Date(warnFrom - 1_800_000);
    const svc = service({ now: () => now });
    await svc.verify({ image: byDigest(), action: 'deploy' });
    const warm = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(warm).toMatchObject({ allowed: true, cached: true, warnings: [] });
    now = new Date(warnFrom - 1);
    expect(await svc.verify({ image: byDigest(), action: 'deploy' })).toBe(warm);
    now = new Date(warnFrom);
    const warned = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(warned).toMatchObject({ allowed: true });
    expect(warned.warnings.join('\n')).toMatch(/expires .*, in 7d; renew it/);
    now = new Date(expires.getTime() - 1);
    const lastMs = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(lastMs).toMatchObject({ allowed: true });
    expect(await svc.verify({ image: byDigest(), action: 'deploy' })).toBe(lastMs);
    now = expires;
    const expired = await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(expired).toMatchObject({ allowed: false, cached: true });
    expect(expired.reasons.join('\n')).toMatch(/CVE-2030-0001 \(critical.*its exception expired/);
  });

  test('another namespace, action or label set is another decision', async () => {
    await setup({
      policy:
        'rules:\n' +
        '  - name: team-a\n    match: { namespaces: [team-a] }\n    require:\n      signatures: {}\n' +
        '  - name: everyone-else\n    require:\n      sbom: {}\n',
    });
    await sign();
    const svc = service();
    const asA = { image: byDigest(), action: 'deploy' as const, context: { namespace: 'team-a', labels: { tier: 'web' } } };
    await svc.verify(asA);
    const warm = await svc.verify(asA);
    expect(warm).toMatchObject({ allowed: true, rule: 'team-a' });
    expect(await svc.verify({ ...asA, context: { namespace: 'team-a', labels: { tier: 'web' } } })).toBe(warm);
    expect(await svc.verify({ ...asA, context: { namespace: 'team-b', labels: { tier: 'web' } } })).toMatchObject({
      allowed: false,
      rule: 'everyone-else',
    });
    expect(await svc.verify({ ...asA, context: { namespace: 'team-a', labels: { tier: 'db' } } })).not.toBe(warm);
    expect(await svc.verify({ ...asA, context: { namespace: 'team-a' } })).not.toBe(warm);
    expect(await svc.verify({ ...asA, action: 'pull' })).not.toBe(warm);
  });

  test('new evidence, a moved tag or a key change is a new decision', async () => {
    await setup();
    await sign();
    const svc = service();
    await svc.verify({ image: byTag(), action: 'deploy' });
    const warm = await svc.verify({ image: byTag(), action: 'deploy' });
    // The tag moves to an unsigned image: the memo of the old digest must not answer for it.
    const moved = storeImage(fake, REPOSITORY, 'unsigned image', 'v1');
    const r = await svc.verify({ image: byTag(), action: 'deploy' });
    expect(r).toMatchObject({ allowed: false, digest: moved.digest });
    storeImage(fake, REPOSITORY, 'signed image', 'v1');
    expect(await svc.verify({ image: byTag(), action: 'deploy' })).toMatchObject({ allowed: true, digest: image.digest });
    // A second signature through this instance: the cache entry is new, so is the decision.
    const second = await sign();
    svc.referrerAdded(repo, image.digest);
    const after = await svc.verify({ image: byTag(), action: 'deploy' });
    expect(after).not.toBe(warm);
    expect(after.evidence.map((e) => e.referrerDigest)).toContain(second);
    expect(await revokeSigner()).toBe(true);
    expect(await svc.verify({ image: byTag(), action: 'deploy' })).toMatchObject({ allowed: false });
  });
});

describe('name:tag@digest: the tag counts only where it points at that digest (runtimes pull the digest alone)', () => {
  // A tag-scoped allow rule before a rule that wants a signature: the decoy `app:dev-1@<unsigned
  // digest>` must not borrow the dev rule unless dev-1 really is that digest.
  const policy = [
    'rules:',
    '  - name: dev-builds',
    `    match: { images: ["**/${REPOSITORY}:dev-*"] }`,
    '    allow: "dev builds are not signed"',
    '  - name: release',
    '    match: { images: ["**"] }',
    '    require: { signatures: {} }',
    '',
  ].join('\n');
  let unsigned: Descriptor;
  let dev: string;
  beforeEach(async () => {
    await setup({ policy });
    unsigned = storeImage(fake, REPOSITORY, 'unsigned build');
    dev = storeImage(fake, REPOSITORY, 'a real dev build', 'dev-1').digest;
  });
  const heads = (tag: string): number => fake.requestsMatching('HEAD', new RegExp(`/manifests/${tag}$`)).length;

  test('a decoy tag (dev-1 points at another digest): judged by the digest alone, denied for want of a signature, with a warning', async () => {
    const r = await service().verify({ image: `${fake.host}/${REPOSITORY}:dev-1@${unsigned.digest}`, action: 'deploy' });
    expect(r).toMatchObject({
      allowed: false,
      rule: 'release',
      digest: unsigned.digest,
      image: `${fake.host}/${REPOSITORY}:dev-1@${unsigned.digest}`,
    });
    expect(r.warnings.join('\n')).toMatch(/tag dev-1 of .* points at sha256:[0-9a-f]{64}: .* was judged by its digest alone/);
    expect(heads('dev-1')).toBe(1);
  });

  test('a tag that does not exist, or a registry that cannot say: judged by the digest alone', async () => {
    const r = await service().verify({ image: `${fake.host}/${REPOSITORY}:dev-9@${unsigned.digest}`, action: 'deploy' });
    expect(r).toMatchObject({ allowed: false, rule: 'release' });
    expect(r.warnings.join('\n')).toMatch(/tag dev-9 .* could not be confirmed to point at that digest/);
  });

  test('the tag confirmed (dev-1 is that digest): the tag-scoped rule applies, as for the tag alone', async () => {
    const r = await service().verify({ image: `${fake.host}/${REPOSITORY}:dev-1@${dev}`, action: 'deploy' });
    expect(r).toMatchObject({ allowed: true, rule: 'dev-builds', digest: dev });
    expect(r.warnings).toEqual([]);
  });

  test('no rule the tag could change (v1 matches the same rules as the digest): no HEAD, the warm path untouched', async () => {
    await sign();
    const s = service();
    const pinned = `${fake.host}/${REPOSITORY}:v1@${image.digest}`;
    expect(await s.verify({ image: pinned, action: 'deploy' })).toMatchObject({ allowed: true, rule: 'release' });
    expect(await s.verify({ image: pinned, action: 'deploy' })).toMatchObject({ allowed: true, cached: true });
    expect(heads('v1')).toBe(0);
  });

  test('a push names the tag being written (the gate): not a claim to confirm', async () => {
    const r = await service().verify({ image: `${fake.host}/${REPOSITORY}:dev-2@${unsigned.digest}`, action: 'push' });
    expect(r).toMatchObject({ rule: 'dev-builds', allowed: true });
    expect(heads('dev-2')).toBe(0);
  });
});
