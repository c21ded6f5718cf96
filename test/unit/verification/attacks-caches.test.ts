/**
 * Adversarial review of every cache on the decision path (README "Caching, correctly"): the
 * evidence cache (src/verification/evidence-cache.ts), the decision memo and the manifest facts
 * (src/verification/verification-service.ts), the registry client's memory of the referrers API
 * (src/registry/referrers.ts), the request-context key (src/verification/request-context.ts) and
 * the gate's decision cache and allowed children (src/gate/decision-cache.ts, allowed-children.ts).
 *
 * The question each test asks: is a decision, or evidence, ever reused for a request it does not
 * apply to, or kept past the moment it stops being true? The review's four findings are fixed and
 * their tests state the behaviour now; the others are guards for behaviour checked and found
 * correct. Clocks are injected wherever the code takes one; nothing asserts on durations.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SigningKey } from '../../../src/keys/types';
import { PolicyStore } from '../../../src/policy-store';
import { RegistryClient } from '../../../src/registry/client';
import { ReferrerStore } from '../../../src/registry/referrer-store';
import { MEDIA_TYPE, type Descriptor, type RepositoryRef } from '../../../src/registry/types';
import type { TrustStore } from '../../../src/trust/types';
import { newSigningKey, tempKeyStore, type TempKeyStore } from '../../support/managed-keys';
import { EvidenceCollector, type CollectorOptions } from '../../../src/verification/collector';
import { EvidenceCache, type EvidenceCacheOptions } from '../../../src/verification/evidence-cache';
import { VerificationService, type VerificationServiceOptions, type VerifyInput } from '../../../src/verification/verification-service';
import { requestContextKey } from '../../../src/verification/request-context';
import { decisionKey, DecisionCache } from '../../../src/gate/decision-cache';
import { AllowedChildren } from '../../../src/gate/allowed-children';
import type { GateVerifyResult } from '../../../src/gate/decision';
import { FakeRegistry } from '../registry/fake-registry';
import { signedReferrer, storeImage, tempDir } from './bundle-fixtures';
import { PREDICATE_TYPE } from '../../../src/attestations/predicate-types';
import { trivyScan } from '../policy/fixtures';

const REPOSITORY = 'team/app';
const INDEX_MT = 'application/vnd.oci.image.index.v1+json';

let tmp: ReturnType<typeof tempDir>;
let signer: SigningKey;
let fake: FakeRegistry;
let client: RegistryClient;
let keys: TempKeyStore | undefined;
let trust: TrustStore;
let policies: PolicyStore;
let policyFile: string;
let cache: EvidenceCache;
let repo: RepositoryRef;
let image: Descriptor;
let counter = 0;
/** The evidence cache's clock (ms): advanced by hand, never by waiting. */
let t = 1_000_000;
let isSetUp = false;
const extraClients: RegistryClient[] = [];

beforeAll(async () => {
  tmp = tempDir('attacks-caches');
  signer = await newSigningKey('ci');
});
afterAll(() => tmp.cleanup());

async function setup(policy: string, cacheOpts: EvidenceCacheOptions = {}): Promise<void> {
  counter++;
  const dir = path.join(tmp.dir, `policy-${counter}`);
  mkdirSync(dir);
  await keys?.close();
  keys = await tempKeyStore();
  await keys.store.importPublicKey({ name: 'ci' }, signer.publicKeyPem, 'test');
  trust = keys.store.trust;
  policyFile = path.join(dir, 'policy.yaml');
  fake = await FakeRegistry.start({ referrersApi: true });
  writeFileSync(policyFile, policy.replace(/HOST/g, fake.host));
  policies = await PolicyStore.open(policyFile, { watch: false, pollMs: 0 });
  client = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
  t = 1_000_000;
  cache = new EvidenceCache({ now: () => t, ...cacheOpts });
  repo = { registry: fake.host, repository: REPOSITORY };
  image = storeImage(fake, REPOSITORY, 'signed image', 'v1');
  isSetUp = true;
}

afterEach(async () => {
  if (!isSetUp) return;
  isSetUp = false;
  await cache.settled();
  await keys?.close();
  keys = undefined;
  policies.close();
  fake.onRequest = undefined;
  await fake.close();
  await client.close();
  for (const c of extraClients.splice(0)) await c.close();
});

