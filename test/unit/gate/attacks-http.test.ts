/**
 * Adversarial review of the gate's HTTP layer and pass-through (manifest recognition is covered by
 * attacks.test.ts and manifests.test.ts). The attacker is a registry client, with or without
 * credentials. Most tests fake the upstream (as server.test.ts does); the ones whose point is how
 * the real registry reads a request run against the suite's real Distribution
 * (COUNTERSIGN_TEST_REGISTRY, started by jest's globalSetup).
 *
 * Every test states what a demanding gate answers. The review found six holes, closed since.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { RegistryClient } from '../../../src/registry/client';
import { startGateServer, type GateServer, type GateVerifier, type GateVerifyInput } from '../../../src/gate';
import { OCI_MANIFEST, serve, useFakeUpstream, type Handler } from './fake-upstream';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const j = (o: unknown) => Buffer.from(JSON.stringify(o));
const D = (c: string) => `sha256:${c.repeat(64)}`;
const LABEL = { operation: 'gate.countersign.dev/operation' };

const IMAGE = j({
  schemaVersion: 2,
  mediaType: OCI_MANIFEST,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('c'), size: 2 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D('d'), size: 3 }],
});

const upstream = useFakeUpstream();
const withGate = upstream.withGate;

type Answer = { allowed: boolean; revisions?: boolean };
class Verifier implements GateVerifier {
  calls: GateVerifyInput[] = [];
  constructor(private readonly decide: (i: GateVerifyInput) => Answer) {}
  async verify(input: GateVerifyInput) {
    this.calls.push(input);
    const a = this.decide(input);
    return {
      allowed: a.allowed,
      digest: input.image.slice(input.image.indexOf('@') + 1),
      reasons: a.allowed ? [] : ['denied by the test policy'],
      warnings: [],
      rule: 'r',
      mode: 'MODE_ENFORCE',
      ...(a.revisions ? { policyRevision: 'p1', trustRevision: 't1' } : {}),
    };
  }
}
const denyAll = () => new Verifier(() => ({ allowed: false }));
const allowAll = () => new Verifier(() => ({ allowed: true }));
/** Content writes (blob commits, mounts, manifests by digest) refused; everything else allowed. */
const noContent = () => new Verifier((i) => ({ allowed: i.context.labels?.[LABEL.operation] !== 'content' }));

