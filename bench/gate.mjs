// The registry gate rows of `npm run bench` (issue 9); also runs alone: node bench/gate.mjs [--quick].
//
// Rows: manifest GET with a warm decision (target: p50 within +1 ms of direct), blob GET throughput
// (target: 90% of direct), and blob PUT throughput (a monolithic upload; no target).
// Each gate runs in its own process, as deployed: Countersign with the gate in-process (serve
// --gate-listen), and the gate alone asking that Countersign over gRPC (countersign gate), next to
// a bare reverse proxy on the same stack as the floor (bench/lib/gate-child.mjs). The registry is
// another process and the load generator is this one. Direct and gated requests are interleaved
// one by one, so that the load of a shared machine falls on all of them alike; every side is read
// by the same undici client over kept-alive connections, and every body is read to its last byte
// and counted (undici's body.dump() would abort a body above 128 KiB and close the connection).
import crypto from 'node:crypto';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { forkChild } from './lib/child.mjs';
import { cpuUs, fmt, row, stats } from './lib/figures.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => require(path.join(root, 'dist', p));

export const MANIFEST_OVERHEAD_TARGET_MS = 1;
export const BLOB_RATIO_TARGET = 0.9;

const verdict = (ok) => (ok ? 'PASS' : 'FAIL');

/** A gate child process (bench/lib/gate-child.mjs); `execArgv` e.g. for --cpu-prof (bench/profile-gate.mjs). */
export function gateChild(args, execArgv = []) {
  return forkChild(path.join(root, 'bench', 'lib', 'gate-child.mjs'), args, { execArgv, what: `bench gate child ${args[0]}` });
}