function service(extra: Partial<VerificationServiceOptions> = {}, collectorOpts: Partial<CollectorOptions> = {}): VerificationService {
  const collector = new EvidenceCollector({ client, trust, ...collectorOpts });
  return new VerificationService({ registry: client, collector, cache, trust, policies, ...extra });
}

/** What a fresh service (empty caches, its own registry client: nothing remembered) decides. */
async function fresh(req: VerifyInput): Promise<boolean> {
  const own = new RegistryClient({ maxRetries: 0, retryBaseMs: 1 });
  extraClients.push(own);
  const collector = new EvidenceCollector({ client: own, trust });
  const svc = new VerificationService({ registry: own, collector, cache: new EvidenceCache(), trust, policies });
  return (await svc.verify(req)).allowed;
}

async function sign(target: Descriptor = image, r: RepositoryRef = repo, key: SigningKey = signer): Promise<string> {
  return (await new ReferrerStore(client).attach(r, await signedReferrer(key, target))).digest;
}

async function scan(scannedAt: string, vulns: Array<{ id: string; severity: string }>, target: Descriptor = image): Promise<string> {
  const referrer = await signedReferrer(signer, target, {
    predicateType: PREDICATE_TYPE.COSIGN_VULN,
    predicate: trivyScan(scannedAt, vulns),
  });
  return (await new ReferrerStore(client).attach(repo, referrer)).digest;
}

const name = (repository = REPOSITORY): string => `${fake.host}/${repository}`;
const byDigest = (d: Descriptor = image, repository = REPOSITORY): string => `${name(repository)}@${d.digest}`;
const referrerLists = (): number => fake.requests.filter((r) => r.method === 'GET' && r.path.includes('/referrers/')).length;
const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

const SIGNED = 'rules:\n  - name: signed\n    require:\n      signatures: {}\n';

// ------------------------------------------------------------------------------------------------
// Findings
// ------------------------------------------------------------------------------------------------

