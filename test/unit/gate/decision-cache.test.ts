/**
 * The gate's reuse of allowed pull decisions, attacked the ways other caches were broken
 * (../shared/GATE.md beside the project): keyed by the tag, surviving a revocation, reusing a deny's absence of
 * a check, outliving its revision through a late answer. The upstream and the verifier are
 * faked here; the real service over gRPC is in test/e2e/gate.test.ts.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startGateServer, type GateServer, type GateVerifier, type GateVerifyInput, type GateVerifyResult } from '../../../src/gate';
import { DecisionCache, decisionKey } from '../../../src/gate/decision-cache';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const manifest = (size: number) =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'c'.repeat(64)}`, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${'d'.repeat(64)}`, size }],
    }),
  );
const SIGNED = manifest(3);
const UNSIGNED = manifest(4);
const CHILD = manifest(5);
const INDEX = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: sha(CHILD),
        size: CHILD.length,
        platform: { os: 'linux', architecture: 'amd64' },
      },
    ],
  }),
);

/** What the fake registry serves: tag or digest → bytes (a tag can be repointed by the test). */
const served = new Map<string, Buffer>();
let upstream: http.Server;
let upstreamUrl: string;

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    const ref = decodeURIComponent(req.url!.split('/manifests/')[1] ?? '');
    const bytes = served.get(ref) ?? [...served.values()].find((b) => sha(b) === ref);
    if (!bytes) {
      res.writeHead(404, { 'content-length': '0' });
      return res.end();
    }
    const type = bytes === INDEX ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json';
    res.writeHead(200, { 'content-type': type, 'content-length': String(bytes.length), 'docker-content-digest': sha(bytes) });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => upstream.close(() => r()));
});
beforeEach(() => served.clear());

/**
 * A verifier in the shape of Countersign: it allows the digests signed by a trusted key, and
 * reports the policy and trust revisions each answer was made under (revoking the key is a new
 * trust revision).
 */
class FakeCountersign implements GateVerifier {
  calls: GateVerifyInput[] = [];
  trusted = new Set<string>();
  trustRevision = 't1';
  policyRevision = 'p1';
  async verify(input: GateVerifyInput): Promise<GateVerifyResult> {
    this.calls.push(input);
    const digest = input.image.slice(input.image.indexOf('@') + 1);
    const allowed = this.trusted.has(digest);
    return {
      allowed,
      digest,
      reasons: [allowed ? 'signed by ci' : 'no signature by ci'],
      warnings: [],
      rule: 'r',
      mode: 'MODE_ENFORCE',
      policyRevision: this.policyRevision,
      trustRevision: this.trustRevision,
    };
  }
  currentRevision(): string {
    return `${this.policyRevision} ${this.trustRevision}`;
  }
}

async function withGate(
  verifier: GateVerifier,
  fn: (gate: GateServer) => Promise<void>,
  extra: { decisionCacheTtlMs?: number; childTtlMs?: number; currentRevision?: () => string | undefined } = {},
) {
  const gate = await startGateServer({
    listen: '127.0.0.1:0',
    upstream: upstreamUrl,
    verifier,
    registryName: 'registry.example',
    ...extra,
  });
  try {
    await fn(gate);
  } finally {
    await gate.close();
  }
}

async function pull(gate: GateServer, ref: string): Promise<{ status: number; how: string; digest: string; body: string }> {
  const res = await request(`${gate.url}/v2/team/app/manifests/${ref}`);
  const body = await res.body.text();
  return {
    status: res.statusCode,
    how: String(res.headers['x-countersign-gate'] ?? ''),
    digest: String(res.headers['docker-content-digest'] ?? ''),
    body,
  };
}

test('a warm allow is reused: the second pull of the same bytes asks nothing', async () => {
  served.set('v1', SIGNED);
  const v = new FakeCountersign();
  v.trusted.add(sha(SIGNED));
  await withGate(v, async (gate) => {
    expect((await pull(gate, 'v1')).how).toBe('allowed');
    const again = await pull(gate, 'v1');
    expect(again).toMatchObject({ status: 200, how: 'allowed (decision reused)', digest: sha(SIGNED) });
    expect(v.calls).toHaveLength(1);
  });
});

