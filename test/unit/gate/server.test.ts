/**
 * The gate against a hostile or broken upstream and a hostile or broken verifier (both faked
 * here; the real registry and service are in test/e2e/gate.test.ts).
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { request } from 'undici';
import { startGateServer, type GateLogger, type GateServer, type GateVerifier, type GateVerifyInput } from '../../../src/gate';
import { useFakeUpstream, type Handler } from './fake-upstream';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const IMAGE = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'c'.repeat(64)}`, size: 2 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${'d'.repeat(64)}`, size: 3 }],
  }),
);
const OTHER = Buffer.from(IMAGE.toString().replace('"size":3', '"size":4'));

const upstream = useFakeUpstream();
const withGate = upstream.withGate;

function manifestServer(bytes: Buffer, extra: Record<string, string> = {}): Handler {
  return (req, res) => {
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(bytes.length), ...extra });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };
}

class RecordingVerifier implements GateVerifier {
  calls: GateVerifyInput[] = [];
  constructor(private readonly answer: (i: GateVerifyInput) => Promise<{ allowed: boolean; digest: string; reasons: string[] }>) {}
  async verify(input: GateVerifyInput) {
    this.calls.push(input);
    const a = await this.answer(input);
    return { ...a, warnings: [], rule: 'r', mode: 'MODE_ENFORCE' };
  }
}

const digestIn = (image: string) => image.slice(image.indexOf('@') + 1);

test('a tag is verified at the digest of the bytes served, and those bytes are served', async () => {
  upstream.handler = manifestServer(IMAGE);
  const v = new RecordingVerifier(async (i) => ({ allowed: true, digest: digestIn(i.image), reasons: [] }));
  await withGate(v, async (gate) => {
    const res = await request(`${gate.url}/v2/team/app/manifests/v1`);
    expect(res.statusCode).toBe(200);
    const body = Buffer.from(await res.body.arrayBuffer());
    expect(body.equals(IMAGE)).toBe(true);
    expect(res.headers['docker-content-digest']).toBe(sha(IMAGE));
    expect(v.calls).toHaveLength(1);
    expect(v.calls[0]).toMatchObject({ image: `registry.example/team/app:v1@${sha(IMAGE)}`, action: 'pull' });
  });
});

test('an upstream that answers a digest with other bytes is refused (never served)', async () => {
  upstream.handler = manifestServer(OTHER);
  const v = new RecordingVerifier(async (i) => ({ allowed: true, digest: digestIn(i.image), reasons: [] }));
  await withGate(v, async (gate) => {
    const res = await request(`${gate.url}/v2/team/app/manifests/${sha(IMAGE)}`);
    expect(res.statusCode).toBe(502);
    expect(await res.body.text()).toContain('DIGEST_INVALID');
    expect(v.calls).toHaveLength(0);
  });
});

test('a lying Docker-Content-Digest header is refused', async () => {
  upstream.handler = manifestServer(IMAGE, { 'docker-content-digest': sha(OTHER) });
  const v = new RecordingVerifier(async (i) => ({ allowed: true, digest: digestIn(i.image), reasons: [] }));
  await withGate(v, async (gate) => {
    const res = await request(`${gate.url}/v2/team/app/manifests/v1`);
    expect(res.statusCode).toBe(502);
    await res.body.dump();
  });
});

test('an allow about another digest is a deny', async () => {
  upstream.handler = manifestServer(IMAGE);
  const v = new RecordingVerifier(async () => ({ allowed: true, digest: sha(OTHER), reasons: [] }));
  await withGate(v, async (gate) => {
    const res = await request(`${gate.url}/v2/team/app/manifests/v1`);
    expect(res.statusCode).toBe(403);
    expect(await res.body.text()).toContain(`answered about ${sha(OTHER)}`);
  });
});

test('a verifier that fails or is too slow is a deny with the reason', async () => {
  upstream.handler = manifestServer(IMAGE);
  const failing = new RecordingVerifier(async () => {
    throw Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14, details: 'No connection established' });
  });
  await withGate(failing, async (gate) => {
    const res = await request(`${gate.url}/v2/team/app/manifests/v1`);
    expect(res.statusCode).toBe(403);
    const body = JSON.parse(await res.body.text()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]!.code).toBe('DENIED');
    // The status and a fixed sentence: the gRPC error text (addresses of the service) stays in the gate's log.
    expect(body.errors[0]!.message).toContain('UNAVAILABLE: Countersign unavailable');
    expect(body.errors[0]!.message).not.toContain('No connection established');
  });
  const deadlines: number[] = [];
  const slow = new RecordingVerifier(async (i) => {
    deadlines.push(i.deadline - Date.now());
    throw Object.assign(new Error('deadline'), { code: 4, details: 'Deadline exceeded' });
  });
  await withGate(
    slow,
    async (gate) => {
      const res = await request(`${gate.url}/v2/team/app/manifests/v1`);
      expect(res.statusCode).toBe(403);
      expect(await res.body.text()).toContain('DEADLINE_EXCEEDED');
      expect(deadlines[0]).toBeLessThanOrEqual(1234);
    },
    { decisionTimeoutMs: 1234 },
  );
});

test('a manifest over the size cap is refused, pulled or pushed', async () => {
  upstream.handler = manifestServer(IMAGE);
  const v = new RecordingVerifier(async (i) => ({ allowed: true, digest: digestIn(i.image), reasons: [] }));
  await withGate(
    v,
    async (gate) => {
      const pull = await request(`${gate.url}/v2/team/app/manifests/v1`);
      expect(pull.statusCode).toBe(413);
      await pull.body.dump();
      const push = await request(`${gate.url}/v2/team/app/manifests/v1`, {
        method: 'PUT',
        body: IMAGE,
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(push.statusCode).toBe(413);
      await push.body.dump();
      expect(v.calls).toHaveLength(0);
    },
    { maxManifestBytes: 100 },
  );
});

test('a manifest over the size cap sent without a length (chunked) is cut off at the cap and refused; the gate keeps serving', async () => {
  let sent = 0;
  upstream.handler = (req, res) => {
    if (req.url!.endsWith('/small')) {
      manifestServer(IMAGE)(req, res);
      return;
    }
    // No content-length: the cap can only be enforced while reading. 64 MiB in 64 KiB chunks, far past it and past what socket buffers hold.
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
    const chunk = Buffer.alloc(65536, ' ');
    const more = (): void => {
      while (sent < 1024 * 65536) {
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
  const v = new RecordingVerifier(async (i) => ({ allowed: true, digest: digestIn(i.image), reasons: [] }));
  await withGate(
    v,
    async (gate) => {
      const pull = await request(`${gate.url}/v2/team/app/manifests/v1`);
      expect(pull.statusCode).toBe(413);
      expect(await pull.body.text()).toContain('larger than 100000 bytes');
      // The upstream transfer was aborted, not read to its end.
      expect(sent).toBeLessThan(1024 * 65536);
      const ok = await request(`${gate.url}/v2/team/app/manifests/small`);
      expect(ok.statusCode).toBe(200);
      expect(Buffer.from(await ok.body.arrayBuffer()).equals(IMAGE)).toBe(true);
      expect(v.calls).toHaveLength(1);
    },
    { maxManifestBytes: 100_000 },
  );
});

test('a blob is relayed as the upstream sends it; an upstream naming another digest for it is refused before any byte', async () => {
  const data = Buffer.alloc(200_000, 'x');
  let claim: string | undefined;
  upstream.handler = (_req, res) => {
    res.writeHead(200, {
      'content-length': String(data.length),
      'content-type': 'application/octet-stream',
      ...(claim ? { 'docker-content-digest': claim } : {}),
    });
    res.end(data);
  };
  const v = new RecordingVerifier(async () => ({ allowed: false, digest: '', reasons: [] }));
  await withGate(v, async (gate) => {
    claim = sha(data);
    const good = await request(`${gate.url}/v2/team/app/blobs/${sha(data)}`);
    expect(good.statusCode).toBe(200);
    expect(good.headers['content-length']).toBe(String(data.length));
    expect(Buffer.from(await good.body.arrayBuffer()).equals(data)).toBe(true);
    claim = `sha256:${'0'.repeat(64)}`;
    for (const method of ['GET', 'HEAD'] as const) {
      const bad = await request(`${gate.url}/v2/team/app/blobs/${sha(data)}`, { method });
      expect(bad.statusCode).toBe(502);
      if (method === 'GET') expect(await bad.body.text()).toContain('DIGEST_INVALID');
      else await bad.body.dump();
    }
    expect(v.calls).toHaveLength(0);
  });
});

test('blob reads from a plain-HTTP registry: kept-alive connections, and an answer the raw reader does not frame (chunked) still arrives whole', async () => {
  const data = Buffer.from(Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 7) % 251));
  const connections = new Set<unknown>();
  let chunked = false;
  upstream.seen.length = 0;
  upstream.handler = (req, res) => {
    connections.add(req.socket);
    if (chunked) res.writeHead(200, { 'content-type': 'application/octet-stream', 'docker-content-digest': sha(data) });
    else
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(data.length),
        'docker-content-digest': sha(data),
      });
    res.end(req.method === 'HEAD' ? undefined : data);
  };
  const v = new RecordingVerifier(async () => ({ allowed: false, digest: '', reasons: [] }));
  await withGate(v, async (gate) => {
    for (let i = 0; i < 5; i++) {
      const res = await request(`${gate.url}/v2/team/app/blobs/${sha(data)}`);
      expect(res.statusCode).toBe(200);
      expect(Buffer.from(await res.body.arrayBuffer()).equals(data)).toBe(true);
    }
    const head = await request(`${gate.url}/v2/team/app/blobs/${sha(data)}`, { method: 'HEAD' });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(String(data.length));
    await head.body.dump();
    // Six sequential reads, one upstream connection: the raw reader keeps it alive.
    expect(connections.size).toBe(1);
    chunked = true;
    const res = await request(`${gate.url}/v2/team/app/blobs/${sha(data)}`);
    expect(res.statusCode).toBe(200);
    expect(Buffer.from(await res.body.arrayBuffer()).equals(data)).toBe(true);
    // The chunked answer was asked for twice: once by the raw reader (dropped unread), once by the HTTP client.
    expect(upstream.seen.filter((l) => l.startsWith('GET'))).toHaveLength(7);
    expect(v.calls).toHaveLength(0);
  });
});

test('a blob GET the upstream redirects to its storage (S3, GCS) is relayed as the redirect: the gate neither follows it nor reads the bytes', async () => {
  const data = Buffer.alloc(1000, 'b');
  upstream.seen.length = 0;
  upstream.handler = (_req, res) => {
    res.writeHead(307, { location: 'https://storage.example/blobs/abc?sig=1', 'content-length': '0' });
    res.end();
  };
  const v = new RecordingVerifier(async () => ({ allowed: false, digest: '', reasons: [] }));
  await withGate(v, async (gate) => {
    const res = await request(`${gate.url}/v2/team/app/blobs/${sha(data)}`);
    expect(res.statusCode).toBe(307);
    expect(res.headers.location).toBe('https://storage.example/blobs/abc?sig=1');
    await res.body.dump();
    expect(upstream.seen).toEqual([`GET /v2/team/app/blobs/${sha(data)}`]);
    expect(v.calls).toHaveLength(0);
  });
});

test('absolute upload Locations pointing at the upstream are rewritten to the gate; others pass', async () => {
  upstream.handler = (req, res) => {
    res.writeHead(202, {
      location: req.url!.includes('other') ? 'https://storage.example/x' : `${upstream.url}/v2/team/app/blobs/uploads/u1?_state=abc`,
      'content-length': '0',
    });
    res.end();
  };
  const v = new RecordingVerifier(async () => ({ allowed: false, digest: '', reasons: [] }));
  await withGate(v, async (gate) => {
    const res = await request(`${gate.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
    expect(res.headers.location).toBe(`${gate.url}/v2/team/app/blobs/uploads/u1?_state=abc`);
    await res.body.dump();
    const other = await request(`${gate.url}/v2/team/other/blobs/uploads/`, { method: 'POST' });
    expect(other.headers.location).toBe('https://storage.example/x');
    await other.body.dump();
  });
});

describe('a push by tag is two writes, each decided: the content by digest, then the tag', () => {
  const auth = `Basic ${Buffer.from('mallory:pw').toString('base64')}`;
  const put = (gate: { url: string }) =>
    request(`${gate.url}/v2/team/app/manifests/v1`, {
      method: 'PUT',
      body: IMAGE,
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', authorization: auth },
    });
  beforeEach(() => {
    upstream.seen.length = 0;
    upstream.handler = (req, res) => {
      if (req.method === 'HEAD') {
        res.writeHead(404, { 'content-length': '0' });
        return res.end();
      }
      req.resume();
      req.on('end', () => {
        res.writeHead(201, { 'docker-content-digest': sha(IMAGE), 'content-length': '0' });
        res.end();
      });
    };
  });

  test('a pusher who may write content but not this tag: the content stays stored by digest only, the tag is never written', async () => {
    const v = new RecordingVerifier(async (i) => ({
      allowed: i.context.labels?.['gate.countersign.dev/operation'] === 'content',
      digest: digestIn(i.image),
      reasons: ['mallory may not push here'],
    }));
    await withGate(v, async (gate) => {
      const res = await put(gate);
      expect(res.statusCode).toBe(403);
      expect(await res.body.text()).toContain('mallory may not push here');
      expect(v.calls.map((c) => [c.action, c.image, c.context.identity])).toEqual([
        ['push', `registry.example/team/app@${sha(IMAGE)}`, 'mallory'],
        ['push', `registry.example/team/app:v1@${sha(IMAGE)}`, 'mallory'],
      ]);
      expect(v.calls[0]!.context.labels).toMatchObject({ 'gate.countersign.dev/operation': 'content' });
      expect(v.calls[1]!.context.labels).toMatchObject({
        'gate.countersign.dev/current-digest': '',
        'gate.countersign.dev/tag': 'v1',
        'gate.countersign.dev/identity-source': 'basic',
      });
      expect(upstream.seen).toEqual(['HEAD /v2/team/app/manifests/v1', `PUT /v2/team/app/manifests/${sha(IMAGE)}`]);
    });
  });

  test('a pusher who may not write here at all: nothing reaches the upstream (not even the content by digest)', async () => {
    const v = new RecordingVerifier(async (i) => ({ allowed: false, digest: digestIn(i.image), reasons: ['mallory may not push here'] }));
    await withGate(v, async (gate) => {
      const res = await put(gate);
      expect(res.statusCode).toBe(403);
      expect(await res.body.text()).toContain('mallory may not push here');
      expect(v.calls).toHaveLength(1);
      expect(v.calls[0]!.context.labels).toMatchObject({ 'gate.countersign.dev/operation': 'content' });
      expect(upstream.seen).toEqual([]);
    });
  });
});

test('concurrent writes of one tag are serialized: an immutable tag cannot be raced into moving', async () => {
  const tags = new Map<string, string>();
  upstream.handler = (req, res) => {
    const ref = req.url!.split('/manifests/')[1]!;
    if (req.method === 'HEAD') {
      const d = tags.get(ref);
      res.writeHead(d ? 200 : 404, { 'content-length': '0', ...(d ? { 'docker-content-digest': d } : {}) });
      return res.end();
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const d = sha(Buffer.concat(chunks));
      if (!ref.includes(':')) tags.set(ref, d);
      res.writeHead(201, { 'docker-content-digest': d, 'content-length': '0' });
      res.end();
    });
  };
  // An immutable-tag policy in miniature: allowed while the tag is unset or already at this digest.
  const v = new RecordingVerifier(async (i) => {
    await new Promise((r) => setTimeout(r, 20)); // both requests are in flight at once
    if (i.context.labels?.['gate.countersign.dev/operation'] === 'content')
      return { allowed: true, digest: digestIn(i.image), reasons: [] };
    const current = i.context.labels?.['gate.countersign.dev/current-digest'];
    const digest = digestIn(i.image);
    return { allowed: current === '' || current === digest, digest, reasons: [`tag points at ${String(current)}`] };
  });
  await withGate(v, async (gate) => {
    const put = (body: Buffer) =>
      request(`${gate.url}/v2/team/app/manifests/v1`, {
        method: 'PUT',
        body,
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      });
    const [a, b] = await Promise.all([put(IMAGE), put(OTHER)]);
    await a.body.dump();
    await b.body.dump();
    expect([a.statusCode, b.statusCode].sort()).toEqual([201, 403]);
    expect(tags.get('v1')).toBe(a.statusCode === 201 ? sha(IMAGE) : sha(OTHER));
  });
});

test('a verifier that never answers is a deny once the decision timeout passes (whatever the verifier)', async () => {
  upstream.handler = manifestServer(IMAGE);
  const hanging: GateVerifier = { verify: () => new Promise(() => undefined) };
  await withGate(
    hanging,
    async (gate) => {
      const res = await request(`${gate.url}/v2/team/app/manifests/v1`);
      expect(res.statusCode).toBe(403);
      expect(await res.body.text()).toContain('did not answer within 150 ms');
    },
    { decisionTimeoutMs: 150 },
  );
});

test('auth challenges pass unchanged and ask for no decision', async () => {
  const challenge = 'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull"';
  upstream.handler = (_req, res) => {
    const body = JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
    res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json', 'content-length': String(body.length) });
    res.end(body);
  };
  const v = new RecordingVerifier(async (i) => ({ allowed: true, digest: digestIn(i.image), reasons: [] }));
  await withGate(v, async (gate) => {
    for (const p of ['/v2/', '/v2/team/app/manifests/v1', `/v2/team/app/blobs/sha256:${'e'.repeat(64)}`]) {
      const res = await request(`${gate.url}${p}`, { headers: { authorization: 'Bearer abc.def.ghi' } });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe(challenge);
      expect(await res.body.text()).toContain('UNAUTHORIZED');
    }
    expect(v.calls).toHaveLength(0);
  });
});

test('a manifest asked for by a sha512 digest is checked with sha512; an unknown algorithm is refused', async () => {
  upstream.handler = manifestServer(IMAGE, { 'docker-content-digest': sha(IMAGE) });
  const sha512 = `sha512:${createHash('sha512').update(IMAGE).digest('hex')}`;
  const v = new RecordingVerifier(async (i) => ({ allowed: true, digest: digestIn(i.image), reasons: [] }));
  await withGate(v, async (gate) => {
    const ok = await request(`${gate.url}/v2/team/app/manifests/${sha512}`);
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['docker-content-digest']).toBe(sha512);
    await ok.body.dump();
    const wrong = await request(`${gate.url}/v2/team/app/manifests/sha512:${'0'.repeat(128)}`);
    expect(wrong.statusCode).toBe(502);
    await wrong.body.dump();
    const unknown = await request(`${gate.url}/v2/team/app/manifests/blake3:${'0'.repeat(64)}`);
    expect(unknown.statusCode).toBe(400);
    await unknown.body.dump();
  });
});

test('allowed pulls are logged at debug only; denials at info, with the reasons', async () => {
  upstream.handler = manifestServer(IMAGE);
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = [];
  const at = (level: string) => (obj: object, msg?: string) =>
    void lines.push({ level, obj: obj as Record<string, unknown>, ...(msg ? { msg } : {}) });
  const logger: GateLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  let allow = true;
  const v = new RecordingVerifier(async (i) => ({
    allowed: allow,
    digest: digestIn(i.image),
    reasons: allow ? [] : ['no signature by ci'],
  }));
  await withGate(
    v,
    async (gate) => {
      lines.length = 0;
      for (let i = 0; i < 3; i++) await (await request(`${gate.url}/v2/team/app/manifests/v1`)).body.dump();
      expect(lines.filter((l) => l.level !== 'debug')).toEqual([]);
      expect(lines.filter((l) => l.msg === 'gate decision')).toHaveLength(3);
      allow = false;
      await (await request(`${gate.url}/v2/team/app/manifests/v1`)).body.dump();
      const denied = lines.filter((l) => l.level === 'info');
      expect(denied).toHaveLength(1);
      expect(denied[0]!.obj).toMatchObject({ action: 'pull', allowed: false, reasons: ['no signature by ci'] });
    },
    { logger },
  );
});

test('a conditional or partial manifest read is decided like any other: the upstream never answers it with 304 or 206', async () => {
  const seenHeaders: http.IncomingHttpHeaders[] = [];
  // An upstream as Distribution is: If-None-Match matching the digest is a 304; this one also honours Range and gzip.
  upstream.handler = (req, res) => {
    seenHeaders.push(req.headers);
    if (req.headers['if-none-match'] === `"${sha(IMAGE)}"`) {
      res.writeHead(304, { etag: `"${sha(IMAGE)}"` });
      res.end();
    } else if (req.headers.range) {
      const part = IMAGE.subarray(0, 10);
      res.writeHead(206, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-range': `bytes 0-9/${IMAGE.length}` });
      res.end(part);
    } else manifestServer(IMAGE)(req, res);
  };
  const v = new RecordingVerifier(async (i) => ({ allowed: false, digest: digestIn(i.image), reasons: ['revoked'] }));
  await withGate(v, async (gate) => {
    for (const headers of [
      { 'if-none-match': `"${sha(IMAGE)}"` },
      { 'if-modified-since': new Date().toUTCString() },
      { range: 'bytes=0-9' },
      { 'if-range': `"${sha(IMAGE)}"`, range: 'bytes=0-9' },
      { 'accept-encoding': 'gzip' },
    ]) {
      for (const method of ['GET', 'HEAD'] as const) {
        const res = await request(`${gate.url}/v2/team/app/manifests/${sha(IMAGE)}`, { method, headers });
        expect([method, headers, res.statusCode]).toEqual([method, headers, 403]);
        await res.body.dump();
      }
    }
    expect(v.calls).toHaveLength(10);
  });
  for (const h of seenHeaders) {
    for (const name of ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range']) {
      expect(h[name]).toBeUndefined();
    }
    expect(h['accept-encoding']).toBe('identity');
  }
});

describe("a tag's current target is never guessed: only a 404 means the tag is not set", () => {
  /** An upstream where tag v1 points at IMAGE; HEAD of it answers as `head` says; writes are recorded. */
  function taggedUpstream(head: (req: http.IncomingMessage, res: http.ServerResponse) => boolean, writes: string[]): Handler {
    return (req, res) => {
      const ref = req.url!.split('/manifests/')[1]!;
      if (req.method === 'HEAD' || req.method === 'GET') {
        if (head(req, res)) return;
        res.writeHead(200, {
          'content-type': 'application/vnd.oci.image.manifest.v1+json',
          'docker-content-digest': sha(IMAGE),
          etag: `"${sha(IMAGE)}"`,
          'content-length': String(IMAGE.length),
        });
        return res.end(req.method === 'HEAD' ? undefined : IMAGE);
      }
      req.resume();
      req.on('end', () => {
        writes.push(`${req.method ?? ''} ${ref}`);
        res.writeHead(req.method === 'DELETE' ? 202 : 201, { 'content-length': '0' });
        res.end();
      });
    };
  }
  // Immutable-tag policy in miniature: a write is allowed while the tag is unset or at the digest written; a delete only while unset.
  const immutable = () =>
    new RecordingVerifier(async (i) => {
      const current = i.context.labels?.['gate.countersign.dev/current-digest'];
      const digest = digestIn(i.image);
      const operation = i.context.labels?.['gate.countersign.dev/operation'];
      // Content (the manifest by digest) moves no tag: immutability does not apply to it.
      const allowed = operation === 'content' || (operation === 'delete' ? current === '' : current === '' || current === digest);
      return { allowed, digest, reasons: [`immutable: v1 points at ${String(current)}`] };
    });
  const put = (gate: GateServer, headers: Record<string, string> = {}) =>
    request(`${gate.url}/v2/team/app/manifests/v1`, {
      method: 'PUT',
      body: OTHER,
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', ...headers },
    });

  test.each([
    ['a conditional PUT (If-None-Match: the current digest) that turns the HEAD into a 304', { 'if-none-match': `"${sha(IMAGE)}"` }],
    ['a PUT with If-Modified-Since', { 'if-modified-since': new Date(Date.now() + 60_000).toUTCString() }],
  ])('%s does not move an immutable tag', async (_what, headers) => {
    const writes: string[] = [];
    upstream.handler = taggedUpstream((req, res) => {
      if (req.headers['if-none-match'] === `"${sha(IMAGE)}"` || req.headers['if-modified-since']) {
        res.writeHead(304, {});
        res.end();
        return true;
      }
      return false;
    }, writes);
    const v = immutable();
    await withGate(v, async (gate) => {
      const res = await put(gate, headers);
      expect(res.statusCode).toBe(403);
      await res.body.dump();
      expect(writes).not.toContain('PUT v1');
      const del = await request(`${gate.url}/v2/team/app/manifests/v1`, { method: 'DELETE', headers });
      expect(del.statusCode).toBe(403);
      await del.body.dump();
      expect(writes).not.toContain('DELETE v1');
    });
  });

  test.each([
    ['a 500', 500],
    ['a 429', 429],
    ['a 200 without Docker-Content-Digest', 200],
  ])('the upstream answering the HEAD with %s: the tag does not move', async (_what, status) => {
    const writes: string[] = [];
    upstream.handler = taggedUpstream((req, res) => {
      if (req.method !== 'HEAD') return false;
      res.writeHead(
        status,
        status === 200
          ? { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(IMAGE.length) }
          : { 'content-length': '0' },
      );
      res.end();
      return true;
    }, writes);
    const v = immutable();
    await withGate(v, async (gate) => {
      const res = await put(gate);
      expect(res.statusCode).not.toBe(201);
      await res.body.dump();
      expect(writes).not.toContain('PUT v1');
      // A 200 without the header: the gate finds the digest itself (GET, hashed) and the policy sees it.
      // The content decision (operation content) comes first; then the tag's, which sees the current digest.
      const tagCalls = v.calls.filter((c) => c.context.labels?.['gate.countersign.dev/operation'] !== 'content');
      if (status === 200) expect(tagCalls.map((c) => c.context.labels?.['gate.countersign.dev/current-digest'])).toEqual([sha(IMAGE)]);
      else expect(tagCalls).toHaveLength(0);
    });
  });
});

