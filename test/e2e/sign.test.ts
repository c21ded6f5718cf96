/**
 * Sign and Attest end to end: real gRPC server, real Distribution registry. What the service wrote
 * is read back and verified by test/support/independent-verify.ts, which shares no code with it.
 */
import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pushSampleImage } from '../../src/dev/sample-image';
import { keyIdOf } from '../../src/keys';
import { RegistryClient } from '../../src/registry';
import { MAX_JSON_DEPTH } from '../../src/shared/json-depth';
import { startService, testRegistryHost, uniqueRepo, grpcFailure, type RunningService } from '../support/harness';
import { healthStatus } from '../support/grpc-health';
import { fetchManifest, listReferrers, verifiedReferrers } from '../support/independent-verify';

const VECTORS = path.resolve(__dirname, '../../../shared/vectors');
const BUNDLE_MT = 'application/vnd.dev.sigstore.bundle.v0.3+json';

interface SignedArtifactMsg {
  image: string;
  digest: string;
  referrerDigest: string;
  bundle: string;
  keyId: string;
  keyName: string;
  predicateType: string;
  referrersIndex: string;
  mediaType: string;
  size: number;
  summary: string;
}

let svc: RunningService;
let host: string;
let pusher: RegistryClient;
let publicKeyPem: string;
let keyId: string;

let keysDir: string;

