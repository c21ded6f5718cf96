/**
 * Attacks on the registry gate by someone who can push anything and send any HTTP request. The
 * upstream registry and the verifier are faked (as in server.test.ts), but for one test against
 * the real Distribution. The first three groups reproduced holes found in a review (fixed with
 * them: src/gate/manifests.ts, what is runnable; src/gate/server.ts writeTag, the content write
 * decided first); the rest guard attacks the gate already handled.
 */
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
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
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const LABEL = {
  operation: 'gate.countersign.dev/operation',
  tag: 'gate.countersign.dev/tag',
  current: 'gate.countersign.dev/current-digest',
};

const IMAGE = j({
  schemaVersion: 2,
  mediaType: OCI_MANIFEST,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('c'), size: 2 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D('d'), size: 3 }],
});
const OTHER = Buffer.from(IMAGE.toString().replace('"size":3', '"size":4'));

const upstream = useFakeUpstream();
const withGate = upstream.withGate;

/** A registry in miniature: manifests stored by digest, tags pointing at digests. */
function miniRegistry(): { handler: Handler; manifests: Map<string, { bytes: Buffer; type: string }>; tags: Map<string, string> } {
  const manifests = new Map<string, { bytes: Buffer; type: string }>();
  const tags = new Map<string, string>();
  const handler: Handler = (req, res) => {
    const url = req.url!.split('?')[0]!;
    const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url);
    if (!m) {
      req.resume();
      res.writeHead(req.url === '/v2/' ? 200 : 404, { 'content-length': '0' });
      return res.end();
    }
    const [, name, ref] = m as unknown as [string, string, string];
    const key = (r: string) => `${name}@${r}`;
    if (req.method === 'PUT') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const d = sha(bytes);
        manifests.set(key(d), { bytes, type: req.headers['content-type'] ?? OCI_MANIFEST });
        if (!ref.includes(':')) tags.set(`${name}:${ref}`, d);
        res.writeHead(201, { 'docker-content-digest': d, 'content-length': '0', location: `/v2/${name}/manifests/${d}` });
        res.end();
      });
      return;
    }
    req.resume();
    const d = ref.includes(':') ? ref : tags.get(`${name}:${ref}`);
    const got = d ? manifests.get(key(d)) : undefined;
    if (req.method === 'DELETE') {
      res.writeHead(got ? 202 : 404, { 'content-length': '0' });
      return res.end();
    }
    if (!got) {
      res.writeHead(404, { 'content-length': '0' });
      return res.end();
    }
    res.writeHead(200, { 'content-type': got.type, 'content-length': String(got.bytes.length), 'docker-content-digest': d! });
    res.end(req.method === 'HEAD' ? undefined : got.bytes);
  };
  return { handler, manifests, tags };
}

type Answer = { allowed: boolean; reasons?: string[]; revisions?: boolean };
class Verifier implements GateVerifier {
  calls: GateVerifyInput[] = [];
  constructor(private readonly decide: (i: GateVerifyInput) => Answer) {}
  async verify(input: GateVerifyInput) {
    this.calls.push(input);
    const a = this.decide(input);
    return {
      allowed: a.allowed,
      digest: input.image.slice(input.image.indexOf('@') + 1),
      reasons: a.reasons ?? (a.allowed ? [] : ['denied by the test policy']),
      warnings: [],
      rule: 'r',
      mode: 'MODE_ENFORCE',
      ...(a.revisions ? { policyRevision: 'p1', trustRevision: 't1' } : {}),
    };
  }
}
const denyAll = () => new Verifier(() => ({ allowed: false }));
const allowAll = () => new Verifier(() => ({ allowed: true }));

/** A raw request (for targets undici would normalize). */
function raw(gate: GateServer, lines: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(gate.port, '127.0.0.1', () => s.write(lines));
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.on('error', reject);
  });
}
const statusOf = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);

