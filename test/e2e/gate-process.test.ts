/**
 * `countersign gate` as deployed: its own process (the built bin), authenticating to a
 * Countersign that enforces access control with a verifier token, in front of the suite's real
 * registry. Also where the gate's memory is measured (RSS of that process, from /proc) and where
 * Countersign is stopped to see the gate fail closed. Needs dist/ (npm test builds it first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { freePort } from '../../src/dev/local-registry';
import { pushSampleImage } from '../../src/dev/sample-image';
import { RegistryClient } from '../../src/registry';
import { startService, testRegistryHost, uniqueRepo, type RunningService } from '../support/harness';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/countersign');
const MiB = 1024 * 1024;

let host: string;
let pusher: RegistryClient;
let svc: RunningService;
let verifierToken: string;

interface GateProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
}

async function startGateProcess(token: string, extraEnv: Record<string, string> = {}): Promise<GateProcess> {
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, [BIN, 'gate', '--listen', `127.0.0.1:${port}`, '--upstream', `http://${host}`, '--server', svc.address], {
    env: { ...process.env, COUNTERSIGN_TOKEN: token, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes('registry gate serving')) resolve();
    });
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => reject(new Error(`gate exited with ${code}: ${output}`)));
  });
  return { child, url: `http://127.0.0.1:${port}`, output: () => output };
}

async function stopGate(g: GateProcess | undefined): Promise<void> {
  if (!g || g.child.exitCode !== null) return;
  const exited = new Promise((r) => g.child.once('exit', r));
  g.child.kill('SIGTERM');
  await exited;
}

/** Resident set size of a process, and its peak so far, from /proc (Linux). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Deterministic bytes, produced as the consumer reads them (never held in memory). */
function generated(size: number, offset: number, hash?: ReturnType<typeof createHash>): Readable {
  let sent = 0;
  const chunk = Buffer.alloc(256 * 1024);
  return new Readable({
    read() {
      if (sent >= size) return this.push(null);
      const n = Math.min(chunk.length, size - sent);
      const part = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i += 4) part.writeUInt32LE((offset + sent + i) >>> 2, i);
      sent += n;
      hash?.update(part);
      this.push(part);
    },
  });
}

beforeAll(async () => {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does)');
  host = testRegistryHost();
  pusher = new RegistryClient({});
  svc = await startService({ auth: { mode: 'enforce', mtlsBindings: [] } });
  await svc.app.keys.createKey({ name: 'ci-release' }, 'test');
  verifierToken = (await svc.app.tokens.create({ name: 'registry-gate', roles: ['verifier'], createdBy: 'test' })).token;
});

afterAll(async () => {
  await svc?.stop();
  await pusher?.close();
});

test('a gate with a verifier token: signed pulls are served, unsigned ones denied with the reason', async () => {
  const signer = (await svc.app.tokens.create({ name: 'ci', roles: ['signer'], scopes: ['**'], createdBy: 'test' })).token;
  const gate = await startGateProcess(verifierToken);
  try {
    const repo = uniqueRepo('gp-signed');
    const img = await pushSampleImage(pusher, { registry: host, repository: repo }, 'v1');
    const unsigned = await fetch(`${gate.url}/v2/${repo}/manifests/v1`);
    expect(unsigned.status).toBe(403);
    expect(await unsigned.text()).toContain('no signature by a trusted key');
    await svc.call('Sign', { image: `${host}/${repo}@${img.digest}`, key: 'ci-release' }, 30_000, signer);
    const signed = await fetch(`${gate.url}/v2/${repo}/manifests/v1`, { headers: { accept: img.mediaType } });
    expect(signed.status).toBe(200);
    expect(signed.headers.get('docker-content-digest')).toBe(img.digest);
  } finally {
    await stopGate(gate);
  }
});

test('a gate whose token Countersign refuses denies everything, saying why', async () => {
  const gate = await startGateProcess('cst_not-a-real-token');
  try {
    const repo = uniqueRepo('gp-badtoken');
    await pushSampleImage(pusher, { registry: host, repository: repo }, 'v1');
    const res = await fetch(`${gate.url}/v2/${repo}/manifests/v1`);
    expect(res.status).toBe(403);
    const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]!.code).toBe('DENIED');
    expect(body.errors[0]!.message).toContain('UNAUTHENTICATED');
  } finally {
    await stopGate(gate);
  }
});

