/**
 * The gate holds whole manifests in memory (a client's PUT body until it is decided and written, an
 * upstream manifest until it is decided and served, a manifest-sized blob until it is judged).
 * Each is capped at maxManifestBytes, but the attacker needs only the port: many concurrent
 * requests of the largest size, each trickling its last byte, held the heap of the process that
 * enforces the policy (a gate crashed out of memory is a registry nobody can pull from). All of
 * them together are bounded (bodyBudgetBytes); a request that does not fit is answered 429 with
 * Retry-After at once, never queued, and what it held is given back when its response ends.
 */
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import { request } from 'undici';
import type { GateServer, GateVerifier } from '../../../src/gate';
import { OCI_MANIFEST, serve, useFakeUpstream } from './fake-upstream';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const D = (c: string) => `sha256:${c.repeat(64)}`;
const upstream = useFakeUpstream();

const allowAll: GateVerifier = {
  verify: (input) =>
    Promise.resolve({
      allowed: true,
      digest: input.image.slice(input.image.indexOf('@') + 1),
      reasons: [],
      warnings: [],
      rule: 'r',
      mode: 'MODE_ENFORCE',
    }),
};

const MAX_MANIFEST = 64 * 1024;
const BUDGET = 3 * MAX_MANIFEST;

/** A manifest of about `size` bytes (padding in an annotation). */
function manifestOf(size: number): Buffer {
  const base = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('c'), size: 2 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D('d'), size: 3 }],
    annotations: { pad: '' },
  };
  const bare = Buffer.byteLength(JSON.stringify(base));
  base.annotations.pad = 'x'.repeat(Math.max(0, size - bare));
  return Buffer.from(JSON.stringify(base));
}

/** A PUT that sends all of a large manifest but its last byte, and holds the connection open. */
function heldPut(gate: GateServer, tag: string, bytes: Buffer): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(gate.port, '127.0.0.1', () => {
      s.write(
        `PUT /v2/team/app/manifests/${tag} HTTP/1.1\r\nhost: x\r\ncontent-type: ${OCI_MANIFEST}\r\ncontent-length: ${bytes.length}\r\n\r\n`,
      );
      s.write(bytes.subarray(0, bytes.length - 1), () => resolve(s));
    });
    s.on('error', reject);
  });
}

async function put(gate: GateServer, tag: string, bytes: Buffer) {
  const res = await request(`http://127.0.0.1:${gate.port}/v2/team/app/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': OCI_MANIFEST },
    body: bytes,
  });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

describe('manifests held in memory, all requests together, are bounded', () => {
  test('client PUT bodies: the ones that do not fit are answered 429 with Retry-After; the budget comes back when they end', async () => {
    upstream.handler = (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(req.method === 'HEAD' ? 404 : 201, { 'content-length': '0' });
        res.end();
      });
    };
    await upstream.withGate(
      allowAll,
      async (gate) => {
        const big = manifestOf(MAX_MANIFEST - 100);
        const held = [await heldPut(gate, 'a', big), await heldPut(gate, 'b', big), await heldPut(gate, 'c', big)];
        // Let the gate read what was sent.
        await new Promise((r) => setTimeout(r, 200));
        const refused = await put(gate, 'd', big);
        expect(refused.status).toBe(429);
        expect(refused.headers['retry-after']).toBe('1');
        const body = JSON.parse(refused.body) as { errors: Array<{ code: string; message: string }> };
        expect(body.errors).toHaveLength(1);
        expect(body.errors[0]!.code).toBe('TOOMANYREQUESTS');
        expect(body.errors[0]!.message).toMatch(/retry/);
        for (const s of held) s.destroy();
        await new Promise((r) => setTimeout(r, 200));
        // Given back: the same PUT goes through now.
        const accepted = await put(gate, 'd', big);
        expect(accepted.status).toBe(201);
        // Only the accepted write reached the registry (by digest, then its tag); the held ones never did.
        const puts = upstream.seen.filter((l) => l.startsWith('PUT '));
        expect(puts).toEqual([`PUT /v2/team/app/manifests/${sha(big)}`, 'PUT /v2/team/app/manifests/d']);
      },
      { maxManifestBytes: MAX_MANIFEST, bodyBudgetBytes: BUDGET },
    );
  });

  test('upstream manifests held for a decision count too: a read that does not fit is 429, never served undecided', async () => {
    const big = manifestOf(MAX_MANIFEST - 100);
    const digest = sha(big);
    const stalled: Array<() => void> = [];
    upstream.handler = (req, res) => {
      if (req.url?.includes('/manifests/stall')) {
        // All but the last byte, then wait: the gate holds the rest.
        res.writeHead(200, { 'content-type': OCI_MANIFEST, 'content-length': String(big.length), 'docker-content-digest': digest });
        res.write(big.subarray(0, big.length - 1));
        stalled.push(() => res.end(big.subarray(big.length - 1)));
        return;
      }
      serve(big)(req, res);
    };
    await upstream.withGate(
      allowAll,
      async (gate) => {
        const pending = [1, 2, 3].map(() => request(`http://127.0.0.1:${gate.port}/v2/team/app/manifests/stall`));
        while (stalled.length < 3) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, 100));
        const refused = await request(`http://127.0.0.1:${gate.port}/v2/team/app/manifests/${digest}`);
        expect(refused.statusCode).toBe(429);
        expect(refused.headers['retry-after']).toBe('1');
        await refused.body.text();
        for (const end of stalled) end();
        for (const p of pending) {
          const res = await p;
          expect(res.statusCode).toBe(200);
          expect(Buffer.from(await res.body.arrayBuffer())).toEqual(big);
        }
        const served = await request(`http://127.0.0.1:${gate.port}/v2/team/app/manifests/${digest}`);
        expect(served.statusCode).toBe(200);
        expect(Buffer.from(await served.body.arrayBuffer())).toEqual(big);
      },
      { maxManifestBytes: MAX_MANIFEST, bodyBudgetBytes: BUDGET },
    );
  });

  test('a budget below one manifest is raised to one (a single largest manifest always fits)', async () => {
    upstream.handler = (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(req.method === 'HEAD' ? 404 : 201, { 'content-length': '0' });
        res.end();
      });
    };
    await upstream.withGate(
      allowAll,
      async (gate) => {
        expect((await put(gate, 'one', manifestOf(MAX_MANIFEST - 100))).status).toBe(201);
      },
      { maxManifestBytes: MAX_MANIFEST, bodyBudgetBytes: 1 },
    );
  });
});
