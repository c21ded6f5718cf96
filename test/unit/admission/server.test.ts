/**
 * The admission HTTP(S) server end to end on 127.0.0.1 with a fake verifier.
 */
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { TLSSocket } from 'node:tls';
import {
  DEFAULT_MAX_BODY_BYTES,
  isLoopback,
  parseGoDuration,
  parseListen,
  reviewDeadline,
  startAdmissionServer,
  type AdmissionReviewResponse,
  type AdmissionServer,
} from '../../../src/admission';
import { connaisseur, connaisseurRaw, FakeVerifier, MemoryLogger, type ReviewFixture } from './fixtures';
import { MAX_JSON_DEPTH } from '../../../src/shared/json-depth';

/** The body of a request the server refuses (a Kubernetes `Status`, as the API server expects). */
interface FailureBody {
  apiVersion: string;
  kind: 'Status';
  status: 'Failure';
  code: number;
  message: string;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body read as the AdmissionReview answer the server gives to a review it could judge. */
  review(): AdmissionReviewResponse;
  /** The body read as the Status the server gives to a request it refuses. */
  failure(): FailureBody;
}

function request(
  url: string,
  opts: { method?: string; body?: string | Buffer; headers?: Record<string, string>; ca?: string; chunked?: boolean } = {},
): Promise<Reply> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.body !== undefined && !opts.chunked) headers['content-length'] = String(Buffer.byteLength(opts.body));
    const req = mod.request(
      u,
      { method: opts.method ?? (opts.body !== undefined ? 'POST' : 'GET'), headers, ...(opts.ca ? { ca: opts.ca } : {}), agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            text,
            review: () => JSON.parse(text) as AdmissionReviewResponse,
            failure: () => JSON.parse(text) as FailureBody,
          });
        });
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined && opts.chunked) {
      // Several writes without a Content-Length: the limit must be enforced while streaming.
      const b = Buffer.from(opts.body);
      const step = 256 * 1024;
      for (let i = 0; i < b.length; i += step) req.write(b.subarray(i, i + step));
      req.end();
    } else {
      req.end(opts.body);
    }
  });
}

const JSON_HEADERS = { 'content-type': 'application/json' };