/** Chunked upload of `size` generated bytes through the gate, then the blob read back and hashed. */
async function roundTrip(gateUrl: string, repo: string, size: number, chunk: number): Promise<void> {
  const hash = createHash('sha256');
  const start = await request(`${gateUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
  expect(start.statusCode).toBe(202);
  await start.body.dump();
  let location = new URL(String(start.headers.location), gateUrl);
  for (let offset = 0; offset < size; offset += chunk) {
    const n = Math.min(chunk, size - offset);
    const patch = await request(location, {
      method: 'PATCH',
      body: generated(n, offset, hash),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(n), 'content-range': `${offset}-${offset + n - 1}` },
    });
    expect(patch.statusCode).toBe(202);
    await patch.body.dump();
    location = new URL(String(patch.headers.location), gateUrl);
    expect(location.origin).toBe(gateUrl);
  }
  const digest = `sha256:${hash.digest('hex')}`;
  location.searchParams.set('digest', digest);
  const put = await request(location, { method: 'PUT', headers: { 'content-length': '0' } });
  expect(put.statusCode).toBe(201);
  await put.body.dump();
  const get = await request(`${gateUrl}/v2/${repo}/blobs/${digest}`);
  expect(get.statusCode).toBe(200);
  const back = createHash('sha256');
  let received = 0;
  for await (const part of get.body) {
    back.update(part as Buffer);
    received += (part as Buffer).length;
  }
  expect(received).toBe(size);
  expect(`sha256:${back.digest('hex')}`).toBe(digest);
}

test('a 256 MiB blob goes through a chunked upload and back without the gate process growing by 64 MiB', async () => {
  const gate = await startGateProcess(verifierToken);
  try {
    const repo = uniqueRepo('gp-big');
    // Warm-up: the first transfer compiles the code paths and sizes V8's heap; what is measured
    // is what the large blob adds on top (a gate that buffered would add at least its size).
    await roundTrip(gate.url, repo, 16 * MiB, 8 * MiB);
    const before = memoryOf(gate.child.pid!);
    await roundTrip(gate.url, repo, 256 * MiB, 32 * MiB);
    const after = memoryOf(gate.child.pid!);
    if (process.env.GATE_MEMORY_REPORT) process.stderr.write(`gate RSS before ${before.rss / MiB | 0} MiB, peak after ${after.peak / MiB | 0} MiB\n`);
    // Peak resident memory (VmHWM) during both transfers, against the resident memory before them.
    expect(after.peak - before.rss).toBeLessThan(64 * MiB);
  } finally {
    await stopGate(gate);
  }
}, 300_000);

test('Countersign stopped: pulls and protected pushes are denied with a reason (fail closed)', async () => {
  const gate = await startGateProcess(verifierToken);
  try {
    const repo = uniqueRepo('gp-stopped');
    const img = await pushSampleImage(pusher, { registry: host, repository: repo }, 'v1');
    const signer = (await svc.app.tokens.create({ name: 'ci-2', roles: ['signer'], scopes: ['**'], createdBy: 'test' })).token;
    await svc.call('Sign', { image: `${host}/${repo}@${img.digest}`, key: 'ci-release' }, 30_000, signer);
    expect((await fetch(`${gate.url}/v2/${repo}/manifests/v1`, { headers: { accept: img.mediaType } })).status).toBe(200);
    const manifest = Buffer.from(await (await fetch(`http://${host}/v2/${repo}/manifests/${img.digest}`, { headers: { accept: img.mediaType } })).arrayBuffer());
    await svc.stop();
    const pull = await fetch(`${gate.url}/v2/${repo}/manifests/v1`, { headers: { accept: img.mediaType } });
    expect(pull.status).toBe(403);
    const text = await pull.text();
    expect(text).toContain('DENIED');
    expect(text).toContain('Countersign could not decide (UNAVAILABLE');
    // A tag write needs a decision too: without Countersign it is refused, and nothing is tagged.
    const push = await fetch(`${gate.url}/v2/${repo}/manifests/v2`, { method: 'PUT', body: manifest, headers: { 'content-type': img.mediaType } });
    expect(push.status).toBe(403);
    expect(await push.text()).toContain('fails closed');
    expect((await fetch(`http://${host}/v2/${repo}/manifests/v2`, { method: 'HEAD', headers: { accept: img.mediaType } })).status).toBe(404);
  } finally {
    await stopGate(gate);
  }
});
