/**
 * Adversarial review: what callers and pushers can do to the metrics and the logs.
 * The review's four findings are fixed in src/logging/logger.ts (every log object bounded,
 * boundedForLog; secret names redacted at the top level and in headers at every logged depth);
 * their tests state the behaviour now. The others are guards.
 */
import { Writable } from 'node:stream';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { createLogger } from '../../../src/logging/logger';
import { PrometheusMetrics } from '../../../src/metrics/prometheus';
import { WorkerMetricsTotals } from '../../../src/metrics/aggregate';
import { unary, InFlightTracker } from '../../../src/grpc/unary';
import { CountersignError } from '../../../src/shared/errors';
import { describeStoreUrl, storeError } from '../../../src/store/postgres-errors';
import { pusherIdentity } from '../../../src/gate/identity';
import { handleAdmissionReview } from '../../../src/admission/review';

function capture(): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  let buf = '';
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString();
      let i;
      while ((i = buf.indexOf('\n')) !== -1) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
      cb();
    },
  });
  // pino writes synchronously to a plain stream's write()
  return { lines, logger: createLogger({ level: 'debug', destination: dest }) };
}

function fakeCall(request: unknown): grpc.ServerUnaryCall<unknown, unknown> {
  const e = new EventEmitter() as unknown as grpc.ServerUnaryCall<unknown, unknown> & Record<string, unknown>;
  Object.assign(e, { request, cancelled: false, metadata: new grpc.Metadata(), getDeadline: () => Infinity, getPeer: () => 'test' });
  return e;
}

/** One call through unary() with a guard that refuses it the way AccessControl does for no token. */
async function unauthenticatedCall(method: string, request: unknown): Promise<string[]> {
  const { lines, logger } = capture();
  const h = unary(
    method,
    {
      logger,
      tracker: new InFlightTracker(),
      guard: {
        check() {
          throw new CountersignError('UNAUTHENTICATED', 'no credentials: send authorization: Bearer <token>');
        },
      },
    },
    async () => ({}),
  );
  await new Promise<void>((resolve) => h(fakeCall(request), () => resolve()));
  await new Promise((r) => setImmediate(r));
  return lines;
}

describe('logs: what an unauthenticated gRPC caller can write', () => {
  // The gRPC server takes messages of megabytes and a call's facts come from the request
  // (unary.ts): every log object is bounded where it is written (logger.ts, boundedForLog).
  test('an unauthenticated Verify with a 4 MiB image field writes a bounded log line', async () => {
    const image = 'registry.example/' + 'a'.repeat(4 * 1024 * 1024);
    const lines = await unauthenticatedCall('/countersign.v1.Countersign/Verify', { image });
    expect(lines).toHaveLength(1);
    expect((JSON.parse(lines[0]!) as { status: string }).status).toBe('UNAUTHENTICATED');
    expect(lines[0]!.length).toBeLessThan(64 * 1024);
  });

  test('an image with newlines, quotes, backslashes and ANSI escapes stays one JSON line with no raw control bytes', async () => {
    const image = 'x\n{"level":60,"msg":"forged"}\r\n\u001b[31mred\u001b[0m\\"\u2028';
    const lines = await unauthenticatedCall('/countersign.v1.Countersign/Verify', { image });
    expect(lines).toHaveLength(1);
    // eslint-disable-next-line no-control-regex
    expect(lines[0]).not.toMatch(/[\u0000-\u001f]/);
    const parsed = JSON.parse(lines[0]!) as { image: string; level: number };
    expect(parsed.image).toBe(image);
    expect(parsed.level).toBe(40);
  });

  test('the authorization metadata of a refused call is not written to the log', async () => {
    const { lines, logger } = capture();
    const h = unary(
      '/countersign.v1.Countersign/Verify',
      {
        logger,
        tracker: new InFlightTracker(),
        guard: {
          check() {
            throw new CountersignError('UNAUTHENTICATED', 'the bearer token is not valid on this server');
          },
        },
      },
      async () => ({}),
    );
    const call = fakeCall({ image: 'r.example/a:1' });
    call.metadata.set('authorization', 'Bearer cst_SECRETSECRETSECRETSECRETSECRETSECRETSECRET');
    await new Promise<void>((resolve) => h(call, () => resolve()));
    expect(lines.join('\n')).not.toContain('cst_SECRET');
  });
});

describe('logs: pino redaction paths', () => {
  // Call sites pass their fields at the top level (logger.info({ ...fields }, msg)): the secret
  // names are redacted there, one level down, and in headers at each depth they are logged at.
  test('a top-level password/token/authorization/privateKey/kek field is redacted', () => {
    const { lines, logger } = capture();
    logger.info(
      { password: 'pw-SECRET', token: 'cst_SECRET', authorization: 'Bearer SECRET', privateKey: 'PEM-SECRET', kek: 'KEK-SECRET' },
      'x',
    );
    expect(lines[0]).not.toContain('SECRET');
  });

  test('an authorization header three levels down (err.request.headers.authorization) is redacted', () => {
    const { lines, logger } = capture();
    logger.info({ err: { request: { headers: { authorization: 'Basic SECRET2' } } } }, 'x');
    expect(lines.join('\n')).not.toContain('SECRET');
  });

  test('depth-2 paths the redaction lists are censored', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        err: { password: 'pw-SECRET', token: 't-SECRET', privateKey: 'k-SECRET', authorization: 'a-SECRET' },
        req: { headers: { authorization: 'Bearer SECRET' } },
        up: { headers: { authorization: 'Bearer SECRET' } },
      },
      'x',
    );
    expect(lines[0]).not.toContain('SECRET');
    expect(lines[0]).toContain('[redacted]');
  });
});

