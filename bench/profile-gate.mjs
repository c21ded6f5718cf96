// Profiles a gate process (node --cpu-prof) on the warm manifest path or the blob path, and prints
// the functions with the most self time. Not a test.
// node bench/profile-gate.mjs [digest|tag|blob] [gate|serve|hop] [--out DIR] [--n N]
//   gate  = `countersign gate` asking Countersign over gRPC (default), serve = in-process, hop = the bare proxy floor
import crypto from 'node:crypto';
import { readFileSync, readdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { gateChild } from './gate.mjs';

const require = createRequire(import.meta.url);
const dist = (p) => require(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', p));
const args = process.argv.slice(2);
const what = ['tag', 'blob'].find((a) => args.includes(a)) ?? 'digest';
const mode = ['serve', 'hop'].find((a) => args.includes(a)) ?? 'gate';
const out = mkdtempSync(path.join(args.includes('--out') ? args[args.indexOf('--out') + 1] : os.tmpdir(), 'countersign-gate-prof-'));
const n = args.includes('--n') ? Number(args[args.indexOf('--n') + 1]) : what === 'blob' ? 20 : 5000;

const { startRegistry } = dist('dev/local-registry.js');
const { pushSampleImage } = dist('dev/sample-image.js');
const { RegistryClient } = dist('registry/index.js');
const { signingClient, call } = dist('cli/client.js');
const { request } = require('undici');

const registry = await startRegistry();
const raw = new RegistryClient({ maxBlobBytes: 64 * 1024 * 1024 });
const profArgs = ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${out}`];
const serve = await gateChild(['serve', `http://${registry.host}`], mode === 'serve' ? profArgs : []);
const gate =
  mode === 'serve'
    ? serve
    : await gateChild(
        mode === 'hop' ? ['hop', `http://${registry.host}`] : ['gate', `http://${registry.host}`, `127.0.0.1:${serve.grpcPort}`],
        profArgs,
      );
const client = signingClient(`127.0.0.1:${serve.grpcPort}`);
const repo = { registry: registry.host, repository: 'prof/gate' };
const img = await pushSampleImage(raw, repo, 'v1');
await call(client, 'Sign', { image: `${registry.host}/prof/gate@${img.digest}`, key: 'bench' }, 30000);
let p = `/v2/prof/gate/manifests/${what === 'tag' ? 'v1' : img.digest}`;
let accept = img.mediaType;
if (what === 'blob') {
  p = `/v2/prof/gate/blobs/${(await raw.pushBlob(repo, crypto.randomBytes(32 * 1024 * 1024))).digest}`;
  accept = 'application/octet-stream';
}
const t0 = Date.now();
for (let i = 0; i < n; i++) {
  const r = await request(`${gate.gateUrl}${p}`, { headers: { accept } });
  if (r.statusCode !== 200) throw new Error(`HTTP ${r.statusCode}`);
  for await (const _ of r.body);
}
process.stdout.write(`${n} GET ${what} through ${mode} in ${Date.now() - t0} ms\n`);
client.close();
if (gate !== serve) await gate.stop();
await serve.stop();
await raw.close();
await registry.stop();

// Self time per function (name file:line), top 30.
const prof = JSON.parse(
  readFileSync(
    path.join(
      out,
      readdirSync(out).find((f) => f.endsWith('.cpuprofile')),
    ),
    'utf8',
  ),
);
const self = new Map();
const byId = new Map(prof.nodes.map((node) => [node.id, node]));
const dt = new Map();
prof.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
let total = 0;
for (const [id, us] of dt) {
  const f = byId.get(id).callFrame;
  const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(src|dist)\//, '$1/')}:${f.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + us);
  total += us;
}
process.stdout.write(`profile ${out} (${(total / 1000).toFixed(0)} ms sampled)\n`);
for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  process.stdout.write(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}\n`);
}