/** A key as the keys directory held them before the managed store: PKCS#8 `NAME.key` (0600) and SPKI `NAME.pub`. */
function writePemKey(dir: string, name: string): { id: string; publicKeyPem: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  writeFileSync(path.join(dir, `${name}.key`), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(path.join(dir, `${name}.pub`), publicKeyPem);
  return { id: keyIdOf(publicKey), publicKeyPem };
}

beforeAll(async () => {
  host = testRegistryHost();
  // A PEM key made before the service starts: imported at first start (and the test knows its
  // private bytes, to prove they never appear in logs or responses).
  keysDir = mkdtempSync(path.join(os.tmpdir(), 'countersign-legacy-keys-'));
  const info = writePemKey(keysDir, 'ci-release');
  svc = await startService({ keysDir });
  expect((await svc.app.keys.getKey('ci-release')).id).toBe(info.id);
  publicKeyPem = info.publicKeyPem;
  keyId = info.id;
  pusher = new RegistryClient({});
});

afterAll(async () => {
  await svc.stop();
  await pusher.close();
});

/** grpc.reflection.v1 as the dynamic loader builds it, as far as the reflection test uses it. */
interface ReflectionResponse {
  list_services_response: { service: Array<{ name: string }> };
}
interface ReflectionPackage {
  grpc: {
    reflection: {
      v1: {
        ServerReflection: new (
          address: string,
          credentials: grpc.ChannelCredentials,
        ) => grpc.Client & { ServerReflectionInfo(): grpc.ClientDuplexStream<{ list_services: string }, ReflectionResponse> };
      };
    };
  };
}

/** The cosign vuln predicate (https://cosign.sigstore.dev/attestation/vuln/v1), as far as the tests read it. */
interface VulnPredicate {
  scanner: { uri: string; version: string; result: unknown };
  metadata: { scanStartedOn: string; scanFinishedOn: string };
}

async function newImage(prefix: string) {
  const repository = uniqueRepo(prefix);
  const pushed = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
  return { repository, ...pushed, tagRef: `${host}/${repository}:v1`, digestRef: `${host}/${repository}@${pushed.digest}` };
}

describe('Sign', () => {
  test('signs the digest a tag resolves to and stores a cosign-v3-style bundle referrer', async () => {
    const img = await newImage('sign');
    const { result } = await svc.call<{ result: SignedArtifactMsg }>('Sign', {
      image: img.tagRef,
      key: 'ci-release',
      annotations: { build: '42' },
    });

    expect(result.digest).toBe(img.digest);
    expect(result.image).toBe(img.tagRef);
    expect(result.keyId).toBe(keyId);
    expect(result.keyName).toBe('ci-release');
    expect(result.predicateType).toBe('https://sigstore.dev/cosign/sign/v1');
    expect(result.referrersIndex).toBe('tag'); // Distribution 2.8 has no referrers API

    const found = await verifiedReferrers(host, img.repository, img.digest, publicKeyPem);
    expect(found).toHaveLength(1);
    const [ref] = found;
    expect(ref!.entry.digest).toBe(result.referrerDigest);
    expect(ref!.statement._type).toBe('https://in-toto.io/Statement/v1');
    expect(ref!.statement.subject).toEqual([{ digest: { sha256: img.digest.slice(7) }, annotations: { build: '42' } }]);
    expect(ref!.statement.predicate).toEqual({});
    expect(JSON.parse(result.bundle)).toEqual(ref!.bundle);

    // The manifest is laid out as cosign v3 writes it (FORMATS.md §2.2).
    const m = ref!.manifest;
    expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(m.artifactType).toBe(BUNDLE_MT);
    expect(m.config).toEqual({
      mediaType: 'application/vnd.oci.empty.v1+json',
      digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
      size: 2,
    });
    expect(m.subject).toEqual({ mediaType: img.mediaType, digest: img.digest, size: img.size });
    expect(m.annotations?.['dev.sigstore.bundle.content']).toBe('dsse-envelope');
    expect(m.annotations?.['org.opencontainers.image.created']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    // The fallback index entry is spec-conformant: artifactType and ALL manifest annotations.
    const { bytes } = await fetchManifest(host, img.repository, result.referrerDigest);
    expect(ref!.entry).toEqual({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: result.referrerDigest,
      size: bytes.length,
      artifactType: BUNDLE_MT,
      annotations: m.annotations,
    });
  });

  test('a reference by digest signs that digest; tag+digest signs the digest', async () => {
    const img = await newImage('bydigest');
    const a = await svc.call<{ result: SignedArtifactMsg }>('Sign', { image: img.digestRef, key: keyId });
    expect(a.result.digest).toBe(img.digest);
    expect(a.result.keyName).toBe('ci-release'); // the key was named by its id
    const b = await svc.call<{ result: SignedArtifactMsg }>('Sign', {
      image: `${host}/${img.repository}:whatever@${img.digest}`,
      key: 'ci-release',
    });
    expect(b.result.digest).toBe(img.digest);
    const found = await verifiedReferrers(host, img.repository, img.digest, publicKeyPem);
    expect(found.map((f) => f.entry.digest).sort()).toEqual([a.result.referrerDigest, b.result.referrerDigest].sort());
  });

  test('50 parallel Sign calls on one digest leave 50 index entries', async () => {
    const img = await newImage('parallel');
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        svc.call<{ result: SignedArtifactMsg }>('Sign', { image: img.tagRef, key: 'ci-release', annotations: { n: String(i) } }),
      ),
    );
    const digests = new Set(results.map((r) => r.result.referrerDigest));
    expect(digests.size).toBe(50);
    const { manifests } = await listReferrers(host, img.repository, img.digest);
    expect(manifests).toHaveLength(50);
    expect(new Set(manifests.map((e) => e.digest))).toEqual(digests);
    const found = await verifiedReferrers(host, img.repository, img.digest, publicKeyPem);
    expect(found).toHaveLength(50);
  });
});

