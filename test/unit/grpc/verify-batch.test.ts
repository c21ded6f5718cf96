/**
 * VerifyBatch through a real gRPC server and client, over a fake verification service (the handler
 * is what is tested): the image cap, the dedupe and the deadline race are verifyMany's, the same
 * as the admission webhook's.
 */
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { call, verificationClient, type UnaryClient } from '../../../src/cli/client';
import { serviceConstructor } from '../../../src/grpc/proto';
import { statusName } from '../../../src/grpc/status';
import { InFlightTracker } from '../../../src/grpc/unary';
import { verificationHandlers } from '../../../src/grpc/verification-handlers';
import { createLogger } from '../../../src/logging/logger';
import type { VerificationService, VerifyInput, VerifyResult } from '../../../src/verification/verification-service';
import { MAX_IMAGES_PER_REQUEST } from '../../../src/verification/verify-many';

/** Allows every image, except that `hang` never answers (and ignores its signal). */
class FakeService {
  readonly calls: VerifyInput[] = [];
  constructor(private readonly hang = new Set<string>()) {}
  verify(input: VerifyInput): Promise<VerifyResult> {
    this.calls.push(input);
    if (this.hang.has(input.image)) return new Promise(() => undefined);
    return Promise.resolve({
      allowed: true,
      image: input.image,
      digest: `sha256:${'a'.repeat(64)}`,
      mode: 'enforce',
      rule: 'r',
      requirements: [],
      evidence: [],
      policyRevision: 'p',
      trustRevision: 't',
      cached: false,
      warnings: [],
      reasons: [`allowed ${input.image}`],
    } as unknown as VerifyResult);
  }
}

let server: grpc.Server;
let client: UnaryClient;
let tracker: InFlightTracker;
let logged: string;
let service: FakeService;
const HANGS = 'reg.example.com/team/hangs:1';

beforeEach(async () => {
  logged = '';
  tracker = new InFlightTracker();
  service = new FakeService(new Set([HANGS]));
  const logger = createLogger({
    level: 'info',
    destination: new Writable({
      write: (c, _e, cb) => {
        logged += String(c);
        cb();
      },
    }),
  });
  server = new grpc.Server();
  server.addService(
    serviceConstructor('VerificationService').service,
    verificationHandlers(service as unknown as VerificationService, { logger, tracker }),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  client = verificationClient(`127.0.0.1:${port}`);
});

afterEach(async () => {
  client.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
});

async function failure(p: Promise<unknown>): Promise<{ code: string; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: statusName(e.code), details: e.details };
  }
  throw new Error('expected the call to fail');
}

const batch = (images: string[], timeoutMs = 10_000) =>
  call<{ allowed: boolean; results: Array<{ image: string; reasons: string[] }> }>(
    client,
    'VerifyBatch',
    { images, action: 'ACTION_DEPLOY' },
    timeoutMs,
  );
const distinct = (n: number) => Array.from({ length: n }, (_, i) => `reg.example.com/team/app${i}:1`);

test('more distinct images than the cap: INVALID_ARGUMENT naming the cap, nothing verified', async () => {
  const f = await failure(batch(distinct(MAX_IMAGES_PER_REQUEST + 1)));
  expect(f.code).toBe('INVALID_ARGUMENT');
  expect(f.details).toContain(
    `at most ${MAX_IMAGES_PER_REQUEST} distinct images are verified per request, got ${MAX_IMAGES_PER_REQUEST + 1}`,
  );
  expect(service.calls).toHaveLength(0);
});

test('identical references are verified once; every entry is answered, in request order', async () => {
  const [a, b] = distinct(2) as [string, string];
  const images = [a, b, a, a, b];
  const r = await batch(images);
  expect(r.allowed).toBe(true);
  expect(r.results.map((x) => x.image)).toEqual(images);
  expect(service.calls.map((c) => c.image)).toEqual([a, b]);
});

test('an image still running at the deadline ends the call with DEADLINE_EXCEEDED, and the handler lets go', async () => {
  const f = await failure(batch([distinct(1)[0]!, HANGS], 300));
  expect(f.code).toBe('DEADLINE_EXCEEDED');
  // The server side answered too (the race, not the hung verifier, decided): no call left in
  // flight. (Whichever fires first ends the race: the call's cancellation at its deadline or the
  // deadline timer; both are DEADLINE_EXCEEDED.)
  await tracker.idle();
  expect(logged).toMatch(/"status":"DEADLINE_EXCEEDED"/);
  // The hung image was handed a signal that the race aborted.
  expect(service.calls.find((c) => c.image === HANGS)!.signal!.aborted).toBe(true);
});