describe('logs: secrets in messages', () => {
  test('describeStoreUrl never shows the password of a postgres URL', () => {
    expect(describeStoreUrl('postgres://alice:s3cr%40t@db.example:5432/cs')).toBe('PostgreSQL alice@db.example:5432/cs');
    expect(describeStoreUrl('postgres://alice:pa/ss@word@db.example/cs')).not.toContain('ss@word');
    expect(describeStoreUrl('postgres://alice:pa/ss@word@db.example/cs')).not.toContain('pa/ss');
  });

  test('storeError of a refused login does not repeat the URL it was given', () => {
    const e = storeError(
      'PostgreSQL alice@db/cs',
      'connecting',
      Object.assign(new Error('password authentication failed for user "alice"'), { code: '28P01' }),
    );
    expect(e.message).not.toMatch(/postgres:\/\//);
  });

  test('the gate logs only the user name of Basic credentials, never the password', () => {
    const who = pusherIdentity('Basic ' + Buffer.from('bob:hunter2-SECRET').toString('base64'));
    expect(JSON.stringify(who)).not.toContain('SECRET');
    expect(who.identity).toBe('bob');
  });

  test('a pusher-chosen Basic user name with newlines/ANSI is cleaned before it reaches a log field', () => {
    const who = pusherIdentity('Basic ' + Buffer.from('bob\n\u001b[31mroot:pw').toString('base64'));
    // eslint-disable-next-line no-control-regex
    expect(who.identity ?? '').not.toMatch(/[\u0000-\u001f\u007f]/);
  });
});

describe('metrics: labels and exposition', () => {
  test('label values with newlines, quotes and backslashes are escaped: the exposition keeps one sample per line', async () => {
    const m = new PrometheusMetrics();
    m.decision({ action: 'pull', rule: 'evil"} 1\ncountersign_forged 9\n\\', mode: 'enforce', result: 'deny' });
    const text = await m.text();
    expect(text).not.toMatch(/^countersign_forged/m);
    const line = text.split('\n').find((l) => l.startsWith('countersign_decisions_total{'))!;
    expect(line).toContain('rule="evil\\"} 1\\ncountersign_forged 9\\n\\\\"');
  });

  test('the revision info gauges show only the revision in force: old series are removed', async () => {
    let trust = 'trust-1';
    let policy = 'policy-1';
    const m = new PrometheusMetrics({ trustRevision: () => trust, policyRevision: () => policy });
    await m.text();
    for (let i = 2; i <= 50; i++) {
      trust = `trust-${i}`;
      policy = `policy-${i}`;
      await m.text();
    }
    const text = await m.text();
    const infos = text.split('\n').filter((l) => /^countersign_(trust|policy)_revision_info\{/.test(l));
    expect(infos).toEqual([
      'countersign_trust_revision_info{revision="trust-50"} 1',
      'countersign_policy_revision_info{revision="policy-50"} 1',
    ]);
  });

  test('serve --workers: a worker that changed revision leaves no stale revision series in the primary sum', async () => {
    let rev = 'r1';
    const m = new PrometheusMetrics({ policyRevision: () => rev });
    const totals = new WorkerMetricsTotals();
    await totals.aggregate([{ worker: 1, metrics: await m.json() }]);
    rev = 'r2';
    const out = await totals.aggregate([{ worker: 1, metrics: await m.json() }]);
    expect(out.text).toContain('countersign_policy_revision_info{revision="r2"} 1');
    expect(out.text).not.toContain('revision="r1"');
  });

  test('a label name is never taken from input: only the declared label names appear', async () => {
    const m = new PrometheusMetrics();
    m.rpc('/countersign.v1.Countersign/Verify', 'OK', 0.01);
    m.registryRequest('GET', '200', 0.01);
    m.gate('pull_denied');
    m.webhook('allowed');
    const text = await m.text();
    const names = new Set<string>();
    for (const l of text.split('\n')) {
      if (!l.startsWith('countersign_')) continue;
      const inner = /\{(.*)\}/.exec(l)?.[1];
      if (inner) for (const p of inner.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) names.add(p[1]!);
    }
    for (const n of names)
      expect(['method', 'status', 'action', 'rule', 'mode', 'result', 'outcome', 'operation', 'backend', 'le', 'revision']).toContain(n);
  });
});

describe('logs: what a pod author can write through the admission webhook', () => {
  // A review's body may be 7 MiB and its denial reasons quote the images: the 'admission review'
  // line is bounded by the logger like every other (logger.ts, boundedForLog).
  test('a denied pod with a 1 MiB image name writes a bounded admission log line', async () => {
    const { lines, logger } = capture();
    const image = 'registry.example/' + 'a'.repeat(1024 * 1024) + ':1';
    const body = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'u1',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        namespace: 'default',
        operation: 'CREATE',
        object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image }] } },
      },
    };
    const verifier = {
      verify: async (input: { image: string }) => ({
        allowed: false,
        reasons: [`no signature for ${input.image}`],
        warnings: [],
        rule: 'r',
        mode: 'enforce',
      }),
    };
    const review = (await handleAdmissionReview(body, verifier as never, { deadline: Date.now() + 10_000, mutate: false, logger })) as {
      response: { allowed: boolean };
    };
    expect(review.response.allowed).toBe(false);
    const line = lines.find((l) => l.includes('"admission review"'))!;
    expect(line).toBeDefined();
    expect(line.length).toBeLessThan(64 * 1024);
  });
});