describe('Attest', () => {
  test('SPDX, CycloneDX and a raw Trivy report become verifiable attestations', async () => {
    const img = await newImage('attest');
    const spdx = readFileSync(path.join(VECTORS, 'cosign/test/testdata/bom-go-mod.spdx.json'));
    const cdx = readFileSync(path.join(VECTORS, 'trivy/integration/testdata/fixtures/sbom/centos-7-cyclonedx.json'));
    const trivy = readFileSync(path.join(VECTORS, 'trivy/integration/testdata/alpine-310.json.golden'));

    const s = await svc.call<{ result: SignedArtifactMsg }>('Attest', {
      image: img.tagRef,
      key: 'ci-release',
      predicateType: 'spdx',
      predicate: spdx,
    });
    const c = await svc.call<{ result: SignedArtifactMsg }>('Attest', {
      image: img.tagRef,
      key: 'ci-release',
      predicateType: 'cyclonedx',
      predicate: cdx,
    });
    const v = await svc.call<{ result: SignedArtifactMsg }>('Attest', {
      image: img.tagRef,
      key: 'ci-release',
      predicateType: 'vuln',
      predicate: trivy,
    });
    expect(s.result.predicateType).toBe('https://spdx.dev/Document');
    expect(c.result.predicateType).toBe('https://cyclonedx.org/bom');
    expect(v.result.predicateType).toBe('https://cosign.sigstore.dev/attestation/vuln/v1');

    const found = await verifiedReferrers(host, img.repository, img.digest, publicKeyPem);
    const byType = new Map(found.map((f) => [f.predicateType, f.statement]));
    expect([...byType.keys()].sort()).toEqual([
      'https://cosign.sigstore.dev/attestation/vuln/v1',
      'https://cyclonedx.org/bom',
      'https://spdx.dev/Document',
    ]);
    expect(byType.get('https://spdx.dev/Document')!.predicate).toEqual(JSON.parse(spdx.toString()));
    expect(byType.get('https://cyclonedx.org/bom')!.predicate).toEqual(JSON.parse(cdx.toString()));
    const vuln = byType.get('https://cosign.sigstore.dev/attestation/vuln/v1')!.predicate as VulnPredicate;
    expect(vuln.scanner.uri).toContain('trivy');
    expect(vuln.scanner.result).toEqual(JSON.parse(trivy.toString()));
    expect(Date.parse(vuln.metadata.scanStartedOn)).not.toBeNaN();
    expect(Date.parse(vuln.metadata.scanFinishedOn)).not.toBeNaN();
    for (const f of found) expect(f.statement.subject[0]?.digest.sha256).toBe(img.digest.slice(7));
  });

  test('any absolute predicate URI is accepted; a raw Grype report is wrapped', async () => {
    const img = await newImage('attest-uri');
    const grype = readFileSync(path.join(VECTORS, 'grype/grype/presenter/explain/testdata/keycloak-test.json'));
    const custom = Buffer.from(JSON.stringify({ builder: { id: 'https://ci.example.com' } }));
    await svc.call('Attest', { image: img.tagRef, key: 'ci-release', predicateType: 'https://example.com/custom/v1', predicate: custom });
    await svc.call('Attest', { image: img.tagRef, key: 'ci-release', predicateType: 'vuln', predicate: grype });
    const found = await verifiedReferrers(host, img.repository, img.digest, publicKeyPem);
    const types = found.map((f) => f.predicateType).sort();
    expect(types).toEqual(['https://cosign.sigstore.dev/attestation/vuln/v1', 'https://example.com/custom/v1']);
    const vuln = found.find((f) => f.predicateType.includes('vuln'))!.statement.predicate as VulnPredicate;
    expect(vuln.scanner.uri).toContain('grype');
    expect(vuln.scanner.version).toBe((JSON.parse(grype.toString()) as { descriptor: { version: string } }).descriptor.version);
  });

  test('scan_timestamp (google.protobuf.Timestamp) gives a raw report without a time its scan time; with scan_time too it is refused', async () => {
    const img = await newImage('attest-scan-ts');
    // A Grype report without descriptor.timestamp: the scan time must come from the caller.
    const grype = readFileSync(path.join(VECTORS, 'grype/grype/presenter/json/testdata/snapshot/TestJsonImgsPresenter.golden'));
    const at = new Date(Date.now() - 3_600_000);
    at.setUTCMilliseconds(0);
    const scanTimestamp = { seconds: at.getTime() / 1000, nanos: 0 };
    const both = await grpcFailure(
      svc.call('Attest', {
        image: img.tagRef,
        key: 'ci-release',
        predicateType: 'vuln',
        predicate: grype,
        scanTimestamp,
        scanTime: at.toISOString(),
      }),
    );
    expect(both.code).toBe('INVALID_ARGUMENT');
    expect(both.details).toBe('give scan_timestamp or the deprecated scan_time, not both');
    await svc.call('Attest', { image: img.tagRef, key: 'ci-release', predicateType: 'vuln', predicate: grype, scanTimestamp });
    const found = await verifiedReferrers(host, img.repository, img.digest, publicKeyPem);
    const vuln = found.find((f) => f.predicateType.includes('vuln'))!.statement.predicate as VulnPredicate;
    expect(new Date(vuln.metadata.scanFinishedOn).getTime()).toBe(at.getTime());
  });
});

