/**
 * Adversarial review of the request surface of Verify, VerifyBatch, Sign and Attest, as a hostile
 * or buggy caller sees it: the real service (createApp, real gRPC server and client) over the
 * in-process fake registry, so that every registry request a call makes can be counted.
 *
 * Some of these failed against the code as it was reviewed (a batch answer no client could
 * receive, unbounded context labels kept per decision, control characters in predicate types, text
 * that is not Unicode signed, a Sign's deadline ignored behind another); the others are guards.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import * as grpc from '@grpc/grpc-js';
import { serviceConstructor } from '../../../src/grpc/proto';
import { referrersTagFor } from '../../../src/registry/reference';
import { MAX_CONTEXT_LABEL_CHARS, MAX_LABEL_KEY_CHARS, MAX_LABEL_VALUE_CHARS } from '../../../src/verification/request-context';
import { grpcFailure, startService, type RunningService } from '../../support/harness';
import { FakeRegistry } from '../registry/fake-registry';
import { storeImage } from '../verification/bundle-fixtures';

let fake: FakeRegistry;
let svc: RunningService;

beforeAll(async () => {
  fake = await FakeRegistry.start({ referrersApi: false });
  svc = await startService();
  await svc.call('CreateKey', { name: 'ci' });
});

afterAll(async () => {
  await svc.stop();
  await fake.close();
});

let counter = 0;
/** A fresh repository with one image tagged v1. */
function newImage(prefix: string): { repo: string; digest: string; tagRef: string; digestRef: string } {
  const repo = `team/${prefix}-${++counter}`;
  const { digest } = storeImage(fake, repo, `${prefix}-${counter}`, 'v1');
  return { repo, digest, tagRef: `${fake.host}/${repo}:v1`, digestRef: `${fake.host}/${repo}@${digest}` };
}

/** Registry requests that name `repo`. */
const requestsFor = (repo: string) => fake.requests.filter((r) => r.path.startsWith(`/v2/${repo}/`));

/** The digests listed in the referrers fallback index of `digest` (none when the tag does not exist). */
function listed(repo: string, digest: string): string[] {
  const m = fake.taggedManifest(repo, referrersTagFor(digest));
  if (!m) return [];
  return (JSON.parse(m.bytes.toString('utf8')) as { manifests: Array<{ digest: string }> }).manifests.map((d) => d.digest);
}

async function idle(): Promise<void> {
  for (let i = 0; i < 600 && svc.app.grpc.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 50));
  expect(svc.app.grpc.inFlight).toBe(0);
}

// ---- raw wire messages --------------------------------------------------------------------------

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}
const fieldVarint = (field: number, n: number) => Buffer.concat([varint((field << 3) | 0), varint(n)]);
const fieldBytes = (field: number, b: Buffer | string) => {
  const bytes = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  return Buffer.concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
};

/** One unary call with hand-made request bytes; the answer decoded with the real response type. */
function rawCall(
  service: 'VerificationService' | 'SigningService',
  method: string,
  request: Buffer,
  timeoutMs = 10_000,
): Promise<Record<string, unknown>> {
  const ctor = serviceConstructor(service);
  const def = ctor.service[method]!;
  const client = new grpc.Client(svc.address, grpc.credentials.createInsecure());
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    client.makeUnaryRequest(
      def.path,
      (b: Buffer) => b,
      (b: Buffer) => def.responseDeserialize(b) as Record<string, unknown>,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
  }).finally(() => client.close());
}

