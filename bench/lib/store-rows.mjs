// The store on the hot path (issue 12, item 7): warm Verify by digest with the service's store on
// PostgreSQL next to the same service on SQLite, in the same run, as a ratio (target 1.0x: a warm
// Verify holds revisions, keys and grants in memory and asks no store; that it makes zero store
// queries is asserted, as a count, by test/e2e/metrics.test.ts). Both services run in child
// processes (bench/lib/server-child.mjs) so that their CPU per call is read from /proc; the
// PostgreSQL is a throwaway cluster started here the way the tests start theirs
// (src/dev/local-postgres.ts). The two are measured in alternating slices of each load level, so
// that a shared machine's load falls on both alike.
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { forkChild } from './child.mjs';
import { cpuUs, fmt, quantile as q } from './figures.mjs';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const dist = (p) => require(path.join(root, 'dist', p));
const grpc = require('@grpc/grpc-js');

/** server-child.mjs as the Countersign service, with `env` (COUNTERSIGN_BENCH_STORE_URL: its store). */
function service(env) {
  return forkChild(path.join(here, 'server-child.mjs'), ['countersign'], {
    execArgv: ['--max-semi-space-size=8'], // as `serve --workers` starts its workers, like the speed table's service
    env: { ...process.env, ...env },
    what: 'bench service',
  });
}

export async function runStoreRows({ quick = false, out = process.stdout } = {}) {
  out.write('\n# Store on the hot path: warm Verify by digest, the service on PostgreSQL vs on SQLite (same run)\n');
  const { postgresBinDir, startPostgres } = dist('dev/local-postgres.js');
  if (postgresBinDir() === undefined) {
    out.write('Verify warm by digest, store on PostgreSQL: skipped: no postgresql (Debian package postgresql)\n');
    return;
  }
  const { startRegistry } = dist('dev/local-registry.js');
  const { pushSampleImage } = dist('dev/sample-image.js');
  const { RegistryClient } = dist('registry/index.js');
  const { serviceConstructor } = dist('grpc/proto.js');
  const unary = (client, method, req) =>
    new Promise((resolve, reject) =>
      client[method](req, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (err, res) => (err ? reject(err) : resolve(res))),
    );

  const postgres = await startPostgres();
  const registry = await startRegistry();
  const raw = new RegistryClient({});
  const started = [];
  const clients = [];
  try {
    const sqlite = await service({});
    started.push(sqlite);
    const onPg = await service({ COUNTERSIGN_BENCH_STORE_URL: postgres.url });
    started.push(onPg);
    const image = await pushSampleImage(raw, { registry: registry.host, repository: 'bench/store' }, 'v1');
    const req = { image: `${registry.host}/bench/store@${image.digest}`, action: 'ACTION_DEPLOY', context: { namespace: 'bench' } };
    const servers = { SQLite: sqlite, PostgreSQL: onPg };
    const vc = {};
    for (const [name, s] of Object.entries(servers)) {
      const sc = new (serviceConstructor('SigningService'))(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
      clients.push(sc);
      await unary(sc, 'Sign', { image: req.image, key: 'bench' });
      vc[name] = new (serviceConstructor('VerificationService'))(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
      clients.push(vc[name]);
      const first = await unary(vc[name], 'Verify', req);
      if (!first.allowed) throw new Error(`bench image not allowed on ${name}: ${first.reasons.join('; ')}`);
    }

    /** `n` calls from `c` concurrent callers to one server; latencies into `lat`; seconds taken. */
    const slice = async (client, c, n, lat) => {
      let next = 0;
      const t0 = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: c }, async () => {
          while (next++ < n) {
            const t = process.hrtime.bigint();
            await unary(client, 'Verify', req);
            lat.push(Number(process.hrtime.bigint() - t) / 1e6);
          }
        }),
      );
      return Number(process.hrtime.bigint() - t0) / 1e9;
    };
    const SLICES = 10;
    for (const c of quick ? [1, 16] : [1, 16, 64]) {
      const perSlice = Math.ceil((quick ? Math.max(300, c * 4) : Math.max(1500, c * 12)) / SLICES);
      const m = {};
      for (const name of Object.keys(servers)) {
        await slice(vc[name], c, 100, []); // warm-up: connections, JIT, the cached decision path
        m[name] = { lat: [], secs: 0, cpu: 0, n: 0 };
      }
      for (let i = 0; i < SLICES; i++) {
        // Alternating order, so that neither always runs right after the other's garbage.
        const order = i % 2 === 0 ? ['SQLite', 'PostgreSQL'] : ['PostgreSQL', 'SQLite'];
        for (const name of order) {
          const cpu0 = cpuUs(servers[name].pid);
          m[name].secs += await slice(vc[name], c, perSlice, m[name].lat);
          m[name].cpu += cpuUs(servers[name].pid) - cpu0;
          m[name].n += perSlice;
        }
      }
      const st = {};
      for (const [name, r] of Object.entries(m)) {
        r.lat.sort((a, b) => a - b);
        st[name] = { ops: r.n / r.secs, p50: q(r.lat, 0.5), p99: q(r.lat, 0.99), cpu: r.cpu / r.n };
        out.write(
          `${`Verify warm by digest, store on ${name}`.padEnd(48)} c=${String(c).padStart(3)} n=${String(r.n).padStart(5)}  p50=${fmt(st[name].p50).padStart(8)} ms  p99=${fmt(st[name].p99).padStart(8)} ms  ${fmt(st[name].ops).padStart(6)} ops/s  srv CPU ${st[name].cpu.toFixed(0).padStart(5)} µs/call\n`,
        );
      }
      const x = (a, b) => `${(a / b).toFixed(2)}x`;
      out.write(
        `ratio  PostgreSQL/SQLite c=${c}: srv CPU ${x(st.PostgreSQL.cpu, st.SQLite.cpu)}, p50 ${x(st.PostgreSQL.p50, st.SQLite.p50)}, thr ${x(st.PostgreSQL.ops, st.SQLite.ops)}  (target 1.0x: no store on the hot path)\n`,
      );
    }
  } finally {
    for (const c of clients) c.close();
    for (const s of started) await s.stop();
    await raw.close();
    await registry.stop();
    await postgres.destroy();
  }
}