test(`a predicate nested ${MAX_JSON_DEPTH} levels deep (the limit) is attested, stored and verifies`, async () => {
  const img = await newImage('deep-allowed');
  const predicate = Buffer.from(`${'{"a":'.repeat(MAX_JSON_DEPTH - 1)}{}${'}'.repeat(MAX_JSON_DEPTH - 1)}`);
  await svc.call('Attest', { image: img.tagRef, key: 'ci-release', predicateType: 'https://example.com/deep/v1', predicate });
  const found = await verifiedReferrers(host, img.repository, img.digest, publicKeyPem);
  expect(found).toHaveLength(1);
  let depth = 0;
  for (let p: unknown = found[0]!.statement.predicate; typeof p === 'object' && p !== null; p = (p as { a?: unknown }).a) depth++;
  expect(depth).toBe(MAX_JSON_DEPTH);
});

describe('bad input gets a clear status and writes nothing', () => {
  let img: Awaited<ReturnType<typeof newImage>>;
  beforeAll(async () => {
    img = await newImage('errors');
  });

  async function referrerCount() {
    return (await listReferrers(host, img.repository, img.digest)).manifests.length;
  }

  test.each([
    ['not a reference', 'INVALID_ARGUMENT'],
    ['Registry.Example.com/UPPER/case:tag', 'INVALID_ARGUMENT'],
    ['', 'INVALID_ARGUMENT'],
  ])('malformed reference %p → %s', async (image, code) => {
    const f = await grpcFailure(svc.call('Sign', { image, key: 'ci-release' }));
    expect(f.code).toBe(code);
    expect(f.details.length).toBeGreaterThan(10);
  });

  test('unknown key → NOT_FOUND naming the key', async () => {
    const f = await grpcFailure(svc.call('Sign', { image: img.tagRef, key: 'nope' }));
    expect(f.code).toBe('NOT_FOUND');
    expect(f.details).toContain('nope');
    expect(await referrerCount()).toBe(0);
  });

  test('image not in the registry → NOT_FOUND', async () => {
    const f = await grpcFailure(svc.call('Sign', { image: `${host}/${img.repository}:no-such-tag`, key: 'ci-release' }));
    expect(f.code).toBe('NOT_FOUND');
    expect(f.details).toContain('no-such-tag');
  });

  test('registry unreachable → UNAVAILABLE', async () => {
    const f = await grpcFailure(svc.call('Sign', { image: '127.0.0.1:1/team/app:v1', key: 'ci-release' }));
    expect(f.code).toBe('UNAVAILABLE');
    expect(f.details).toContain('127.0.0.1:1');
  });

  test.each([
    ['spdx', '{"name":"no spdxVersion"}'],
    ['cyclonedx', '{"specVersion":"1.5"}'],
    ['spdx', 'this is not json'],
    ['vuln', '{"scanner":{"uri":"x"},"metadata":{}}'],
    ['not-a-uri', '{}'],
    ['cosign.sigstore.dev/attestation/vuln/v1', '{}'],
  ])('invalid predicate (%s: %s) → INVALID_ARGUMENT and no referrer', async (predicateType, body) => {
    const f = await grpcFailure(svc.call('Attest', { image: img.tagRef, key: 'ci-release', predicateType, predicate: Buffer.from(body) }));
    expect(f.code).toBe('INVALID_ARGUMENT');
    expect(await referrerCount()).toBe(0);
  });

  test('a 100,000-deep predicate → INVALID_ARGUMENT naming the depth limit, and nothing is written', async () => {
    const deep = Buffer.from(`${'{"a":'.repeat(100_000)}{}${'}'.repeat(100_000)}`);
    for (const predicateType of ['https://example.com/deep/v1', 'spdx', 'vuln']) {
      const f = await grpcFailure(svc.call('Attest', { image: img.tagRef, key: 'ci-release', predicateType, predicate: deep }));
      expect({ predicateType, code: f.code }).toEqual({ predicateType, code: 'INVALID_ARGUMENT' });
      expect(f.details).toContain(`deeper than ${MAX_JSON_DEPTH} levels`);
    }
    expect(await referrerCount()).toBe(0);
  });

  test('oversized predicate is refused before anything is written', async () => {
    const big = Buffer.from(JSON.stringify({ data: 'x'.repeat(svc.config.limits.maxPredicateBytes) }));
    const f = await grpcFailure(
      svc.call('Attest', { image: img.tagRef, key: 'ci-release', predicateType: 'https://example.com/p', predicate: big }),
    );
    expect(['RESOURCE_EXHAUSTED', 'INVALID_ARGUMENT']).toContain(f.code);
    expect(await referrerCount()).toBe(0);
  });
});

