/**
 * A blob no larger than a manifest may be one (registries that keep manifests and blobs in one
 * content store serve manifests through the blob route too), so the gate reads it whole and
 * decides it like that manifest's pull. That must hold whatever framing the upstream uses: a body
 * sent chunked, without Content-Length, was relayed as it came, undecided.
 */
import { createHash, randomBytes } from 'node:crypto';
import type * as http from 'node:http';
import { request } from 'undici';
import type { GateVerifier, GateVerifyInput } from '../../../src/gate';
import { OCI_MANIFEST, useFakeUpstream } from './fake-upstream';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const D = (c: string) => `sha256:${c.repeat(64)}`;
const upstream = useFakeUpstream();

const IMAGE = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('c'), size: 2 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D('d'), size: 3 }],
  }),
);

function denyAll(): GateVerifier & { calls: GateVerifyInput[] } {
  const calls: GateVerifyInput[] = [];
  return {
    calls,
    verify: (input) => {
      calls.push(input);
      return Promise.resolve({
        allowed: false,
        digest: input.image.slice(input.image.indexOf('@') + 1),
        reasons: ['denied by the test policy'],
        warnings: [],
        rule: 'r',
        mode: 'MODE_ENFORCE',
      });
    },
  };
}

/** Serves `bytes` for its digest's blob path, chunked (no Content-Length), in pieces of `piece` bytes. */
function chunked(bytes: Buffer, piece = 1000): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    req.resume();
    if (req.url !== `/v2/prod/app/blobs/${sha(bytes)}`) {
      res.writeHead(404, { 'content-length': '0' });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'docker-content-digest': sha(bytes) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    for (let at = 0; at < bytes.length; at += piece) res.write(bytes.subarray(at, at + piece));
    res.end();
  };
}

async function get(url: string) {
  const res = await request(url);
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()), headers: res.headers };
}

describe('a blob of unknown length (chunked) is judged like one that says its length', () => {
  test('a manifest served chunked through the blob route is decided like its pull (denied), never relayed undecided', async () => {
    upstream.handler = chunked(IMAGE, 7);
    const v = denyAll();
    await upstream.withGate(v, async (gate) => {
      const got = await get(`${gate.url}/v2/prod/app/blobs/${sha(IMAGE)}`);
      expect(got.status).toBe(403);
      expect(got.body.includes(IMAGE)).toBe(false);
      expect(v.calls.map((c) => c.image)).toEqual([`registry.example/prod/app@${sha(IMAGE)}`]);
    });
  });

  test('a small blob that is no manifest is served whole, with its length; a large one streams through, every byte, undecided', async () => {
    const small = randomBytes(3000);
    const large = randomBytes(3 * 1024 * 1024);
    for (const bytes of [small, large]) {
      upstream.handler = chunked(bytes, 64 * 1024);
      const v = denyAll();
      await upstream.withGate(
        v,
        async (gate) => {
          const got = await get(`${gate.url}/v2/prod/app/blobs/${sha(bytes)}`);
          expect(got.status).toBe(200);
          expect(got.body.equals(bytes)).toBe(true);
          expect(v.calls).toEqual([]);
        },
        { maxManifestBytes: 1024 * 1024 },
      );
    }
  });

  test('a HEAD of a chunked blob carries no content and asks nothing', async () => {
    upstream.handler = chunked(IMAGE);
    const v = denyAll();
    await upstream.withGate(v, async (gate) => {
      const res = await request(`${gate.url}/v2/prod/app/blobs/${sha(IMAGE)}`, { method: 'HEAD' });
      await res.body.dump();
      expect(res.statusCode).toBe(200);
      expect(v.calls).toEqual([]);
    });
  });
});
