// A server for the bench, in its own process so that its CPU time per call can be read from
// /proc (the load generator runs in the parent). argv[2]: 'countersign' | 'stub' | 'echo'
// (argv[3] for countersign: 'token' enforces bearer tokens, 'exclusive' sets registry.exclusiveReferrerWrites);
// COUNTERSIGN_BENCH_STORE_URL in the environment: the service's store is that PostgreSQL.
// Talks to the parent over IPC: {cmd:'stub', reply} (countersign only: also serve a canned Verify
// `reply` from this process, on a grpc.Server made with the service's own GrpcServer options;
// answers {port}), {cmd:'fill', n, key, repo} (fill the evidence cache and the
// manifest facts with n synthetic digests like `key`'s entries), {cmd:'mem'} (RSS and heap after a forced GC),
// {cmd:'rss'} (RSS now, no GC), {cmd:'idle-return', on} (start or stop the service's return of memory once
// idle, stopped from the start; answers {returns}: how many it made), {cmd:'stop'}.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = (p) => require(path.join(root, 'dist', p));
const grpc = require('@grpc/grpc-js');
const mode = process.argv[2];
const send = (m) => process.send(m);

let stop = async () => {};
let app;
if (mode === 'countersign') {
  const { createApp } = dist('app.js');
  const { defaultConfig } = dist('config/config.js');
  const { createLogger } = dist('logging/logger.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-bench-'));
  // A shared store needs a KEK of its own (a generated development one is refused with store.url).
  const benchKek = (d) => {
    const file = path.join(d, 'kek');
    writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
    return file;
  };
  const auth = process.argv[3] === 'token';
  // 'exclusive': registry.exclusiveReferrerWrites (the only writer of the referrer tags: no settle delay).
  const exclusive = process.argv[3] === 'exclusive';
  const config = {
    ...defaultConfig(dir),
    listen: '127.0.0.1:0',
    keysDir: path.join(dir, 'keys'),
    dataDir: path.join(dir, 'data'),
    admission: { timeoutMs: 9000, listen: '127.0.0.1:0' },
    verification: { ...defaultConfig(dir).verification, cacheMaxEntries: 200_000 },
    ...(auth ? { auth: { ...defaultConfig(dir).auth, mode: 'enforce' } } : {}),
    ...(exclusive ? { registry: { ...defaultConfig(dir).registry, exclusiveReferrerWrites: true } } : {}),
    ...(process.env.COUNTERSIGN_BENCH_STORE_URL ? { store: { url: process.env.COUNTERSIGN_BENCH_STORE_URL }, kekFile: benchKek(dir) } : {}),
    ...(process.env.COUNTERSIGN_BENCH_POLICY ? { policyFile: process.env.COUNTERSIGN_BENCH_POLICY } : {}),
  };
  // Logs at info, to /dev/null: the cost of the per-call line is part of what is measured.
  const { openSync } = await import('node:fs');
  const pino = require('pino');
  app = await createApp(
    config,
    createLogger({ level: 'info', destination: pino.destination({ fd: openSync('/dev/null', 'w'), sync: false }) }),
  );
  await app.keys.createKey({ name: 'bench' }, 'bench');
  const port = await app.start();
  // The speed rows measure the service under steady load: the return of memory once idle (which
  // the gaps between the bench's rows would set off) is stopped until {cmd:'idle-return'} asks for it.
  app.idleMemory?.stop();
  const token = auth
    ? (await app.tokens.create({ name: 'bench', roles: ['signer', 'verifier'], scopes: ['**'], createdBy: 'bench' })).token
    : undefined;
  stop = () => app.stop();
  send({ ready: true, port, admission: app.admission?.url, token });
} else {
  // The floors on the same grpc-js stack: a canned Verify response, or an empty echo.
  const { serviceConstructor } = dist('grpc/proto.js');
  const server = new grpc.Server();
  const canned = JSON.parse(process.argv[3] ?? '{}');
  const reply = mode === 'stub' ? canned : {};
  server.addService(serviceConstructor('VerificationService').service, {
    Verify: (_call, cb) => cb(null, reply),
    VerifyBatch: (_call, cb) => cb(null, { allowed: true, results: [] }),
  });
  const port = await new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  stop = () => new Promise((r) => server.tryShutdown(() => r()));
  send({ ready: true, port });
}