describe('children of an allowed index are served only while that allow would still be given', () => {
  const child = IMAGE;
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: sha(child),
          size: child.length,
          platform: { os: 'linux', architecture: 'amd64' },
        },
      ],
    }),
  );
  const upstreamOf = (): Handler => (req, res) => {
    const isIndex = req.url!.endsWith('/v1') || req.url!.endsWith(sha(index));
    const bytes = isIndex ? index : child;
    res.writeHead(200, {
      'content-type': isIndex ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json',
      'content-length': String(bytes.length),
    });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };

  test.each([0, 200])(
    'decisionCacheTtlMs %p: once Countersign denies the index (a revocation the gate was not told of), its child is denied too',
    async (ttl) => {
      upstream.handler = upstreamOf();
      let indexAllowed = true;
      // Allows the index while indexAllowed; the child alone is unsigned (denied).
      const calls: string[] = [];
      const v: GateVerifier = {
        verify: async (i) => {
          const digest = digestIn(i.image);
          calls.push(digest);
          const allowed = digest === sha(index) && indexAllowed;
          const reasons = allowed ? [] : [`no signature on ${digest}`];
          return { allowed, digest, reasons, warnings: [], rule: 'r', mode: 'MODE_ENFORCE', policyRevision: 'p1', trustRevision: 't1' };
        },
      };
      const gate = await startGateServer({
        listen: '127.0.0.1:0',
        upstream: upstream.url,
        verifier: v,
        registryName: 'registry.example',
        decisionCacheTtlMs: ttl,
        // Revisions never change: the gate cannot tell a revocation happened (as over gRPC before the next answer).
        currentRevision: () => 'p1 t1',
      });
      try {
        const pull = async (ref: string) => {
          const res = await request(`${gate.url}/v2/team/app/manifests/${ref}`);
          await res.body.dump();
          return res.statusCode;
        };
        expect(await pull('v1')).toBe(200);
        expect(await pull(sha(child))).toBe(200); // a child right after its index: served
        // Under the index's reused allow; with reuse off, by asking about the index again.
        expect(calls).toEqual(ttl > 0 ? [sha(index)] : [sha(index), sha(index)]);
        indexAllowed = false;
        // The index's allow is no longer reusable (at once with ttl 0).
        await new Promise((r) => setTimeout(r, ttl + 50));
        expect(await pull(sha(child))).toBe(403);
        // The index asked about again, then the child on its own.
        expect(calls.slice(-2)).toEqual([sha(index), sha(child)]);
      } finally {
        await gate.close();
      }
    },
  );
});

