// The speed table (issue 11): every path next to its floor, measured in the same run, one table.
// Servers run in child processes (bench/lib/server-child.mjs) so that their CPU per call is read
// from /proc; this process is the load generator. Never a timed test: figures only.
import crypto from 'node:crypto';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { forkChild } from './lib/child.mjs';
import { cpuUs, quantile as q } from './lib/figures.mjs';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const dist = (p) => require(path.join(root, 'dist', p));
const grpc = require('@grpc/grpc-js');
/** How long the RSS rows leave the service idle after their load (two of its 10 s idle windows, and a margin). */
const REST_S = 25;

/** `only: 'warm'`: only the warm Verify rows (by digest and by tag, with and without a token, and their floors). */
export async function runSpeedTable({ quick = false, out = process.stdout, only } = {}) {
  if (only !== undefined && only !== 'warm') throw new Error(`speed table: only 'warm' runs alone, not ${only}`);
  const { startRegistry } = dist('dev/local-registry.js');
  const { pushSampleImage } = dist('dev/sample-image.js');
  const { RegistryClient } = dist('registry/index.js');
  const { serviceConstructor } = dist('grpc/proto.js');
  const { servingHeapFlags } = dist('cluster/heap-flags.js');
  const calls = (c) => (quick ? Math.max(300, c * 4) : Math.max(4000, c * 20));
  const rows = [];

  const child = (args, execArgv = [], env = undefined) =>
    forkChild(path.join(here, 'lib', 'server-child.mjs'), args, {
      execArgv,
      ...(env ? { env: { ...process.env, ...env } } : {}),
      what: `bench server ${args[0]}`,
    });
  const vclient = (port) => new (serviceConstructor('VerificationService'))(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const sclient = (port) => new (serviceConstructor('SigningService'))(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const unary = (client, method, req, token) =>
    new Promise((resolve, reject) => {
      const md = new grpc.Metadata();
      if (token) md.set('authorization', `Bearer ${token}`);
      client[method](req, md, { deadline: Date.now() + 30_000 }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  /**
   * n calls of `fn` (given the call's index) from c concurrent callers, each call's latency in ms
   * pushed onto `lat`; resolves with the seconds and the CPU µs of `pid` (if given) they took.
   */
  async function callers(c, n, fn, lat, pid) {
    let next = 0;
    const cpu0 = pid ? cpuUs(pid) : 0;
    const t0 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: c }, async () => {
        while (next < n) {
          const i = next++;
          const t = process.hrtime.bigint();
          await fn(i);
          lat.push(Number(process.hrtime.bigint() - t) / 1e6);
        }
      }),
    );
    return { secs: Number(process.hrtime.bigint() - t0) / 1e9, cpu: pid ? cpuUs(pid) - cpu0 : 0 };
  }
  /** n calls of `fn` from c concurrent callers; server CPU from `pid` if given. */
  async function load(c, n, fn, pid) {
    const lat = [];
    const { secs, cpu } = await callers(c, n, fn, lat, pid);
    lat.sort((a, b) => a - b);
    return { c, n, ops: n / secs, p50: q(lat, 0.5), p99: q(lat, 0.99), cpu: pid ? cpu / n : undefined };
  }
  /**
   * The same as `load` for several paths at once, measured in interleaved slices (each path's
   * calls split into `slices` runs, the paths taking turns), so that a change in the machine's
   * load during the measurement falls on every path alike instead of on whichever ran at that
   * moment. Figures per path are over all its slices: throughput from its own running time, CPU
   * per call from the sum of its CPU deltas. A slice has at least 4 calls per caller (at c = 256,
   * 2 slices), so that its ramp-up and tail weigh little.
   *
   * Each round takes the paths in a shuffled order (seeded: the same order on every run), not a
   * rotation of one order: a rotation keeps every path's predecessor the same in all but one round, and work one path
   * leaves behind in a process (a full GC whose marking it started finishes in the next slice on
   * that process: 8-14 ms of pause a cycle at c = 256) then always fell on the same successor.
   * Rotated, warm Verify by digest followed the in-process stub in 4 of 5 rounds and took 4 of
   * the 5 such pauses at c = 256.
   */
  async function interleaved(c, n, paths, slices = Math.max(1, Math.min(6, Math.floor(n / (4 * c))))) {
    const acc = paths.map(() => ({ lat: [], secs: 0, cpu: 0, calls: 0 }));
    const per = Math.max(c, Math.ceil(n / slices));
    const random = seeded(c * 1000 + paths.length);
    for (let k = 0; k < slices; k++) {
      const order = shuffled(paths.length, random);
      for (let j = 0; j < paths.length; j++) {
        const idx = order[j];
        const a = acc[idx];
        const { secs, cpu } = await callers(c, per, () => paths[idx].fn(), a.lat, paths[idx].pid);
        a.secs += secs;
        a.cpu += cpu;
        a.calls += per;
      }
    }
    return acc.map((a, i) => {
      a.lat.sort((x, y) => x - y);
      return {
        c,
        n: a.calls,
        ops: a.calls / a.secs,
        p50: q(a.lat, 0.5),
        p99: q(a.lat, 0.99),
        cpu: paths[i].pid ? a.cpu / a.calls : undefined,
      };
    });
  }
  const row = (p, m, floor = '', ratio = '') => rows.push({ path: p, ...m, floor, ratio });
  const x = (a, b) => `${(a / b).toFixed(2)}x`;

  const registry = await startRegistry();
  const raw = new RegistryClient({});
  const echo = await child(['echo']);
  // As a worker of `serve --workers` starts (src/cluster/heap-flags.ts: a smaller young generation).
  const serviceFlags = servingHeapFlags({ execArgv: [], nodeOptions: undefined });
  // The built-in default policy (a trusted signature), and for bench/scanned a rule that reads the
  // time: a scan at most 7 days old, nothing above medium but one CVE whose exception expires in
  // 3 days (so its warning shows the time left). Such a decision is reused only until the scan's
  // age or the time left as shown changes (src/shared/watched-date.ts: readTime).
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const os = await import('node:os');
  const policyFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'countersign-bench-policy-')), 'policy.yaml');
  const exceptionExpires = new Date(Date.now() + 3 * 86_400_000).toISOString();
  writeFileSync(
    policyFile,
    'rules:\n' +
      '  - name: scanned\n    match: { images: ["**/bench/scanned"] }\n    require:\n      signatures: { minimum: 1 }\n' +
      `      vulnerabilities: { maxAge: 7d, maxSeverity: medium, exceptions: [{ id: CVE-2030-0001, expires: "${exceptionExpires}", reason: not reachable, approvedBy: bench }] }\n` +
      '  - name: push\n    match: { actions: [push] }\n    allow: pushes are allowed\n' +
      '  - name: signed\n    require: { signatures: { minimum: 1 } }\n',
  );
  const cs = await child(['countersign'], ['--expose-gc', ...serviceFlags], { COUNTERSIGN_BENCH_POLICY: policyFile });
  // The same service with access control enforced: every call presents a bearer token.
  const ct = await child(['countersign', 'token'], serviceFlags);
  const servers = [echo, cs, ct];
  let sti;
  let stiT;
  try {
    const sc = sclient(cs.port);
    const vc = vclient(cs.port);
    const img = async (repository, tag) => ({ repository, ...(await pushSampleImage(raw, { registry: registry.host, repository }, tag)) });
    const main = await img('bench/warm', 'v1');
    await unary(sc, 'Sign', { image: `${registry.host}/bench/warm:v1`, key: 'bench' });
    await unary(sclient(ct.port), 'Sign', { image: `${registry.host}/bench/warm:v1`, key: 'bench' }, ct.token);
    const vt = vclient(ct.port);
    const byTag = { image: `${registry.host}/bench/warm:v1`, action: 'ACTION_DEPLOY', context: { namespace: 'bench' } };
    const byDigest = { ...byTag, image: `${registry.host}/bench/warm@${main.digest}` };
    const canned = await unary(vc, 'Verify', byDigest);
    if (!canned.allowed) throw new Error(`bench image not allowed: ${canned.reasons.join('; ')}`);
    const scanned = await img('bench/scanned', 'v1');
    await unary(sc, 'Sign', { image: `${registry.host}/bench/scanned:v1`, key: 'bench' });
    const scan = {
      scanner: {
        uri: 'pkg:github/aquasecurity/trivy@0.50.1',
        version: '0.50.1',
        result: {
          SchemaVersion: 2,
          ArtifactName: 'bench/scanned',
          ArtifactType: 'container_image',
          Results: [
            {
              Target: 'bench (alpine 3.19)',
              Class: 'os-pkgs',
              Type: 'alpine',
              Vulnerabilities: [{ VulnerabilityID: 'CVE-2030-0001', PkgName: 'openssl', InstalledVersion: '3.1.0-r0', Severity: 'HIGH' }],
            },
          ],
        },
      },
      metadata: {
        scanStartedOn: new Date(Date.now() - 3_600_000).toISOString(),
        scanFinishedOn: new Date(Date.now() - 3_600_000).toISOString(),
      },
    };
    await unary(sc, 'Attest', {
      image: `${registry.host}/bench/scanned@${scanned.digest}`,
      key: 'bench',
      predicateType: 'vuln',
      predicate: Buffer.from(JSON.stringify(scan)),
    });
    const byDigestScanned = { ...byTag, image: `${registry.host}/bench/scanned@${scanned.digest}` };
    const scannedAnswer = await unary(vc, 'Verify', byDigestScanned);
    if (!scannedAnswer.allowed || scannedAnswer.rule !== 'scanned' || !scannedAnswer.warnings.some((w) => /expires .*, in /.test(w)))
      throw new Error(`bench scanned image not allowed by its rule with the exception's warning: ${JSON.stringify(scannedAnswer)}`);
    const stub = await child(['stub', JSON.stringify(canned)]);
    servers.push(stub);
    const ec = vclient(echo.port);
    const st = vclient(stub.port);
    // The same canned answer served inside each service process, with its GrpcServer's options.
    sti = vclient((await cs.ask({ cmd: 'stub', reply: canned })).port);
    stiT = vclient((await ct.ask({ cmd: 'stub', reply: canned })).port);
    const repo = { registry: registry.host, repository: 'bench/warm' };

    // --- the table (`mem`: the RSS rows, none when only the warm rows ran) ---------------------------
    const print = (mem) => {
      const h = ['path', 'c', 'ops/s', 'p50 ms', 'p99 ms', 'srv CPU µs/call', 'floor', 'ratio'];
      const cells = rows.map((r) => [
        r.path,
        String(r.c),
        r.ops.toFixed(0),
        r.p50.toFixed(3),
        r.p99.toFixed(3),
        r.cpu === undefined ? '' : r.cpu.toFixed(0),
        r.floor,
        r.ratio,
      ]);
      const mb = (b) => (b / 2 ** 20).toFixed(0);
      for (const m of mem) {
        cells.push([
          `RSS, ${m.total.toLocaleString('en')} cached digests (after GC / peak under load / after load + GC / ${REST_S} s idle, no GC forced)`,
          '',
          '',
          '',
          '',
          '',
          'target < 200 MB',
          `${[m.idle.rss, m.peak, m.loaded.rss, m.rested.rss].map((b) => (b / 2 ** 20).toFixed(0)).join(' / ')} MB (heap ${mb(m.idle.heapUsed)} of ${mb(m.idle.heapTotal)}, files ${mb(m.idle.file)}, anon ${mb(m.idle.anonymous)} MB; ` +
            `idle returns ${m.returns}, then 2,000 warm calls at c = 16 cost ${m.after.toFixed(0)} µs/call, the next 2,000 ${m.next.toFixed(0)})`,
        ]);
      }
      const w = h.map((_, i) => Math.max(h[i].length, ...cells.map((c) => c[i].length)));
      const line = (c) => `| ${c.map((v, i) => (i >= 1 && i <= 5 ? v.padStart(w[i]) : v.padEnd(w[i]))).join(' | ')} |\n`;
      out.write(`\n# Speed (issue 11): every path next to its floor, same run${quick ? ' (--quick)' : ''}\n`);
      out.write(line(h));
      out.write(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|\n`);
      for (const c of cells) out.write(line(c));
    };

    // Warm by digest and by tag, next to the echo, the canned stub and a kept-alive HEAD.
    // First every server and path is run until V8 has optimized it: a grpc-js stub's CPU per call
    // still halves over its first ~15,000 calls here (103 -> 44 µs at c = 16), so a floor measured
    // after a short warm-up is a floor at an earlier stage of its JIT than the path next to it.
    const warmUp = quick ? 500 : 15_000;
    for (const fn of [
      () => unary(ec, 'Verify', {}),
      () => unary(st, 'Verify', byDigest),
      () => unary(sti, 'Verify', byDigest),
      () => unary(vc, 'Verify', byDigest),
      () => unary(vc, 'Verify', byDigestScanned),
      () => unary(st, 'Verify', byDigest, ct.token),
      () => unary(stiT, 'Verify', byDigest, ct.token),
      () => unary(vt, 'Verify', byDigest, ct.token),
      () => raw.headManifest(repo, 'v1'),
      () => unary(vc, 'Verify', byTag),
    ])
      await load(16, warmUp, fn);
    for (const c of [1, 16, 64, 256]) {
      const n = calls(c);
      await load(c, 50, () => unary(vc, 'Verify', byDigest)); // warm-up
      await load(c, 50, () => unary(sti, 'Verify', byDigest)); // warm-up
      await load(c, 50, () => unary(vt, 'Verify', byDigest, ct.token)); // warm-up
      await load(c, 50, () => unary(stiT, 'Verify', byDigest, ct.token)); // warm-up
      // Each path next to its floors in interleaved slices. The stubs are sent the same
      // authorization header as the service with a token (they parse the metadata, check nothing).
      const [e, s, si, d, dS] = await interleaved(c, n, [
        { fn: () => unary(ec, 'Verify', {}), pid: echo.pid },
        { fn: () => unary(st, 'Verify', byDigest), pid: stub.pid },
        { fn: () => unary(sti, 'Verify', byDigest), pid: cs.pid },
        { fn: () => unary(vc, 'Verify', byDigest), pid: cs.pid },
        { fn: () => unary(vc, 'Verify', byDigestScanned), pid: cs.pid },
      ]);
      const [sT, siT, dT] = await interleaved(c, n, [
        { fn: () => unary(st, 'Verify', byDigest, ct.token), pid: stub.pid },
        { fn: () => unary(stiT, 'Verify', byDigest, ct.token), pid: ct.pid },
        { fn: () => unary(vt, 'Verify', byDigest, ct.token), pid: ct.pid },
      ]);
      const [head, t] = await interleaved(c, n, [
        { fn: () => raw.headManifest(repo, 'v1') },
        { fn: () => unary(vc, 'Verify', byTag), pid: cs.pid },
      ]);
      row('floor: bare grpc-js echo', e);
      row('floor: canned-response stub Verify', s);
      row('floor: canned-response stub inside the service process (its GrpcServer options)', si);
      row(
        'Verify warm by digest',
        d,
        `stub ${s.cpu.toFixed(0)} µs, in-process ${si.cpu.toFixed(0)} µs; echo ${e.ops.toFixed(0)}/s`,
        `cpu ${x(d.cpu, s.cpu)} (in-process ${x(d.cpu, si.cpu)}), thr ${x(d.ops, e.ops)} (the stub's ${x(s.ops, e.ops)})`,
      );
      row(
        'Verify warm by digest, a rule that reads the time (scan maxAge, a CVE exception with its warning)',
        dS,
        `stub ${s.cpu.toFixed(0)} µs, in-process ${si.cpu.toFixed(0)} µs`,
        `cpu ${x(dS.cpu, s.cpu)} (in-process ${x(dS.cpu, si.cpu)})`,
      );
      row('floor: canned-response stub Verify (token sent)', sT);
      row('floor: canned-response stub inside the service process (token sent)', siT);
      row(
        'Verify warm by digest, bearer-token auth',
        dT,
        `stub ${sT.cpu.toFixed(0)} µs, in-process ${siT.cpu.toFixed(0)} µs; echo ${e.ops.toFixed(0)}/s`,
        `cpu ${x(dT.cpu, sT.cpu)} (in-process ${x(dT.cpu, siT.cpu)}), thr ${x(dT.ops, e.ops)} (the stub's ${x(sT.ops, e.ops)})`,
      );
      row('floor: kept-alive HEAD (from the load generator)', head);
      row('Verify warm by tag', t, `HEAD+digest p50 ${(head.p50 + d.p50).toFixed(2)} ms`, `p50 ${x(t.p50, head.p50 + d.p50)}`);
    }
    if (only === 'warm') {
      print([]);
      for (const client of [sc, vc, vt, ec, st]) client.close();
      return;
    }

    // `serve --workers N` as a user runs it (bin/countersign, its own data directory): warm Verify
    // by digest at c = 64 over 8 connections (the primary hands each connection to one worker).
    {
      const { spawn } = await import('node:child_process');
      const { freePort } = dist('dev/local-registry.js');
      const through = {};
      for (const workers of [1, 2]) {
        const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-bench-workers-'));
        const port = await freePort();
        const address = `127.0.0.1:${port}`;
        const p = spawn(
          process.execPath,
          [
            path.join(root, 'bin', 'countersign'),
            'serve',
            '--listen',
            address,
            '--data-dir',
            path.join(dir, 'data'),
            '--workers',
            String(workers),
            '--log-level',
            'warn',
          ],
          { env: { ...process.env, COUNTERSIGN_KEYS_DIR: path.join(dir, 'keys') }, stdio: 'ignore' },
        );
        try {
          const kc = new (serviceConstructor('KeyService'))(address, grpc.credentials.createInsecure());
          for (let i = 0; ; i++) {
            try {
              await unary(kc, 'CreateKey', { name: 'bench' });
              break;
            } catch (err) {
              if (i > 100 || err.code !== 14) throw err;
              await new Promise((r) => setTimeout(r, 100));
            }
          }
          kc.close();
          const wsc = sclient(port);
          await unary(wsc, 'Sign', { image: byDigest.image, key: 'bench' });
          wsc.close();
          const conns = Array.from(
            { length: 8 },
            () =>
              new (serviceConstructor('VerificationService'))(address, grpc.credentials.createInsecure(), {
                'grpc.use_local_subchannel_pool': 1,
              }),
          );
          let k = 0;
          const next = () => conns[k++ % conns.length];
          await load(64, 2000, () => unary(next(), 'Verify', byDigest)); // warm-up: every worker caches
          const m = await load(64, calls(64) * 2, () => unary(next(), 'Verify', byDigest));
          through[workers] = m;
          row(
            `serve --workers ${workers}: Verify warm by digest (8 connections)`,
            m,
            workers === 2 ? `--workers 1: ${through[1].ops.toFixed(0)}/s` : '',
            workers === 2 ? `thr ${x(m.ops, through[1].ops)}` : '',
          );
          for (const c of conns) c.close();
        } finally {
          await new Promise((r) => {
            p.once('exit', r);
            p.kill('SIGTERM');
          });
        }
      }
    }

    let coldSample;
    // Cold Verify (cache cleared by a new trust revision is not available from here: a fresh
    // digest per call instead), next to the raw round trips it needs and one ECDSA verify.
    {
      const n = quick ? 20 : 60;
      const cold = [];
      for (let i = 0; i < n; i++) {
        const im = await img('bench/cold', `c${i}`);
        await unary(sc, 'Sign', { image: `${registry.host}/bench/cold@${im.digest}`, key: 'bench' });
        cold.push(im);
      }
      coldSample = cold[0].digest;
      const crepo = { registry: registry.host, repository: 'bench/cold' };
      const m = await load(1, n, (i) => unary(vc, 'Verify', { ...byTag, image: `${registry.host}/bench/cold@${cold[i].digest}` }), cs.pid);
      // The same ECDSA P-256 verify over the PAE (the bench key's private half stays in the service).
      const kp = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const f = await load(1, n, async (i) => {
        const d = cold[i].digest;
        const tag = d.replace(':', '-');
        await raw.headManifest(crepo, d);
        const idx = JSON.parse((await raw.getManifest(crepo, tag)).bytes.toString());
        const ref = JSON.parse((await raw.getManifest(crepo, idx.manifests[0].digest)).bytes.toString());
        const [blob] = await Promise.all([
          raw.getBlob(crepo, ref.layers[0].digest),
          raw.getManifest(crepo, `${tag}.sig`).catch(() => null),
          raw.getManifest(crepo, `${tag}.att`).catch(() => null),
        ]);
        const b = JSON.parse(blob.toString());
        const payload = Buffer.from(b.dsseEnvelope.payload, 'base64');
        const pae = Buffer.concat([
          Buffer.from(`DSSEv1 ${b.dsseEnvelope.payloadType.length} ${b.dsseEnvelope.payloadType} ${payload.length} `),
          payload,
        ]);
        crypto.verify('sha256', pae, kp.publicKey, crypto.sign('sha256', pae, kp.privateKey));
      });
      row('floor: cold round trips (HEAD, index, manifest, blob ‖ .sig ‖ .att) + verify', f);
      row('Verify cold (by digest)', m, `p50 ${f.p50.toFixed(2)} ms`, `p50 ${x(m.p50, f.p50)}`);
    }

    // Sign, next to the 7 raw requests: by default 8 requests (7 + the settle read) and the settle
    // wait; under registry.exclusiveReferrerWrites (a service of its own) the 7, no wait.
    // Like for like: each path signs an image of its own that starts with no referrers, once
    // unmeasured and then n times, so every path writes fallback indexes of the same sizes
    // (Distribution checks every entry of an index on PUT: the write costs ~0.15 ms more per entry
    // here, so a path writing a longer index would be measured against a cheaper floor).
    {
      const n = quick ? 20 : 60;
      const fresh = async (repository) => `${registry.host}/${(await img(repository, 'v1')).repository}:v1`;
      const signOf = (client, image) => () => unary(client, 'Sign', { image, key: 'bench' });
      const defaultSign = signOf(sc, await fresh('bench/sign-default'));
      await defaultSign();
      const cx = await child(['countersign', 'exclusive'], serviceFlags);
      servers.push(cx);
      const sxc = sclient(cx.port);
      const exclusiveSign = signOf(sxc, await fresh('bench/sign-exclusive'));
      await exclusiveSign(); // its first Sign also probes the referrers API
      const frepo = { registry: registry.host, repository: 'bench/floor' };
      const fimg = await pushSampleImage(raw, frepo, 'v1');
      const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const tag = fimg.digest.replace(':', '-');
      // The client's own gRPC call to a service is part of the minimum: one bare echo round trip.
      let signs = 0;
      const floorSign = async (i = signs++) => {
        await unary(ec, 'Verify', {});
        await raw.headManifest(frepo, 'v1');
        const blob = Buffer.from(
          `{"n":${i},"sig":"${crypto.sign('sha256', crypto.randomBytes(400), privateKey).toString('base64')}","pad":"${crypto.randomBytes(900).toString('base64')}"}`,
        );
        await Promise.all([raw.pushBlob(frepo, blob, undefined, { fresh: true }), raw.pushBlob(frepo, Buffer.from('{}'))]);
        const manifest = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            artifactType: 'application/x-bench',
            config: {
              mediaType: 'application/vnd.oci.empty.v1+json',
              digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
              size: 2,
            },
            layers: [
              {
                mediaType: 'application/x-bench',
                digest: `sha256:${crypto.createHash('sha256').update(blob).digest('hex')}`,
                size: blob.length,
              },
            ],
            subject: { mediaType: fimg.mediaType, digest: fimg.digest, size: fimg.size },
          }),
        );
        const { digest } = await raw.putManifest(
          frepo,
          `sha256:${crypto.createHash('sha256').update(manifest).digest('hex')}`,
          manifest,
          'application/vnd.oci.image.manifest.v1+json',
        );
        let index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] };
        try {
          index = JSON.parse((await raw.getManifest(frepo, tag)).bytes.toString());
        } catch {
          // No index under the tag yet: start from the empty one.
        }
        index.manifests.push({
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest,
          size: manifest.length,
          artifactType: 'application/x-bench',
        });
        await raw.putManifest(frepo, tag, Buffer.from(JSON.stringify(index)), 'application/vnd.oci.image.index.v1+json');
      };
      await floorSign(-1);
      // The three in interleaved slices (a busy moment of the registry falls on all alike).
      const [s, sx, f] = await interleaved(1, n, [
        { fn: defaultSign, pid: cs.pid },
        { fn: exclusiveSign, pid: cx.pid },
        { fn: () => floorSign() },
      ]);
      sxc.close();
      await cx.stop();
      servers.splice(servers.indexOf(cx), 1);
      row("floor: bare gRPC echo + Sign's 7 raw requests (blobs in parallel) + ECDSA", f);
      row(
        'Sign, default (tag fallback: 8 requests incl. settle read + 50-200 ms settle wait)',
        s,
        `p50 ${f.p50.toFixed(2)} ms (+ settle ≥50 ms)`,
        `p50 ${x(s.p50, f.p50)}; ex-wait ${x(s.p50 - 50, f.p50)}`,
      );
      row(
        'Sign, registry.exclusiveReferrerWrites (tag fallback: 7 requests, no wait)',
        sx,
        `p50 ${f.p50.toFixed(2)} ms`,
        `p50 ${x(sx.p50, f.p50)}`,
      );
    }

    // VerifyBatch of 10 distinct tags (warm): 10 HEADs in parallel. `pinned`: the same images by digest.
    const pinned = [];
    {
      const tags = [];
      for (let i = 0; i < 10; i++) {
        pinned.push(`${registry.host}/bench/batch@${(await img('bench/batch', `t${i}`)).digest}`);
        await unary(sc, 'Sign', { image: `${registry.host}/bench/batch:t${i}`, key: 'bench' });
        tags.push(`${registry.host}/bench/batch:t${i}`);
      }
      const brepo = { registry: registry.host, repository: 'bench/batch' };
      const req = { images: tags, action: 'ACTION_DEPLOY', context: { namespace: 'bench' } };
      await unary(vc, 'VerifyBatch', req);
      const n = quick ? 100 : 400;
      // The floor, as for Verify by tag: the HEADs a tag costs, then the same call by digest (warm).
      const byDigestReq = { ...req, images: pinned };
      await unary(vc, 'VerifyBatch', byDigestReq);
      const [b, f] = await interleaved(1, n, [
        { fn: () => unary(vc, 'VerifyBatch', req), pid: cs.pid },
        {
          fn: async () => {
            await Promise.all(tags.map((_, i) => raw.headManifest(brepo, `t${i}`)));
            await unary(vc, 'VerifyBatch', byDigestReq);
          },
        },
      ]);
      row('floor: 10 kept-alive HEADs in parallel + VerifyBatch of the 10 by digest (warm)', f);
      row('VerifyBatch of 10 tags (warm)', b, `p50 ${f.p50.toFixed(2)} ms`, `p50 ${x(b.p50, f.p50)}`);
    }

    // The admission webhook: a Pod with 3 images (warm), plain HTTP on loopback.
    if (cs.admission) {
      const images = [0, 1, 2].map((i) => `${registry.host}/bench/batch:t${i}`);
      const reviewOf = (images) =>
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          request: {
            uid: 'bench',
            kind: { group: '', version: 'v1', kind: 'Pod' },
            resource: { group: '', version: 'v1', resource: 'pods' },
            namespace: 'bench',
            operation: 'CREATE',
            userInfo: { username: 'bench' },
            object: {
              apiVersion: 'v1',
              kind: 'Pod',
              metadata: { name: 'p', namespace: 'bench' },
              spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) },
            },
          },
        });
      const review = reviewOf(images);
      // The same Pod with its images pinned by digest: warm, no HEAD (the floor's second half).
      const reviewPinned = reviewOf(pinned.slice(0, 3));
      const { Agent, request } = require('undici');
      const agent = new Agent();
      const post = async (payload = review) => {
        const r = await request(`${cs.admission}/validate?timeout=10s`, {
          method: 'POST',
          body: payload,
          headers: { 'content-type': 'application/json' },
          dispatcher: agent,
        });
        const body = await r.body.json();
        if (!body.response?.allowed) throw new Error(`bench admission denied: ${JSON.stringify(body.response?.status)}`);
      };
      await post();
      await post(reviewPinned);
      const n = quick ? 100 : 400;
      const brepo = { registry: registry.host, repository: 'bench/batch' };
      const [a, f] = await interleaved(1, n, [
        { fn: () => post(), pid: cs.pid },
        {
          fn: async () => {
            await Promise.all([0, 1, 2].map((i) => raw.headManifest(brepo, `t${i}`)));
            await post(reviewPinned);
          },
        },
      ]);
      row('floor: 3 kept-alive HEADs in parallel + the same review pinned by digest (warm)', f);
      row('admission webhook, Pod with 3 images (warm)', a, `p50 ${f.p50.toFixed(2)} ms`, `p50 ${x(a.p50, f.p50)}`);
      await agent.close();
    }

    // RSS of the whole service with 10k and 100k cached digests, after a forced GC, then under load,
    // then idle.
    // Sampled from an image with one signature.
    const mem = [];
    const one = { ...byTag, image: `${registry.host}/bench/cold@${coldSample}` };
    await unary(vc, 'Verify', one);
    for (const total of quick ? [10_000] : [10_000, 100_000]) {
      await cs.ask({
        cmd: 'fill',
        n: total - (await cs.ask({ cmd: 'mem' })).size + 1,
        key: `${registry.host}/bench/cold@${coldSample}`,
        repo: `${registry.host}/bench/cold`,
      });
      const idle = await cs.ask({ cmd: 'mem' });
      // The service's return of memory once idle runs from here (as it does from the start in
      // production): it has to see the load below to give back what the load leaves behind.
      await cs.ask({ cmd: 'idle-return', on: true });
      // RSS sampled while 64 callers run (no GC forced: what the service holds under load), then after a GC.
      let peak = 0;
      let running = true;
      const sampling = (async () => {
        while (running) {
          peak = Math.max(peak, (await cs.ask({ cmd: 'rss' })).rss);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      await load(64, quick ? 500 : 10_000, () => unary(vc, 'Verify', one));
      running = false;
      await sampling;
      const loaded = await cs.ask({ cmd: 'mem' });
      // Then what the service itself holds once the load has stopped: no GC forced, no call made
      // (limits.returnMemoryWhenIdle gives back what the load left behind, src/shared/idle-memory.ts).
      await new Promise((r) => setTimeout(r, REST_S * 1000));
      const rested = await cs.ask({ cmd: 'rss' });
      const { returns } = await cs.ask({ cmd: 'idle-return', on: false });
      // What the return costs when load comes back (the heap grows again, code warms up again).
      const after = await load(16, 2000, () => unary(vc, 'Verify', one), cs.pid);
      const next = await load(16, 2000, () => unary(vc, 'Verify', one), cs.pid);
      mem.push({ total, idle, peak, loaded, rested, returns, after: after.cpu, next: next.cpu });
    }

    print(mem);
    sc.close();
    vc.close();
    vt.close();
    ec.close();
    st.close();
  } finally {
    sti?.close();
    stiT?.close();
    for (const s of servers) await s.stop().catch(() => undefined);
    await raw.close();
    await registry.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  await runSpeedTable({ quick: process.argv.includes('--quick'), only });
}

/** A small seeded PRNG (mulberry32): the bench's orders are the same on every run. */
function seeded(seed) {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/** 0..n-1 in an order drawn from `random` (Fisher-Yates). */
function shuffled(n, random) {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
