/**
 * Attacks on the gate's link to Countersign (GrpcVerifier, the decision it enforces, the reuse of
 * decisions and the allowed children of an index) and on the HTTP/gRPC side endpoints a client
 * can reach without credentials (grpc.health.v1, /healthz, /readyz, /metrics).
 *
 * Countersign is faked at the wire here (a gRPC server answering VerificationService/Verify with
 * hand-encoded protobuf, so any garbage can be sent), but for the multi-arch test, which runs the
 * real service against the suite's real Distribution.
 *
 * The review found six holes, closed since; every test states what the gate does.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';
import { request } from 'undici';
import { pushSampleImage } from '../../../src/dev/sample-image';
import { GrpcVerifier, startGateServer } from '../../../src/gate';
import { GrpcServer } from '../../../src/grpc/server';
import { serviceConstructor } from '../../../src/grpc/proto';
import { createLogger } from '../../../src/logging/logger';
import { startMetricsServer } from '../../../src/metrics';
import { RegistryClient } from '../../../src/registry';
import { MEDIA_TYPE } from '../../../src/registry/types';
import { startService, testRegistryHost, uniqueRepo, type RunningService } from '../../support/harness';
import { OCI_MANIFEST, serve, useFakeUpstream } from './fake-upstream';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const D = (c: string) => `sha256:${c.repeat(64)}`;
const IMAGE = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('c'), size: 2 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D('d'), size: 3 }],
  }),
);

const upstream = useFakeUpstream();

// ---------------------------------------------------------------------------------------------
// A Countersign at the wire: VerificationService/Verify with raw (Buffer) serializers, so a test
// can answer with any bytes: unknown enum values, missing fields, another image, another digest.
// ---------------------------------------------------------------------------------------------

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}
const fieldVarint = (no: number, v: number) => Buffer.concat([varint(no << 3), varint(v)]);
const fieldString = (no: number, s: string) => {
  const b = Buffer.from(s);
  return Buffer.concat([varint((no << 3) | 2), varint(b.length), b]);
};

/** VerifyResponse fields (proto/countersign/v1/verification.proto), each optional; `mode` as its number. */
interface WireAnswer {
  allowed?: boolean;
  image?: string;
  digest?: string;
  mode?: number;
  rule?: string;
  policyRevision?: string;
  trustRevision?: string;
  reasons?: string[];
}
function encodeAnswer(a: WireAnswer): Buffer {
  const parts: Buffer[] = [];
  if (a.allowed) parts.push(fieldVarint(1, 1));
  if (a.image !== undefined) parts.push(fieldString(2, a.image));
  if (a.digest !== undefined) parts.push(fieldString(3, a.digest));
  if (a.mode !== undefined) parts.push(fieldVarint(4, a.mode));
  if (a.rule !== undefined) parts.push(fieldString(5, a.rule));
  if (a.policyRevision !== undefined) parts.push(fieldString(8, a.policyRevision));
  if (a.trustRevision !== undefined) parts.push(fieldString(9, a.trustRevision));
  for (const r of a.reasons ?? []) parts.push(fieldString(12, r));
  return Buffer.concat(parts);
}

interface AskedVerify {
  image: string;
  action: string;
  context: { identity: string; labels: Record<string, string> };
  /** ms left until the call's deadline when the server got it (Infinity: none). */
  msLeft: number;
}

type Behaviour = (req: AskedVerify) => WireAnswer | { error: grpc.status; details: string } | 'hang';

class WireCountersign {
  readonly calls: AskedVerify[] = [];
  behaviour: Behaviour = () => ({ allowed: false });
  private readonly server = new grpc.Server();
  private readonly hung: Array<() => void> = [];
  address = '';