describe('plain HTTP on loopback', () => {
  let server: AdmissionServer;
  let verifier: FakeVerifier;
  const logger = new MemoryLogger();

  beforeAll(async () => {
    verifier = new FakeVerifier({
      busybox: { allowed: false, reasons: ['no signature by a trusted key'] },
      'hang.example/never:1': { hang: true },
    });
    server = await startAdmissionServer({ listen: '127.0.0.1:0', verifier, logger, timeoutMs: 300 });
  });
  afterAll(async () => {
    await server.close();
  });

  test('binds an ephemeral port on 127.0.0.1', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  test('POST /validate with a v1 vector → 200 AdmissionReview answered for its uid', async () => {
    const r = await request(`${server.url}/validate?timeout=10s`, { body: connaisseurRaw('02_pod.json'), headers: JSON_HEADERS });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.review()).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: '0c3331b6-1812-11ea-b3fc-02897404852e', allowed: true },
    });
  });

  test('POST a v1beta1 vector that is denied → 200, v1beta1, 403 status', async () => {
    const r = await request(`${server.url}/validate`, {
      body: connaisseurRaw('04_cronjob.json'),
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    expect(r.status).toBe(200);
    const body = r.review();
    expect(body.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(body.response.uid).toBe('1d5c9e9a-a985-41ef-b87f-4bc6057e94a2');
    expect(body.response.allowed).toBe(false);
    expect(body.response.status?.code).toBe(403);
    expect(body.response.status?.message).toContain('image "busybox"');
    expect(body.response.status?.message).toContain('no signature by a trusted key');
  });

  test('one log line per review with the review fields', async () => {
    const before = logger.reviews().length;
    await request(`${server.url}/validate`, { body: connaisseurRaw('06_daemonset.json'), headers: JSON_HEADERS });
    const lines = logger.reviews().slice(before);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      uid: '083cbdfe-ae0e-48ef-b944-8c4585c4aa90',
      kind: 'DaemonSet',
      namespace: 'kube-system',
      name: 'fluentd-elasticsearch',
      operation: 'CREATE',
      images: ['quay.io/fluentd_elasticsearch/fluentd:v2.5.2'],
      allowed: true,
      durationMs: expect.any(Number) as unknown, // an asymmetric matcher, typed `any` by jest
    });
  });

  test.each(['25_null_request.json', '21_broken_admission_request.json', '26_broken_update_admission_request.json'])(
    '%s → 400 with a message',
    async (file) => {
      const r = await request(`${server.url}/validate`, { body: connaisseurRaw(file), headers: JSON_HEADERS });
      expect(r.status).toBe(400);
      const body = r.failure();
      expect(body).toMatchObject({ kind: 'Status', code: 400 });
      expect(body.message).toMatch(file.startsWith('25') ? /expected a JSON object/ : /request\.uid is missing/);
      expect(body).not.toHaveProperty('response');
    },
  );

  test('non-JSON → 400', async () => {
    const r = await request(`${server.url}/validate`, { body: '{"apiVersion": ', headers: JSON_HEADERS });
    expect(r.status).toBe(400);
    expect(r.failure().message).toBe('the body is not valid JSON');
  });

  test('a 100,000-deep body → 400 naming the depth limit (not a 500 from a stack overflow)', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const r = await request(`${server.url}/validate`, { body: `{"apiVersion":${deep},"kind":"AdmissionReview"}`, headers: JSON_HEADERS });
    expect(r.status).toBe(400);
    expect(r.failure().message).toContain(`deeper than ${MAX_JSON_DEPTH} levels`);
  });

  test('wrong Content-Type → 415', async () => {
    const r = await request(`${server.url}/validate`, { body: connaisseurRaw('02_pod.json'), headers: { 'content-type': 'text/plain' } });
    expect(r.status).toBe(415);
  });

  test('oversized body (declared length) → 413, and the connection stays usable', async () => {
    const big = Buffer.alloc(DEFAULT_MAX_BODY_BYTES + 1, 0x20);
    const r = await request(`${server.url}/validate`, { body: big, headers: JSON_HEADERS });
    expect(r.status).toBe(413);
    expect(r.failure().message).toContain(`exceeds ${DEFAULT_MAX_BODY_BYTES} bytes`);
    const again = await request(`${server.url}/healthz`);
    expect(again.status).toBe(200);
  });

  test('oversized body (chunked, no length) → 413', async () => {
    const big = Buffer.alloc(DEFAULT_MAX_BODY_BYTES + 100_000, 0x20);
    const r = await request(`${server.url}/validate`, { body: big, headers: JSON_HEADERS, chunked: true });
    expect(r.status).toBe(413);
  });

  /**
   * `body` sent to a server of its own with the default budget (reading and parsing megabytes
   * within this suite's 300 ms can fail on a loaded machine, and the budget is not what these
   * tests are about): read, judged, allowed.
   */
  async function expectReadAndAllowed(body: string): Promise<void> {
    const roomy = await startAdmissionServer({ listen: '127.0.0.1:0', verifier, logger });
    try {
      const r = await request(`${roomy.url}/validate`, { body, headers: JSON_HEADERS, chunked: true });
      expect(r.status).toBe(200);
      expect(r.review().response.allowed).toBe(true);
    } finally {
      await roomy.close();
    }
  }

  test('a body just under the limit is read (and judged on its content)', async () => {
    // The Pod vector has metadata; the padding goes into its annotations.
    const review = connaisseur('02_pod.json') as ReviewFixture & {
      request: { object: { metadata: { annotations?: Record<string, string> } } };
    };
    const pad = DEFAULT_MAX_BODY_BYTES - Buffer.byteLength(JSON.stringify(review)) - 100;
    review.request.object.metadata.annotations = { pad: 'p'.repeat(pad) };
    const body = JSON.stringify(review);
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(DEFAULT_MAX_BODY_BYTES);
    await expectReadAndAllowed(body);
  });

  test("an UPDATE whose object and oldObject are each near the API server's 3 MiB request limit is read and judged", async () => {
    const review = connaisseur('02_pod.json') as ReviewFixture & {
      request: { operation: string; object: { metadata: { annotations?: Record<string, string> } }; oldObject?: unknown };
    };
    review.request.operation = 'UPDATE';
    review.request.object.metadata.annotations = { pad: 'p'.repeat(3 * 1024 * 1024 - 64 * 1024) };
    review.request.oldObject = structuredClone(review.request.object);
    const body = JSON.stringify(review);
    expect(Buffer.byteLength(body)).toBeGreaterThan(5.5 * 1024 * 1024);
    await expectReadAndAllowed(body);
  });

  test('bodies held at once are bounded across requests: beyond the budget a review is 429 with Retry-After, never buffered; freed when answered', async () => {
    // Each body is capped on its own; without a total, many concurrent bodies of the largest
    // size (anyone who reaches the port) would exhaust the heap of the process deciding admission.
    const budgeted = await startAdmissionServer({
      listen: '127.0.0.1:0',
      verifier,
      logger,
      maxBodyBytes: 1024 * 1024,
      bodyBudgetBytes: 2 * 1024 * 1024,
    });
    const held: http.ClientRequest[] = [];
    try {
      const hold = (): http.ClientRequest => {
        // Declares 900 KiB and sends only part of it: the server holds its share meanwhile.
        const req = http.request(`${budgeted.url}/validate`, {
          method: 'POST',
          headers: { ...JSON_HEADERS, 'content-length': String(900 * 1024) },
          agent: false,
        });
        req.on('error', () => undefined);
        req.write(Buffer.alloc(1024, 0x20));
        held.push(req);
        return req;
      };
      hold();
      hold();
      // The third does not fit next to them (once the server has read their headers).
      let third: Reply | undefined;
      for (let i = 0; i < 200 && third?.status !== 429; i++) {
        third = await request(`${budgeted.url}/validate`, { body: Buffer.alloc(900 * 1024, 0x20), headers: JSON_HEADERS });
        if (third.status !== 429) await new Promise((r) => setTimeout(r, 25));
      }
      expect(third!.status).toBe(429);
      expect(third!.headers['retry-after']).toBe('1');
      expect(third!.failure().message).toMatch(/too many request bodies/);
      // Answered (here: broken off), the held requests give their share back.
      for (const req of held) req.destroy();
      let after: Reply | undefined;
      for (let i = 0; i < 200 && after?.status !== 200; i++) {
        after = await request(`${budgeted.url}/validate`, { body: JSON.stringify(connaisseur('02_pod.json')), headers: JSON_HEADERS });
        if (after.status !== 200) await new Promise((r) => setTimeout(r, 25));
      }
      expect(after!.status).toBe(200);
    } finally {
      for (const req of held) req.destroy();
      await budgeted.close(0);
    }
  });

  test('GET /healthz → 200 ok', async () => {
    const r = await request(`${server.url}/healthz`);
    expect(r.status).toBe(200);
    expect(r.text).toBe('ok\n');
  });

  test('POST /mutate answers with a JSON Patch pinning the image; /validate does not', async () => {
    const m = await request(`${server.url}/mutate`, { body: connaisseurRaw('01_deployment.json'), headers: JSON_HEADERS });
    expect(m.status).toBe(200);
    const response = m.review().response;
    expect(response.allowed).toBe(true);
    expect(response.patchType).toBe('JSONPatch');
    const ops: unknown = JSON.parse(Buffer.from(response.patch!, 'base64').toString('utf8'));
    expect(ops).toEqual([
      {
        op: 'replace',
        path: '/spec/template/spec/containers/0/image',
        value: `securesystemsengineering/alice-image:test@sha256:${'a'.repeat(64)}`,
      },
    ]);
    const v = await request(`${server.url}/validate`, { body: connaisseurRaw('01_deployment.json'), headers: JSON_HEADERS });
    expect(v.review().response.patch).toBeUndefined();
  });

  test('wrong path → 404; wrong method → 405', async () => {
    expect((await request(`${server.url}/mutating`, { body: '{}', headers: JSON_HEADERS })).status).toBe(404);
    expect((await request(`${server.url}/`)).status).toBe(404);
    const r = await request(`${server.url}/validate`);
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('POST');
  });

  /** The budget a deadline deny names: what was left of the review's deadline when verification began. */
  function budgetOf(message: string): number {
    const m = /did not finish within the webhook's time budget of (\d+) ms/.exec(message);
    if (!m) throw new Error(`not a deadline deny: ${message}`);
    return Number(m[1]);
  }

  function hangingReview(): string {
    const review = connaisseur('02_pod.json');
    review.request.object.spec.containers[0]!.image = 'hang.example/never:1';
    return JSON.stringify(review);
  }

  test('?timeout=1s sets the deadline: a verifier that never answers → deny before the timeout', async () => {
    const t0 = Date.now();
    const r = await request(`${server.url}/validate?timeout=1s`, { body: hangingReview(), headers: JSON_HEADERS });
    const took = Date.now() - t0;
    expect(r.status).toBe(200);
    expect(r.review().response.allowed).toBe(false);
    // The 1 s the API server gives, minus a 200 ms margin to answer in, not timeoutMs = 300. The
    // budget is read from the answer (wall-clock upper bounds flake on a loaded machine); a timer
    // never fires early, so the lower bound holds.
    const budget = budgetOf(r.review().response.status?.message ?? '');
    expect(budget).toBeLessThanOrEqual(800);
    expect(budget).toBeGreaterThan(300);
    expect(took).toBeGreaterThanOrEqual(budget);
  });

  test('without ?timeout= the configured timeoutMs applies', async () => {
    const t0 = Date.now();
    const r = await request(`${server.url}/validate`, { body: hangingReview(), headers: JSON_HEADERS });
    const took = Date.now() - t0;
    expect(r.review().response.allowed).toBe(false);
    const budget = budgetOf(r.review().response.status?.message ?? '');
    expect(budget).toBeLessThanOrEqual(300);
    expect(budget).toBeGreaterThan(0);
    expect(took).toBeGreaterThanOrEqual(budget);
  });
});