test('keyed by the digest served, not the tag: repointing a warm tag at unsigned bytes is asked about and denied', async () => {
  served.set('v1', SIGNED);
  const v = new FakeCountersign();
  v.trusted.add(sha(SIGNED));
  await withGate(v, async (gate) => {
    expect((await pull(gate, 'v1')).status).toBe(200);
    served.set('v1', UNSIGNED);
    const moved = await pull(gate, 'v1');
    expect(moved.status).toBe(403);
    expect(moved.body).toContain(sha(UNSIGNED));
    expect(v.calls.map((c) => c.image)).toEqual([
      `registry.example/team/app:v1@${sha(SIGNED)}`,
      `registry.example/team/app:v1@${sha(UNSIGNED)}`,
    ]);
  });
});

test('a revocation (new trust revision) invalidates the warm allow at the next request', async () => {
  served.set('v1', SIGNED);
  const v = new FakeCountersign();
  v.trusted.add(sha(SIGNED));
  await withGate(v, async (gate) => {
    expect((await pull(gate, 'v1')).status).toBe(200);
    v.trusted.clear();
    v.trustRevision = 't2';
    const after = await pull(gate, 'v1');
    expect(after.status).toBe(403);
    expect(after.body).toContain('no signature by ci');
    expect(v.calls).toHaveLength(2);
  });
});

test('a policy change (new policy revision) invalidates it too', async () => {
  served.set('v1', SIGNED);
  const v = new FakeCountersign();
  v.trusted.add(sha(SIGNED));
  await withGate(v, async (gate) => {
    expect((await pull(gate, 'v1')).status).toBe(200);
    v.policyRevision = 'p2';
    expect((await pull(gate, 'v1')).how).toBe('allowed');
    expect(v.calls).toHaveLength(2);
  });
});

test('the in-process revisions (read from the stores by serve) win over what the verifier reports', async () => {
  served.set('v1', SIGNED);
  const v = new FakeCountersign();
  v.trusted.add(sha(SIGNED));
  let stores = 'p1 t1';
  await withGate(
    v,
    async (gate) => {
      expect((await pull(gate, 'v1')).status).toBe(200);
      expect((await pull(gate, 'v1')).how).toBe('allowed (decision reused)');
      // The key store moved on (a revocation) before any answer said so.
      stores = 'p1 t2';
      v.trusted.clear();
      expect((await pull(gate, 'v1')).status).toBe(403);
    },
    { currentRevision: () => stores },
  );
});

test('a deny is never reused: every denied pull is asked again', async () => {
  served.set('v1', UNSIGNED);
  const v = new FakeCountersign();
  await withGate(v, async (gate) => {
    expect((await pull(gate, 'v1')).status).toBe(403);
    expect((await pull(gate, 'v1')).status).toBe(403);
    expect(v.calls).toHaveLength(2);
    // Signed since: the next pull is allowed at once, no stale deny.
    v.trusted.add(sha(UNSIGNED));
    expect((await pull(gate, 'v1')).status).toBe(200);
  });
});

test('no revision known (a verifier that reports none): nothing is reused', async () => {
  served.set('v1', SIGNED);
  const v: GateVerifier & { calls: number } = {
    calls: 0,
    async verify(input) {
      this.calls++;
      return {
        allowed: true,
        digest: input.image.slice(input.image.indexOf('@') + 1),
        reasons: [],
        warnings: [],
        rule: 'r',
        mode: 'MODE_ENFORCE',
      };
    },
  };
  await withGate(v, async (gate) => {
    await pull(gate, 'v1');
    await pull(gate, 'v1');
    expect(v.calls).toBe(2);
  });
});

test('decisionCacheTtlMs 0 turns reuse off', async () => {
  served.set('v1', SIGNED);
  const v = new FakeCountersign();
  v.trusted.add(sha(SIGNED));
  await withGate(
    v,
    async (gate) => {
      await pull(gate, 'v1');
      await pull(gate, 'v1');
      expect(v.calls).toHaveLength(2);
    },
    { decisionCacheTtlMs: 0 },
  );
});

test('a pull by tag and a pull by digest are different questions', async () => {
  served.set('v1', SIGNED);
  const v = new FakeCountersign();
  v.trusted.add(sha(SIGNED));
  await withGate(v, async (gate) => {
    await pull(gate, 'v1');
    expect((await pull(gate, sha(SIGNED))).how).toBe('allowed');
    expect(v.calls.map((c) => c.image)).toEqual([
      `registry.example/team/app:v1@${sha(SIGNED)}`,
      `registry.example/team/app@${sha(SIGNED)}`,
    ]);
  });
});