  async start(): Promise<void> {
    const decode = serviceConstructor('VerificationService').service.Verify!.requestDeserialize as (b: Buffer) => AskedVerify;
    const raw = (b: Buffer) => b;
    const definition: grpc.ServiceDefinition = {
      Verify: {
        path: '/countersign.v1.VerificationService/Verify',
        requestStream: false,
        responseStream: false,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
      },
    };
    this.server.addService(definition, {
      Verify: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const d = call.getDeadline();
        const at = d instanceof Date ? d.getTime() : d;
        const asked = { ...decode(call.request), msLeft: Number.isFinite(at) ? at - Date.now() : Infinity };
        this.calls.push(asked);
        const b = this.behaviour(asked);
        if (b === 'hang') {
          this.hung.push(() => cb(null, encodeAnswer({ allowed: true, digest: digestIn(asked.image) })));
          return;
        }
        if ('error' in b) cb({ code: b.error, details: b.details });
        else cb(null, encodeAnswer(b));
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.address = `127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    for (const release of this.hung.splice(0)) release();
    this.server.forceShutdown();
  }
}

const digestIn = (image: string) => image.slice(image.indexOf('@') + 1);
/** Countersign's proper answer shape: an allow of exactly what was asked. */
const properAllow = (req: AskedVerify): WireAnswer => ({
  allowed: true,
  image: req.image,
  digest: digestIn(req.image),
  mode: 1, // MODE_ENFORCE
  rule: 'signed',
  policyRevision: 'p1',
  trustRevision: 't1',
  reasons: ['signed by ci'],
});

async function withWireGate(
  countersign: WireCountersign,
  fn: (pull: (ref?: string, repo?: string) => Promise<{ status: number; how: string; body: string }>) => Promise<void>,
  extra: { decisionTimeoutMs?: number; decisionCacheTtlMs?: number } = {},
): Promise<void> {
  const verifier = new GrpcVerifier({ address: countersign.address });
  const gate = await startGateServer({
    listen: '127.0.0.1:0',
    upstream: upstream.url,
    verifier,
    registryName: 'registry.example',
    ...extra,
  });
  try {
    await fn(async (ref = 'v1', repo = 'team/app') => {
      const res = await request(`${gate.url}/v2/${repo}/manifests/${ref}`);
      return { status: res.statusCode, how: String(res.headers['x-countersign-gate'] ?? ''), body: await res.body.text() };
    });
  } finally {
    await gate.close();
    verifier.close();
  }
}

describe('the gate over gRPC: an answer is enforced only when it is an answer to the question asked', () => {
  const countersign = new WireCountersign();
  beforeAll(() => countersign.start());
  afterAll(() => countersign.stop());
  beforeEach(() => {
    countersign.calls.length = 0;
    upstream.handler = serve(IMAGE);
  });

  test('guard: a proper allow is served, the request names the digest served, action PULL and no identity', async () => {
    countersign.behaviour = properAllow;
    await withWireGate(countersign, async (pull) => {
      expect((await pull()).status).toBe(200);
      expect(countersign.calls).toHaveLength(1);
      expect(countersign.calls[0]).toMatchObject({
        image: `registry.example/team/app:v1@${sha(IMAGE)}`,
        action: 'ACTION_PULL',
        context: { identity: '' },
      });
    });
  });

  test.each<[string, (req: AskedVerify) => WireAnswer]>([
    ['an allow with no digest at all', (req) => ({ ...properAllow(req), digest: undefined })],
    ['an allow with an empty message but allowed=true', () => ({ allowed: true })],
    ['an allow about another digest', (req) => ({ ...properAllow(req), digest: D('e') })],
    ['an allow about the digest in upper case', (req) => ({ ...properAllow(req), digest: digestIn(req.image).toUpperCase() })],
    ['an empty message (allowed missing = false)', () => ({})],
  ])('guard: %s is a deny, and is never reused', async (_what, answer) => {
    countersign.behaviour = answer;
    await withWireGate(countersign, async (pull) => {
      const first = await pull();
      expect(first.status).toBe(403);
      expect(JSON.parse(first.body)).toMatchObject({ errors: [{ code: 'DENIED' }] });
      expect((await pull()).status).toBe(403);
      // Asked again: nothing of a garbage answer is cached.
      expect(countersign.calls).toHaveLength(2);
    });
  });

  test.each<[string, grpc.status]>([
    ['UNKNOWN', grpc.status.UNKNOWN],
    ['INTERNAL', grpc.status.INTERNAL],
    // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- a code the enum does not name, on purpose
    ['an unnamed status code (99)', 99 as grpc.status],
    ['UNAUTHENTICATED', grpc.status.UNAUTHENTICATED],
  ])('guard: an error answer (%s) is a deny that says Countersign could not decide', async (_what, code) => {
    countersign.behaviour = () => ({ error: code, details: 'boom' });
    await withWireGate(countersign, async (pull) => {
      const r = await pull();
      expect(r.status).toBe(403);
      expect(r.body).toContain('Countersign could not decide');
      expect(r.body).toContain('fails closed');
    });
  });

  test('guard: a Countersign that never answers is a deny at the decision timeout, and the call carried that deadline', async () => {
    countersign.behaviour = () => 'hang';
    await withWireGate(
      countersign,
      async (pull) => {
        const r = await pull();
        expect(r.status).toBe(403);
        expect(countersign.calls).toHaveLength(1);
        // The deadline went over the wire (grpc-timeout), no longer than the gate's own.
        expect(countersign.calls[0]!.msLeft).toBeLessThanOrEqual(400);
      },
      { decisionTimeoutMs: 400 },
    );
  });

  test('guard: a pull allow is never reused for a push of the same bytes to the same tag', async () => {
    const pushes: string[] = [];
    countersign.behaviour = (req) => {
      if (req.action === 'ACTION_PUSH') pushes.push(req.context.labels['gate.countersign.dev/operation'] ?? 'tag');
      return req.action === 'ACTION_PULL' ? properAllow(req) : { ...properAllow(req), allowed: false, reasons: ['no'] };
    };
    const verifier = new GrpcVerifier({ address: countersign.address });
    const gate = await startGateServer({ listen: '127.0.0.1:0', upstream: upstream.url, verifier, registryName: 'registry.example' });
    try {
      expect((await request(`${gate.url}/v2/team/app/manifests/v1`)).statusCode).toBe(200);
      const put = await request(`${gate.url}/v2/team/app/manifests/v1`, {
        method: 'PUT',
        headers: { 'content-type': OCI_MANIFEST, authorization: 'Bearer x' },
        body: IMAGE,
      });
      await put.body.dump();
      expect(put.statusCode).toBe(403);
      // Asked as a push (the content write first, denied): the pull allow counted for nothing.
      expect(pushes).toEqual(['content']);
      expect(upstream.seen.filter((s) => s.startsWith('PUT'))).toEqual([]);
    } finally {
      await gate.close();
      verifier.close();
    }
  });

  test('guard: an allow made under a revision the gate has since left behind is not reused', async () => {
    // One answer per image: v1 allowed under t1; then an answer about v2 reports t2 (a revocation):
    // v1 is asked about again.
    let trust = 't1';
    countersign.behaviour = (req) => ({ ...properAllow(req), trustRevision: trust });
    await withWireGate(
      countersign,
      async (pull) => {
        expect((await pull('v1')).status).toBe(200);
        expect((await pull('v1')).how).toBe('allowed (decision reused)');
        trust = 't2';
        expect((await pull('v2')).status).toBe(200);
        expect((await pull('v1')).how).toBe('allowed');
        expect(countersign.calls.map((c) => c.image.split('@')[0])).toEqual([
          'registry.example/team/app:v1',
          'registry.example/team/app:v2',
          'registry.example/team/app:v1',
        ]);
      },
      { decisionCacheTtlMs: 60_000 },
    );
  });

  test('an allow about another image (another repository, same digest) is a deny', async () => {
    // Countersign judges the repository too (rules match images by name): an allow for
    // registry.example/public/mirror says nothing about registry.example/prod/app. The gate
    // compares the image answered about with the image asked, not only the digest.
    countersign.behaviour = (req) => ({ ...properAllow(req), image: `registry.example/public/mirror@${digestIn(req.image)}` });
    await withWireGate(countersign, async (pull) => {
      const r = await pull('v1', 'prod/app');
      expect(r.status).toBe(403);
      expect(r.body).toContain('answered about another image');
    });
  });

  test.each<[string, (req: AskedVerify) => WireAnswer]>([
    ['an unknown mode (99)', (req) => ({ ...properAllow(req), mode: 99 })],
    ['MODE_UNSPECIFIED ("never sent by the server") and no rule', (req) => ({ ...properAllow(req), mode: 0, rule: undefined })],
  ])('an allow with %s (outside the VerifyResponse contract) is a deny', async (_what, answer) => {
    // proto: MODE_UNSPECIFIED is never sent; every answer names its rule. An answer outside that
    // contract (another version of Countersign, a proxy, a bug) is garbage, and garbage must deny.
    countersign.behaviour = answer;
    await withWireGate(countersign, async (pull) => {
      expect((await pull()).status).toBe(403);
    });
  });
});

describe('what a denial tells the registry client about Countersign', () => {
  test('an unreachable Countersign is a deny that does not hand its internal address to the client', async () => {
    upstream.handler = serve(IMAGE);
    // A port nothing listens on (bound, then closed).
    const probe = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) =>
      probe.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    probe.forceShutdown();
    const verifier = new GrpcVerifier({ address: `127.0.0.1:${port}` });
    const warned: object[] = [];
    const gate = await startGateServer({
      listen: '127.0.0.1:0',
      upstream: upstream.url,
      verifier,
      registryName: 'registry.example',
      decisionTimeoutMs: 3000,
      logger: { info: () => undefined, warn: (o) => warned.push(o), error: () => undefined },
    });
    try {
      const res = await request(`${gate.url}/v2/team/app/manifests/v1`);
      const body = await res.body.text();
      expect(res.statusCode).toBe(403);
      expect(body).toContain('Countersign could not decide');
      // Anyone who may pull (anonymous, on a public registry) reads this body: the host and port
      // of the verification service behind the gate are for the gate's log, not for them.
      expect(body).not.toContain(`127.0.0.1:${port}`);
      expect(body).not.toContain('ECONNREFUSED');
      // The client reads the status and what it can do; the gate's log has what happened.
      expect(body).toContain('UNAVAILABLE: Countersign unavailable');
      expect(JSON.stringify(warned)).toContain('ECONNREFUSED');
    } finally {
      await gate.close();
      verifier.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Allowed children of an index, against the real service and the real Distribution. Under
// `multiArch: platforms` (and `either` when the platforms satisfy it) Countersign sets aside the
// children BuildKit marks as attestation manifests (platform unknown/unknown + the annotation
// vnd.docker.reference.type: attestation-manifest): they are never judged, so the gate does not
// count them as covered by the index's allow (it did: every digest the index listed).
// ---------------------------------------------------------------------------------------------

describe('a child the index allow never judged is not covered by it', () => {
  let host: string;
  let pusher: RegistryClient;
  let svc: RunningService;
  let dir: string;

  beforeAll(async () => {
    host = testRegistryHost();
    pusher = new RegistryClient({});
    dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-attacks-verifier-'));
    const policyFile = path.join(dir, 'policy.yaml');
    writeFileSync(
      policyFile,
      `defaults: { mode: enforce, onUnmatched: deny, onError: deny }
rules:
  - name: platforms
    match: { images: ["${host}/countersign-test/va-platforms-*"] }
    multiArch: platforms
    require:
      signatures: { keys: [ci-release] }
  - name: either
    match: { images: ["${host}/countersign-test/va-either-*"] }
    multiArch: either
    require:
      signatures: { keys: [ci-release] }
`,
    );
    svc = await startService({ policyFile, verification: { cacheTtlMs: 300_000, negativeCacheTtlMs: 0, maxDurationMs: 8000 } });
    await svc.app.keys.createKey({ name: 'ci-release' }, 'test');
  });
  afterAll(async () => {
    await svc.stop();
    await pusher.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test.each(['platforms', 'either'])(
    'multiArch %s: an unsigned runnable image listed as an "attestation manifest" of an allowed index is not pullable by digest (the index allow covers only what was judged)',
    async (mode) => {
      const repository = uniqueRepo(`va-${mode}`);
      const repo = { registry: host, repository };
      // The one platform: signed. The "attestation": a runnable image nobody signed.
      const signed = await pushSampleImage(pusher, repo, 'amd64');
      await svc.call('Sign', { image: `${host}/${repository}@${signed.digest}`, key: 'ci-release' });
      const evil = await pushSampleImage(pusher, repo, 'evil', { content: 'not what was signed\n' });
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MEDIA_TYPE.OCI_INDEX,
          manifests: [
            { mediaType: signed.mediaType, digest: signed.digest, size: signed.size, platform: { os: 'linux', architecture: 'amd64' } },
            {
              mediaType: evil.mediaType,
              digest: evil.digest,
              size: evil.size,
              platform: { os: 'unknown', architecture: 'unknown' },
              annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': signed.digest },
            },
          ],
        }),
      );
      await pusher.putManifest(repo, 'v1', index, MEDIA_TYPE.OCI_INDEX);

      const verifier = new GrpcVerifier({ address: svc.address });
      const gate = await startGateServer({ listen: '127.0.0.1:0', upstream: `http://${host}`, verifier });
      try {
        const get = async (ref: string) => {
          const res = await request(`${gate.url}/v2/${repository}/manifests/${ref}`);
          return { status: res.statusCode, how: String(res.headers['x-countersign-gate'] ?? ''), body: await res.body.text() };
        };
        // Alone, the image is what it is: unsigned, denied.
        expect((await get(evil.digest)).status).toBe(403);
        // The index is allowed: its one runnable platform is signed, the "attestation" is set aside.
        expect(await get('v1')).toMatchObject({ status: 200, how: 'allowed' });
        // Then the unsigned image by digest: nothing ever judged it.
        const after = await get(evil.digest);
        expect({ status: after.status, how: after.how }).toEqual({ status: 403, how: '' });
      } finally {
        await gate.close();
        verifier.close();
      }
    },
  );

  test('guard: the signed platform child is served under the allowed index (the shortcut itself works)', async () => {
    const repository = uniqueRepo('va-platforms-guard');
    const repo = { registry: host, repository };
    const signed = await pushSampleImage(pusher, repo, 'amd64');
    await svc.call('Sign', { image: `${host}/${repository}@${signed.digest}`, key: 'ci-release' });
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.OCI_INDEX,
        manifests: [
          { mediaType: signed.mediaType, digest: signed.digest, size: signed.size, platform: { os: 'linux', architecture: 'amd64' } },
        ],
      }),
    );
    await pusher.putManifest(repo, 'v1', index, MEDIA_TYPE.OCI_INDEX);
    const verifier = new GrpcVerifier({ address: svc.address });
    const gate = await startGateServer({ listen: '127.0.0.1:0', upstream: `http://${host}`, verifier });
    try {
      const idx = await request(`${gate.url}/v2/${repository}/manifests/v1`);
      await idx.body.dump();
      expect(idx.statusCode).toBe(200);
      const child = await request(`${gate.url}/v2/${repository}/manifests/${signed.digest}`);
      await child.body.dump();
      expect(child.statusCode).toBe(200);
      expect(child.headers['x-countersign-gate']).toBe(`child of allowed index ${sha(index)}`);
      // The real service echoes the image exactly as the gate asks it (VerifyResponse.image): a
      // gate can require the answer to be about its question, not only about its digest.
      const asked = `${host}/${repository}:v1@${sha(index)}`;
      const answer = await svc.call<{ image: string; digest: string }>('Verify', { image: asked, action: 'ACTION_PULL' });
      expect(answer).toMatchObject({ image: asked, digest: sha(index) });
    } finally {
      await gate.close();
      verifier.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// grpc.health.v1 is open to anyone (no credentials: load balancers and kubelets ask it).
// ---------------------------------------------------------------------------------------------

interface HealthWatchClient extends grpc.Client {
  watch(request: { service: string }): grpc.ClientReadableStream<{ status: string }>;
  check(request: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): grpc.ClientUnaryCall;
}

function healthClient(address: string): HealthWatchClient {
  const def = protoLoader.loadSync(protoPath, { keepCase: true, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    grpc: { health: { v1: { Health: new (a: string, c: grpc.ChannelCredentials) => HealthWatchClient } } };
  };
  return new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
}

function healthOnlyServer(): GrpcServer {
  return new GrpcServer({
    // Not called: only the health service is used here.
    signing: {} as never,
    verification: {} as never,
    keys: {} as never,
    policies: {} as never,
    logger: createLogger({ level: 'silent' }),
    maxReceiveBytes: 4 * 1024 * 1024,
    storeHealth: () => undefined,
  });
}

/** The health implementation's watcher table (grpc-health-check HealthImplementation#watchers). */
const watcherTable = (server: GrpcServer) => (server as unknown as { health: { watchers: Map<string, Set<unknown>> } }).health.watchers;

describe('grpc.health.v1 without credentials', () => {
  test('Watch streams for made-up service names, once cancelled, leave nothing behind (no unbounded memory per name)', async () => {
    const server = healthOnlyServer();
    const port = await server.listen('127.0.0.1:0');
    const client = healthClient(`127.0.0.1:${port}`);
    try {
      const WATCHES = 40;
      const NAME_BYTES = 256 * 1024;
      for (let i = 0; i < WATCHES; i++) {
        const stream = client.watch({ service: `${i}-${'x'.repeat(NAME_BYTES)}` });
        // The first message (SERVICE_UNKNOWN) says the server holds the watch; then hang up.
        await new Promise<void>((resolve, reject) => {
          stream.once('data', () => resolve());
          stream.once('error', reject);
        });
        stream.on('error', () => undefined);
        stream.cancel();
      }
      const table = watcherTable(server);
      // Every cancellation reached the server (no watcher is left)...
      for (let i = 0; i < 200 && [...table.values()].some((s) => s.size > 0); i++) await new Promise((r) => setTimeout(r, 10));
      expect([...table.values()].every((s) => s.size === 0)).toBe(true);
      // ...and no made-up name is a key of the table: an anonymous client keeps none of the
      // 256 KiB (up to the 4 MiB+ message limit) of each Watch it opens and closes.
      const retained = [...table.keys()].reduce((n, k) => n + k.length, 0);
      expect(retained).toBeLessThan(NAME_BYTES);
    } finally {
      client.close();
      await server.shutdown(1000);
    }
  });

  test('guard: Check of an unknown service is NOT_FOUND and retains nothing', async () => {
    const server = healthOnlyServer();
    const port = await server.listen('127.0.0.1:0');
    const client = healthClient(`127.0.0.1:${port}`);
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => client.check({ service: 'not-a-service' }, (e) => resolve(e)));
      expect(err?.code).toBe(grpc.status.NOT_FOUND);
      expect(watcherTable(server).size).toBe(0);
      const ok = await new Promise<string | undefined>((resolve) => client.check({ service: '' }, (_e, r) => resolve(r?.status)));
      expect(ok).toBe('SERVING');
    } finally {
      client.close();
      await server.shutdown(1000);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The metrics port: /healthz, /readyz, /metrics (plain HTTP, no credentials).
// ---------------------------------------------------------------------------------------------

describe('the metrics port', () => {
  test('guard: /readyz says why the store is not ready without its password; other methods and paths cost nothing', async () => {
    let collects = 0;
    let readies = 0;
    const server = await startMetricsServer({
      listen: '127.0.0.1:0',
      metrics: {
        collect: async () => {
          collects++;
          return { text: 'm 1\n', contentType: 'text/plain' };
        },
      },
      notReady: () => {
        readies++;
        return 'PostgreSQL countersign@db.internal:5432/countersign does not answer: connect ECONNREFUSED';
      },
    });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const ready = await request(`${base}/readyz`);
      expect(ready.statusCode).toBe(503);
      expect(ready.headers['cache-control']).toBe('no-store');
      expect(await ready.body.text()).not.toMatch(/postgres(ql)?:\/\/|:[^@\s]+@db/i);
      for (const [method, p] of [
        ['POST', '/metrics'],
        ['PUT', '/readyz'],
        ['GET', '/metrics/../metrics2'],
        ['GET', '/readyz/'],
        ['DELETE', '/healthz'],
      ] as const) {
        const r = await request(`${base}${p}`, { method });
        await r.body.dump();
        expect(r.statusCode === 404 || r.statusCode === 405).toBe(true);
      }
      // Only the two real GETs collected anything.
      const m = await request(`${base}/metrics?x=1`);
      expect(await m.body.text()).toBe('m 1\n');
      expect({ collects, readies }).toEqual({ collects: 1, readies: 1 });
      const h = await request(`${base}/healthz`);
      expect(await h.body.text()).toBe('ok\n');
    } finally {
      await server.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The in-process gate (`serve --gate-listen`, one per worker under `serve --workers N`) reuses an
// allow while currentRevision() — `${policy revision} ${trust.revision()}` read from memory — is
// unchanged. A revocation made by another worker (or replica, or the CLI) is announced to this
// process (IPC `stale` → store.changes.markStale(), NOTIFY, data_version) and the keys are then
// re-read asynchronously. Verify waits for that re-read (trust.settled()); the gate's reuse does not.
// ---------------------------------------------------------------------------------------------

describe('a revocation announced by another process ends reuse of in-process gate decisions', () => {
  test('while the announced re-read of the keys is under way, a warm allow of a now-revoked signature is not served', async () => {
    const host = testRegistryHost();
    const pusher = new RegistryClient({});
    const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-attacks-verifier-rev-'));
    const policyFile = path.join(dir, 'policy.yaml');
    writeFileSync(
      policyFile,
      `defaults: { mode: enforce, onUnmatched: deny, onError: deny }
rules:
  - name: signed
    match: { images: ["${host}/countersign-test/va-revoke-*"] }
    require:
      signatures: { keys: [ci-release] }
`,
    );
    const svc = await startService({
      policyFile,
      verification: { cacheTtlMs: 300_000, negativeCacheTtlMs: 0, maxDurationMs: 8000 },
      gate: {
        listen: '127.0.0.1:0',
        upstream: `http://${host}`,
        allowPlainHttp: false,
        decisionTimeoutMs: 9000,
        decisionCacheTtlMs: 60_000,
      },
    });
    let release: () => void = () => undefined;
    let held: Promise<void> | undefined;
    try {
      await svc.app.keys.createKey({ name: 'ci-release' }, 'test');
      const repository = uniqueRepo('va-revoke');
      const img = await pushSampleImage(pusher, { registry: host, repository }, 'v1');
      await svc.call('Sign', { image: `${host}/${repository}@${img.digest}`, key: 'ci-release' });
      const gateUrl = svc.app.gate!.url;
      const pull = async () => {
        const res = await request(`${gateUrl}/v2/${repository}/manifests/v1`);
        await res.body.dump();
        return { status: res.statusCode, how: String(res.headers['x-countersign-gate'] ?? '') };
      };
      expect(await pull()).toEqual({ status: 200, how: 'allowed' });
      expect(await pull()).toEqual({ status: 200, how: 'allowed (decision reused)' });

      // Another worker revokes the key: its commit is in the shared database, this process's copy
      // of the keys does not have it yet (what KeyTrustView's own transaction would apply).
      const db = (svc.app.store as unknown as { db: { exec(sql: string): void } }).db;
      db.exec(
        `UPDATE keys SET state = 'revoked', state_reason = 'compromised', state_changed_at = '${new Date().toISOString()}' WHERE name = 'ci-release'`,
      );
      db.exec(`UPDATE key_store_meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'trust_revision'`);
      // This worker is busy with a write (any transaction in flight holds the connection), and the
      // primary's notice arrives: the re-read is queued behind the write.
      held = svc.app.store.transaction(() => new Promise<void>((r) => (release = r)));
      svc.app.store.changes.markStale();
      // The revocation is announced and Verify would not use the key now (it waits for the re-read)...
      const settling = (
        svc.app.verification as unknown as { opts: { trust: { settled(): Promise<void> | undefined } } }
      ).opts.trust.settled();
      expect(settling).toBeDefined();
      // ...but the gate still reuses its allow made with it.
      const during = await pull();
      release();
      await held;
      expect(during.how).not.toBe('allowed (decision reused)');
      expect(await pull()).toMatchObject({ status: 403 });
    } finally {
      release();
      await held?.catch(() => undefined);
      await svc.stop();
      await pusher.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