/** `parts`: which rows to run (both by default; `node bench/gate.mjs --manifests` or `--blobs` for one). */
export async function runGateBench({ quick = false, out = process.stdout, parts = ['manifests', 'blobs'] } = {}) {
  const { startRegistry } = dist('dev/local-registry.js');
  const { pushSampleImage } = dist('dev/sample-image.js');
  const { RegistryClient } = dist('registry/index.js');
  const { signingClient, call } = dist('cli/client.js');
  const { request } = require('undici');

  const registry = await startRegistry();
  const raw = new RegistryClient({ maxBlobBytes: 128 * 1024 * 1024 });
  const serveGate = await gateChild(['serve', `http://${registry.host}`]);
  const grpcGate = await gateChild(['gate', `http://${registry.host}`, `127.0.0.1:${serveGate.grpcPort}`]);
  const hop = await gateChild(['hop', `http://${registry.host}`]);
  const pipe = await gateChild(['pipe', `http://${registry.host}`]);
  const client = signingClient(`127.0.0.1:${serveGate.grpcPort}`);
  try {
    out.write('\n# Registry gate (each in its own process): manifest GET with a warm decision, and blob throughput, vs direct\n');
    const grepo = { registry: registry.host, repository: 'bench/gate' };
    const gimg = await pushSampleImage(raw, grepo, 'v1');
    await call(client, 'Sign', { image: `${registry.host}/bench/gate@${gimg.digest}`, key: 'bench' }, 30000);
    /** GET, the whole body read and counted; the byte count is checked against what is expected. */
    const get = async (base, p, accept, expectBytes) => {
      const r = await request(`${base}${p}`, { headers: { accept } });
      if (r.statusCode !== 200) throw new Error(`GET ${p} via ${base}: HTTP ${r.statusCode} ${await r.body.text()}`);
      let n = 0;
      for await (const chunk of r.body) n += chunk.length;
      if (expectBytes !== undefined && n !== expectBytes) throw new Error(`GET ${p} via ${base}: ${n} bytes, expected ${expectBytes}`);
      return n;
    };
    // The floors: a TCP pipe, what any process between client and registry adds (no HTTP at all),
    // and one bare HTTP proxy hop on the same stack, what any reverse proxy here adds.
    const targets = {
      direct: `http://${registry.host}`,
      'TCP pipe (floor)': pipe.gateUrl,
      'bare proxy hop (floor)': hop.gateUrl,
      'in-process Verify': serveGate.gateUrl,
      'gRPC Verify': grpcGate.gateUrl,
    };
    const isFloor = (name) => name.includes('floor');
    const pids = {
      'TCP pipe (floor)': pipe.pid,
      'bare proxy hop (floor)': hop.pid,
      'in-process Verify': serveGate.pid,
      'gRPC Verify': grpcGate.pid,
    };
    const G = quick ? 300 : 2000;
    const manifestBytes = await get(targets.direct, `/v2/bench/gate/manifests/${gimg.digest}`, gimg.mediaType);
    for (const [what, ref] of parts.includes('manifests')
      ? [
          ['by digest', gimg.digest],
          ['by tag', 'v1'],
        ]
      : []) {
      const mpath = `/v2/bench/gate/manifests/${ref}`;
      const samples = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
      // Warm-up: connections on every side, JIT, and the gate's decision.
      for (const base of Object.values(targets)) for (let i = 0; i < 50; i++) await get(base, mpath, gimg.mediaType, manifestBytes);
      const cpuBefore = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuUs(pid)]));
      for (let i = 0; i < G; i++) {
        for (const [name, base] of Object.entries(targets)) {
          const t = process.hrtime.bigint();
          await get(base, mpath, gimg.mediaType, manifestBytes);
          samples[name].push(Number(process.hrtime.bigint() - t) / 1e6);
        }
      }
      // The proxy's own CPU per request (the in-process one also runs Countersign's background work).
      const cpuPerReq = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, (cpuUs(pid) - cpuBefore[k]) / G]));
      const direct = stats(samples.direct);
      row(`manifest GET ${what}, direct`, direct, out);
      for (const name of Object.keys(targets).slice(1)) {
        const via = stats(samples[name]);
        const overhead = via.p50 - direct.p50;
        row(`manifest GET ${what}, ${isFloor(name) ? name : `through the gate (${name})`}`, via, out);
        out.write(
          `overhead  ${name} ${what} p50 = +${fmt(overhead)} ms (${(via.p50 / direct.p50).toFixed(2)}x), p99 = +${fmt(via.p99 - direct.p99)} ms, proxy CPU ${cpuPerReq[name].toFixed(0)} µs/request` +
            (isFloor(name)
              ? '\n'
              : `  (target p50 <= +${MANIFEST_OVERHEAD_TARGET_MS} ms: ${verdict(overhead <= MANIFEST_OVERHEAD_TARGET_MS)})\n`),
        );
      }
    }
    if (!parts.includes('blobs')) return;
    const size = (quick ? 16 : 64) * 1024 * 1024;
    const blob = crypto.randomBytes(size);
    const bdigest = await raw.pushBlob(grepo, blob);
    const bpath = `/v2/bench/gate/blobs/${bdigest.digest}`;
    const R = quick ? 5 : 15;
    const mibps = async (base) => {
      const t = process.hrtime.bigint();
      await get(base, bpath, 'application/octet-stream', size);
      return size / 1048576 / (Number(process.hrtime.bigint() - t) / 1e9);
    };
    const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    /** The median MiB/s of `measure` per target: one untimed round, then R rounds taken target by target. */
    const medianRates = async (measure) => {
      for (const base of Object.values(targets)) await measure(base);
      const rates = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
      for (let i = 0; i < R; i++) for (const [name, base] of Object.entries(targets)) rates[name].push(await measure(base));
      return Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, median(v)]));
    };
    const via = (name) => (isFloor(name) ? name : `through the gate (${name} process)`);
    const reads = await medianRates(mibps);
    const bDirect = reads.direct;
    for (const name of Object.keys(targets).slice(1)) {
      const bGate = reads[name];
      const ratio = bGate / bDirect;
      out.write(
        `blob GET ${size / 1048576} MiB x${R} (median): direct ${fmt(bDirect)} MiB/s, ${via(name)} ${fmt(bGate)} MiB/s, ratio ${(ratio * 100).toFixed(0)}%` +
          (isFloor(name) ? '\n' : `  (target >= ${BLOB_RATIO_TARGET * 100}%: ${verdict(ratio >= BLOB_RATIO_TARGET)})\n`),
      );
    }
    // Pushes the other way: a monolithic upload (POST, then PUT with the digest and the body), as a
    // client pushing a layer makes it. No target: what a push through the gate costs, for the
    // reader (the gate's upload path streams the client's body through undici; the commit is a
    // push decision, allowed here, no policy file).
    const upload = async (base) => {
      const start = await request(`${base}/v2/bench/gate/blobs/uploads/`, { method: 'POST' });
      await start.body.dump();
      if (start.statusCode !== 202) throw new Error(`upload start via ${base}: HTTP ${start.statusCode}`);
      const location = new URL(String(start.headers.location), base);
      location.searchParams.set('digest', bdigest.digest);
      const t = process.hrtime.bigint();
      const put = await request(location, {
        method: 'PUT',
        body: blob,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      });
      await put.body.dump();
      if (put.statusCode !== 201) throw new Error(`upload via ${base}: HTTP ${put.statusCode}`);
      return size / 1048576 / (Number(process.hrtime.bigint() - t) / 1e9);
    };
    const pushes = await medianRates(upload);
    for (const name of Object.keys(targets).slice(1)) {
      out.write(
        `blob PUT (monolithic) ${size / 1048576} MiB x${R} (median): direct ${fmt(pushes.direct)} MiB/s, ${via(name)} ${fmt(pushes[name])} MiB/s, ratio ${((pushes[name] / pushes.direct) * 100).toFixed(0)}% (no target)\n`,
      );
    }
  } finally {
    client.close();
    await hop.stop();
    await pipe.stop();
    await grpcGate.stop();
    await serveGate.stop();
    await raw.close();
    await registry.stop();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const parts = ['manifests', 'blobs'].filter((p) => process.argv.includes(`--${p}`));
  await runGateBench({ quick: process.argv.includes('--quick'), ...(parts.length ? { parts } : {}) });
}