test('children of an allowed index are not covered by it after a revocation', async () => {
  served.set('v1', INDEX);
  served.set(sha(CHILD), CHILD);
  const v = new FakeCountersign();
  v.trusted.add(sha(INDEX));
  await withGate(v, async (gate) => {
    expect((await pull(gate, 'v1')).status).toBe(200);
    expect((await pull(gate, sha(CHILD))).how).toBe(`child of allowed index ${sha(INDEX)}`);
    v.trusted.clear();
    v.trustRevision = 't2';
    // The next answer (about anything) reports the new revision; the child is judged on its own.
    const child = await pull(gate, sha(CHILD));
    expect(child.status).toBe(403);
    expect(v.calls.at(-1)!.image).toBe(`registry.example/team/app@${sha(CHILD)}`);
  });
});

test('a reused allow of an index keeps its children pullable (the warm path does not parse other manifests)', async () => {
  served.set('v1', INDEX);
  served.set(sha(CHILD), CHILD);
  const v = new FakeCountersign();
  v.trusted.add(sha(INDEX));
  await withGate(
    v,
    async (gate) => {
      expect((await pull(gate, 'v1')).how).toBe('allowed');
      await new Promise((r) => setTimeout(r, 120)); // the children's entry has expired, the index's allow has not
      expect((await pull(gate, 'v1')).how).toBe('allowed (decision reused)');
      expect((await pull(gate, sha(CHILD))).how).toBe(`child of allowed index ${sha(INDEX)}`);
      expect(v.calls).toHaveLength(1);
    },
    { decisionCacheTtlMs: 60_000, childTtlMs: 100 },
  );
});

describe('DecisionCache', () => {
  const allow = (revision: [string, string]): GateVerifyResult => ({
    allowed: true,
    digest: 'sha256:a',
    reasons: [],
    warnings: [],
    rule: 'r',
    mode: 'MODE_ENFORCE',
    policyRevision: revision[0],
    trustRevision: revision[1],
  });
  const key = decisionKey('pull', 'r.example/team/app:v1@sha256:a', { labels: { tag: 'v1' } });

  test('entries expire after ttlMs', () => {
    let now = 0;
    const c = new DecisionCache({ ttlMs: 1000, maxEntries: 10, now: () => now });
    c.remember(key, allow(['p', 't']), 'p t');
    now = 999;
    expect(c.get(key, 'p t')).toBeDefined();
    now = 1000;
    expect(c.get(key, 'p t')).toBeUndefined();
  });

  test('an answer made under other revisions than the current ones (in flight across a change) is not stored', () => {
    const c = new DecisionCache({ ttlMs: 1000, maxEntries: 10 });
    c.remember(key, allow(['p', 't1']), 'p t2');
    expect(c.size).toBe(0);
    expect(c.get(key, 'p t1')).toBeUndefined();
  });

  test('denials and answers without revisions are not stored; an unknown current revision is a miss', () => {
    const c = new DecisionCache({ ttlMs: 1000, maxEntries: 10 });
    c.remember(key, { ...allow(['p', 't']), allowed: false }, 'p t');
    c.remember(key, { ...allow(['p', 't']), trustRevision: '' }, 'p t');
    expect(c.size).toBe(0);
    c.remember(key, allow(['p', 't']), 'p t');
    expect(c.get(key, undefined)).toBeUndefined();
    // ...and the entry is gone, not merely skipped.
    expect(c.get(key, 'p t')).toBeUndefined();
  });

  test('the context is part of the key (labels in any order are the same context)', () => {
    expect(decisionKey('pull', 'i', { labels: { a: '1', b: '2' } })).toBe(decisionKey('pull', 'i', { labels: { b: '2', a: '1' } }));
    expect(decisionKey('pull', 'i', { labels: { a: '1' } })).not.toBe(decisionKey('pull', 'i', { labels: { a: '2' } }));
    expect(decisionKey('pull', 'i', { identity: 'x' })).not.toBe(decisionKey('pull', 'i', {}));
    expect(decisionKey('pull', 'i', {})).not.toBe(decisionKey('push', 'i', {}));
  });

  test('bounded: the least recently used entry goes first', () => {
    const c = new DecisionCache({ ttlMs: 1000, maxEntries: 2 });
    c.remember('a', allow(['p', 't']), 'p t');
    c.remember('b', allow(['p', 't']), 'p t');
    expect(c.get('a', 'p t')).toBeDefined();
    c.remember('c', allow(['p', 't']), 'p t');
    expect(c.get('b', 'p t')).toBeUndefined();
    expect(c.get('a', 'p t')).toBeDefined();
    expect(c.get('c', 'p t')).toBeDefined();
  });
});
