// Profiles the warm Verify path (by digest or by tag, with or without bearer-token auth) with
// node --cpu-prof in the server child; the .cpuprofile lands in --out (default /tmp). Not a test.
// node bench/profile-warm.mjs [digest|tag] [token] [--out DIR] [--n N]
import { fork } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const dist = (p) => require(path.join(here, '..', 'dist', p));
const grpc = require('@grpc/grpc-js');
const args = process.argv.slice(2);
const byTag = args.includes('tag');
const token = args.includes('token');
const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : os.tmpdir();
const n = args.includes('--n') ? Number(args[args.indexOf('--n') + 1]) : 20000;

const { startRegistry } = dist('dev/local-registry.js');
const { pushSampleImage } = dist('dev/sample-image.js');
const { RegistryClient } = dist('registry/index.js');
const { serviceConstructor } = dist('grpc/proto.js');
const registry = await startRegistry();
const raw = new RegistryClient({});
const p = fork(path.join(here, 'lib', 'server-child.mjs'), ['countersign', ...(token ? ['token'] : [])], {
  execArgv: ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${out}`],
  stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
});
const ready = await new Promise((resolve) => p.once('message', resolve));
const md = new grpc.Metadata();
if (ready.token) md.set('authorization', `Bearer ${ready.token}`);
const unary = (client, method, req) =>
  new Promise((resolve, reject) => client[method](req, md, { deadline: Date.now() + 30_000 }, (e, r) => (e ? reject(e) : resolve(r))));
const sc = new (serviceConstructor('SigningService'))(`127.0.0.1:${ready.port}`, grpc.credentials.createInsecure());
const vc = new (serviceConstructor('VerificationService'))(`127.0.0.1:${ready.port}`, grpc.credentials.createInsecure());
const img = await pushSampleImage(raw, { registry: registry.host, repository: 'prof/warm' }, 'v1');
await unary(sc, 'Sign', { image: `${registry.host}/prof/warm:v1`, key: 'bench' });
const req = {
  image: byTag ? `${registry.host}/prof/warm:v1` : `${registry.host}/prof/warm@${img.digest}`,
  action: 'ACTION_DEPLOY',
  context: { namespace: 'bench' },
};
const canned = await unary(vc, 'Verify', req);
if (!canned.allowed) throw new Error('not allowed');
// `stub`: profile the canned-response stub instead, with the same request and response.
let target = vc;
let s;
if (args.includes('stub')) {
  s = fork(path.join(here, 'lib', 'server-child.mjs'), ['stub', JSON.stringify(canned)], {
    execArgv: ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${out}`],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const sr = await new Promise((resolve) => s.once('message', resolve));
  target = new (serviceConstructor('VerificationService'))(`127.0.0.1:${sr.port}`, grpc.credentials.createInsecure());
}
let next = 0;
const t0 = Date.now();
await Promise.all(
  Array.from({ length: 16 }, async () => {
    while (next++ < n) await unary(target, 'Verify', req);
  }),
);
process.stdout.write(`${n} calls in ${Date.now() - t0} ms\n`);
await new Promise((r) => {
  p.once('exit', r);
  p.send({ cmd: 'stop' });
});
if (s)
  await new Promise((r) => {
    s.once('exit', r);
    s.send({ cmd: 'stop' });
  });
sc.close();
vc.close();
await raw.close();
await registry.stop();