describe('startAdmissionServer refuses unsafe or invalid configurations', () => {
  test.each(['0.0.0.0:0', ':0', '[::]:0', '10.1.2.3:8443'])('plain HTTP on %s is refused at start', async (listen) => {
    await expect(startAdmissionServer({ listen, verifier: new FakeVerifier() })).rejects.toThrow(
      /refusing to serve admission reviews over plain HTTP/,
    );
  });

  test('a listen address that is not host:port is rejected', async () => {
    await expect(startAdmissionServer({ listen: '127.0.0.1', verifier: new FakeVerifier() })).rejects.toThrow(/is not host:port/);
    await expect(startAdmissionServer({ listen: '127.0.0.1:70000', verifier: new FakeVerifier() })).rejects.toThrow(/out of range/);
  });

  test('a port in use is reported', async () => {
    const a = await startAdmissionServer({ listen: '127.0.0.1:0', verifier: new FakeVerifier() });
    try {
      await expect(startAdmissionServer({ listen: `127.0.0.1:${a.port}`, verifier: new FakeVerifier() })).rejects.toThrow(
        /cannot listen on/,
      );
    } finally {
      await a.close();
    }
  });

  test('close() stops serving', async () => {
    const s = await startAdmissionServer({ listen: '127.0.0.1:0', verifier: new FakeVerifier() });
    expect((await request(`${s.url}/healthz`)).status).toBe(200);
    await s.close();
    await expect(request(`${s.url}/healthz`)).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('helpers', () => {
  test('parseListen', () => {
    expect(parseListen('0.0.0.0:8443')).toEqual({ host: '0.0.0.0', port: 8443 });
    expect(parseListen('[::1]:8443')).toEqual({ host: '::1', port: 8443 });
    expect(parseListen(':8443')).toEqual({ host: '', port: 8443 });
    expect(() => parseListen('::1:8443')).toThrow();
  });

  test('isLoopback', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1']) expect(isLoopback(h)).toBe(true);
    for (const h of ['0.0.0.0', '', '::', '10.0.0.1', 'example.com', '128.0.0.1']) expect(isLoopback(h)).toBe(false);
  });

  test('parseGoDuration', () => {
    expect(parseGoDuration('10s')).toBe(10_000);
    expect(parseGoDuration('1m30s')).toBe(90_000);
    expect(parseGoDuration('500ms')).toBe(500);
    expect(parseGoDuration('1.5s')).toBe(1500);
    expect(parseGoDuration('10')).toBeUndefined();
    expect(parseGoDuration('ten seconds')).toBeUndefined();
  });

  test('reviewDeadline: the API server timeout minus a margin, else the default', () => {
    expect(reviewDeadline('10s', 1_000_000, 9000)).toBe(1_009_000);
    expect(reviewDeadline('30s', 0, 9000)).toBe(29_000);
    expect(reviewDeadline('2s', 0, 9000)).toBe(1600);
    expect(reviewDeadline(null, 0, 9000)).toBe(9000);
    expect(reviewDeadline('garbage', 0, 4000)).toBe(4000);
  });
});

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const withOpenssl = hasOpenssl ? describe : describe.skip;

withOpenssl('HTTPS with a self-signed certificate (openssl)', () => {
  let dir: string;
  function makeCert(name: string): { cert: string; key: string } {
    const keyFile = path.join(dir, `${name}.key`);
    const certFile = path.join(dir, `${name}.crt`);
    const r = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '1',
        '-subj',
        `/CN=${name}`,
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
    return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
  }

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'countersign-admission-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('serves reviews over HTTPS, verified against the certificate as caBundle; reloadTls swaps the certificate', async () => {
    const first = makeCert('countersign-webhook-1');
    const server = await startAdmissionServer({ listen: '127.0.0.1:0', tls: first, verifier: new FakeVerifier() });
    try {
      expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const r = await request(`${server.url}/validate?timeout=10s`, {
        body: connaisseurRaw('08_job.json'),
        headers: JSON_HEADERS,
        ca: first.cert,
      });
      expect(r.status).toBe(200);
      expect(r.review().response).toEqual({ uid: '4b84524b-2dc4-4e69-935d-833c86ff0c10', allowed: true });

      // Not trusted without the CA (what the API server does without the right caBundle).
      await expect(request(`${server.url}/healthz`)).rejects.toThrow(/self.signed|certificate/i);
      // Plain HTTP to the TLS port gets no answer.
      await expect(request(`http://127.0.0.1:${server.port}/healthz`)).rejects.toThrow();

      const second = makeCert('countersign-webhook-2');
      server.reloadTls(second);
      const fp = await peerFingerprint(server.port, second.cert);
      expect(fp).toBe(new crypto.X509Certificate(second.cert).fingerprint256);
      expect((await request(`${server.url}/healthz`, { ca: second.cert })).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  test('HTTPS may listen on a non-loopback address', async () => {
    const server = await startAdmissionServer({ listen: '0.0.0.0:0', tls: makeCert('any'), verifier: new FakeVerifier() });
    try {
      expect(server.host).toBe('0.0.0.0');
    } finally {
      await server.close();
    }
  });
});

function peerFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/healthz', ca, agent: false }, (res) => {
      if (!(res.socket instanceof TLSSocket)) {
        reject(new Error('an HTTPS response came over a socket without TLS'));
        return;
      }
      const cert = res.socket.getPeerX509Certificate();
      res.resume();
      res.on('end', () => resolve(cert?.fingerprint256 ?? ''));
    });
    req.on('error', reject);
    req.end();
  });
}