describe('a manifest has a time limit, pushed or pulled (slow-loris): blobs do not', () => {
  test('a client trickling a manifest PUT body is cut off with a 408 and nothing is written', async () => {
    upstream.seen.length = 0;
    upstream.handler = (req, res) => {
      req.resume();
      res.writeHead(201, { 'content-length': '0' });
      res.end();
    };
    const v = new RecordingVerifier(async (i) => ({ allowed: true, digest: digestIn(i.image), reasons: [] }));
    const gate = await startGateServer({ listen: '127.0.0.1:0', upstream: upstream.url, verifier: v, manifestTimeoutMs: 300 });
    try {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${gate.url}/v2/team/app/manifests/v1`, {
          method: 'PUT',
          headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(IMAGE.length) },
        });
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        });
        req.on('error', reject);
        req.write(IMAGE.subarray(0, 5)); // and nothing more
      });
      expect(answer.status).toBe(408);
      expect(answer.body).toContain('300 ms');
      expect(upstream.seen).toEqual([]);
      expect(v.calls).toHaveLength(0);
    } finally {
      await gate.close();
    }
  });

  test('an upstream that stalls in a manifest body: the client gets an error, not a hung request, and no decision is asked', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(IMAGE.length) });
      res.write(IMAGE.subarray(0, 5)); // and nothing more
    };
    const v = new RecordingVerifier(async (i) => ({ allowed: true, digest: digestIn(i.image), reasons: [] }));
    const gate = await startGateServer({ listen: '127.0.0.1:0', upstream: upstream.url, verifier: v, manifestTimeoutMs: 300 });
    try {
      const res = await request(`${gate.url}/v2/team/app/manifests/v1`);
      expect(res.statusCode).toBe(504);
      expect(await res.body.text()).toContain('300 ms');
      expect(v.calls).toHaveLength(0);
    } finally {
      await gate.close();
    }
  });
});

describe('content writes are decided on who writes (operation content), before the upstream sees them', () => {
  const mallory = `Basic ${Buffer.from('mallory:pw').toString('base64')}`;
  const BLOB = `sha256:${'b'.repeat(64)}`;
  const EMPTY_INDEX = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }),
  );
  const accepting: Handler = (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(req.method === 'PATCH' || (req.method === 'POST' && !req.url!.includes('digest=')) ? 202 : 201, {
        location: '/v2/team/app/blobs/uploads/u1',
        'content-length': '0',
      });
      res.end();
    });
  };
  const denyAll = () =>
    new RecordingVerifier(async (i) => ({ allowed: false, digest: digestIn(i.image), reasons: ['mallory may not push to team/app'] }));

  test('a manifest by digest, an evidence tag and every blob commit ask a push decision; a denied one never reaches the upstream', async () => {
    upstream.seen.length = 0;
    upstream.handler = accepting;
    const v = denyAll();
    await withGate(v, async (gate) => {
      const writes: Array<{ path: string; method: 'PUT' | 'POST' | 'DELETE'; body?: Buffer; type?: string; digest: string }> = [
        {
          method: 'PUT',
          path: `/v2/team/app/manifests/${sha(IMAGE)}`,
          body: IMAGE,
          type: 'application/vnd.oci.image.manifest.v1+json',
          digest: sha(IMAGE),
        },
        // The referrers fallback index of an image, overwritten empty: every signature hidden.
        {
          method: 'PUT',
          path: `/v2/team/app/manifests/sha256-${'a'.repeat(64)}`,
          body: EMPTY_INDEX,
          type: 'application/vnd.oci.image.index.v1+json',
          digest: sha(EMPTY_INDEX),
        },
        { method: 'POST', path: `/v2/team/app/blobs/uploads/?digest=${BLOB}`, body: Buffer.from('x'), digest: BLOB },
        { method: 'POST', path: `/v2/team/app/blobs/uploads/?mount=${BLOB}&from=team/other`, digest: BLOB },
        { method: 'PUT', path: `/v2/team/app/blobs/uploads/u1?_state=s&digest=${BLOB}`, body: Buffer.from('tail'), digest: BLOB },
        { method: 'DELETE', path: `/v2/team/app/blobs/${BLOB}`, digest: BLOB },
      ];
      for (const w of writes) {
        const res = await request(`${gate.url}${w.path}`, {
          method: w.method,
          ...(w.body ? { body: w.body } : {}),
          headers: { authorization: mallory, ...(w.type ? { 'content-type': w.type } : {}) },
        });
        expect([w.path, res.statusCode]).toEqual([w.path, 403]);
        const text = await res.body.text();
        expect(text).toContain('DENIED');
        expect(text).toContain('mallory may not push to team/app');
      }
      expect(upstream.seen).toEqual([]);
      expect(v.calls.map((c) => [c.action, c.image, c.context.identity, c.context.labels?.['gate.countersign.dev/operation']])).toEqual(
        writes.map((w) => ['push', `registry.example/team/app@${w.digest}`, 'mallory', w.method === 'DELETE' ? 'delete' : 'content']),
      );
      // The evidence tag is named in the decision's labels (for its reasons), not in the image it matches rules by.
      expect(v.calls[1]!.context.labels?.['gate.countersign.dev/tag']).toBe(`sha256-${'a'.repeat(64)}`);
      expect(v.calls[0]!.context.labels?.['gate.countersign.dev/identity-source']).toBe('basic');
    });
  });

  test('allowed content writes are relayed; upload data and a session start make nothing readable and ask nothing', async () => {
    upstream.seen.length = 0;
    upstream.handler = accepting;
    const v = new RecordingVerifier(async (i) => ({ allowed: true, digest: digestIn(i.image), reasons: [] }));
    await withGate(v, async (gate) => {
      const start = await request(`${gate.url}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: { authorization: mallory } });
      expect(start.statusCode).toBe(202);
      await start.body.dump();
      const patch = await request(`${gate.url}/v2/team/app/blobs/uploads/u1`, { method: 'PATCH', body: Buffer.from('data') });
      expect(patch.statusCode).toBe(202);
      await patch.body.dump();
      expect(v.calls).toHaveLength(0);
      const done = await request(`${gate.url}/v2/team/app/blobs/uploads/u1?digest=${BLOB}`, { method: 'PUT', body: Buffer.from('tail') });
      expect(done.statusCode).toBe(201);
      await done.body.dump();
      expect(v.calls).toHaveLength(1);
      expect(upstream.seen).toEqual([
        'POST /v2/team/app/blobs/uploads/',
        'PATCH /v2/team/app/blobs/uploads/u1',
        `PUT /v2/team/app/blobs/uploads/u1?digest=${BLOB}`,
      ]);
    });
  });

  test('an upload naming its digest twice, or a non-digest, is refused: the gate decides about the digest the upstream commits', async () => {
    upstream.seen.length = 0;
    upstream.handler = accepting;
    const v = new RecordingVerifier(async (i) => ({ allowed: true, digest: digestIn(i.image), reasons: [] }));
    await withGate(v, async (gate) => {
      for (const q of [`digest=${BLOB}&digest=sha256:${'c'.repeat(64)}`, 'digest=nope', `mount=${BLOB}&mount=${BLOB}&from=x`]) {
        const res = await request(`${gate.url}/v2/team/app/blobs/uploads/?${q}`, { method: 'POST', body: Buffer.from('x') });
        expect([q, res.statusCode]).toEqual([q, 400]);
        expect(await res.body.text()).toContain('DIGEST_INVALID');
      }
      expect(v.calls).toHaveLength(0);
      expect(upstream.seen).toEqual([]);
      // mount= and digest= together: a registry that cannot mount commits digest=, so both are decided.
      const other = `sha256:${'c'.repeat(64)}`;
      const both = await request(`${gate.url}/v2/team/app/blobs/uploads/?mount=${BLOB}&digest=${other}`, {
        method: 'POST',
        body: Buffer.from('x'),
      });
      expect(both.statusCode).toBe(201);
      await both.body.dump();
      expect(v.calls.map((c) => digestIn(c.image))).toEqual([BLOB, other]);
    });
  });

  test('a denied write without credentials gets the upstream challenge when it wants credentials, so the client can authenticate', async () => {
    const challenge = 'Basic realm="registry"';
    upstream.seen.length = 0;
    let wantsAuth = true;
    upstream.handler = (req, res) => {
      req.resume();
      if (req.url === '/v2/' && wantsAuth) {
        res.writeHead(401, { 'www-authenticate': challenge, 'content-length': '0' });
        return res.end();
      }
      res.writeHead(200, { 'content-length': '0' });
      res.end();
    };
    const v = new RecordingVerifier(async (i) => ({
      allowed: false,
      digest: digestIn(i.image),
      reasons: ['an unidentified pusher may not push'],
    }));
    await withGate(v, async (gate) => {
      const res = await request(`${gate.url}/v2/team/app/blobs/uploads/?digest=${BLOB}`, { method: 'POST', body: Buffer.from('x') });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe(challenge);
      await res.body.dump();
      // The upload itself never reached the upstream: only the ping did.
      expect(upstream.seen).toEqual(['GET /v2/']);
      // A registry that wants no credentials: the denial stands, with its reason.
      wantsAuth = false;
      const open = await request(`${gate.url}/v2/team/app/manifests/${sha(IMAGE)}`, {
        method: 'PUT',
        body: IMAGE,
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(open.statusCode).toBe(403);
      expect(await open.body.text()).toContain('an unidentified pusher may not push');
      expect(upstream.seen).toEqual(['GET /v2/', 'GET /v2/']);
    });
  });
});
