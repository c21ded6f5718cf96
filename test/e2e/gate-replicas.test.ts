/**
 * Two `countersign gate` processes in front of one registry, sharing one PostgreSQL (store.url),
 * as replicas behind a load balancer run. An immutable tag is "read its current target, decide,
 * write": without a lock shared by the replicas, two pushes of different digests to the same new
 * tag both read "not set yet" and both write. With store.url, the gates take a PostgreSQL
 * advisory lock per repository:tag around that sequence: exactly one push wins, the other is
 * denied because the tag now points elsewhere. Needs dist/ (npm test builds it first).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { pushSampleImage } from '../../src/dev/sample-image';
import { RegistryClient } from '../../src/registry';
import { startGateProcess, stopGateProcess, type GateProcess } from '../support/gate-process';
import { startService, testRegistryHost, uniqueRepo, type RunningService } from '../support/harness';
import { testPostgresUrl } from '../support/postgres';

const ROOT = path.resolve(__dirname, '../..');
const MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';

let host: string;
let pusher: RegistryClient;
let svc: RunningService;
let workDir: string;
const gates: GateProcess[] = [];

beforeAll(async () => {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does)');
  host = testRegistryHost();
  pusher = new RegistryClient({});
  workDir = mkdtempSync(path.join(os.tmpdir(), 'countersign-gate-replicas-'));
  const policyFile = path.join(workDir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `defaults: { mode: enforce, onUnmatched: deny, onError: deny }
rules:
  - name: releases
    match: { images: ["${host}/countersign-test/gr-*"], actions: [push] }
    push:
      immutableTags: ["v*"]
    allow: "release tags never move"
`,
  );
  svc = await startService({ policyFile });
  for (let i = 0; i < 2; i++)
    gates.push(await startGateProcess(`http://${host}`, svc.address, { COUNTERSIGN_STORE_URL: testPostgresUrl() }));
}, 60_000);

afterAll(async () => {
  for (const g of gates) await stopGateProcess(g);
  await svc.stop();
  await pusher.close();
  rmSync(workDir, { recursive: true, force: true });
});

async function manifestBytes(repository: string, digest: string): Promise<Buffer> {
  const res = await request(`http://${host}/v2/${repository}/manifests/${digest}`, { headers: { accept: MEDIA_TYPE } });
  expect(res.statusCode).toBe(200);
  return Buffer.from(await res.body.arrayBuffer());
}

async function put(gate: GateProcess, repository: string, tag: string, body: Buffer): Promise<{ status: number; text: string }> {
  const res = await request(`${gate.url}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    body,
    headers: { 'content-type': MEDIA_TYPE },
  });
  return { status: res.statusCode, text: await res.body.text() };
}

test('both gates say that tag writes are serialized by the store', () => {
  for (const g of gates) expect(g.output()).toContain('serialized across gate replicas by the store');
});

test('concurrent pushes of two digests to one new immutable tag, one per gate: exactly one wins, the other is denied', async () => {
  const repository = uniqueRepo('gr-race');
  // Two different images, their blobs and manifests stored in the repository under set-up tags.
  const a = await pushSampleImage(pusher, { registry: host, repository }, 'setup-a');
  const b = await pushSampleImage(pusher, { registry: host, repository }, 'setup-b');
  expect(a.digest).not.toBe(b.digest);
  const bodies = { [a.digest]: await manifestBytes(repository, a.digest), [b.digest]: await manifestBytes(repository, b.digest) };
  // Several rounds: each is one race, started at the same moment on both gates.
  for (let round = 0; round < 6; round++) {
    const tag = `v1.${round}`;
    const [first, second] = round % 2 === 0 ? [a.digest, b.digest] : [b.digest, a.digest];
    const results = await Promise.all([put(gates[0]!, repository, tag, bodies[first]!), put(gates[1]!, repository, tag, bodies[second]!)]);
    const statuses = results.map((r) => r.status).sort();
    expect({ tag, statuses }).toEqual({ tag, statuses: [201, 403] });
    const loser = results.find((r) => r.status === 403)!;
    expect(loser.text).toContain('DENIED');
    expect(loser.text).toContain(`tag ${tag} is immutable`);
    // The tag points at the winner's digest, and the winner was told so.
    const winner = results[0].status === 201 ? first : second;
    const head = await request(`http://${host}/v2/${repository}/manifests/${tag}`, { method: 'HEAD', headers: { accept: MEDIA_TYPE } });
    expect(head.headers['docker-content-digest']).toBe(winner);
    await head.body.dump();
  }
}, 120_000);

test('re-pushing the winning digest through the other gate is fine', async () => {
  const repository = uniqueRepo('gr-repush');
  const a = await pushSampleImage(pusher, { registry: host, repository }, 'setup-a');
  const body = await manifestBytes(repository, a.digest);
  expect((await put(gates[0]!, repository, 'v2.0', body)).status).toBe(201);
  expect((await put(gates[1]!, repository, 'v2.0', body)).status).toBe(201);
});