describe('findings', () => {
  test('a deny made for want of evidence in an evidenceFrom repository keeps that repository\'s "nothing here" only for negativeCacheTtlMs: a signature pushed to staging is seen then', async () => {
    // After a deny every repository the decision read is shortened (verification-service.ts: the
    // image's own and its rule's evidenceFrom sources), not the image's own alone.
    await setup('rules:\n  - name: promoted\n    evidenceFrom: ["HOST/staging/{name}"]\n    require:\n      signatures: {}\n', {
      negativeTtlMs: 10_000,
      refreshAfterMs: 120_000,
    });
    storeImage(fake, 'staging/app', 'signed image'); // the same bytes, promoted from staging
    const svc = service();
    const req = { image: byDigest(), action: 'deploy' as const };
    expect((await svc.verify(req)).allowed).toBe(false); // not signed yet anywhere
    // The release pipeline signs in staging with another tool (no referrerAdded on this instance).
    await sign(image, { registry: fake.host, repository: 'staging/app' });
    expect(await fresh(req)).toBe(true);
    t += 10_001; // past the negative TTL, well before refreshAfterMs and the TTL
    const r = await svc.verify(req);
    expect(r.allowed).toBe(true);
  });

  test("a lookup in a repository the registry does not know (404 NAME_UNKNOWN from its referrers API) does not make the client forget the API for the host: the next repository's signatures are still seen", async () => {
    // The memory of referrers-API support is per registry host (src/registry/referrers.ts). A 404
    // from the referrers endpoint used to be remembered as "no referrers API" whatever it said, so
    // one lookup in a repository the registry does not have (registries with the API answer that
    // with a 404 and an OCI error: NAME_UNKNOWN, or Harbor's NOT_FOUND for an unknown project; e.g.
    // an evidenceFrom `staging/{name}` with no staging copy) made every collection on the host read only the sha256-<hex> fallback tag, which registries
    // with the API never write: every signed image of the host denied for referrersApiCacheMs, at
    // the will of whoever can make Verify look at such a repository. A 404 carrying such an OCI
    // error now falls back to the tag for that call only and leaves the host's memory alone.
    await setup(SIGNED);
    await sign(); // discoverable through the referrers API only (no fallback tag is written)
    const other = storeImage(fake, 'other/app', 'another image');
    fake.inject({
      method: 'GET',
      path: /^\/v2\/other\/app\/referrers\//,
      status: 404,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] }),
    });
    const svc = service();
    expect((await svc.verify({ image: byDigest(other, 'other/app'), action: 'deploy' })).allowed).toBe(false);
    const req = { image: byDigest(), action: 'deploy' as const };
    expect(await fresh(req)).toBe(true);
    const r = await svc.verify(req); // nothing of team/app is cached: a cold call
    expect(r.allowed).toBe(true);
  });

  test('the served media type is checked on every Verify by tag: once the registry serves a signed "image" as an index, a warm call denies it (a runtime would run its unsigned platform)', async () => {
    // What the bytes say is remembered for a digest; how the registry serves it is not: the HEAD
    // every call by tag makes is compared with it (verification-service.ts resolve()).
    await setup(SIGNED);
    const unsigned = storeImage(fake, REPOSITORY, 'the unsigned platform');
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.OCI_MANIFEST,
        manifests: [
          { mediaType: unsigned.mediaType, digest: unsigned.digest, size: unsigned.size, platform: { os: 'linux', architecture: 'amd64' } },
        ],
      }),
    );
    const digest = fake.storeManifest(REPOSITORY, body, MEDIA_TYPE.OCI_MANIFEST, 'v2');
    await sign({ mediaType: MEDIA_TYPE.OCI_MANIFEST, digest, size: body.length });
    const svc = service();
    const req = { image: `${name()}:v2`, action: 'deploy' as const };
    expect((await svc.verify(req)).allowed).toBe(true); // served as what its bytes say: one image, signed
    expect((await svc.verify(req)).allowed).toBe(true);
    // The same bytes pushed again with Content-Type index: the registry now serves them as one.
    fake.storeManifest(REPOSITORY, body, INDEX_MT, 'v2');
    expect(await fresh(req)).toBe(false);
    const r = await svc.verify(req);
    expect(r.allowed).toBe(false);
  });

  test('a collection the time budget cut short (a slow registry) is not cached: once the registry recovers, the newest scan it left unexamined decides, as for a fresh service', async () => {
    // The collector marks the note on referrers left unexamined for want of time (cutShort:
    // 'time', src/verification/collector.ts) and the evidence cache does not store such a
    // collection (src/verification/evidence-cache.ts get/refresh): the time budget is a fact of
    // that moment, not of the content. Its caller gets it as not cached, so no allow is memoized
    // from it either, and the next call collects again. README: "a collection cut short is never
    // cached". (The bytes budget depends only on the content: such a collection stays cached.)
    await setup('rules:\n  - name: scanned\n    require:\n      vulnerabilities: { maxSeverity: high }\n');
    const now = Date.now();
    await scan(isoSeconds(now - 7_200_000), []);
    // Newer, with many findings (so its referrer is larger and examined after the clean one).
    const findings = Array.from({ length: 300 }, (_, i) => ({ id: `CVE-2030-${1000 + i}`, severity: i === 0 ? 'CRITICAL' : 'LOW' }));
    const newest = await scan(isoSeconds(now - 3_600_000), findings);
    let budgetClock = 0;
    let slow = true;
    // The registry is slow once: the first bundle read takes "10 s" of the collection's 3 s budget.
    fake.onRequest = (r) => {
      if (slow && r.method === 'GET' && r.path.includes('/blobs/')) {
        slow = false;
        budgetClock += 10_000;
      }
    };
    const svc = service({}, { concurrency: 1, maxCollectMs: 3000, clock: () => budgetClock });
    const req = { image: byDigest(), action: 'deploy' as const };
    const first = await svc.verify(req);
    // The cut happened, and it left the newest scan unread.
    expect(first.evidence.some((e) => /were not examined/.test(e.reason ?? ''))).toBe(true);
    expect(first.evidence.some((e) => e.referrerDigest === newest && e.verified)).toBe(false);
    expect(first.cached).toBe(false);
    expect(cache.size).toBe(0); // nothing stored, so nothing for a memo to be kept on
    expect(await fresh(req)).toBe(false); // the registry is fast again: the newest scan is read
    t += 1000; // well inside the TTL and refreshAfterMs
    const again = await svc.verify(req);
    expect(again.allowed).toBe(false);
  });
});