let filled = 0;
let inProcessStub;
process.on('message', async (m) => {
  if (m.cmd === 'stub') {
    // The floor on the service's own stack: its process (heap, timers, event loop) and its
    // server options, a canned answer instead of the service's handler.
    inProcessStub = new grpc.Server({ ...app.grpc.options });
    const { serviceConstructor } = dist('grpc/proto.js');
    inProcessStub.addService(serviceConstructor('VerificationService').service, {
      Verify: (_call, cb) => cb(null, m.reply),
      VerifyBatch: (_call, cb) => cb(null, { allowed: true, results: [] }),
    });
    const port = await new Promise((resolve, reject) =>
      inProcessStub.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    send({ port });
  } else if (m.cmd === 'fill') {
    // Copies of a real entry under other digests: the shape and size of real cached evidence.
    const cache = app.cache;
    const cacheKey = (r, d) => app.verification.keys.of(r, d);
    const { flatString } = dist('shared/compact-strings.js');
    const repo = { registry: m.repo.slice(0, m.repo.indexOf('/')), repository: m.repo.slice(m.repo.indexOf('/') + 1) };
    const sampleDigest = m.key.slice(m.key.indexOf('@') + 1);
    const sample = (
      await cache.get(cacheKey(repo, sampleDigest), app.keys.trust.revision(), async () => {
        throw new Error('bench: sample entry not cached');
      })
    ).evidence;
    const rev = app.keys.trust.revision();
    // A warm Verify by digest needs the digest's manifest facts as well as its evidence: both are
    // filled, as real traffic fills them (the service's private LRU, read here for the measurement).
    const facts = app.verification.manifestFacts;
    const sampleFacts = facts.get(cacheKey(repo, sampleDigest));
    if (!sampleFacts) throw new Error('bench: sample manifest facts not cached');
    // Numbered on from the previous fill, so that every fill adds m.n new digests.
    for (let i = filled; i < filled + m.n; i++) {
      const hex = i.toString(16).padStart(64, '0');
      const digest = `sha256:${hex}`;
      // As the service stores them (one shared facts object per media type of a single manifest,
      // and one flat key string for both the facts and the evidence).
      const key = flatString(cacheKey(repo, digest));
      facts.set(key, sampleFacts);
      await cache.get(
        key,
        rev,
        async () => sample.map((e) => ({ ...e, subjectDigest: digest, referrerDigest: `sha256:${hex.slice(1)}f` })),
        { keyIsFlat: true },
      );
    }
    filled += m.n;
    send({ filled: cache.size });
  } else if (m.cmd === 'mem') {
    // V8 returns the pages a GC freed from a background thread: read once they are back.
    for (let i = 0; i < 2; i++) {
      globalThis.gc?.();
      await new Promise((r) => setTimeout(r, 200));
    }
    const u = process.memoryUsage();
    // Where the RSS is: mapped files (the node binary's code and data), and anonymous memory.
    const { readFileSync } = await import('node:fs');
    const rollup = readFileSync('/proc/self/smaps_rollup', 'utf8');
    const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0) * 1024;
    const v8 = await import('node:v8');
    const spaces = Object.fromEntries(
      v8.getHeapSpaceStatistics().map((sp) => [sp.space_name, { size: sp.space_size, used: sp.space_used_size }]),
    );
    send({
      rss: u.rss,
      heapUsed: u.heapUsed,
      heapTotal: u.heapTotal,
      anonymous: kb('Anonymous'),
      file: kb('Rss') - kb('Anonymous'),
      external: u.external,
      arrayBuffers: u.arrayBuffers,
      spaces,
      size: app?.cache.size,
    });
  } else if (m.cmd === 'idle-return') {
    if (m.on) app.idleMemory?.start();
    else app.idleMemory?.stop();
    send({ returns: app.idleMemory?.returns ?? 0 });
  } else if (m.cmd === 'rss') {
    send({ rss: process.memoryUsage.rss() });
  } else if (m.cmd === 'stop') {
    if (inProcessStub) await new Promise((r) => inProcessStub.tryShutdown(() => r()));
    await stop();
    process.exit(0);
  }
});