/** Raw bytes to the gate; everything it answers until it closes the connection. */
function raw(gate: GateServer, bytes: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(gate.port, '127.0.0.1', () => s.write(bytes));
    const chunks: Buffer[] = [];
    s.setTimeout(10_000, () => s.destroy());
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}
const statusOf = (response: Buffer | string) => Number(/^HTTP\/1\.[01] (\d{3})/.exec(response.toString('latin1'))?.[1] ?? 0);

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}
/** Splits a stream of HTTP/1.1 responses framed by Content-Length (as a keep-alive client or a pooling proxy reads them). */
function parseResponses(stream: Buffer): Parsed[] {
  const out: Parsed[] = [];
  let at = 0;
  while (at < stream.length) {
    const end = stream.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const head = stream.subarray(at, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0]!)?.[1] ?? 0);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const c = line.indexOf(':');
      headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    out.push({ status, headers, body: stream.subarray(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  return out;
}

function realRegistry(): string {
  const host = process.env.COUNTERSIGN_TEST_REGISTRY;
  if (!host) throw new Error('COUNTERSIGN_TEST_REGISTRY is not set (jest globalSetup starts the registry)');
  return host;
}
const uniqueRepo = (what: string) => `countersign-unit/http-${what}-${randomBytes(5).toString('hex')}`;

/** A gate in front of the suite's real Distribution. */
async function withRealGate(verifier: GateVerifier, fn: (gate: GateServer, host: string) => Promise<void>) {
  const host = realRegistry();
  const gate = await startGateServer({ listen: '127.0.0.1:0', upstream: `http://${host}`, verifier, registryName: host });
  try {
    await fn(gate, host);
  } finally {
    await gate.close();
  }
}

/** Whether the real registry has the blob in the repository (asked directly, not through the gate). */
async function blobExists(host: string, repo: string, digest: string): Promise<boolean> {
  const res = await request(`http://${host}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
  await res.body.dump();
  return res.statusCode === 200;
}

// ---------------------------------------------------------------------------------------------
// 1. Distribution reads upload parameters with Go's Request.FormValue: the query AND a form body
//    (application/x-www-form-urlencoded or multipart/form-data, on POST/PUT/PATCH), the body
//    taking precedence. The gate decides blob commits and mounts by the query alone
//    (server.ts committedBlobs), so the same parameters in a form body commit or mount a blob
//    that was never decided.
// ---------------------------------------------------------------------------------------------
describe('upload parameters in a form body (Go FormValue) are read by the registry, not by the gate', () => {
  test('the closing PUT of a chunked upload with digest= in a form-encoded body is refused: it commits no blob past the content decision', async () => {
    const v = noContent();
    await withRealGate(v, async (gate, host) => {
      const repo = uniqueRepo('formput');
      const blob = randomBytes(64);
      const digest = sha(blob);
      // Opening a session and sending data decide nothing (by design: they make nothing readable).
      const start = await request(`${gate.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
      await start.body.dump();
      expect(start.statusCode).toBe(202);
      const patch = await request(new URL(String(start.headers.location), gate.url), {
        method: 'PATCH',
        body: blob,
        headers: { 'content-type': 'application/octet-stream' },
      });
      await patch.body.dump();
      expect(patch.statusCode).toBe(202);
      // The guard that holds: digest= in the query is decided, and refused.
      const inQuery = new URL(String(patch.headers.location), gate.url);
      inQuery.searchParams.set('digest', digest);
      const refused = await request(inQuery, { method: 'PUT' });
      await refused.body.dump();
      expect(refused.statusCode).toBe(403);
      expect(await blobExists(host, repo, digest)).toBe(false);
      // The attack: the same digest as a form field in the body of the closing PUT.
      const put = await request(new URL(String(patch.headers.location), gate.url), {
        method: 'PUT',
        body: `digest=${encodeURIComponent(digest)}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      await put.body.dump();
      const committed = await blobExists(host, repo, digest);
      // Refused as a form (400, saying why) before the registry sees it.
      expect({ status: put.statusCode, committed }).toEqual({ status: 400, committed: false });
    });
  });

  test('a cross-repository mount given as form fields (urlencoded or multipart) is refused, not performed past the content decision', async () => {
    const host = realRegistry();
    const client = new RegistryClient({ timeoutMs: 15_000 });
    const from = uniqueRepo('mountsrc');
    const blob = randomBytes(64);
    const digest = sha(blob);
    try {
      await client.pushBlob({ registry: host, repository: from }, blob);
    } finally {
      await client.close();
    }
    const v = noContent();
    await withRealGate(v, async (gate) => {
      // The guard that holds: mount= in the query is decided, and refused.
      const inQuery = uniqueRepo('mountq');
      const q = await request(`${gate.url}/v2/${inQuery}/blobs/uploads/?mount=${digest}&from=${from}`, { method: 'POST' });
      await q.body.dump();
      expect(q.statusCode).toBe(403);
      expect(await blobExists(host, inQuery, digest)).toBe(false);

      const results: Record<string, { status: number; mounted: boolean }> = {};
      const urlencodedRepo = uniqueRepo('mountform');
      const a = await request(`${gate.url}/v2/${urlencodedRepo}/blobs/uploads/`, {
        method: 'POST',
        body: `mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      await a.body.dump();
      results.urlencoded = { status: a.statusCode, mounted: await blobExists(host, urlencodedRepo, digest) };

      const multipartRepo = uniqueRepo('mountmulti');
      const boundary = 'xBOUNDARYx';
      const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
      const b = await request(`${gate.url}/v2/${multipartRepo}/blobs/uploads/`, {
        method: 'POST',
        body: `${field('mount', digest)}${field('from', from)}--${boundary}--\r\n`,
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      });
      await b.body.dump();
      results.multipart = { status: b.statusCode, mounted: await blobExists(host, multipartRepo, digest) };

      expect(results).toEqual({ urlencoded: { status: 400, mounted: false }, multipart: { status: 400, mounted: false } });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Responses the gate relays with the Content-Length of ANOTHER response. relay(up, req, res,
//    headOnly = true) copies the upstream's headers (Content-Length included) and sends no body.
//    That is right for a HEAD request, but it is also used to answer a PUT (the tag's current
//    target read by HEAD answered 401), a DELETE by tag (HEAD answered 404) and a denied write
//    without credentials (the /v2/ ping's 401 challenge). The client is promised N body bytes
//    that never come: it hangs, or (on a kept-alive connection, e.g. a load balancer pooling
//    connections to the gate for many clients) takes the next response's bytes as this body.
// ---------------------------------------------------------------------------------------------
describe('response framing: the body a response declares is the body it carries', () => {
  const PING_401 = Buffer.from('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}\n');
  const authRegistry: Handler = (req, res) => {
    req.resume();
    const h = {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(PING_401.length),
      'www-authenticate': 'Basic realm="registry"',
    };
    // Everything wants credentials, as Distribution with htpasswd or token auth answers.
    res.writeHead(401, h);
    res.end(req.method === 'HEAD' ? undefined : PING_401);
  };
  /** One keep-alive connection: the request, then a ping on the same connection. */
  const pipelined = (first: string) => `${first}GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;

  test('a tag PUT without credentials, answered with the 401 of the HEAD of its current target, carries the body its Content-Length promises', async () => {
    upstream.handler = authRegistry;
    // Content allowed, so the gate goes on to read the tag's current target (a HEAD: 401).
    const v = new Verifier(() => ({ allowed: true }));
    await withGate(v, async (gate) => {
      const put = `PUT /v2/prod/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: ${OCI_MANIFEST}\r\nContent-Length: ${IMAGE.length}\r\n\r\n${IMAGE.toString()}`;
      const responses = parseResponses(await raw(gate, pipelined(put)));
      expect(responses.map((r) => [r.status, r.body.toString().startsWith('HTTP/')])).toEqual([
        [401, false],
        [401, false],
      ]);
    });
  });

  test('a denied blob commit without credentials, answered with the upstream challenge, carries the body its Content-Length promises', async () => {
    upstream.handler = authRegistry;
    await withGate(denyAll(), async (gate) => {
      const post = `POST /v2/prod/app/blobs/uploads/?digest=${D('b')} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`;
      const responses = parseResponses(await raw(gate, pipelined(post)));
      expect(responses.map((r) => [r.status, r.body.toString().startsWith('HTTP/')])).toEqual([
        [401, false],
        [401, false],
      ]);
    });
  });

  test('against the real Distribution, a DELETE of a tag that does not exist answers 404 with a body as long as its Content-Length says', async () => {
    await withRealGate(allowAll(), async (gate) => {
      const repo = uniqueRepo('del404');
      const del = `DELETE /v2/${repo}/manifests/nope HTTP/1.1\r\nHost: x\r\n\r\n`;
      const stream = await raw(gate, pipelined(del));
      const responses = parseResponses(stream);
      // The second response (the ping: 200 "{}") must be read as a response of its own.
      expect(responses.map((r) => r.status)).toEqual([404, 200]);
      expect(responses[0]!.body.toString()).toContain('MANIFEST_UNKNOWN');
    });
  });

  test('guard: a HEAD relayed from the upstream keeps its Content-Length and carries no body (that is what HEAD means)', async () => {
    upstream.handler = authRegistry;
    await withGate(allowAll(), async (gate) => {
      const res = await raw(gate, `HEAD /v2/ HTTP/1.1\r\nHost: x\r\n\r\nGET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const text = res.toString('latin1');
      expect(statusOf(text)).toBe(401);
      // The HEAD answer is followed directly by the GET's status line.
      const second = text.indexOf('HTTP/1.1', 1);
      expect(text.slice(text.indexOf('\r\n\r\n') + 4, second)).toBe('');
    });
  });
});

// ---------------------------------------------------------------------------------------------
// 3. The blob route is never decided. A registry that keeps manifests in the same content store
//    as blobs (an OCI image layout: zot; the distribution spec does not forbid it, and
//    distribution/distribution#648 asks for it) answers GET /v2/<name>/blobs/<manifest digest>
//    with the manifest. The image digest of any signed image is in its cosign tag name
//    (tags/list, passed through) or its referrers: the manifest the pull gate denied, then its
//    layers, by the blob route.
// ---------------------------------------------------------------------------------------------
describe('a manifest is not readable through the blob route', () => {
  /** An OCI-layout registry: one content store for manifests and blobs. */
  const ociLayoutRegistry: Handler = (req, res) => {
    const url = req.url!.split('?')[0]!;
    if (url === '/v2/prod/app/tags/list') {
      serve(j({ name: 'prod/app', tags: ['v1', `sha256-${sha(IMAGE).slice(7)}.sig`] }), 'application/json')(req, res);
      return;
    }
    if (url === '/v2/prod/app/manifests/v1' || url === `/v2/prod/app/manifests/${sha(IMAGE)}`) {
      serve(IMAGE)(req, res);
      return;
    }
    if (url === `/v2/prod/app/blobs/${sha(IMAGE)}`) {
      serve(IMAGE, 'application/octet-stream', { 'docker-content-digest': sha(IMAGE) })(req, res);
      return;
    }
    req.resume();
    res.writeHead(404, { 'content-length': '0' });
    res.end();
  };

  test('a GET of /v2/<name>/blobs/<digest of a denied manifest> is decided like the manifest (denied); a HEAD carries no content', async () => {
    upstream.handler = ociLayoutRegistry;
    const v = denyAll();
    await withGate(v, async (gate) => {
      const pull = await request(`${gate.url}/v2/prod/app/manifests/v1`);
      await pull.body.dump();
      expect(pull.statusCode).toBe(403);
      // The image digest, from the cosign tag the tag list shows.
      const tags = JSON.parse(await (await request(`${gate.url}/v2/prod/app/tags/list`)).body.text()) as { tags: string[] };
      const sig = tags.tags.find((t) => t.endsWith('.sig'))!;
      const digest = `sha256:${sig.slice('sha256-'.length, -'.sig'.length)}`;
      const got: Record<string, unknown> = {};
      for (const method of ['GET', 'HEAD'] as const) {
        const res = await request(`${gate.url}/v2/prod/app/blobs/${digest}`, { method });
        const body = Buffer.from(await res.body.arrayBuffer());
        got[method] = { status: res.statusCode, manifest: body.equals(IMAGE) };
      }
      // Decided like the manifest it is (and denied); a HEAD carries no content (and stays one request).
      expect(got).toEqual({ GET: { status: 403, manifest: false }, HEAD: { status: 200, manifest: false } });
    });
  });

  test('guard: the real Distribution keeps manifests out of its blob API (404 through the gate)', async () => {
    const host = realRegistry();
    const client = new RegistryClient({ timeoutMs: 15_000 });
    const repo = uniqueRepo('blobman');
    const config = j({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const manifest = j({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [],
    });
    try {
      await client.pushBlob({ registry: host, repository: repo }, config);
      const put = await request(`http://${host}/v2/${repo}/manifests/v1`, {
        method: 'PUT',
        body: manifest,
        headers: { 'content-type': OCI_MANIFEST },
      });
      await put.body.dump();
      expect(put.statusCode).toBe(201);
    } finally {
      await client.close();
    }
    await withRealGate(denyAll(), async (gate) => {
      const res = await request(`${gate.url}/v2/${repo}/blobs/${sha(manifest)}`);
      const body = Buffer.from(await res.body.arrayBuffer());
      expect([res.statusCode, body.equals(manifest)]).toEqual([404, false]);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// 4. manifestRead relays every non-200 upstream answer unchanged (server.ts relayCapped), body
//    and Location included. The comment means 401 challenges and 404s; but a 2xx other than 200
//    carries a manifest that was never decided, and a 3xx sends the client to read it elsewhere
//    (a registry or CDN in front of it that redirects manifest reads to storage).
// ---------------------------------------------------------------------------------------------
describe('only a decided 200 carries a manifest', () => {
  test('a manifest answered 203/206 with its body, or 307 to storage, is not relayed: nothing decided it', async () => {
    const storageServer = http.createServer(serve(IMAGE));
    await new Promise<void>((r) => storageServer.listen(0, '127.0.0.1', r));
    const storageUrl = `http://127.0.0.1:${(storageServer.address() as AddressInfo).port}/manifest`;
    try {
      const v = denyAll();
      const got: Record<string, { status: number; manifest: boolean; location: boolean }> = {};
      for (const [name, handler] of [
        ['203', serve(IMAGE, OCI_MANIFEST, {}, 203)],
        ['206', serve(IMAGE, OCI_MANIFEST, { 'content-range': `bytes 0-${IMAGE.length - 1}/${IMAGE.length}` }, 206)],
        ['307', serve(Buffer.alloc(0), 'text/plain', { location: storageUrl }, 307)],
      ] as const) {
        upstream.handler = handler;
        await withGate(v, async (gate) => {
          const res = await request(`${gate.url}/v2/prod/app/manifests/v1`);
          const body = Buffer.from(await res.body.arrayBuffer());
          got[name] = { status: res.statusCode, manifest: body.equals(IMAGE), location: res.headers.location !== undefined };
        });
      }
      const refused = { status: expect.any(Number) as unknown as number, manifest: false, location: false };
      expect(got).toEqual({ 203: refused, 206: refused, 307: refused });
      // And none of them is a success the client could take the manifest from.
      expect(Object.values(got).every((g) => g.status >= 400)).toBe(true);
    } finally {
      await new Promise<void>((r) => storageServer.close(() => r()));
    }
  });

  test('guard: 401, 404, 429 and 5xx manifest answers are relayed (challenges and errors), with no decision', async () => {
    const v = denyAll();
    for (const status of [401, 404, 429, 503]) {
      upstream.handler = serve(j({ errors: [{ code: 'X' }] }), 'application/json', { 'www-authenticate': 'Basic realm="r"' }, status);
      await withGate(v, async (gate) => {
        const res = await request(`${gate.url}/v2/prod/app/manifests/v1`);
        await res.body.dump();
        expect(res.statusCode).toBe(status);
      });
    }
    expect(v.calls).toHaveLength(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Guards: attacks the gate already handles.
// ---------------------------------------------------------------------------------------------
describe('guards: the decision cache and credentials', () => {
  test("one client's allow is never served to another: every request reads the manifest upstream with its own credentials", async () => {
    upstream.handler = (req, res) => {
      if (req.headers.authorization === 'Basic YWxpY2U6cHc=') {
        serve(IMAGE)(req, res);
        return;
      }
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="r"', 'content-length': '0' });
      res.end();
    };
    const v = new Verifier(() => ({ allowed: true, revisions: true }));
    await withGate(
      v,
      async (gate) => {
        const alice = await request(`${gate.url}/v2/prod/app/manifests/v1`, { headers: { authorization: 'Basic YWxpY2U6cHc=' } });
        await alice.body.dump();
        expect(alice.statusCode).toBe(200);
        for (const headers of [{}, { authorization: 'Basic bWFsbG9yeTp4' }, { host: 'other.example' }] as Record<string, string>[]) {
          const res = await request(`${gate.url}/v2/prod/app/manifests/v1`, { headers });
          const body = await res.body.text();
          expect([res.statusCode, body.includes('schemaVersion')]).toEqual([401, false]);
        }
        // Alice's credentials were sent for Alice only.
        expect(upstream.headers.map((h) => h.authorization)).toEqual(['Basic YWxpY2U6cHc=', undefined, 'Basic bWFsbG9yeTp4', undefined]);
        expect(v.calls).toHaveLength(1);
      },
      { currentRevision: () => 'p1 t1', decisionCacheTtlMs: 60_000 },
    );
  });

  test('a warm allow in one repository is not reused for the same digest in another', async () => {
    upstream.handler = serve(IMAGE);
    const v = new Verifier((i) => ({ allowed: i.image.startsWith('registry.example/prod/app@'), revisions: true }));
    await withGate(
      v,
      async (gate) => {
        const a = await request(`${gate.url}/v2/prod/app/manifests/${sha(IMAGE)}`);
        await a.body.dump();
        expect(a.statusCode).toBe(200);
        for (const repo of ['prod/app2', 'prod/app/x', 'evil/prod/app']) {
          const res = await request(`${gate.url}/v2/${repo}/manifests/${sha(IMAGE)}`);
          await res.body.dump();
          expect([repo, res.statusCode]).toEqual([repo, 403]);
        }
      },
      { currentRevision: () => 'p1 t1', decisionCacheTtlMs: 60_000 },
    );
  });

  test('the query string of a manifest read never reaches the upstream (no ?tag=, ?ns= or cache-busting variants)', async () => {
    upstream.handler = serve(IMAGE);
    await withGate(denyAll(), async (gate) => {
      for (const q of ['?ns=docker.io', '?tag=other', '?digest=x', '?']) {
        const res = await request(`${gate.url}/v2/prod/app/manifests/v1${q}`);
        await res.body.dump();
        expect([q, res.statusCode]).toEqual([q, 403]);
      }
      expect(new Set(upstream.seen)).toEqual(new Set(['GET /v2/prod/app/manifests/v1']));
    });
  });
});

describe('guards: pass-through routes', () => {
  test('tag-list and referrers pagination Links pointing at the upstream are rewritten to the gate; relative ones pass', async () => {
    upstream.handler = (req, res) => {
      req.resume();
      const url = req.url!;
      const link = url.includes('tags')
        ? `<${upstream.url}/v2/prod/app/tags/list?last=v1&n=1>; rel="next"`
        : `</v2/prod/app/referrers/${D('a')}?last=x>; rel="next"`;
      res.writeHead(200, { 'content-type': 'application/json', link, 'oci-filters-applied': 'artifactType', 'content-length': '2' });
      res.end('{}');
    };
    await withGate(denyAll(), async (gate) => {
      const tags = await request(`${gate.url}/v2/prod/app/tags/list?n=1`);
      await tags.body.dump();
      expect(tags.headers.link).toBe(`<${gate.url}/v2/prod/app/tags/list?last=v1&n=1>; rel="next"`);
      const refs = await request(`${gate.url}/v2/prod/app/referrers/${D('a')}?artifactType=x`);
      await refs.body.dump();
      expect(refs.headers.link).toBe(`</v2/prod/app/referrers/${D('a')}?last=x>; rel="next"`);
      expect(refs.headers['oci-filters-applied']).toBe('artifactType');
      expect(upstream.seen).toEqual(['GET /v2/prod/app/tags/list?n=1', `GET /v2/prod/app/referrers/${D('a')}?artifactType=x`]);
    });
  });

  test('upload session URLs the client sends cannot point the gate at another host (absolute-form and authority targets are refused)', async () => {
    upstream.handler = serve(Buffer.alloc(0), 'text/plain', {}, 202);
    await withGate(allowAll(), async (gate) => {
      for (const target of [
        'http://169.254.169.254/v2/prod/app/blobs/uploads/u1',
        `http://127.0.0.1:${gate.port}/v2/prod/app/blobs/uploads/u1`,
        '//evil.example/v2/prod/app/blobs/uploads/u1',
        '169.254.169.254:80',
      ]) {
        for (const method of ['PATCH', 'PUT']) {
          const res = await raw(gate, `${method} ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx`);
          expect([method, target, [0, 400, 404].includes(statusOf(res))]).toEqual([method, target, true]);
        }
      }
      expect(upstream.seen).toEqual([]);
    });
  });

  test('a blob the upstream redirects is passed on as the redirect; a 200 naming another digest is refused', async () => {
    let mode: 'redirect' | 'lie' = 'redirect';
    upstream.handler = (req, res) => {
      req.resume();
      if (mode === 'redirect') {
        res.writeHead(307, { location: 'https://storage.example/blob?sig=1', 'content-length': '0' });
        return res.end();
      }
      serve(IMAGE, 'application/octet-stream', { 'docker-content-digest': D('f') })(req, res);
    };
    await withGate(denyAll(), async (gate) => {
      const r = await request(`${gate.url}/v2/prod/app/blobs/${D('e')}`);
      await r.body.dump();
      expect([r.statusCode, r.headers.location]).toEqual([307, 'https://storage.example/blob?sig=1']);
      mode = 'lie';
      const l = await request(`${gate.url}/v2/prod/app/blobs/${D('e')}`);
      const body = await l.body.text();
      expect([l.statusCode, body.includes('schemaVersion')]).toEqual([502, false]);
    });
  });
});

describe('what a client says about where it came from', () => {
  test('X-Forwarded-* and Forwarded from the client never reach the registry; the gate names the client address itself', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    upstream.handler = (req, res) => {
      seen.push(req.headers);
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' });
      res.end('{}');
    };
    await withGate(denyAll(), async (gate) => {
      const res = await request(`${gate.url}/v2/prod/app/tags/list`, {
        headers: {
          'x-forwarded-host': 'evil.example',
          'x-forwarded-proto': 'https',
          'x-forwarded-for': '10.9.8.7',
          forwarded: 'for=10.9.8.7;host=evil.example',
          'x-real-ip': '10.9.8.7',
        },
      });
      await res.body.dump();
      expect(res.statusCode).toBe(200);
    });
    expect(seen).toHaveLength(1);
    const h = seen[0]!;
    expect([h['x-forwarded-host'], h['x-forwarded-proto'], h.forwarded, h['x-real-ip']]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(h['x-forwarded-for']).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
  });
});

describe('guards: request smuggling and odd requests', () => {
  test('Content-Length with Transfer-Encoding, conflicting Content-Lengths, and a non-chunked final encoding are refused before the upstream', async () => {
    upstream.handler = serve(IMAGE);
    await withGate(allowAll(), async (gate) => {
      const hidden = `GET /v2/prod/app/manifests/hidden HTTP/1.1\r\nHost: x\r\n\r\n`;
      for (const head of [
        `Content-Length: 4\r\nTransfer-Encoding: chunked`,
        `Content-Length: 4\r\nContent-Length: ${hidden.length + 4}`,
        `Transfer-Encoding: chunked, identity`,
        `Transfer-Encoding: identity\r\nContent-Length: 4`,
        `Transfer-Encoding : chunked`,
        `Transfer-Encoding:\x0bchunked`,
      ]) {
        const res = await raw(gate, `PATCH /v2/prod/app/blobs/uploads/u1 HTTP/1.1\r\nHost: x\r\n${head}\r\n\r\n0\r\n\r\n${hidden}`);
        expect([head, statusOf(res)]).toEqual([head, 400]);
      }
      expect(upstream.seen).toEqual([]);
    });
  });

  test('a CR/LF in a value the gate copies into a response (the Host it rewrites Locations with) is never reflected', async () => {
    upstream.handler = (req, res) => {
      req.resume();
      res.writeHead(202, { location: `${upstream.url}/v2/prod/app/blobs/uploads/u1`, 'content-length': '0' });
      res.end();
    };
    await withGate(allowAll(), async (gate) => {
      for (const host of ['evil.example\rSet-Cookie: a=b', 'a.example, evil.example', 'evil.example\tx']) {
        const res = (
          await raw(gate, `POST /v2/prod/app/blobs/uploads/ HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
        ).toString('latin1');
        expect(res.toLowerCase()).not.toContain('set-cookie');
        expect(res).not.toMatch(/location: http:\/\/(evil|a\.example)/i);
      }
    });
  });

  test('HTTP/1.0 without Host, and a GET with a body, read a manifest like any other (decided)', async () => {
    upstream.handler = serve(IMAGE);
    const v = denyAll();
    await withGate(v, async (gate) => {
      const old = await raw(gate, `GET /v2/prod/app/manifests/v1 HTTP/1.0\r\n\r\n`);
      expect(statusOf(old)).toBe(403);
      const body = await raw(
        gate,
        `GET /v2/prod/app/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`,
      );
      expect(statusOf(body)).toBe(403);
      expect(v.calls).toHaveLength(2);
    });
  });

  test('a manifest PATCH/POST, an upload-start PUT and OPTIONS/TRACE/PROPFIND anywhere are refused without reaching the upstream', async () => {
    upstream.handler = serve(IMAGE);
    await withGate(allowAll(), async (gate) => {
      for (const [method, target] of [
        ['PATCH', `/v2/prod/app/manifests/${sha(IMAGE)}`],
        ['POST', `/v2/prod/app/manifests/${sha(IMAGE)}`],
        ['PUT', '/v2/prod/app/blobs/uploads/'],
        ['PUT', `/v2/prod/app/blobs/${D('a')}`],
        ['POST', '/v2/prod/app/tags/list'],
        ['DELETE', '/v2/prod/app/tags/list'],
        ['PUT', `/v2/prod/app/referrers/${D('a')}`],
        ['OPTIONS', '/v2/'],
        ['PROPFIND', '/v2/prod/app/manifests/v1'],
        ['TRACE', '/v2/prod/app/manifests/v1'],
      ] as const) {
        const res = await raw(gate, `${method} ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        expect([method, target, [0, 400, 404, 405].includes(statusOf(res))]).toEqual([method, target, true]);
      }
      expect(upstream.seen).toEqual([]);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// 5. One upstream pool for everything (server.ts: Pool(connections: 128), bodyTimeout 0) and
//    blob reads that hold their upstream connection while the client does not read (back-pressure,
//    no time limit: "a stalled peer is noticed by TCP", but a peer that keeps its window at zero is
//    not stalled to TCP). 16 raw-relay reads plus 128 pooled ones by clients that never read
//    leave no connection for anyone's manifest read: it waits in the pool's queue until the
//    manifest timeout answers 504. Any client with read access to one large blob starves the gate.
// ---------------------------------------------------------------------------------------------
describe('resource exhaustion', () => {
  test("clients that open blob reads and never read them do not starve other clients' manifest reads (blobs have a pool of their own)", async () => {
    const chunk = Buffer.alloc(256 * 1024, 7);
    const BLOB_BYTES = 1024 * 1024 * 1024; // far more than every buffer between upstream and client holds
    upstream.handler = (req, res) => {
      req.resume();
      if (req.url!.includes('/manifests/')) {
        serve(IMAGE)(req, res);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BLOB_BYTES) });
      let sent = 0;
      const more = (): void => {
        while (sent < BLOB_BYTES) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', more);
            return;
          }
        }
        res.end();
      };
      res.on('close', () => res.removeAllListeners('drain'));
      more();
    };
    const HOGS = 16 + 128 + 8;
    const hogs: net.Socket[] = [];
    try {
      await withGate(
        allowAll(),
        async (gate) => {
          const before = await request(`${gate.url}/v2/prod/app/manifests/v1`);
          await before.body.dump();
          expect(before.statusCode).toBe(200);
          // Each hog: a blob GET whose answer it never reads (its receive window closes).
          for (let i = 0; i < HOGS; i++) {
            const s = net.connect(gate.port, '127.0.0.1');
            s.on('error', () => undefined);
            s.pause();
            s.write(`GET /v2/prod/app/blobs/${D('e')} HTTP/1.1\r\nHost: x\r\n\r\n`);
            hogs.push(s);
          }
          // Until every connection the gate has to the upstream (16 raw + 128 pooled) carries a hog's
          // read, or (a gate that bounds them) until the hogs stop arriving.
          const blobReads = () => upstream.seen.filter((l) => l.includes('/blobs/')).length;
          for (let waited = 0; blobReads() < 16 + 128 && waited < 15_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
          try {
            const res = await request(`${gate.url}/v2/prod/app/manifests/v1`);
            await res.body.dump();
            expect(res.statusCode).toBe(200);
          } finally {
            for (const s of hogs) s.destroy();
          }
        },
        { manifestTimeoutMs: 3000 },
      );
    } finally {
      for (const s of hogs) s.destroy();
    }
  }, 60_000);
});