describe('operability', () => {
  test('health service answers SERVING', async () => {
    expect(await healthStatus(svc.address, 'countersign.v1.SigningService')).toBe('SERVING');
  });

  test('server reflection lists the services (grpcurl-style discovery)', async () => {
    const protoLoader = await import('@grpc/proto-loader');
    const file = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
    const def = protoLoader.loadSync(file, { keepCase: true, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as ReflectionPackage;
    const client = new pkg.grpc.reflection.v1.ServerReflection(svc.address, grpc.credentials.createInsecure());
    const stream = client.ServerReflectionInfo();
    const answer = new Promise<ReflectionResponse>((resolve, reject) => {
      stream.on('data', resolve);
      stream.on('error', reject);
    });
    stream.write({ list_services: '' });
    const res = await answer;
    stream.end();
    client.close();
    const names = res.list_services_response.service.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['countersign.v1.SigningService']));
  });

  test('one structured log line per call, and no private key material anywhere in the logs', async () => {
    const img = await newImage('logs');
    const before = svc.logs.length;
    const { result } = await svc.call<{ result: SignedArtifactMsg }>('Sign', { image: img.tagRef, key: 'ci-release' });
    await grpcFailure(svc.call('Sign', { image: img.tagRef, key: 'missing-key' }));
    const lines = svc.logs.slice(before).filter((l) => typeof l.method === 'string');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      method: 'countersign.v1.SigningService/Sign',
      image: img.tagRef,
      digest: result.digest,
      status: 'OK',
    });
    expect(typeof lines[0]!.durationMs).toBe('number');
    expect(lines[1]).toMatchObject({ status: 'NOT_FOUND', image: img.tagRef });

    const privatePem = readFileSync(path.join(keysDir, 'ci-release.key'), 'utf8');
    const body = privatePem
      .split('\n')
      .filter((l) => l && !l.startsWith('-----'))
      .join('');
    const logs = svc.rawLogs();
    expect(logs).not.toContain('PRIVATE KEY');
    for (let i = 0; i + 24 <= body.length; i += 24) expect(logs).not.toContain(body.slice(i, i + 24));
    expect(result.bundle).not.toContain(body.slice(0, 24));
  });

  test('SIGTERM-style shutdown lets an in-flight Sign finish', async () => {
    const other = await startService({ keysDir });
    const img = await newImage('shutdown');
    const inFlight = other.call<{ result: SignedArtifactMsg }>('Sign', { image: img.tagRef, key: 'ci-release' });
    // Stop only once the server is handling the call (a call still connecting is refused, and that
    // is not what is tested): a deterministic wait, not a sleep.
    let settled = false as boolean; // set by the callbacks below, while the loop waits
    inFlight.then(
      () => (settled = true),
      () => (settled = true),
    );
    while (other.app.grpc.inFlight === 0 && !settled) await new Promise((r) => setTimeout(r, 1));
    const stopping = other.app.stop();
    const { result } = await inFlight;
    await stopping;
    expect(result.digest).toBe(img.digest);
    const f = await grpcFailure(other.call('Sign', { image: img.tagRef, key: 'ci-release' }, 2000));
    expect(f.code).toBe('UNAVAILABLE');
    await other.stop();
  });
});