// ------------------------------------------------------------------------------------------------
// Guards
// ------------------------------------------------------------------------------------------------

describe('guards: evidence and decisions are not reused for another request', () => {
  test('evidence pushed to repository A does not count for the same digest pulled from repository B (warm A first)', async () => {
    await setup(SIGNED);
    storeImage(fake, 'mirror/app', 'signed image'); // the same bytes, so the same digest
    await sign();
    const svc = service();
    await svc.verify({ image: byDigest(), action: 'deploy' });
    expect(await svc.verify({ image: byDigest(), action: 'deploy' })).toMatchObject({ allowed: true, cached: true });
    const b = await svc.verify({ image: byDigest(image, 'mirror/app'), action: 'deploy' });
    expect(b).toMatchObject({ allowed: false, digest: image.digest });
    expect(b.evidence.filter((e) => e.verified)).toEqual([]);
    // And by tag of B, after B's facts and (empty) evidence are warm.
    fake.repo('mirror/app').tags.set('v1', image.digest);
    expect(await svc.verify({ image: `${name('mirror/app')}:v1`, action: 'deploy' })).toMatchObject({ allowed: false });
  });

  test('a memoized allow for one action, namespace or identity is not the answer for another', async () => {
    await setup(
      'rules:\n' +
        '  - name: pushes\n    match: { actions: [push] }\n    push: { identities: ["ci-*"] }\n    require:\n      signatures: {}\n' +
        '  - name: prod\n    match: { namespaces: [prod] }\n    require:\n      signatures: {}\n      sbom: {}\n' +
        '  - name: rest\n    require:\n      signatures: {}\n',
    );
    await sign();
    const svc = service();
    const push = {
      image: byDigest(),
      action: 'push' as const,
      context: { identity: 'ci-a', labels: { 'gate.countersign.dev/operation': 'write' } },
    };
    await svc.verify(push);
    const warm = await svc.verify(push);
    expect(warm).toMatchObject({ allowed: true, rule: 'pushes' });
    expect(await svc.verify(push)).toBe(warm);
    // Contexts a delimiter-joined key could conflate with the memo's.
    expect(
      await svc.verify({ ...push, context: { labels: { 'gate.countersign.dev/operation': 'write', identity: 'ci-a' } } }),
    ).toMatchObject({
      allowed: false,
    });
    expect(await svc.verify({ ...push, context: { namespace: 'ci-a', labels: push.context.labels } })).toMatchObject({ allowed: false });
    expect(await svc.verify({ ...push, context: { identity: 'x', labels: { ...push.context.labels } } })).toMatchObject({ allowed: false });
    // Deploy: another rule, another decision.
    const deploy = { image: byDigest(), action: 'deploy' as const };
    await svc.verify(deploy);
    expect(await svc.verify(deploy)).toMatchObject({ allowed: true, rule: 'rest' });
    expect(await svc.verify({ ...deploy, context: { namespace: 'prod' } })).toMatchObject({ allowed: false, rule: 'prod' });
  });

  test('request-context keys and gate decision keys never collide for inputs a plain join would conflate', () => {
    const pairs: Array<[Parameters<typeof requestContextKey>[0], Parameters<typeof requestContextKey>[0]]> = [
      [{ namespace: 'a', identity: 'b' }, { namespace: 'a:b' }],
      [{ namespace: '1:a' }, { identity: '1:a' }],
      [{ identity: '' }, {}],
      [{ labels: { a: '1:b' } }, { labels: { 'a1:b': '' } }],
      [{ labels: { a: 'b', c: 'd' } }, { labels: { a: 'b1:c1:d' } }],
      [{ labels: { a: '-' } }, { labels: { a: '' } }],
      [{ labels: { x: 'y'.repeat(300) } }, { labels: { x: 'y'.repeat(299) } }],
    ];
    for (const [a, b] of pairs) expect(requestContextKey(a)).not.toBe(requestContextKey(b));
    // Label order means nothing.
    expect(requestContextKey({ labels: { a: '1', b: '2' } })).toBe(requestContextKey({ labels: { b: '2', a: '1' } }));
    const d = `sha256:${'a'.repeat(64)}`;
    expect(decisionKey('pull', `h/a@${d}`, {})).not.toBe(decisionKey('pull', `h/b@${d}`, {}));
    expect(decisionKey('pull', `h/a:t@${d}`, { labels: { x: '","' } })).not.toBe(
      decisionKey('pull', `h/a:t@${d}`, { labels: { 'x","': '' } }),
    );
    expect(decisionKey('pull', 'i', { identity: 'a' })).not.toBe(decisionKey('pull', 'i', { labels: { identity: 'a' } }));
  });

  test("gate: an allowed index's children are covered in its own repository only, and only under the revisions it was allowed under", () => {
    let now = 0;
    const children = new AllowedChildren<string>({ ttlMs: 1000, maxEntries: 10, now: () => now });
    const child = `sha256:${'c'.repeat(64)}`;
    children.remember('team/app', 'parent', [child], 'p1 k1');
    expect(children.parentOf('team/app', child, 'p1 k1')).toBe('parent');
    expect(children.parentOf('other/app', child, 'p1 k1')).toBeUndefined();
    expect(children.parentOf('team/app', child, 'p1 k2')).toBeUndefined();
    children.remember('team/app', 'parent', [child], 'p1 k1');
    now = 1000;
    expect(children.parentOf('team/app', child, 'p1 k1')).toBeUndefined();
    // The decision cache: an allow is not reused under another revision, nor past its TTL.
    const decisions = new DecisionCache({ ttlMs: 1000, maxEntries: 10, now: () => now });
    const allow: GateVerifyResult = {
      allowed: true,
      digest: child,
      reasons: [],
      warnings: [],
      rule: 'r',
      mode: 'enforce',
      policyRevision: 'p1',
      trustRevision: 'k1',
    };
    decisions.remember('k', allow, 'p1 k1');
    expect(decisions.get('k', 'p1 k2')).toBeUndefined();
    decisions.remember('k', allow, 'p1 k1');
    now += 999;
    expect(decisions.get('k', 'p1 k1')).toBe(allow);
    now += 1;
    expect(decisions.get('k', 'p1 k1')).toBeUndefined();
  });
});