// ---------------------------------------------------------------------------------------------
// Was: "not runnable" was decided by a short list of layer media types that runtimes do not
// share. Docker's classic puller unpacks every layer of a manifest whose config type it takes for
// an image's (moby's ImageTypes: the OCI and Docker config types, application/octet-stream,
// application/json, text/html, ""), whatever the layer's type, sniffing the compression. The gate
// called such a manifest evidence and served it with NO pull decision: by digest when it had a
// `subject`, and by name under a cosign `sha256-<hex>.sig` / `.att` tag (no subject needed), which
// was also pushed as mere "content".
// ---------------------------------------------------------------------------------------------
describe('a manifest whose layers Docker unpacks is never evidence: it is pulled and pushed under a decision', () => {
  const layerTypes = [
    'application/octet-stream',
    '',
    'APPLICATION/VND.OCI.IMAGE.LAYER.V1.TAR+GZIP',
    'application/vnd.docker.image.rootfs.diff.tar.gzip'.replace('rootfs', 'ROOTFS'),
    'application/vnd.oci.image.config.v1+json',
  ];
  const runnableWithSubject = (layerType: string) =>
    j({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('c'), size: 2 },
      layers: [{ mediaType: layerType, digest: D('d'), size: 3 }],
      subject: { mediaType: OCI_MANIFEST, digest: D('1'), size: 5 },
    });
  const { subject: _s, ...noSubject } = JSON.parse(runnableWithSubject('x').toString()) as Record<string, unknown>;
  const runnableSig = (layerType: string) => j({ ...noSubject, layers: [{ mediaType: layerType, digest: D('d'), size: 3 }] });

  test.each(layerTypes)('pull by digest of an image with a subject and layer type %p asks a pull decision', async (layerType) => {
    const body = runnableWithSubject(layerType);
    upstream.handler = serve(body);
    const v = denyAll();
    await withGate(v, async (gate) => {
      const res = await request(`${gate.url}/v2/prod/app/manifests/${sha(body)}`);
      const how = res.headers['x-countersign-gate'];
      await res.body.dump();
      expect({ status: res.statusCode, how }).toEqual({ status: 403, how: undefined });
      expect(v.calls.map((c) => c.action)).toEqual(['pull']);
    });
  });

  test.each(layerTypes)('pull by tag sha256-<hex>.sig of an image with layer type %p asks a pull decision', async (layerType) => {
    const body = runnableSig(layerType);
    upstream.handler = serve(body);
    const v = denyAll();
    await withGate(v, async (gate) => {
      const res = await request(`${gate.url}/v2/prod/app/manifests/sha256-${'a'.repeat(64)}.sig`);
      const how = res.headers['x-countersign-gate'];
      await res.body.dump();
      expect({ status: res.statusCode, how }).toEqual({ status: 403, how: undefined });
    });
  });

  test('end to end against the real Distribution: pushed under a .sig tag as content, then pulled with every pull denied', async () => {
    const host = process.env.COUNTERSIGN_TEST_REGISTRY;
    if (!host) throw new Error('COUNTERSIGN_TEST_REGISTRY is not set (jest globalSetup starts the registry)');
    const client = new RegistryClient({ timeoutMs: 15_000 });
    const repo = { registry: host, repository: `countersign-unit/attack-${randomBytes(6).toString('hex')}` };
    try {
      // A real gzip'd tar layer and an image config: what Docker unpacks and runs.
      const layer = gzipSync(Buffer.concat([Buffer.alloc(512, 0), Buffer.alloc(512, 0)]));
      const config = j({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [sha(Buffer.alloc(1024, 0))] },
        config: { Cmd: ['/evil'] },
      });
      await client.pushBlob(repo, layer);
      await client.pushBlob(repo, config);
      const body = j({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
        layers: [{ mediaType: 'application/octet-stream', digest: sha(layer), size: layer.length }],
      });
      const tag = `sha256-${'a'.repeat(64)}.sig`;
      // The policy: content writes allowed (anyone may add evidence), tag writes and pulls denied.
      const v = new Verifier((i) => ({ allowed: i.action === 'push' && i.context.labels?.[LABEL.operation] === 'content' }));
      const gate = await startGateServer({ listen: '127.0.0.1:0', upstream: `http://${host}`, verifier: v, registryName: host });
      try {
        const put = await request(`${gate.url}/v2/${repo.repository}/manifests/${tag}`, {
          method: 'PUT',
          body,
          headers: { 'content-type': OCI_MANIFEST },
        });
        await put.body.dump();
        // A tag write (it is no evidence), which this policy refuses: the content is stored by digest only.
        expect(put.statusCode).toBe(403);
        const byDigest = await request(`${gate.url}/v2/${repo.repository}/manifests/${sha(body)}`);
        const how = byDigest.headers['x-countersign-gate'];
        await byDigest.body.dump();
        expect([byDigest.statusCode, how]).toEqual([403, undefined]);
        const byTag = await request(`${gate.url}/v2/${repo.repository}/manifests/${tag}`);
        await byTag.body.dump();
        expect(byTag.statusCode).toBe(404);
      } finally {
        await gate.close();
      }
    } finally {
      await client.close();
    }
  });

  test('push of such an image under a .sig tag is judged as a tag write, not as content', async () => {
    const reg = miniRegistry();
    upstream.handler = reg.handler;
    // Content writes (who writes) are allowed; tag writes need evidence, which this image lacks.
    const v = new Verifier((i) => ({ allowed: i.context.labels?.[LABEL.operation] === 'content' }));
    await withGate(v, async (gate) => {
      const res = await request(`${gate.url}/v2/prod/app/manifests/sha256-${'a'.repeat(64)}.att`, {
        method: 'PUT',
        body: runnableSig('application/octet-stream'),
        headers: { 'content-type': OCI_MANIFEST },
      });
      await res.body.dump();
      expect(res.statusCode).toBe(403);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// A cosign .sig / .att manifest has an image config type, so Docker's classic puller would apply
// its layers whatever their declared type: they are evidence only if their bytes are no archive.
// ---------------------------------------------------------------------------------------------
describe('a payload layer under an image config is read: evidence only if its bytes are not a layer', () => {
  const SIG_TAG = `sha256-${'a'.repeat(64)}.sig`;
  const payload = j({ critical: { identity: { 'docker-reference': 'registry.example/prod/app' } }, optional: null });
  const tarball = gzipSync(Buffer.alloc(1024, 0));
  const sigOver = (...blobs: Buffer[]) =>
    j({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('c'), size: 2 },
      layers: blobs.map((b) => ({ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: sha(b), size: b.length })),
    });
  /** The manifest under SIG_TAG, blobs by digest (`blobs`: a digest → answer). */
  const registry =
    (manifest: Buffer, blobs: Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>): Handler =>
    (req, res) => {
      req.resume();
      const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '')?.[1];
      if (blob !== undefined) {
        const answer = blobs[blob];
        if (answer) {
          answer(req, res);
          return;
        }
        res.writeHead(404, { 'content-length': '0' });
        return res.end();
      }
      res.writeHead(200, { 'content-type': OCI_MANIFEST, 'content-length': String(manifest.length) });
      res.end(req.method === 'HEAD' ? undefined : manifest);
    };
  const bytes = (b: Buffer) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    // A Range-aware registry: the gate asks for the first 512 bytes only.
    const m = /^bytes=0-(\d+)$/.exec(req.headers.range ?? '');
    const part = m ? b.subarray(0, Number(m[1]) + 1) : b;
    res.writeHead(m ? 206 : 200, { 'content-length': String(part.length) });
    res.end(part);
  };
  const pull = async (gate: GateServer, headers: Record<string, string> = {}) => {
    const res = await request(`${gate.url}/v2/prod/app/manifests/${SIG_TAG}`, { headers });
    await res.body.dump();
    return { status: res.statusCode, how: res.headers['x-countersign-gate'] };
  };

  test('JSON payloads: evidence, served without a decision (one ranged read per layer)', async () => {
    upstream.handler = registry(sigOver(payload, Buffer.from('{"a":1}')), {
      [sha(payload)]: bytes(payload),
      [sha(Buffer.from('{"a":1}'))]: bytes(Buffer.from('{"a":1}')),
    });
    const v = denyAll();
    await withGate(v, async (gate) => {
      expect(await pull(gate)).toEqual({ status: 200, how: 'evidence (cosign signature/attestation tag)' });
      expect(v.calls).toHaveLength(0);
      expect(upstream.seen.filter((l) => l.includes('/blobs/')).sort()).toEqual(
        [sha(payload), sha(Buffer.from('{"a":1}'))].map((d) => `GET /v2/prod/app/blobs/${d}`).sort(),
      );
      expect(upstream.headers.filter((h) => h.range !== undefined).map((h) => h.range)).toEqual(['bytes=0-511', 'bytes=0-511']);
    });
  });

  test('a gzip tarball declared as a payload: decided like an image (denied here)', async () => {
    upstream.handler = registry(sigOver(payload, tarball), { [sha(payload)]: bytes(payload), [sha(tarball)]: bytes(tarball) });
    const v = denyAll();
    await withGate(v, async (gate) => {
      expect(await pull(gate)).toEqual({ status: 403, how: undefined });
      expect(v.calls.map((c) => c.action)).toEqual(['pull']);
    });
  });

  test('a payload layer that cannot be read (404, 500): decided (fail closed)', async () => {
    for (const status of [404, 500]) {
      upstream.handler = registry(sigOver(payload), {
        [sha(payload)]: (_req, res) => {
          res.writeHead(status, { 'content-length': '0' });
          res.end();
        },
      });
      const v = denyAll();
      await withGate(v, async (gate) => {
        expect(await pull(gate)).toEqual({ status: 403, how: undefined });
      });
    }
  });

  test('a registry that ignores Range (200, whole blob): the first 512 bytes are judged', async () => {
    const big = Buffer.concat([tarball, Buffer.alloc(64 * 1024, 1)]);
    upstream.handler = registry(sigOver(big), {
      [sha(big)]: (_req, res) => {
        res.writeHead(200, { 'content-length': String(big.length) });
        res.end(big);
      },
    });
    await withGate(denyAll(), async (gate) => {
      expect(await pull(gate)).toEqual({ status: 403, how: undefined });
    });
  });

  test('a redirect to storage elsewhere is followed, without the credentials; the bytes there decide', async () => {
    const seenThere: http.IncomingHttpHeaders[] = [];
    let served = payload;
    const storage = http.createServer((req, res) => {
      seenThere.push(req.headers);
      bytes(served)(req, res);
    });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
    const there = `http://127.0.0.1:${(storage.address() as AddressInfo).port}/bucket/blob?sig=x`;
    try {
      for (const [blob, expected] of [
        [payload, { status: 200, how: 'evidence (cosign signature/attestation tag)' }],
        [tarball, { status: 403, how: undefined }],
      ] as const) {
        served = blob;
        upstream.handler = registry(sigOver(blob), {
          [sha(blob)]: (_req, res) => {
            res.writeHead(307, { location: there, 'content-length': '0' });
            res.end();
          },
        });
        await withGate(denyAll(), async (gate) => {
          expect(await pull(gate, { authorization: 'Bearer secret-token' })).toEqual(expected);
        });
      }
      expect(seenThere).toHaveLength(2);
      expect(seenThere.map((h) => [h.authorization, h.range])).toEqual([
        [undefined, 'bytes=0-511'],
        [undefined, 'bytes=0-511'],
      ]);
      // The upstream itself was asked with the client's credentials (once per pull).
      expect(upstream.headers.filter((h) => h.range !== undefined).map((h) => h.authorization)).toEqual([
        'Bearer secret-token',
        'Bearer secret-token',
      ]);
    } finally {
      await new Promise<void>((r) => storage.close(() => r()));
    }
  });

  test('against the real Distribution (ranged reads): a genuine payload is evidence, a tarball declared as one is decided', async () => {
    const host = process.env.COUNTERSIGN_TEST_REGISTRY;
    if (!host) throw new Error('COUNTERSIGN_TEST_REGISTRY is not set (jest globalSetup starts the registry)');
    const client = new RegistryClient({ timeoutMs: 15_000 });
    const repo = { registry: host, repository: `countersign-unit/sig-${randomBytes(6).toString('hex')}` };
    // Content writes allowed, tag writes and pulls denied: only evidence gets through.
    const v = new Verifier((i) => ({ allowed: i.action === 'push' && i.context.labels?.[LABEL.operation] === 'content' }));
    const gate = await startGateServer({ listen: '127.0.0.1:0', upstream: `http://${host}`, verifier: v, registryName: host });
    try {
      const config = j({ architecture: '', os: '', rootfs: { type: 'layers', diff_ids: [] }, config: {} });
      await client.pushBlob(repo, config);
      const results: Array<[string, number, number, string | undefined]> = [];
      for (const [what, blob, tag] of [
        ['payload', payload, `sha256-${'1'.repeat(64)}.sig`],
        ['tarball', tarball, `sha256-${'2'.repeat(64)}.sig`],
      ] as const) {
        await client.pushBlob(repo, blob);
        const manifest = j({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
          layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: sha(blob), size: blob.length }],
        });
        const put = await request(`${gate.url}/v2/${repo.repository}/manifests/${tag}`, {
          method: 'PUT',
          body: manifest,
          headers: { 'content-type': OCI_MANIFEST },
        });
        await put.body.dump();
        // The tarball's manifest was stored by digest (content) and its tag refused: pull it by digest.
        const ref = what === 'payload' ? tag : sha(manifest);
        const got = await request(`${gate.url}/v2/${repo.repository}/manifests/${ref}`);
        const how = got.headers['x-countersign-gate'];
        await got.body.dump();
        results.push([what, put.statusCode, got.statusCode, how as string | undefined]);
      }
      expect(results).toEqual([
        ['payload', 201, 200, 'evidence (cosign signature/attestation tag)'],
        ['tarball', 403, 403, undefined],
      ]);
    } finally {
      await gate.close();
      await client.close();
    }
  });

  test('more payload layers than the gate reads: decided, and none read', async () => {
    const many = Array.from({ length: 65 }, (_, i) => Buffer.from(`{"n":${i}}`));
    upstream.handler = registry(sigOver(...many), {});
    await withGate(denyAll(), async (gate) => {
      expect(await pull(gate)).toEqual({ status: 403, how: undefined });
      expect(upstream.seen.filter((l) => l.includes('/blobs/'))).toEqual([]);
    });
  });

  test('pushed under a .sig tag with a tarball layer: a tag write (decided), not content', async () => {
    upstream.handler = (req, res) => {
      const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '')?.[1];
      req.resume();
      if (blob !== undefined) {
        bytes(tarball)(req, res);
        return;
      }
      res.writeHead(req.method === 'HEAD' ? 404 : 201, { 'content-length': '0' });
      res.end();
    };
    const v = new Verifier((i) => ({ allowed: i.context.labels?.[LABEL.operation] === 'content' }));
    await withGate(v, async (gate) => {
      const res = await request(`${gate.url}/v2/prod/app/manifests/${SIG_TAG}`, {
        method: 'PUT',
        body: sigOver(tarball),
        headers: { 'content-type': OCI_MANIFEST },
      });
      await res.body.dump();
      expect(res.statusCode).toBe(403);
      expect(v.calls.map((c) => c.context.labels?.[LABEL.operation])).toEqual(['content', undefined]);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Was: the `sha256-<hex>` referrers fallback index was recognised by "OCI index with no
// platform entry" only. manifests.ts's own comment says an entry that is itself an image also makes
// it runnable, but the code never looks: an index of plain image descriptors (no platform, no
// artifactType: not a referrers index) is written with operation `content` (no PUSH decision: no
// evidence requirement, no immutability, no naming rule) and read with no pull decision.
// ---------------------------------------------------------------------------------------------
describe('a sha256-<hex> tag holding an index of images (not of referrers) is decided, not waved through', () => {
  const imagesIndex = j({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{ mediaType: OCI_MANIFEST, digest: sha(IMAGE), size: IMAGE.length }],
  });
  const TAG = `sha256-${'b'.repeat(64)}`;

  test('the push is a tag write (a PUSH decision), not content', async () => {
    const reg = miniRegistry();
    upstream.handler = reg.handler;
    const v = new Verifier((i) => ({ allowed: i.context.labels?.[LABEL.operation] === 'content' }));
    await withGate(v, async (gate) => {
      const res = await request(`${gate.url}/v2/prod/app/manifests/${TAG}`, {
        method: 'PUT',
        body: imagesIndex,
        headers: { 'content-type': OCI_INDEX },
      });
      await res.body.dump();
      // The content by digest (operation content), then the tag write (no operation label), refused.
      expect({ status: res.statusCode, operations: v.calls.map((c) => c.context.labels?.[LABEL.operation]) }).toEqual({
        status: 403,
        operations: ['content', undefined],
      });
      expect(reg.tags.has(`prod/app:${TAG}`)).toBe(false);
    });
  });

  test('the pull asks a pull decision', async () => {
    upstream.handler = serve(imagesIndex, OCI_INDEX);
    const v = denyAll();
    await withGate(v, async (gate) => {
      const res = await request(`${gate.url}/v2/prod/app/manifests/${TAG}`);
      const how = res.headers['x-countersign-gate'];
      await res.body.dump();
      expect({ status: res.statusCode, how }).toEqual({ status: 403, how: undefined });
    });
  });

  test('guard: a real referrers index (artifact entries) under that tag stays evidence', async () => {
    const referrers = j({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: D('2'), size: 5, artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' }],
    });
    upstream.handler = serve(referrers, OCI_INDEX);
    await withGate(denyAll(), async (gate) => {
      const res = await request(`${gate.url}/v2/prod/app/manifests/${TAG}`);
      await res.body.dump();
      expect(res.statusCode).toBe(200);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Was: a tag PUT stored the manifest upstream by digest BEFORE anything was decided, so a
// pusher that push.identities refuses (who is refused the very same write by digest, operation
// content) still gets arbitrary manifests stored in the protected repository (referrers listed
// under a production image, storage), by sending them to a tag instead of a digest.
// ---------------------------------------------------------------------------------------------
describe('a pusher refused content writes stores nothing through the tag route either', () => {
  const mallory = `Basic ${Buffer.from('mallory:pw').toString('base64')}`;
  test('a by-digest PUT is refused (guard), and a tag PUT by the same identity stores nothing either', async () => {
    const reg = miniRegistry();
    upstream.handler = reg.handler;
    const v = new Verifier((i) => ({ allowed: i.context.identity !== 'mallory', reasons: ['mallory may not push to prod/app'] }));
    await withGate(v, async (gate) => {
      const byDigest = await request(`${gate.url}/v2/prod/app/manifests/${sha(IMAGE)}`, {
        method: 'PUT',
        body: IMAGE,
        headers: { 'content-type': OCI_MANIFEST, authorization: mallory },
      });
      await byDigest.body.dump();
      expect(byDigest.statusCode).toBe(403);
      expect(reg.manifests.size).toBe(0);
      const byTag = await request(`${gate.url}/v2/prod/app/manifests/v1`, {
        method: 'PUT',
        body: IMAGE,
        headers: { 'content-type': OCI_MANIFEST, authorization: mallory },
      });
      await byTag.body.dump();
      expect(byTag.statusCode).toBe(403);
      expect(upstream.seen.filter((l) => l.startsWith('PUT'))).toEqual([]);
      expect([...reg.manifests.keys()]).toEqual([]);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Regression guards: attacks the gate handles.
// ---------------------------------------------------------------------------------------------
describe('guards: path tricks never reach the upstream nor yield a manifest', () => {
  const targets = [
    '/v2/prod/app/manifests/v1/',
    '/v2/prod/app/manifests/',
    '/v2/prod/app/manifests',
    '/v2/prod//app/manifests/v1',
    '/v2/prod/app/../app/manifests/v1',
    '/v2/prod/./app/manifests/v1',
    '/v2/prod%2Fapp/manifests/v1',
    '/v2/prod/app/manifests/v%31',
    '/v2/prod/app/manifests/%76%31',
    '/v2/prod/app/manifests/v1;x=y',
    `/v2/prod/app/manifests/v1@${D('a')}`,
    `/v2/prod/app/manifests/v1%40${D('a')}`,
    '/v2/Prod/app/manifests/v1',
    '/V2/prod/app/manifests/v1',
    '/v2/_catalog',
    '/v2/_catalog?n=1000',
    '/v2/prod/app/blobs/uploads/../../../_catalog',
    '/v2/prod\\app/manifests/v1',
    '/debug/vars',
    '/v2/prod/app/manifests/v1#frag',
    'http://127.0.0.1/v2/prod/app/manifests/v1',
    '*',
  ];
  test.each(targets)('GET %s', async (target) => {
    upstream.handler = serve(IMAGE);
    await withGate(allowAll(), async (gate) => {
      const res = await raw(gate, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect([400, 404, 405]).toContain(statusOf(res));
      expect(upstream.seen).toEqual([]);
    });
  });

  test('blobs/uploads with GET, HEAD on uploads start, and unknown methods are refused', async () => {
    upstream.handler = serve(IMAGE);
    await withGate(allowAll(), async (gate) => {
      for (const [method, target] of [
        ['GET', '/v2/prod/app/blobs/uploads/'],
        ['HEAD', '/v2/prod/app/blobs/uploads/'],
        ['POST', '/v2/prod/app/manifests/v1'],
        ['PATCH', '/v2/prod/app/manifests/v1'],
        ['TRACE', '/v2/'],
        ['OPTIONS', '/v2/prod/app/manifests/v1'],
        ['CONNECT', '127.0.0.1:1'],
      ] as const) {
        const res = await raw(gate, `${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        // 0: the connection is closed without an answer (CONNECT has no handler): refused too.
        expect([method, target, [0, 400, 404, 405].includes(statusOf(res))]).toEqual([method, target, true]);
      }
      expect(upstream.seen).toEqual([]);
    });
  });

  test('digest variants: uppercase hex, sha512 of other bytes, unknown algorithm are never served', async () => {
    upstream.handler = serve(IMAGE, OCI_MANIFEST, { 'docker-content-digest': sha(IMAGE) });
    const v = allowAll();
    await withGate(v, async (gate) => {
      for (const ref of [
        sha(IMAGE).toUpperCase().replace('SHA256', 'sha256'),
        `sha512:${'0'.repeat(128)}`,
        `sha256+b64:${'a'.repeat(43)}`,
        `sha256:${sha(IMAGE).slice(7)}0`,
      ]) {
        const res = await request(`${gate.url}/v2/prod/app/manifests/${ref}`);
        await res.body.dump();
        expect([ref, res.statusCode === 200]).toEqual([ref, false]);
      }
      expect(v.calls).toHaveLength(0);
    });
  });
});

describe('guards: the bytes decided are the bytes served', () => {
  test('the client Accept is replaced: an upstream that serves other bytes per Accept cannot swap them', async () => {
    // An upstream that answers an old-client Accept with OTHER bytes for the same tag.
    upstream.handler = (req, res) => {
      const body = String(req.headers.accept).includes(OCI_INDEX) ? IMAGE : OTHER;
      serve(body)(req, res);
    };
    const v = new Verifier((i) => ({ allowed: i.image.endsWith(sha(IMAGE)) }));
    await withGate(v, async (gate) => {
      for (const method of ['GET', 'HEAD'] as const) {
        const res = await request(`${gate.url}/v2/prod/app/manifests/v1`, {
          method,
          headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
        });
        if (method === 'GET') expect(Buffer.from(await res.body.arrayBuffer()).equals(IMAGE)).toBe(true);
        else await res.body.dump();
        expect(res.statusCode).toBe(200);
        expect(res.headers['docker-content-digest']).toBe(sha(IMAGE));
      }
      expect(upstream.seen.every((l) => l.startsWith('GET'))).toBe(true);
      expect(v.calls.map((c) => c.image)).toEqual([
        `registry.example/prod/app:v1@${sha(IMAGE)}`,
        `registry.example/prod/app:v1@${sha(IMAGE)}`,
      ]);
    });
  });

  test('HEAD of a denied manifest is denied (the gate reads and decides the whole manifest)', async () => {
    upstream.handler = serve(IMAGE);
    await withGate(denyAll(), async (gate) => {
      const res = await request(`${gate.url}/v2/prod/app/manifests/${sha(IMAGE)}`, { method: 'HEAD' });
      await res.body.dump();
      expect(res.statusCode).toBe(403);
    });
  });

  test('a warm allow is not reused when the tag moves (cache keyed by the digest served)', async () => {
    let body = IMAGE;
    upstream.handler = (req, res) => serve(body)(req, res);
    const v = new Verifier((i) => ({ allowed: i.image.endsWith(sha(IMAGE)), revisions: true }));
    await withGate(
      v,
      async (gate) => {
        const a = await request(`${gate.url}/v2/prod/app/manifests/v1`);
        await a.body.dump();
        expect(a.statusCode).toBe(200);
        body = OTHER;
        const b = await request(`${gate.url}/v2/prod/app/manifests/v1`);
        await b.body.dump();
        expect(b.statusCode).toBe(403);
      },
      { currentRevision: () => 'p1 t1', decisionCacheTtlMs: 60_000 },
    );
  });

  test('a child allowed through an index in one repository is judged on its own in another, and by tag', async () => {
    const index = j({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: sha(IMAGE), size: IMAGE.length, platform: { os: 'linux', architecture: 'amd64' } }],
    });
    upstream.handler = (req, res) => (req.url!.endsWith('/idx') ? serve(index, OCI_INDEX)(req, res) : serve(IMAGE)(req, res));
    const v = new Verifier((i) => ({ allowed: i.image.endsWith(sha(index)), revisions: true }));
    await withGate(
      v,
      async (gate) => {
        const idx = await request(`${gate.url}/v2/prod/app/manifests/idx`);
        await idx.body.dump();
        expect(idx.statusCode).toBe(200);
        const same = await request(`${gate.url}/v2/prod/app/manifests/${sha(IMAGE)}`);
        await same.body.dump();
        expect(same.statusCode).toBe(200);
        const otherRepo = await request(`${gate.url}/v2/evil/app/manifests/${sha(IMAGE)}`);
        await otherRepo.body.dump();
        expect(otherRepo.statusCode).toBe(403);
        const byTag = await request(`${gate.url}/v2/prod/app/manifests/child`);
        await byTag.body.dump();
        expect(byTag.statusCode).toBe(403);
      },
      { currentRevision: () => 'p1 t1' },
    );
  });

  test('a conditional/range client header never turns a denial into a 304/206', async () => {
    upstream.handler = (req, res) => {
      if (req.headers['if-none-match'] || req.headers.range) {
        res.writeHead(304, {});
        return res.end();
      }
      serve(IMAGE)(req, res);
    };
    await withGate(denyAll(), async (gate) => {
      const res = await request(`${gate.url}/v2/prod/app/manifests/v1`, {
        headers: { 'if-none-match': `"${sha(IMAGE)}"`, range: 'bytes=0-1' },
      });
      await res.body.dump();
      expect(res.statusCode).toBe(403);
    });
  });

  test('a client asking for gzip does not make the gate read (and hash) an encoded manifest', async () => {
    upstream.handler = serve(IMAGE);
    await withGate(allowAll(), async (gate) => {
      const res = await request(`${gate.url}/v2/prod/app/manifests/v1`, { headers: { 'accept-encoding': 'gzip' } });
      await res.body.dump();
      expect(upstream.headers[0]!['accept-encoding']).toBe('identity');
    });
  });
});

describe('guards: push side', () => {
  test('PUT by digest with ?tag= (distribution-spec multi-tag push) never tags anything upstream', async () => {
    const reg = miniRegistry();
    upstream.handler = reg.handler;
    const v = new Verifier((i) => ({ allowed: i.context.labels?.[LABEL.operation] === 'content' }));
    await withGate(v, async (gate) => {
      const res = await request(`${gate.url}/v2/prod/app/manifests/${sha(IMAGE)}?tag=release&tag=latest`, {
        method: 'PUT',
        body: IMAGE,
        headers: { 'content-type': OCI_MANIFEST },
      });
      await res.body.dump();
      expect(res.statusCode).toBe(201);
      expect(upstream.seen).toEqual([`PUT /v2/prod/app/manifests/${sha(IMAGE)}`]);
    });
  });

  test('an immutable tag cannot be moved, nor deleted by tag; DELETE by digest asks a delete decision', async () => {
    const reg = miniRegistry();
    upstream.handler = reg.handler;
    // Immutable-tag policy in miniature; deletes of anything are denied.
    const v = new Verifier((i) => {
      const l = i.context.labels ?? {};
      if (l[LABEL.operation] === 'delete') return { allowed: false };
      if (l[LABEL.operation] === 'content') return { allowed: true };
      const current = l[LABEL.current];
      return { allowed: current === '' || (current !== undefined && i.image.endsWith(`@${current}`)) };
    });
    await withGate(v, async (gate) => {
      const put = (b: Buffer) =>
        request(`${gate.url}/v2/prod/app/manifests/v1`, { method: 'PUT', body: b, headers: { 'content-type': OCI_MANIFEST } });
      const first = await put(IMAGE);
      await first.body.dump();
      expect(first.statusCode).toBe(201);
      const again = await put(IMAGE);
      await again.body.dump();
      expect(again.statusCode).toBe(201);
      const moved = await put(OTHER);
      await moved.body.dump();
      expect(moved.statusCode).toBe(403);
      for (const ref of ['v1', sha(IMAGE)]) {
        const del = await request(`${gate.url}/v2/prod/app/manifests/${ref}`, { method: 'DELETE' });
        await del.body.dump();
        expect([ref, del.statusCode]).toEqual([ref, 403]);
      }
      expect(upstream.seen.filter((l) => l.startsWith('DELETE'))).toEqual([]);
      expect(reg.tags.get('prod/app:v1')).toBe(sha(IMAGE));
      const del = v.calls.filter((c) => c.context.labels?.[LABEL.operation] === 'delete');
      expect(del.map((c) => c.image)).toEqual([`registry.example/prod/app:v1@${sha(IMAGE)}`, `registry.example/prod/app@${sha(IMAGE)}`]);
    });
  });

  test('a runnable image named sha256-<hex> or .sig, and a platform index under sha256-<hex>, get a PUSH tag decision', async () => {
    const reg = miniRegistry();
    upstream.handler = reg.handler;
    const v = new Verifier((i) => ({ allowed: i.context.labels?.[LABEL.operation] === 'content' }));
    const platformIndex = j({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: sha(IMAGE), size: IMAGE.length, platform: { os: 'linux', architecture: 'amd64' } }],
    });
    await withGate(v, async (gate) => {
      for (const [tag, body, type] of [
        [`sha256-${'a'.repeat(64)}`, IMAGE, OCI_MANIFEST],
        [`sha256-${'a'.repeat(64)}.sig`, IMAGE, OCI_MANIFEST],
        [`sha256-${'a'.repeat(64)}`, platformIndex, OCI_INDEX],
        // Content-Type says index, body says image: ambiguous, never evidence.
        [`sha256-${'a'.repeat(64)}`, j({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], layers: [] }), OCI_INDEX],
      ] as const) {
        const res = await request(`${gate.url}/v2/prod/app/manifests/${tag}`, { method: 'PUT', body, headers: { 'content-type': type } });
        await res.body.dump();
        expect([tag, res.statusCode]).toEqual([tag, 403]);
      }
      expect([...reg.tags.keys()]).toEqual([]);
    });
  });

  test('a blob commit via mount/from, monolithic POST, or closing PUT asks a content decision; a refused one is not forwarded', async () => {
    upstream.handler = (req, res) => {
      req.resume();
      res.writeHead(201, { 'content-length': '0' });
      res.end();
    };
    const v = denyAll();
    await withGate(v, async (gate) => {
      for (const [method, target] of [
        ['POST', `/v2/prod/app/blobs/uploads/?mount=${D('b')}&from=staging/app`],
        ['POST', `/v2/prod/app/blobs/uploads?digest=${D('b')}`],
        ['POST', `/v2/prod/app/blobs/uploads/?%64igest=${D('b')}`],
        ['PUT', `/v2/prod/app/blobs/uploads/u1?_state=x&digest=${D('b')}`],
      ] as const) {
        const res = await request(`${gate.url}${target}`, { method, body: 'x', headers: { authorization: 'Basic eDp5' } });
        await res.body.dump();
        expect([target, res.statusCode]).toEqual([target, 403]);
      }
      expect(upstream.seen).toEqual([]);
    });
  });
});

describe('guards: headers', () => {
  test('Location is rewritten only for the upstream origin (no look-alike origin, no userinfo trick); Host is not injected', async () => {
    const base = upstream.url;
    const locations = [
      `${base}/v2/prod/app/blobs/uploads/u1?_state=s`,
      `${base}.evil.example/v2/x`,
      `${base}@evil.example/v2/x`,
      `https://evil.example/${base}/x`,
    ];
    let i = 0;
    upstream.handler = (req, res) => {
      req.resume();
      res.writeHead(202, { location: locations[i++]!, 'content-length': '0' });
      res.end();
    };
    await withGate(allowAll(), async (gate) => {
      const got: string[] = [];
      for (let k = 0; k < locations.length; k++) {
        const res = await request(`${gate.url}/v2/prod/app/blobs/uploads/`, { method: 'POST' });
        await res.body.dump();
        got.push(String(res.headers.location));
      }
      expect(got).toEqual([`${gate.url}/v2/prod/app/blobs/uploads/u1?_state=s`, ...locations.slice(1)]);
      // A Host header with a path or userinfo in it is not used for rewriting.
      i = 0;
      const res = await raw(
        gate,
        `POST /v2/prod/app/blobs/uploads/ HTTP/1.1\r\nHost: evil.example/x?\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      expect(res).toMatch(new RegExp(`location: http://127\\.0\\.0\\.1:${gate.port}/v2/prod/app/blobs/uploads/u1`, 'i'));
    });
  });

  test('Authorization and WWW-Authenticate pass unchanged', async () => {
    const challenge = 'Bearer realm="https://auth.example/token",service="r",scope="repository:prod/app:pull"';
    upstream.handler = (req, res) => {
      req.resume();
      res.writeHead(401, { 'www-authenticate': challenge, 'content-length': '0' });
      res.end();
    };
    await withGate(allowAll(), async (gate) => {
      const res = await request(`${gate.url}/v2/prod/app/manifests/v1`, { headers: { authorization: 'Bearer a.b.c' } });
      await res.body.dump();
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe(challenge);
      expect(upstream.headers[0]!.authorization).toBe('Bearer a.b.c');
    });
  });

  test('a GET with a smuggled body (Content-Length) is not forwarded as a second upstream request', async () => {
    upstream.handler = serve(IMAGE);
    await withGate(allowAll(), async (gate) => {
      const smuggled = `GET /v2/_catalog HTTP/1.1\r\nHost: x\r\n\r\n`;
      await raw(
        gate,
        `GET /v2/prod/app/blobs/${D('e')} HTTP/1.1\r\nHost: x\r\nContent-Length: ${smuggled.length}\r\nConnection: close\r\n\r\n${smuggled}`,
      );
      expect(upstream.seen.some((l) => l.includes('_catalog'))).toBe(false);
    });
  });
});

describe('guards: fail closed, caps', () => {
  test('an unreachable verifier denies pulls and tag pushes; nothing is tagged', async () => {
    const reg = miniRegistry();
    upstream.handler = reg.handler;
    const broken: GateVerifier = {
      verify: () => Promise.reject(Object.assign(new Error('14 UNAVAILABLE'), { code: 14, details: 'No connection established' })),
    };
    await withGate(broken, async (gate) => {
      const put = await request(`${gate.url}/v2/prod/app/manifests/v1`, {
        method: 'PUT',
        body: IMAGE,
        headers: { 'content-type': OCI_MANIFEST },
      });
      await put.body.dump();
      expect(put.statusCode).toBe(403);
      reg.manifests.set(`prod/app@${sha(IMAGE)}`, { bytes: IMAGE, type: OCI_MANIFEST });
      reg.tags.set('prod/app:v1', sha(IMAGE));
      const pull = await request(`${gate.url}/v2/prod/app/manifests/v1`);
      await pull.body.dump();
      expect(pull.statusCode).toBe(403);
    });
  });

  test('a manifest that lies about its Content-Length (declares small, sends more) is still capped', async () => {
    upstream.handler = (req, res) => {
      req.resume();
      // Chunked, no length: 200 KiB of JSON whitespace.
      res.writeHead(200, { 'content-type': OCI_MANIFEST });
      res.end(Buffer.concat([Buffer.alloc(200 * 1024, ' '), IMAGE]));
    };
    await withGate(
      allowAll(),
      async (gate) => {
        const res = await request(`${gate.url}/v2/prod/app/manifests/v1`);
        await res.body.dump();
        expect(res.statusCode).toBe(413);
      },
      { maxManifestBytes: 64 * 1024 },
    );
  });
});