/** Waits until the fake registry has seen a request matching `method` and `path`. */
async function sawRequest(method: string, path: RegExp): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (fake.requestsMatching(method, path).length > 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ${method} ${String(path)} reached the registry`);
}

const BAD_REFERENCES: Array<[string, string]> = [
  ['a NUL byte in the repository', `REG/team/a\u0000pp:v1`],
  ['a NUL byte in the tag', `REG/team/app:v\u00001`],
  ['unicode look-alike letters', `REG/team/\u0430pp:v1`],
  ['an uppercase repository', `REG/Team/App:v1`],
  ['sha256 with 63 hex digits', `REG/team/app@sha256:${'a'.repeat(63)}`],
  ['sha256 in uppercase hex', `REG/team/app@sha256:${'A'.repeat(64)}`],
  ['sha512 with 64 hex digits', `REG/team/app@sha512:${'a'.repeat(64)}`],
  ['an unsupported algorithm', `REG/team/app@sha384:${'a'.repeat(96)}`],
  ['two digests', `REG/team/app@sha256:${'a'.repeat(64)}@sha256:${'b'.repeat(64)}`],
  ['2,000 characters', `REG/team/${'a'.repeat(2000)}:v1`],
  ['a newline', `REG/team/app:v1\nINFO forged`],
  ['only a digest', `@sha256:${'a'.repeat(64)}`],
];

// -------------------------------------------------------------------------------------------------
describe('Verify and VerifyBatch: what the request says', () => {
  test.each([0, 4, 99, -1])('action number %p (unset or unknown) is INVALID_ARGUMENT before any registry request', async (action) => {
    const img = newImage('enum');
    const verify = await grpcFailure(
      rawCall('VerificationService', 'Verify', Buffer.concat([fieldBytes(1, img.tagRef), fieldVarint(2, action)])),
    );
    expect(verify.code).toBe('INVALID_ARGUMENT');
    expect(verify.details).toContain('ACTION_PUSH, ACTION_PULL or ACTION_DEPLOY');
    const batch = await grpcFailure(
      rawCall(
        'VerificationService',
        'VerifyBatch',
        Buffer.concat([fieldBytes(1, img.tagRef), fieldBytes(1, img.digestRef), fieldVarint(2, action)]),
      ),
    );
    expect(batch.code).toBe('INVALID_ARGUMENT');
    expect(requestsFor(img.repo)).toHaveLength(0);
  });

  test.each(BAD_REFERENCES)('Verify of a reference with %s: INVALID_ARGUMENT, bounded message, no registry request', async (_what, ref) => {
    const before = fake.requests.length;
    const f = await grpcFailure(svc.call('Verify', { image: ref.replace('REG', fake.host), action: 'ACTION_DEPLOY' }));
    expect(f.code).toBe('INVALID_ARGUMENT');
    expect(f.details).toMatch(/^invalid image reference/);
    expect(f.details.length).toBeLessThan(1000);
    expect(fake.requests.length).toBe(before);
  });

  test('an image reference that is not UTF-8 on the wire is INVALID_ARGUMENT', async () => {
    const img = newImage('utf8');
    const image = Buffer.concat([Buffer.from(img.tagRef), Buffer.from([0xc3])]);
    const f = await grpcFailure(rawCall('VerificationService', 'Verify', Buffer.concat([fieldBytes(1, image), fieldVarint(2, 3)])));
    expect(f.code).toBe('INVALID_ARGUMENT');
    expect(requestsFor(img.repo)).toHaveLength(0);
  });

  test('a well-formed sha512 reference to a signed image is never an allow', async () => {
    const img = newImage('sha512');
    await svc.call('Sign', { image: img.tagRef, key: 'ci' });
    const r = await svc.call<{ allowed: boolean; reasons: string[] }>('Verify', {
      image: `${fake.host}/${img.repo}@sha512:${'a'.repeat(128)}`,
      action: 'ACTION_DEPLOY',
    });
    expect(r.allowed).toBe(false);
    expect(r.reasons.join('\n')).not.toBe('');
  });

  test('VerifyBatch: one malformed reference among signed images fails the call INVALID_ARGUMENT naming it, never an allow', async () => {
    const a = newImage('batch-a');
    const b = newImage('batch-b');
    await svc.call('Sign', { image: a.tagRef, key: 'ci' });
    await svc.call('Sign', { image: b.tagRef, key: 'ci' });
    const f = await grpcFailure(
      svc.call('VerifyBatch', { images: [a.tagRef, `${fake.host}/team/Bad:v1`, b.digestRef], action: 'ACTION_DEPLOY' }),
    );
    expect(f.code).toBe('INVALID_ARGUMENT');
    expect(f.details).toContain(`${fake.host}/team/Bad:v1`);
  });

  test('VerifyBatch: an empty entry among good ones is INVALID_ARGUMENT, not skipped', async () => {
    const a = newImage('batch-empty');
    await svc.call('Sign', { image: a.tagRef, key: 'ci' });
    const f = await grpcFailure(svc.call('VerifyBatch', { images: [a.tagRef, ''], action: 'ACTION_DEPLOY' }));
    expect(f.code).toBe('INVALID_ARGUMENT');
  });

  test('VerifyBatch: an unsigned and a missing image among signed ones are each denied, and the batch is not allowed', async () => {
    const signed = newImage('batch-signed');
    const unsigned = newImage('batch-unsigned');
    await svc.call('Sign', { image: signed.tagRef, key: 'ci' });
    const missing = `${fake.host}/${signed.repo}:no-such-tag`;
    const images = [signed.tagRef, unsigned.tagRef, missing, signed.tagRef];
    const r = await svc.call<{ allowed: boolean; results: Array<{ image: string; allowed: boolean; reasons: string[] }> }>('VerifyBatch', {
      images,
      action: 'ACTION_DEPLOY',
    });
    expect(r.allowed).toBe(false);
    expect(r.results.map((x) => x.allowed)).toEqual([true, false, false, true]);
    expect(r.results[2]!.reasons.join('\n')).toContain('no-such-tag');
  });

  test(
    'VerifyBatch of 100,000 identical references (within the request size limit) is refused up front as INVALID_ARGUMENT, ' +
      'the same status in the log, and writes no megabytes of log',
    async () => {
      const img = newImage('amplify');
      await svc.call('Sign', { image: img.tagRef, key: 'ci' });
      const logBefore = svc.rawLogs().length;
      const logLinesBefore = svc.logs.length;
      const f = await grpcFailure(
        svc.call('VerifyBatch', { images: Array.from({ length: 100_000 }, () => img.tagRef), action: 'ACTION_DEPLOY' }, 60_000),
      );
      await idle();
      const line = svc.logs.slice(logLinesBefore).find((l) => l.method === 'countersign.v1.VerificationService/VerifyBatch');
      // What the caller and the operator see agree, and one call cannot write megabytes of log.
      expect({ client: f.code, logged: line?.status }).toEqual({ client: 'INVALID_ARGUMENT', logged: 'INVALID_ARGUMENT' });
      expect(f.details).toMatch(/at most \d+ (entries|images)/);
      expect(svc.rawLogs().length - logBefore).toBeLessThan(64 * 1024);
    },
    120_000,
  );

  test('a request over the receive limit is RESOURCE_EXHAUSTED, and the server keeps answering', async () => {
    const img = newImage('huge');
    const huge = `${img.tagRef}${'a'.repeat(svc.config.limits.maxPredicateBytes + 2 * 1024 * 1024)}`;
    const f = await grpcFailure(svc.call('Verify', { image: huge, action: 'ACTION_DEPLOY' }));
    expect(f.code).toBe('RESOURCE_EXHAUSTED');
    const r = await svc.call<{ allowed: boolean }>('Verify', { image: img.tagRef, action: 'ACTION_DEPLOY' });
    expect(r.allowed).toBe(false);
  });
});

// -------------------------------------------------------------------------------------------------
describe('Sign and Attest: what the request says', () => {
  test.each(BAD_REFERENCES)('Sign of a reference with %s: INVALID_ARGUMENT, no registry request', async (_what, ref) => {
    const before = fake.requests.length;
    const f = await grpcFailure(svc.call('Sign', { image: ref.replace('REG', fake.host), key: 'ci' }));
    expect(f.code).toBe('INVALID_ARGUMENT');
    expect(f.details.length).toBeLessThan(1000);
    expect(fake.requests.length).toBe(before);
  });

  test('a key that is empty, absent, holds a NUL or is not UTF-8: refused before any registry request', async () => {
    const img = newImage('keyname');
    for (const key of [Buffer.from(''), Buffer.from('c\u0000i'), Buffer.from([0x63, 0x69, 0xff])]) {
      const f = await grpcFailure(rawCall('SigningService', 'Sign', Buffer.concat([fieldBytes(1, img.tagRef), fieldBytes(2, key)])));
      expect(['INVALID_ARGUMENT', 'NOT_FOUND']).toContain(f.code);
    }
    const absent = await grpcFailure(rawCall('SigningService', 'Sign', fieldBytes(1, img.tagRef)));
    expect(['INVALID_ARGUMENT', 'NOT_FOUND']).toContain(absent.code);
    expect(requestsFor(img.repo)).toHaveLength(0);
  });

  test('a well-formed sha512 reference the registry does not know: NOT_FOUND, nothing written', async () => {
    const img = newImage('sign-sha512');
    const f = await grpcFailure(svc.call('Sign', { image: `${fake.host}/${img.repo}@sha512:${'b'.repeat(128)}`, key: 'ci' }));
    expect(f.code).toBe('NOT_FOUND');
    expect(requestsFor(img.repo).filter((r) => r.method !== 'HEAD' && r.method !== 'GET')).toHaveLength(0);
  });

  test('an annotation that is not UTF-8 on the wire is INVALID_ARGUMENT, nothing signed or written', async () => {
    const img = newImage('ann-utf8');
    const entry = Buffer.concat([fieldBytes(1, 'build'), fieldBytes(2, Buffer.from([0x31, 0xff, 0xfe, 0x32]))]);
    const outcome = await rawCall(
      'SigningService',
      'Sign',
      Buffer.concat([fieldBytes(1, img.tagRef), fieldBytes(2, 'ci'), fieldBytes(3, entry)]),
    ).then(
      (res) => {
        const bundle = JSON.parse((res.result as { bundle: string }).bundle) as { dsseEnvelope: { payload: string } };
        return { signed: Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8') };
      },
      (err: unknown) => ({ code: grpc.status[(err as grpc.ServiceError).code] }),
    );
    expect(outcome).toEqual({ code: 'INVALID_ARGUMENT' });
    expect(listed(img.repo, img.digest)).toHaveLength(0);
  });

  test.each([
    ['a NUL', 'https://example.com/predicate\u0000/v1'],
    ['an ANSI escape', 'https://example.com/\u001b[2J\u001b[31mAPPROVED/v1'],
    ['BEL and backspace', 'https://example.com/a\u0007\u0008b'],
    ['a right-to-left override', 'https://example.com/\u202e1v/moc.elpmaxe'],
  ])('a predicate type with %s is INVALID_ARGUMENT, nothing signed or written', async (_what, predicateType) => {
    const img = newImage('ptype');
    const f = await grpcFailure(svc.call('Attest', { image: img.tagRef, key: 'ci', predicateType, predicate: Buffer.from('{"a":1}') }));
    expect(f.code).toBe('INVALID_ARGUMENT');
    expect(listed(img.repo, img.digest)).toHaveLength(0);
  });

  test.each<[string, Buffer]>([
    ['not UTF-8', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])],
    ['UTF-16 with a BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"a":1}', 'utf16le')])],
    ['a JSON array', Buffer.from('[{"a":1}]')],
    ['a JSON string', Buffer.from('"{}"')],
    ['JSON with trailing garbage', Buffer.from('{"a":1} {"b":2}')],
    ['empty', Buffer.alloc(0)],
  ])('Attest with a predicate that is %s: INVALID_ARGUMENT, nothing written', async (what, predicate) => {
    const img = newImage('pred');
    const f = await grpcFailure(svc.call('Attest', { image: img.tagRef, key: 'ci', predicateType: 'https://example.com/p/v1', predicate }));
    expect({ what, code: f.code }).toEqual({ what, code: 'INVALID_ARGUMENT' });
    expect(requestsFor(img.repo).filter((r) => r.method === 'PUT' || r.method === 'POST')).toHaveLength(0);
  });

  test('a predicate holding a lone surrogate (\\ud800, not Unicode text) is INVALID_ARGUMENT, nothing signed or written', async () => {
    const img = newImage('surrogate');
    const predicate = Buffer.from('{"\\ud800":"approved","note":"\\udfff"}');
    const f = await grpcFailure(svc.call('Attest', { image: img.tagRef, key: 'ci', predicateType: 'https://example.com/p/v1', predicate }));
    expect(f.code).toBe('INVALID_ARGUMENT');
    expect(listed(img.repo, img.digest)).toHaveLength(0);
  });

  test('duplicate keys in an SBOM: what is validated is what is signed (the last value, once)', async () => {
    const img = newImage('dupkeys');
    const bad = '{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"x","packages":[],"spdxVersion":"SPDX-9.9"}';
    expect(
      (await grpcFailure(svc.call('Attest', { image: img.tagRef, key: 'ci', predicateType: 'spdx', predicate: Buffer.from(bad) }))).code,
    ).toBe('INVALID_ARGUMENT');
    const good = '{"spdxVersion":"SPDX-9.9","SPDXID":"SPDXRef-DOCUMENT","name":"x","packages":[],"spdxVersion":"SPDX-2.3"}';
    const r = await svc.call<{ result: { bundle: string } }>('Attest', {
      image: img.tagRef,
      key: 'ci',
      predicateType: 'spdx',
      predicate: Buffer.from(good),
    });
    const bundle = JSON.parse(r.result.bundle) as { dsseEnvelope: { payload: string } };
    const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8');
    expect(payload.match(/"spdxVersion"/g)).toHaveLength(1);
    expect((JSON.parse(payload) as { predicate: { spdxVersion: string } }).predicate.spdxVersion).toBe('SPDX-2.3');
  });

  test.each([
    ['cyclonedx', '{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"x","packages":[]}'],
    ['spdx', '{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}'],
    ['https://cyclonedx.org/bom/v1.4', '{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}'],
    ['vuln', '{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}'],
    ['https://in-toto.io/attestation/vulns/v0.1', '{"SchemaVersion":2,"ArtifactName":"x","Results":[]}'],
  ])('predicate type %s with a document of another format: INVALID_ARGUMENT, nothing written', async (predicateType, doc) => {
    const img = newImage('mismatch');
    const f = await grpcFailure(svc.call('Attest', { image: img.tagRef, key: 'ci', predicateType, predicate: Buffer.from(doc) }));
    expect(f.code).toBe('INVALID_ARGUMENT');
    expect(listed(img.repo, img.digest)).toHaveLength(0);
  });

  test('a scan_timestamp outside the Timestamp range or with bad nanos: INVALID_ARGUMENT naming the field', async () => {
    const img = newImage('scantime');
    const report = Buffer.from('{"SchemaVersion":2,"ArtifactName":"x","ArtifactType":"container_image","Results":[]}');
    for (const scanTimestamp of [
      { seconds: 253_402_300_800, nanos: 0 },
      { seconds: 1, nanos: -1 },
      { seconds: 1, nanos: 1_000_000_000 },
    ]) {
      const f = await grpcFailure(
        svc.call('Attest', { image: img.tagRef, key: 'ci', predicateType: 'vuln', predicate: report, scanTimestamp }),
      );
      expect(f.code).toBe('INVALID_ARGUMENT');
      expect(f.details).toContain('scan_timestamp');
    }
    expect(listed(img.repo, img.digest)).toHaveLength(0);
  });
});

// -------------------------------------------------------------------------------------------------
describe('deadlines and cancellation under Sign', () => {
  test('a client that cancels during the bundle upload leaves no referrer manifest and no index entry', async () => {
    const img = newImage('cancel');
    fake.inject({ method: 'POST', path: new RegExp(`^/v2/${img.repo}/blobs/uploads/$`), delayMs: 1500 });
    const def = serviceConstructor('SigningService').service.Sign!;
    const client = new grpc.Client(svc.address, grpc.credentials.createInsecure());
    const failed = new Promise<grpc.ServiceError>((resolve) => {
      const c = client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        { image: img.tagRef, key: 'ci' },
        new grpc.Metadata(),
        { deadline: Date.now() + 30_000 },
        (err) => resolve(err!),
      );
      void sawRequest('POST', new RegExp(`^/v2/${img.repo}/blobs/uploads/$`)).then(() => c.cancel());
    });
    expect(grpc.status[(await failed).code]).toBe('CANCELLED');
    client.close();
    await idle();
    await new Promise((r) => setTimeout(r, 1700)); // past the delayed answer
    expect(requestsFor(img.repo).filter((r) => r.method === 'PUT' && r.path.includes('/manifests/'))).toHaveLength(0);
    expect(listed(img.repo, img.digest)).toHaveLength(0);
  });

  test(
    'a Sign whose deadline passed while it waited behind another Sign of the same digest writes nothing into the ' +
      'index afterwards (its caller, told DEADLINE_EXCEEDED, may retry without adding a second signature)',
    async () => {
      const img = newImage('deadline-queue');
      const indexPath = new RegExp(`^/v2/${img.repo}/manifests/${referrersTagFor(img.digest)}$`);
      // The first Sign's read of the index is slow: it holds the index's write lock meanwhile.
      fake.inject({ method: 'GET', path: indexPath, delayMs: 2500 });
      const first = svc.call<{ result: { referrerDigest: string } }>('Sign', { image: img.tagRef, key: 'ci' });
      await sawRequest('GET', indexPath);
      // A second Sign of the same digest, whose caller gives up after 1 s (while it waits for the lock).
      const second = await grpcFailure(svc.call('Sign', { image: img.tagRef, key: 'ci' }, 1000));
      expect(second.code).toBe('DEADLINE_EXCEEDED');
      const mine = (await first).result.referrerDigest;
      await idle();
      // Only what a caller was told succeeded is listed: the abandoned Sign wrote nothing after its deadline.
      expect(listed(img.repo, img.digest)).toEqual([mine]);
    },
    60_000,
  );
});

// -------------------------------------------------------------------------------------------------
describe('what a Verify request leaves behind', () => {
  /** A full garbage collection (V8's gc(), reached without --expose-gc). */
  function collectGarbage(): void {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    gc();
    gc();
  }

  test('a Verify context beyond its limits (megabytes of labels, a key or value too long) is INVALID_ARGUMENT naming the field, before any registry request', async () => {
    const img = newImage('labels-limit');
    const cases: Array<[Record<string, string>, string]> = [
      [Object.fromEntries(Array.from({ length: 15_000 }, (_, i) => [`l${i}`, 'v'.repeat(190)])), `more than ${MAX_CONTEXT_LABEL_CHARS}`], // ~3 MB
      [{ ['k'.repeat(MAX_LABEL_KEY_CHARS + 1)]: 'v' }, 'context.labels key'],
      [{ team: 'v'.repeat(MAX_LABEL_VALUE_CHARS + 1) }, 'context.labels["team"]'],
    ];
    for (const [labels, names] of cases) {
      const f = await grpcFailure(svc.call('Verify', { image: img.tagRef, action: 'ACTION_DEPLOY', context: { labels } }, 60_000));
      expect(f.code).toBe('INVALID_ARGUMENT');
      expect(f.details).toContain(names);
      expect(f.details.length).toBeLessThan(1000);
    }
    expect(requestsFor(img.repo)).toHaveLength(0);
  });

  test('a workload with hundreds of Kubernetes-sized labels is verified, not refused (Kubernetes sets no count)', async () => {
    const img = newImage('many-labels');
    await svc.call('Sign', { image: img.tagRef, key: 'ci' });
    const labels = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`example.com/label-${i}`, 'v'.repeat(63)]));
    expect(await svc.call('Verify', { image: img.tagRef, action: 'ACTION_DEPLOY', context: { labels } }, 60_000)).toMatchObject({
      allowed: true,
    });
  });

  test(
    'the labels of a Verify request are not kept in memory after the call ' +
      '(each allowed decision memo keeps a key of its context, not the labels: 4096 memos x the largest context would be 1 GB)',
    async () => {
      const img = newImage('labels');
      await svc.call('Sign', { image: img.tagRef, key: 'ci' });
      // 32 references to the one signed digest (more tags on it): each gets a decision memo of its own.
      const refs = Array.from({ length: 32 }, (_, i) => {
        fake.repo(img.repo).tags.set(`t${i}`, img.digest);
        return `${fake.host}/${img.repo}:t${i}`;
      });
      // The largest context accepted: every label, each value as long as allowed (~256 KiB).
      const labels = Object.fromEntries(
        Array.from({ length: Math.floor(MAX_CONTEXT_LABEL_CHARS / (MAX_LABEL_VALUE_CHARS + 8)) }, (_, i) => [
          `l${i}`,
          `${i}`.padEnd(MAX_LABEL_VALUE_CHARS, 'v'),
        ]),
      );
      const ask = (image: string) =>
        svc.call<{ allowed: boolean; cached: boolean }>('Verify', { image, action: 'ACTION_DEPLOY', context: { labels } }, 60_000);
      await svc.call('Verify', { image: img.tagRef, action: 'ACTION_DEPLOY' }); // collects (and caches) the evidence
      collectGarbage();
      const before = process.memoryUsage().heapUsed;
      for (const image of refs) expect(await ask(image)).toMatchObject({ allowed: true, cached: true }); // warm: memoized
      for (const image of refs) expect(await ask(image)).toMatchObject({ allowed: true, cached: true }); // the memo is reused
      collectGarbage();
      const retainedMb = (process.memoryUsage().heapUsed - before) / (1024 * 1024);
      // 32 x 256 KiB of labels would be 8 MB (more as JS strings and objects); what the calls leave is far less.
      expect(retainedMb).toBeLessThan(3);
    },
    180_000,
  );
});