describe('guards: trust changes, negatives and failures', () => {
  test('a key added after a deny by its signature allows at once (the trust revision clears the negative), no clock advance', async () => {
    await setup(SIGNED, { negativeTtlMs: 60_000 });
    const other = await newSigningKey('release');
    await sign(image, repo, other);
    const svc = service();
    const req = { image: byDigest(), action: 'deploy' as const };
    expect((await svc.verify(req)).allowed).toBe(false);
    expect((await svc.verify(req)).allowed).toBe(false);
    await keys?.store.importPublicKey({ name: 'release' }, other.publicKeyPem, 'test');
    expect(await svc.verify(req)).toMatchObject({ allowed: true, cached: false });
  });

  test('a revocation ends a memoized allow even after the evidence entry was evicted and collected again', async () => {
    await setup(SIGNED, { maxEntries: 1 });
    await sign();
    const second = storeImage(fake, REPOSITORY, 'second image');
    await sign(second);
    const svc = service();
    const req = { image: byDigest(), action: 'deploy' as const };
    await svc.verify(req);
    expect(await svc.verify(req)).toMatchObject({ allowed: true, cached: true });
    await svc.verify({ image: byDigest(second), action: 'deploy' }); // evicts the first entry
    await keys?.store.revoke('ci', 'key leaked', 'test');
    expect(await svc.verify(req)).toMatchObject({ allowed: false });
    expect(await svc.verify(req)).toMatchObject({ allowed: false });
  });

  test("a signature pushed to the image's own repository after a deny is seen once negativeCacheTtlMs has passed", async () => {
    await setup(SIGNED, { negativeTtlMs: 10_000, refreshAfterMs: 120_000 });
    const svc = service();
    const req = { image: byDigest(), action: 'deploy' as const };
    expect((await svc.verify(req)).allowed).toBe(false);
    await sign(); // another tool: no referrerAdded
    t += 9_999;
    expect((await svc.verify(req)).allowed).toBe(false); // still within the negative TTL (by design)
    t += 2;
    expect((await svc.verify(req)).allowed).toBe(true);
  });

  test('a referrer that was junk when first seen (its manifest 404 while the listing already named it) is read again after the negative TTL', async () => {
    await setup(SIGNED, { negativeTtlMs: 10_000, refreshAfterMs: 120_000 });
    const referrer = await sign();
    fake.inject({ method: 'GET', path: new RegExp(`/manifests/${referrer}$`), status: 404, times: 1 });
    const svc = service();
    const req = { image: byDigest(), action: 'deploy' as const };
    const first = await svc.verify(req);
    expect(first.allowed).toBe(false);
    expect(first.evidence.map((e) => e.reason).join('\n')).toMatch(/could not be read/);
    t += 10_001;
    expect((await svc.verify(req)).allowed).toBe(true);
  });

  test('an image absent when first asked about is not remembered as absent (by digest)', async () => {
    await setup(SIGNED);
    const later = { ...image };
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.OCI_MANIFEST, config: {}, layers: [], n: 'later' }));
    later.digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    later.size = bytes.length;
    const svc = service();
    const req = { image: byDigest(later), action: 'deploy' as const };
    expect(await svc.verify(req)).toMatchObject({ allowed: false });
    fake.storeManifest(REPOSITORY, bytes, MEDIA_TYPE.OCI_MANIFEST);
    await sign(later);
    expect(await svc.verify(req)).toMatchObject({ allowed: true });
  });

  test('a 500 on a collection shared by two callers fails both and is not cached: the next call, same clock, is allowed', async () => {
    await setup(SIGNED);
    await sign();
    const svc = service();
    const req = { image: byDigest(), action: 'deploy' as const };
    await svc.verify(req); // manifest facts and evidence warm
    cache.invalidate(svc.keys.of(repo, image.digest)); // evidence cold, facts warm: both callers reach the cache together
    fake.inject({ method: 'GET', path: /\/referrers\//, status: 500, delayMs: 100 });
    const before = referrerLists();
    const both = await Promise.all([svc.verify(req), svc.verify(req)]);
    expect(both.map((r) => r.allowed)).toEqual([false, false]);
    expect(both[0].reasons.join('\n')).toMatch(/UNAVAILABLE|500/);
    expect(referrerLists() - before).toBe(1); // one shared round trip
    expect(await svc.verify(req)).toMatchObject({ allowed: true, cached: false });
  });

  test('a cancelled caller of a shared collection fails alone: the other caller is allowed from the same single round trip, and the result is stored', async () => {
    await setup(SIGNED);
    await sign();
    const svc = service();
    const req = { image: byDigest(), action: 'deploy' as const };
    await svc.verify(req);
    cache.invalidate(svc.keys.of(repo, image.digest));
    const impatient = new AbortController();
    fake.inject({ method: 'GET', path: /\/referrers\//, delayMs: 150 });
    fake.onRequest = (r) => {
      if (r.path.includes('/referrers/')) impatient.abort();
    };
    const before = referrerLists();
    const [cancelled, patient] = await Promise.all([svc.verify({ ...req, signal: impatient.signal }), svc.verify(req)]);
    fake.onRequest = undefined;
    expect(cancelled.allowed).toBe(false);
    expect(patient).toMatchObject({ allowed: true });
    expect(referrerLists() - before).toBe(1);
    // Stored by the collection the patient caller kept alive: the next call is warm.
    const next = await svc.verify(req);
    expect(next).toMatchObject({ allowed: true, cached: true });
    expect(referrerLists() - before).toBe(1);
  });

  test("a scan's maxAge crossing while its evidence is cached and the allow memoized, reached by tag: denied from the first millisecond past it", async () => {
    await setup('rules:\n  - name: scanned\n    require:\n      signatures: {}\n      vulnerabilities: { maxAge: 2h }\n');
    await sign();
    const scannedAt = Date.parse('2030-01-01T00:00:00Z');
    await scan(isoSeconds(scannedAt), []);
    let now = new Date(scannedAt + 3_600_000);
    const svc = service({ now: () => now });
    const req = { image: `${name()}:v1`, action: 'deploy' as const };
    await svc.verify(req);
    const warm = await svc.verify(req);
    expect(warm).toMatchObject({ allowed: true, cached: true });
    now = new Date(scannedAt + 7_200_000);
    expect(await svc.verify(req)).toMatchObject({ allowed: true });
    now = new Date(scannedAt + 7_200_001);
    expect(await svc.verify(req)).toMatchObject({ allowed: false, cached: true });
  });
});
